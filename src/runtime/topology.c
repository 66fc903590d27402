/* topology.c — the item side's instances, and both sides in one process. */
#include <stdlib.h>

#include "recstream/topology.h"

struct rs_items {
        rs_cooc_t **part;
        int32_t n;
        rs_nb_sink_t out;
        const void *conf; /* the cooccur stage's */
        rs_intern_t *strings;
};

rs_items_t *rs_items_new(const rs_pipeline_t *pl, rs_intern_t *strings,
                         const rs_nb_sink_t *out, char *errstr,
                         size_t errstr_size)
{
        const void *conf = rs_pipeline_stage_conf(pl, "cooccur");
        rs_items_t *it = calloc(1, sizeof(*it));

        if (!conf) {
                free(it);
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "the pipeline has no cooccur stage: no item side");
                return NULL;
        }
        if (!it || !(it->part = calloc((size_t)pl->topology.partitions,
                                       sizeof(*it->part)))) {
                free(it);
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        it->out = *out;
        it->conf = conf;
        it->strings = strings;
        for (; it->n < (int32_t)pl->topology.partitions; it->n++)
                if (!(it->part[it->n] =
                              rs_cooc_new(conf, strings, it->n,
                                          (int32_t)pl->topology.partitions,
                                          errstr, errstr_size))) {
                        rs_items_destroy(it);
                        return NULL;
                }
        return it;
}

rs_err_t rs_items_reset(rs_items_t *it, int32_t partition)
{
        char err[256];
        rs_cooc_t *co;

        if (partition < 0 || partition >= it->n)
                return RS_ERR_INVALID;
        if (!(co = rs_cooc_new(it->conf, it->strings, partition, it->n, err,
                               sizeof(err))))
                return RS_ERR_NOMEM;
        rs_cooc_destroy(it->part[partition]);
        it->part[partition] = co;
        return RS_OK;
}

void rs_items_destroy(rs_items_t *it)
{
        if (!it)
                return;
        for (int32_t p = 0; p < it->n; p++)
                rs_cooc_destroy(it->part[p]);
        free(it->part);
        free(it);
}

rs_err_t rs_items_apply(rs_items_t *it, const rs_delta_t *d)
{
        if (d->partition < 0 || d->partition >= it->n)
                return RS_ERR_INVALID;
        return rs_cooc_apply(it->part[d->partition], d);
}

rs_err_t rs_items_save(rs_items_t *it, rs_cooc_save_fn *fn, void *opaque)
{
        rs_err_t err = RS_OK;

        for (int32_t p = 0; p < it->n && !err; p++)
                err = rs_cooc_save_changed(it->part[p], fn, opaque);
        return err;
}

rs_err_t rs_items_load(rs_items_t *it, const rs_item_state_t *s)
{
        if (s->partition < 0 || s->partition >= it->n)
                return RS_ERR_INVALID;
        return rs_cooc_load(it->part[s->partition], s);
}

rs_err_t rs_items_save_partition(rs_items_t *it, int32_t partition,
                                 rs_cooc_save_fn *fn, void *opaque)
{
        if (partition < 0 || partition >= it->n)
                return RS_ERR_INVALID;
        return rs_cooc_save_all(it->part[partition], fn, opaque);
}

int rs_items_unsaved(const rs_items_t *it)
{
        for (int32_t p = 0; p < it->n; p++)
                if (rs_cooc_unsaved(it->part[p]))
                        return 1;
        return 0;
}

rs_err_t rs_items_publish(rs_items_t *it, int settle)
{
        rs_err_t err = RS_OK;

        for (int32_t p = 0; p < it->n && !err; p++)
                err = rs_cooc_publish(it->part[p], settle, &it->out);
        return err;
}

size_t rs_items_pending(const rs_items_t *it)
{
        size_t n = 0;

        for (int32_t p = 0; p < it->n; p++)
                n += rs_cooc_pending(it->part[p]);
        return n;
}

rs_cooc_t *rs_items_partition(rs_items_t *it, int32_t partition)
{
        return partition >= 0 && partition < it->n ? it->part[partition] : NULL;
}

int32_t rs_items_partitions(const rs_items_t *it)
{
        return it->n;
}

rs_items_totals_t rs_items_totals(const rs_items_t *it)
{
        rs_items_totals_t t = {0};

        for (int32_t p = 0; it && p < it->n; p++) {
                t.items += rs_cooc_items(it->part[p]);
                t.pairs += rs_cooc_pairs(it->part[p]);
                t.bytes += rs_cooc_bytes(it->part[p]);
                t.evictions += rs_cooc_evictions(it->part[p]);
                t.skipped += rs_cooc_skipped(it->part[p]);
        }
        return t;
}

/*
 * Both sides in one process.
 */

struct rs_local {
        rs_nbtable_t *table;
        rs_nb_sink_t out;  /* into table */
        rs_items_t *items; /* NULL: no item side */
        rs_chain_t *chain;
};

static rs_err_t to_table(void *opaque, const rs_nb_rec_t *r)
{
        rs_local_t *l = opaque;
        rs_err_t err = rs_nbtable_apply(l->table, r);

        return err == RS_ERR_FULL ? RS_OK : err; /* refused, counted */
}

/* A delta of the batch the chain is in: applied, and what is due of its
 * partition published, before the stages after pairs (score) run. */
static rs_err_t to_items(void *opaque, const rs_delta_t *d)
{
        rs_local_t *l = opaque;
        rs_err_t err;

        if (!l->items)
                return RS_OK;
        if ((err = rs_items_apply(l->items, d)))
                return err;
        return rs_cooc_publish(rs_items_partition(l->items, d->partition), 0,
                               &l->out);
}

static const char *no_topic(void *opaque, uint16_t topic)
{
        (void)opaque;
        (void)topic;
        return "";
}

rs_local_t *rs_local_new(const rs_pipeline_t *pl, rs_intern_t *strings,
                         rs_catalog_t *catalog, char *errstr,
                         size_t errstr_size)
{
        rs_local_t *l = calloc(1, sizeof(*l));
        const void *cc = rs_pipeline_stage_conf(pl, "cooccur");

        if (!l || !(l->table = rs_nbtable_new(
                            strings, (size_t)pl->topology.max_neighbor_items,
                            cc ? rs_cooc_trending_size(cc) : 1))) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                goto fail;
        }
        l->out = (rs_nb_sink_t){to_table, l};
        if (cc && !(l->items = rs_items_new(pl, strings, &l->out, errstr,
                                            errstr_size)))
                goto fail;
        rs_delta_sink_t deltas = {to_items, no_topic, l,
                                  (int32_t)pl->topology.partitions};
        if (!(l->chain = rs_chain_new(pl, strings, catalog, l->table, &deltas,
                                      errstr, errstr_size)))
                goto fail;
        return l;
fail:
        rs_local_destroy(l);
        return NULL;
}

void rs_local_destroy(rs_local_t *l)
{
        if (!l)
                return;
        rs_chain_destroy(l->chain);
        rs_items_destroy(l->items);
        rs_nbtable_destroy(l->table);
        free(l);
}

rs_err_t rs_local_process(rs_local_t *l, rs_event_t *ev, size_t n,
                          const rs_emit_t *out)
{
        rs_err_t err = rs_chain_process(l->chain, ev, n, out);

        if (!err && l->items)
                err = rs_items_publish(l->items, 0);
        return err;
}

rs_err_t rs_local_settle(rs_local_t *l)
{
        return l->items ? rs_items_publish(l->items, 1) : RS_OK;
}

rs_chain_t *rs_local_chain(rs_local_t *l)
{
        return l->chain;
}

const rs_nbtable_t *rs_local_table(const rs_local_t *l)
{
        return l->table;
}

rs_items_t *rs_local_items(rs_local_t *l)
{
        return l->items;
}
