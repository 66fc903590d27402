/* cooccur.h — the item side of co-occurrence (DESIGN §3): one instance
 * per partition of <pipeline>.cooc-deltas holds the pair counts C(i,j),
 * the popularity and neighbour lists of the items that hash to it, and
 * every item's marginal N(i); it learns from the pairs stage's deltas and
 * publishes neighbour records for every replica's neighbour table. */
#ifndef RECSTREAM_COOCCUR_H
#define RECSTREAM_COOCCUR_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/intern.h"
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

/* Where published neighbour records go; each is borrowed for the call. */
typedef struct rs_nb_sink {
        rs_err_t (*fn)(void *opaque, const rs_nb_rec_t *r);
        void *opaque;
} rs_nb_sink_t;

/* The instance of partition `partition` of `partitions`, with the cooccur
 * stage's conf (rs_pipeline_t.stages[].conf, borrowed, outlives it);
 * `strings` is borrowed. Caller owns; NULL with errstr. */
rs_cooc_t *rs_cooc_new(const void *conf, rs_intern_t *strings,
                       int32_t partition, int32_t partitions, char *errstr,
                       size_t errstr_size);
void rs_cooc_destroy(rs_cooc_t *co);

/* Learns one delta (borrowed). The instance's event time becomes the
 * newest addition's. RS_ERR_NOMEM. */
rs_err_t rs_cooc_apply(rs_cooc_t *co, const rs_delta_t *d);

/* Publishes through out what changed: tombstones of evicted items, then
 * changed items' lists (new items at once, others at most once per
 * refresh of event time and once they moved by refresh_change), then the
 * partition's trending and total (when they moved). With settle
 * everything that changed goes now. */
rs_err_t rs_cooc_publish(rs_cooc_t *co, int settle, const rs_nb_sink_t *out);
/* Records waiting to be published. */
size_t rs_cooc_pending(const rs_cooc_t *co);
/* The newest event time applied (ms), INT64_MIN before the first. */
int64_t rs_cooc_now(const rs_cooc_t *co);

/* The current neighbour list of item (as last published), best first;
 * *nb owned by co. */
size_t rs_cooc_neighbors(const rs_cooc_t *co, uint32_t item,
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
/* Decayed D(i,j), the transitions i -> j (pairs.transition_gap), at now;
 * at most rs_cooc_count_min. 0 with transition_weight 0: not kept. */
double rs_cooc_directed(const rs_cooc_t *co, uint32_t i, uint32_t j,
                        int64_t now);
/* Counterparts tracked for i. */
size_t rs_cooc_tracked(const rs_cooc_t *co, uint32_t i);

/* Pairs tracked, bytes, item records held and evicted, for metrics. */
size_t rs_cooc_pairs(const rs_cooc_t *co);
size_t rs_cooc_bytes(const rs_cooc_t *co);
size_t rs_cooc_items(const rs_cooc_t *co);
uint64_t rs_cooc_evictions(const rs_cooc_t *co);
/* Neighbour lists made, or with `partial` those of them made from the
 * listed and the changed counterparts only, without a scan of the table
 * (cosine and asymmetric cosine, large tables). */
uint64_t rs_cooc_refreshes(const rs_cooc_t *co, int partial);

/* The trending_size of a cooccur conf (for the neighbour table). */
size_t rs_cooc_trending_size(const void *conf);

/* State that survives (issue 11): fn gets the state of every item
 * changed since the last call (its counts, marginal, popularity, the list
 * last published), then, when there was any, the partition's record. An
 * item evicted meanwhile is not written (its older record stays in the
 * changelog; a restore is bounded by max_items). */
typedef rs_err_t(rs_cooc_save_fn)(void *opaque, const rs_item_state_t *s);
rs_err_t rs_cooc_save_changed(rs_cooc_t *co, rs_cooc_save_fn *fn, void *opaque);
/* The same for every item held, then the partition's record, whatever
 * changed (a checkpoint: what is changed stays to be saved). */
rs_err_t rs_cooc_save_all(rs_cooc_t *co, rs_cooc_save_fn *fn, void *opaque);
/* Items changed or evicted since the last rs_cooc_save_changed. */
size_t rs_cooc_unsaved(const rs_cooc_t *co);
/* Replaces an item's record by s (kind item), or the partition's total
 * and clock (kind partition). RS_ERR_INVALID: another partition's. */
rs_err_t rs_cooc_load(rs_cooc_t *co, const rs_item_state_t *s);
/* Updates skipped because their event was applied before (a delta sent
 * again after a crash of the user side). */
uint64_t rs_cooc_skipped(const rs_cooc_t *co);

#endif
