/* catalog.c — item facts by item id; embeddings in one growing array.
 * An entry holds a reference to its item id and its category id, so
 * neither is recycled while the catalog knows the item; entries are never
 * dropped (a removed item stays removed), so at most max_items. */
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/catalog.h"
#include "recstream/vec.h"
#include "recstream/event.h"

typedef struct entry {
        uint32_t category;
        uint32_t emb; /* index + 1 into embs, 0 none */
        int64_t duration_ms;
        uint8_t known, removed;
} entry_t;

struct rs_catalog {
        rs_intern_t *strings;
        entry_t *items; /* by item id */
        size_t cap, count, max;
        uint64_t rejected;
        size_t dim;
        float *embs; /* nembs rows of dim */
        size_t nembs, embs_cap;
};

rs_catalog_t *rs_catalog_new(size_t dim, size_t max_items, rs_intern_t *strings)
{
        rs_catalog_t *cat = calloc(1, sizeof(*cat));
        if (cat) {
                cat->dim = dim;
                cat->max = max_items;
                cat->strings = strings;
        }
        return cat;
}

void rs_catalog_destroy(rs_catalog_t *cat)
{
        if (!cat)
                return;
        for (size_t i = 0; i < cat->cap; i++)
                if (cat->items[i].known) {
                        rs_intern_unref(cat->strings, (uint32_t)i);
                        rs_intern_unref(cat->strings, cat->items[i].category);
                }
        free(cat->items);
        free(cat->embs);
        free(cat);
}

static const entry_t *find(const rs_catalog_t *cat, uint32_t item)
{
        return item < cat->cap && cat->items[item].known ? &cat->items[item]
                                                         : NULL;
}

rs_err_t rs_catalog_apply(rs_catalog_t *cat, const rs_item_meta_t *m)
{
        entry_t *e;

        if (m->embedding && m->dim != cat->dim)
                return RS_ERR_INVALID;
        if (m->item == RS_ID_NONE)
                return RS_ERR_INVALID;
        if (!find(cat, m->item) && cat->count >= cat->max) {
                cat->rejected++;
                return RS_ERR_FULL;
        }
        if (rs_grow_zeroed((void **)&cat->items, &cat->cap, m->item,
                           sizeof(*cat->items)))
                return RS_ERR_NOMEM;
        e = &cat->items[m->item];
        if (m->embedding && cat->dim) {
                if (!e->emb) {
                        if (cat->nembs == cat->embs_cap) {
                                size_t n =
                                        cat->embs_cap ? cat->embs_cap * 2 : 256;
                                float *embs =
                                        realloc(cat->embs,
                                                n * cat->dim * sizeof(*embs));
                                if (!embs)
                                        return RS_ERR_NOMEM;
                                cat->embs = embs;
                                cat->embs_cap = n;
                        }
                        e->emb = (uint32_t)++cat->nembs;
                }
                memcpy(cat->embs + (e->emb - 1) * cat->dim, m->embedding,
                       cat->dim * sizeof(float));
        }
        if (!e->known) {
                cat->count++;
                rs_intern_ref(cat->strings, m->item);
                e->category = RS_ID_NONE;
        }
        e->known = 1;
        rs_intern_ref(cat->strings, m->category);
        rs_intern_unref(cat->strings, e->category);
        e->category = m->category;
        e->duration_ms = m->duration_ms;
        e->removed = (uint8_t)(m->removed != 0);
        return RS_OK;
}

uint32_t rs_catalog_category(const rs_catalog_t *cat, uint32_t item)
{
        const entry_t *e = cat ? find(cat, item) : NULL;
        return e ? e->category : RS_ID_NONE;
}

int64_t rs_catalog_duration(const rs_catalog_t *cat, uint32_t item)
{
        const entry_t *e = cat ? find(cat, item) : NULL;
        return e ? e->duration_ms : RS_NONE_I64;
}

int rs_catalog_removed(const rs_catalog_t *cat, uint32_t item)
{
        const entry_t *e = cat ? find(cat, item) : NULL;
        return e && e->removed;
}

const float *rs_catalog_embedding(const rs_catalog_t *cat, uint32_t item)
{
        const entry_t *e = cat ? find(cat, item) : NULL;
        return e && e->emb ? cat->embs + (e->emb - 1) * cat->dim : NULL;
}

size_t rs_catalog_dim(const rs_catalog_t *cat)
{
        return cat->dim;
}

size_t rs_catalog_items(const rs_catalog_t *cat)
{
        return cat->count;
}

uint64_t rs_catalog_rejected(const rs_catalog_t *cat)
{
        return cat->rejected;
}

size_t rs_catalog_bytes(const rs_catalog_t *cat)
{
        return cat->cap * sizeof(*cat->items) +
               cat->embs_cap * cat->dim * sizeof(float);
}

const float *rs_catalog_own_embedding(const rs_catalog_t *cat, uint32_t item,
                                      size_t dim)
{
        return cat && rs_catalog_dim(cat) == dim
                       ? rs_catalog_embedding(cat, item)
                       : NULL;
}

const float *rs_catalog_item_embedding(const rs_catalog_t *cat, uint32_t item,
                                       uint32_t category, float *scratch,
                                       size_t dim)
{
        const float *e = rs_catalog_own_embedding(cat, item, dim);

        if (e)
                return e;
        rs_vec_category_embedding(
                category == RS_ID_NONE ? 0
                                       : rs_intern_hash(cat->strings, category),
                scratch, dim);
        return scratch;
}
