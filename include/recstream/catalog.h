/* catalog.h — what is known about each item from the ItemMeta topic:
 * category, duration, status and an optional embedding. Shared by the
 * stages of one pipeline through the stage env; newest record per item
 * wins (the topic is compacted). An entry holds references to its item
 * and category ids (intern.h). At most max_items items: records of new
 * items beyond it are rejected (an item's facts are never dropped, so a
 * removed item stays removed). */
#ifndef RECSTREAM_CATALOG_H
#define RECSTREAM_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/intern.h"
#include "recstream/records.h"

typedef struct rs_catalog rs_catalog_t;

/* Embeddings of exactly `dim` floats are kept (0: none), at most
 * max_items items. `strings` is borrowed, outlives the catalog and holds
 * the ids of the records applied. Caller owns; NULL when out of memory. */
rs_catalog_t *rs_catalog_new(size_t dim, size_t max_items,
                             rs_intern_t *strings);
void rs_catalog_destroy(rs_catalog_t *cat);

/* Applies one record (copied). RS_ERR_INVALID when its embedding has
 * another dimension, RS_ERR_FULL when it is a new item beyond max_items
 * (counted; nothing is applied either way), RS_ERR_NOMEM. */
rs_err_t rs_catalog_apply(rs_catalog_t *cat, const rs_item_meta_t *m);

uint32_t rs_catalog_category(const rs_catalog_t *cat, uint32_t item);
int64_t rs_catalog_duration(const rs_catalog_t *cat, uint32_t item);
int rs_catalog_removed(const rs_catalog_t *cat, uint32_t item);
/* dim floats owned by the catalog, or NULL. */
const float *rs_catalog_embedding(const rs_catalog_t *cat, uint32_t item);
size_t rs_catalog_dim(const rs_catalog_t *cat);
/* The catalog's embedding of item when it has one of dimension dim, else
 * NULL: the item then has its category's. cat may be NULL. */
const float *rs_catalog_own_embedding(const rs_catalog_t *cat, uint32_t item,
                                      size_t dim);
/* An item's embedding of dimension dim: the catalog's when it has one of
 * that dimension, else its category's hashed one-hot vector (vec.h, by the
 * category string's hash) written into scratch (dim floats). */
const float *rs_catalog_item_embedding(const rs_catalog_t *cat, uint32_t item,
                                       uint32_t category, float *scratch,
                                       size_t dim);
size_t rs_catalog_items(const rs_catalog_t *cat);
/* Records of new items rejected beyond max_items; bytes held. */
uint64_t rs_catalog_rejected(const rs_catalog_t *cat);
size_t rs_catalog_bytes(const rs_catalog_t *cat);

#endif
