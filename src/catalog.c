/* catalog.c — item facts by item id; embeddings in one growing array. */
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/catalog.h"
#include "recstream/event.h"

typedef struct entry {
        uint32_t category;
        uint32_t emb; /* index + 1 into embs, 0 none */
        int64_t duration_ms;
        uint8_t known, removed;
} entry_t;

struct rs_catalog {
        entry_t *items; /* by item id */
        size_t cap, count;
        size_t dim;
        float *embs; /* nembs rows of dim */
        size_t nembs, embs_cap;
};

rs_catalog_t *rs_catalog_new(size_t dim)
{
        rs_catalog_t *cat = calloc(1, sizeof(*cat));
        if (cat)
                cat->dim = dim;
        return cat;
}

void rs_catalog_destroy(rs_catalog_t *cat)
{
        if (!cat)
                return;
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
        cat->count += !e->known;
        e->known = 1;
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
