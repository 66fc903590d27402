/* vec.h — dense float vector maths on OpenBLAS (the only module that
 * includes cblas.h). Vectors are caller-owned float arrays. */
#ifndef RECSTREAM_VEC_H
#define RECSTREAM_VEC_H

#include <stddef.h>
#include <stdint.h>

/* Once at start-up: the worker owns its threads, OpenBLAS gets one. */
void rs_vec_init(void);

/* x *= a */
void rs_vec_scale(float *x, size_t n, float a);
/* y += a * x */
void rs_vec_axpy(float *y, const float *x, size_t n, float a);
float rs_vec_dot(const float *x, const float *y, size_t n);
float rs_vec_norm(const float *x, size_t n);
/* y = A x for a row-major rows × cols matrix A. */
void rs_vec_gemv(const float *A, size_t rows, size_t cols, const float *x,
                 float *y);

/* The embedding of a category id when items have no embedding of their
 * own: a one-hot vector at a hash of the id (RS_ID_NONE: all zeros). */
void rs_vec_category_embedding(uint32_t category, float *out, size_t dim);
/* Where that vector has its 1: a hash of the id below dim, or dim (no
 * slot) for RS_ID_NONE. A dot product with it is a lookup. */
size_t rs_vec_category_slot(uint32_t category, size_t dim);

struct rs_catalog;
/* The catalog's embedding of item when it has one of dimension dim, else
 * NULL: the item then has its category's. */
const float *rs_item_own_embedding(const struct rs_catalog *catalog,
                                   uint32_t item, size_t dim);
/* An item's embedding of dimension dim: the catalog's when it has one of
 * that dimension, else the hashed embedding of `category` written into
 * scratch (dim floats). Returns the one to use. */
const float *rs_item_embedding(const struct rs_catalog *catalog, uint32_t item,
                               uint32_t category, float *scratch, size_t dim);

#endif
