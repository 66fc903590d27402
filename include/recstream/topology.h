/* topology.h — the two sides of DESIGN §3 and how they meet.
 *
 * The item side (rs_items_t) is one cooccur instance per partition of the
 * cooc-deltas topic: a delta goes to the instance of its partition, and
 * what the instances publish goes to a neighbour sink (the item-neighbors
 * topic, or a neighbour table in the same process).
 *
 * rs_local_t is the whole pipeline in one process with the shuffle in
 * memory, for replay, eval and tests: the user side's chain, its deltas
 * applied to the item side at each batch's end in partition order (when
 * the pairs stage sends them, before score runs), what the item side
 * publishes applied to the neighbour table the chain reads, all in a
 * fixed order — deterministic, and the same model the topology
 * learns through Kafka from the same input. */
#ifndef RECSTREAM_TOPOLOGY_H
#define RECSTREAM_TOPOLOGY_H

#include "recstream/chain.h"
#include "recstream/cooccur.h"
#include "recstream/nbtable.h"
#include "recstream/pipeline.h"

typedef struct rs_items rs_items_t;

/* The item side of pl (which has a cooccur stage): partitions instances
 * publishing through out (copied). Borrowed: pl, strings. NULL with
 * errstr. */
rs_items_t *rs_items_new(const rs_pipeline_t *pl, rs_intern_t *strings,
                         const rs_nb_sink_t *out, char *errstr,
                         size_t errstr_size);
void rs_items_destroy(rs_items_t *it);
/* Applies a delta to its partition's instance; RS_ERR_INVALID for a
 * partition outside the topology (the delta is not applied). */
rs_err_t rs_items_apply(rs_items_t *it, const rs_delta_t *d);
/* Forgets what a partition's instance learnt (its partition was revoked:
 * the next owner publishes it now). RS_ERR_INVALID outside the topology,
 * RS_ERR_NOMEM (the old instance is kept). */
rs_err_t rs_items_reset(rs_items_t *it, int32_t partition);
/* Publishes what is due on every partition, in partition order (settle:
 * everything that changed). */
rs_err_t rs_items_publish(rs_items_t *it, int settle);
/* State that survives: every partition's changed items (and partition
 * record) to fn, partition by partition; a record loaded into its
 * partition (RS_ERR_INVALID: no such partition). */
rs_err_t rs_items_save(rs_items_t *it, rs_cooc_save_fn *fn, void *opaque);
rs_err_t rs_items_load(rs_items_t *it, const rs_item_state_t *s);
/* Every item of one partition and its record (rs_cooc_save_all). */
rs_err_t rs_items_save_partition(rs_items_t *it, int32_t partition,
                                 rs_cooc_save_fn *fn, void *opaque);
/* Whether any partition has changes not yet saved. */
int rs_items_unsaved(const rs_items_t *it);
/* Records waiting to be published. */
size_t rs_items_pending(const rs_items_t *it);
/* The instance of a partition (for tests and metrics), NULL outside. */
rs_cooc_t *rs_items_partition(rs_items_t *it, int32_t partition);
int32_t rs_items_partitions(const rs_items_t *it);

/* What every partition's instance holds together (for metrics). */
typedef struct rs_items_totals {
        size_t items, pairs, bytes;
        uint64_t evictions;
        uint64_t skipped; /* updates of events applied before */
} rs_items_totals_t;
rs_items_totals_t rs_items_totals(const rs_items_t *it);

typedef struct rs_local rs_local_t;

/* pl's two sides in one process; borrowed: pl, strings, catalog. */
rs_local_t *rs_local_new(const rs_pipeline_t *pl, rs_intern_t *strings,
                         rs_catalog_t *catalog, char *errstr,
                         size_t errstr_size);
void rs_local_destroy(rs_local_t *l);
/* One batch through the user side, then its deltas through the item
 * side and what that publishes into the neighbour table. */
rs_err_t rs_local_process(rs_local_t *l, rs_event_t *ev, size_t n,
                          const rs_emit_t *out);
/* Publishes everything the item side holds back (the end of a stream). */
rs_err_t rs_local_settle(rs_local_t *l);
rs_chain_t *rs_local_chain(rs_local_t *l);
const rs_nbtable_t *rs_local_table(const rs_local_t *l);
/* NULL when the pipeline has no item side. */
rs_items_t *rs_local_items(rs_local_t *l);

#endif
