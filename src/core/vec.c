/* vec.c — OpenBLAS behind the project's own names. */
#include <cblas.h>
#include <string.h>

#include "recstream/hash.h"
#include "recstream/vec.h"

const char *rs_vec_blas_config(void)
{
        const char *s = openblas_get_config();
        return s ? s : "unknown";
}

void rs_vec_init(void)
{
        openblas_set_num_threads(1);
}

void rs_vec_scale(float *x, size_t n, float a)
{
        cblas_sscal((blasint)n, a, x, 1);
}

void rs_vec_axpy(float *y, const float *x, size_t n, float a)
{
        cblas_saxpy((blasint)n, a, x, 1, y, 1);
}

float rs_vec_dot(const float *x, const float *y, size_t n)
{
        return cblas_sdot((blasint)n, x, 1, y, 1);
}

float rs_vec_norm(const float *x, size_t n)
{
        return cblas_snrm2((blasint)n, x, 1);
}

void rs_vec_gemv(const float *A, size_t rows, size_t cols, const float *x,
                 float *y)
{
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)rows, (blasint)cols,
                    1.0f, A, (blasint)cols, x, 1, 0.0f, y, 1);
}

size_t rs_vec_category_slot(uint64_t key, size_t dim)
{
        return key && dim ? rs_hash_mix(key ^ 0x9e3779b97f4a7c15ULL) % dim
                          : dim;
}

void rs_vec_category_embedding(uint64_t key, float *out, size_t dim)
{
        size_t slot = rs_vec_category_slot(key, dim);

        memset(out, 0, dim * sizeof(*out));
        if (slot < dim)
                out[slot] = 1;
}
