/* vec.h — dense float vector maths on OpenBLAS (the only module that
 * includes cblas.h). Vectors are caller-owned float arrays. */
#ifndef RECSTREAM_VEC_H
#define RECSTREAM_VEC_H

#include <stddef.h>
#include <stdint.h>

/* Once at start-up: the worker owns its threads, OpenBLAS gets one. */
void rs_vec_init(void);

/* OpenBLAS's build configuration as it reports it at run time
 * (openblas_get_config: version, target, threading); static. */
const char *rs_vec_blas_config(void);

/* x *= a */
void rs_vec_scale(float *x, size_t n, float a);
/* y += a * x */
void rs_vec_axpy(float *y, const float *x, size_t n, float a);
float rs_vec_dot(const float *x, const float *y, size_t n);
float rs_vec_norm(const float *x, size_t n);
/* y = A x for a row-major rows × cols matrix A. */
void rs_vec_gemv(const float *A, size_t rows, size_t cols, const float *x,
                 float *y);

/* The embedding of a category when items have no embedding of their own:
 * a one-hot vector at a hash of `key`, the category string's 64-bit hash
 * (rs_intern_hash: the same in every process), 0 for none: all zeros. */
void rs_vec_category_embedding(uint64_t key, float *out, size_t dim);
/* Where that vector has its 1: a slot below dim, or dim (no slot) for key
 * 0. A dot product with it is a lookup. */
size_t rs_vec_category_slot(uint64_t key, size_t dim);

#endif
