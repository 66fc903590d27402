/* cooccur.h — windowed item-item co-occurrence, the `cooccur` stage's
 * state: pair counts C(i,j), item marginals N(i), per-item top-N neighbour
 * lists by the configured similarity, the items' observed categories and
 * decayed popularity for trending. Read by score. At most max_items item
 * records, the least recently touched evicted first. */
#ifndef RECSTREAM_COOCCUR_H
#define RECSTREAM_COOCCUR_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/records.h"

typedef struct rs_cooc rs_cooc_t;

typedef enum rs_sim {
        RS_SIM_COSINE,
        RS_SIM_ASYMMETRIC_COSINE,
        RS_SIM_JACCARD,
        RS_SIM_LIFT,
        RS_SIM_COVISIT,
        RS_SIM__COUNT
} rs_sim_t;

/* The top neighbours of item at event time `now`, best first, recomputed
 * when the item's counts changed since the last refresh (at most once per
 * refresh interval). *nb is the item's own list, owned by co: valid until
 * a call for the same item refreshes it. */
size_t rs_cooc_neighbors(rs_cooc_t *co, uint32_t item, int64_t now,
                         const rs_neighbor_t **nb);
/* sim(i → j) from the current counts, 0 when never seen together. */
double rs_cooc_sim(const rs_cooc_t *co, uint32_t i, uint32_t j, int64_t now);
/* Decayed C(i,j) and N(i) at `now` (for tests and diagnostics). A count
 * inherited by space-saving makes C an upper bound; rs_cooc_count_min is
 * the lower bound (what was added since the pair was last admitted), which
 * similarities use. */
double rs_cooc_count(const rs_cooc_t *co, uint32_t i, uint32_t j, int64_t now);
double rs_cooc_count_min(const rs_cooc_t *co, uint32_t i, uint32_t j,
                         int64_t now);
double rs_cooc_marginal(const rs_cooc_t *co, uint32_t i, int64_t now);
/* Counterparts tracked for i. */
size_t rs_cooc_tracked(const rs_cooc_t *co, uint32_t i);

/* The category id last seen on the item's events (RS_ID_NONE unknown).
 * Whether an item was removed is the catalog's (catalog.h). */
uint32_t rs_cooc_category(const rs_cooc_t *co, uint32_t item);

/* The most popular items now (decayed popularity), best first. *items is
 * owned by co. */
size_t rs_cooc_trending(const rs_cooc_t *co, const uint32_t **items);

/* What score needs of a candidate, in one lookup: its category (as
 * rs_cooc_category) and its decayed popularity relative to the most
 * popular item's (1 for that item, 0 for an unknown one). Decay scales
 * every item alike, so the share does not depend on the time. */
typedef struct rs_cooc_item {
        uint32_t category;
        double popularity;
} rs_cooc_item_t;
rs_cooc_item_t rs_cooc_item(const rs_cooc_t *co, uint32_t item);

/* Pairs tracked, bytes held, item records held and item records evicted
 * beyond max_items so far, for metrics. */
size_t rs_cooc_pairs(const rs_cooc_t *co);
size_t rs_cooc_bytes(const rs_cooc_t *co);
size_t rs_cooc_items(const rs_cooc_t *co);
uint64_t rs_cooc_evictions(const rs_cooc_t *co);

#endif
