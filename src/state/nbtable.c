/* nbtable.c — the neighbour table: an entry per item by id (its list,
 * category and popularity), the partitions' trending lists and totals, and
 * their merge. Every id kept holds a reference (intern.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/nbtable.h"

typedef struct entry {
        rs_neighbor_t *nb;
        uint32_t nnb, cap;
        uint32_t category;
        double popularity; /* log2 */
} entry_t;

/* Partitions whose trending lists are merged at most (topology.partitions
 * is at most 4096). */
#define RS_NB_MAX_PARTS 4096

typedef struct part {
        int32_t partition;
        rs_trend_t *trend;
        size_t n;
        size_t head;  /* merge_trending's place in trend */
        double total; /* log2 */
} part_t;

struct rs_nbtable {
        rs_intern_t *strings;
        size_t max_items, trending_size;
        entry_t **by_id;
        size_t cap, count, bytes;
        part_t *parts;
        size_t nparts;
        uint32_t *trend; /* merged, best first: made when read */
        double *trend_pop;
        size_t ntrend;
        int trend_stale;   /* a part changed since it was merged */
        double top, total; /* of every part: the best popularity, Σ N */
        uint64_t refused, version;
        int64_t updated;
};

static void ref(rs_nbtable_t *nt, uint32_t id)
{
        if (id != RS_ID_NONE)
                rs_intern_ref(nt->strings, id);
}

static void unref(rs_nbtable_t *nt, uint32_t id)
{
        if (id != RS_ID_NONE)
                rs_intern_unref(nt->strings, id);
}

rs_nbtable_t *rs_nbtable_new(rs_intern_t *strings, size_t max_items,
                             size_t trending_size)
{
        rs_nbtable_t *nt = calloc(1, sizeof(*nt));

        if (!nt)
                return NULL;
        nt->strings = strings;
        nt->max_items = max_items;
        nt->trending_size = trending_size;
        nt->top = nt->total = RS_NO_POPULARITY;
        nt->updated = INT64_MIN;
        if (!(nt->trend = malloc((trending_size + 1) * sizeof(*nt->trend))) ||
            !(nt->trend_pop =
                      malloc((trending_size + 1) * sizeof(*nt->trend_pop)))) {
                rs_nbtable_destroy(nt);
                return NULL;
        }
        return nt;
}

static void entry_free(rs_nbtable_t *nt, uint32_t id)
{
        entry_t *e = nt->by_id[id];

        for (uint32_t i = 0; i < e->nnb; i++)
                unref(nt, e->nb[i].item);
        unref(nt, e->category);
        unref(nt, id);
        nt->bytes -= sizeof(*e) + e->cap * sizeof(*e->nb);
        free(e->nb);
        free(e);
        nt->by_id[id] = NULL;
        nt->count--;
}

static void part_clear(rs_nbtable_t *nt, part_t *p)
{
        for (size_t i = 0; i < p->n; i++)
                unref(nt, p->trend[i].item);
        free(p->trend);
        p->trend = NULL;
        p->n = 0;
}

void rs_nbtable_destroy(rs_nbtable_t *nt)
{
        if (!nt)
                return;
        for (size_t i = 0; i < nt->cap; i++)
                if (nt->by_id[i])
                        entry_free(nt, (uint32_t)i);
        for (size_t i = 0; i < nt->nparts; i++)
                part_clear(nt, &nt->parts[i]);
        free(nt->parts);
        free(nt->by_id);
        free(nt->trend);
        free(nt->trend_pop);
        free(nt);
}

static const entry_t *find(const rs_nbtable_t *nt, uint32_t id)
{
        return id < nt->cap ? nt->by_id[id] : NULL;
}

/* Whether (pa, a) ranks before (pb, b): more popular, then the smaller id
 * string (the same order in every replica). */
static int before(const rs_nbtable_t *nt, double pa, uint32_t a, double pb,
                  uint32_t b)
{
        if (pa != pb)
                return pa > pb;
        return a != b && strcmp(rs_intern_str(nt->strings, a, NULL),
                                rs_intern_str(nt->strings, b, NULL)) < 0;
}

/* The best trending_size items of every partition's list: a merge of the
 * partitions' lists, each best first. It holds no references of its own:
 * its ids are the lists', and once a list is replaced it is merged again
 * before it is read. */
static void merge_trending(rs_nbtable_t *nt)
{
        size_t n = 0;

        for (size_t p = 0; p < nt->nparts; p++)
                nt->parts[p].head = 0;
        while (n < nt->trending_size) {
                part_t *best = NULL;
                for (size_t p = 0; p < nt->nparts; p++) {
                        part_t *pt = &nt->parts[p];
                        if (pt->head == pt->n)
                                continue;
                        const rs_trend_t *a = &pt->trend[pt->head];
                        if (!best || before(nt, a->popularity, a->item,
                                            best->trend[best->head].popularity,
                                            best->trend[best->head].item))
                                best = pt;
                }
                if (!best)
                        break;
                const rs_trend_t *t = &best->trend[best->head++];
                nt->trend[n] = t->item;
                nt->trend_pop[n++] = t->popularity;
        }
        nt->ntrend = n;
        nt->trend_stale = 0;
}

static rs_err_t apply_partition(rs_nbtable_t *nt, const rs_nb_rec_t *r)
{
        part_t *p = NULL;

        for (size_t i = 0; i < nt->nparts; i++)
                if (nt->parts[i].partition == r->partition)
                        p = &nt->parts[i];
        if (!p && nt->nparts == RS_NB_MAX_PARTS)
                return RS_ERR_FULL;
        if (!p) {
                part_t *ps = realloc(nt->parts, (nt->nparts + 1) * sizeof(*ps));
                if (!ps)
                        return RS_ERR_NOMEM;
                nt->parts = ps;
                p = &ps[nt->nparts++];
                *p = (part_t){.partition = r->partition};
        }
        rs_trend_t *t = r->ntrend ? malloc(r->ntrend * sizeof(*t)) : NULL;
        if (r->ntrend && !t)
                return RS_ERR_NOMEM;
        part_clear(nt, p);
        if (r->ntrend)
                memcpy(t, r->trend, r->ntrend * sizeof(*t));
        for (size_t i = 0; i < r->ntrend; i++)
                ref(nt, t[i].item);
        p->trend = t;
        p->n = r->ntrend;
        p->total = r->total;
        /* a popularity only grows: the larger of two records is the newer */
        for (size_t i = 0; i < r->ntrend; i++) {
                entry_t *e = t[i].item < nt->cap ? nt->by_id[t[i].item] : NULL;
                if (e && t[i].popularity > e->popularity)
                        e->popularity = t[i].popularity;
        }
        /* every partition learns every marginal: their totals are one
         * total, as fresh as each partition's last record */
        nt->top = nt->total = RS_NO_POPULARITY;
        for (size_t i = 0; i < nt->nparts; i++) {
                const part_t *q = &nt->parts[i];
                if (q->n && q->trend[0].popularity > nt->top)
                        nt->top = q->trend[0].popularity;
                if (q->total > nt->total)
                        nt->total = q->total;
        }
        nt->trend_stale = 1; /* merged when read: records come in bursts */
        return RS_OK;
}

static rs_err_t apply_item(rs_nbtable_t *nt, const rs_nb_rec_t *r)
{
        entry_t *e = find(nt, r->item) ? nt->by_id[r->item] : NULL;

        if (r->deleted) {
                if (e)
                        entry_free(nt, r->item);
                return RS_OK;
        }
        if (!e) {
                if (nt->count >= nt->max_items) {
                        nt->refused++;
                        return RS_ERR_FULL;
                }
                if (rs_grow_zeroed((void **)&nt->by_id, &nt->cap, r->item,
                                   sizeof(*nt->by_id)) ||
                    !(e = calloc(1, sizeof(*e))))
                        return RS_ERR_NOMEM;
                e->category = RS_ID_NONE;
                nt->by_id[r->item] = e;
                nt->count++;
                nt->bytes += sizeof(*e);
                ref(nt, r->item);
        }
        if (r->nnb > e->cap) {
                rs_neighbor_t *nb = realloc(e->nb, r->nnb * sizeof(*nb));
                if (!nb)
                        return RS_ERR_NOMEM;
                nt->bytes += (r->nnb - e->cap) * sizeof(*nb);
                e->nb = nb;
                e->cap = (uint32_t)r->nnb;
        }
        /* the new list's references first: an id in both stays alive */
        for (size_t i = 0; i < r->nnb; i++)
                ref(nt, r->nb[i].item);
        for (uint32_t i = 0; i < e->nnb; i++)
                unref(nt, e->nb[i].item);
        if (r->nnb)
                memcpy(e->nb, r->nb, r->nnb * sizeof(*e->nb));
        e->nnb = (uint32_t)r->nnb;
        ref(nt, r->category);
        unref(nt, e->category);
        e->category = r->category;
        if (r->popularity > e->popularity) /* it only grows */
                e->popularity = r->popularity;
        return RS_OK;
}

rs_err_t rs_nbtable_apply(rs_nbtable_t *nt, const rs_nb_rec_t *r)
{
        rs_err_t err = r->kind == RS_NB_PARTITION ? apply_partition(nt, r)
                                                  : apply_item(nt, r);

        if (!err)
                nt->version++;
        if (!err && r->updated_ts > nt->updated)
                nt->updated = r->updated_ts;
        return err;
}

size_t rs_nbtable_neighbors(const rs_nbtable_t *nt, uint32_t item,
                            const rs_neighbor_t **nb)
{
        const entry_t *e = find(nt, item);

        *nb = e ? e->nb : NULL;
        return e ? e->nnb : 0;
}

double rs_nbtable_sim(const rs_nbtable_t *nt, uint32_t a, uint32_t b)
{
        const entry_t *e = find(nt, a);

        for (uint32_t i = 0; e && i < e->nnb; i++)
                if (e->nb[i].item == b)
                        return e->nb[i].sim;
        return 0;
}

rs_nbtable_item_t rs_nbtable_item(const rs_nbtable_t *nt, uint32_t item)
{
        const entry_t *e = find(nt, item);
        double top = nt->top;

        if (!e)
                return (rs_nbtable_item_t){RS_ID_NONE, 0};
        return (rs_nbtable_item_t){e->category,
                                   e->popularity > RS_NO_POPULARITY &&
                                                   top > RS_NO_POPULARITY
                                           ? exp2(e->popularity - top)
                                           : 0};
}

size_t rs_nbtable_trending(const rs_nbtable_t *nt, const uint32_t **items)
{
        /* the merged list is a cache of the parts' lists: made here, on
         * a table that is not itself const, once per change read */
        if (nt->trend_stale)
                merge_trending((rs_nbtable_t *)nt);
        *items = nt->trend;
        return nt->ntrend;
}

double rs_nbtable_total(const rs_nbtable_t *nt)
{
        return nt->total;
}

size_t rs_nbtable_items(const rs_nbtable_t *nt)
{
        return nt->count;
}

size_t rs_nbtable_bytes(const rs_nbtable_t *nt)
{
        return nt->bytes + nt->cap * sizeof(*nt->by_id) +
               nt->nparts * sizeof(*nt->parts);
}

uint64_t rs_nbtable_refused(const rs_nbtable_t *nt)
{
        return nt->refused;
}

uint64_t rs_nbtable_version(const rs_nbtable_t *nt)
{
        return nt->version;
}

int64_t rs_nbtable_updated(const rs_nbtable_t *nt)
{
        return nt->updated;
}
