/* chain.h — the instances of a pipeline's stages, run in order over
 * batches of events. Used by the Kafka worker and by replay, so both run
 * exactly the same stages. */
#ifndef RECSTREAM_CHAIN_H
#define RECSTREAM_CHAIN_H

#include "recstream/nbtable.h"
#include "recstream/pipeline.h"
#include "recstream/stage.h"

typedef struct rs_chain rs_chain_t;

/* The user side's stages of `pl`. Everything is borrowed and must outlive
 * the chain: the neighbour table score reads, and where the pairs stage
 * sends its deltas (NULL: nowhere). */
rs_chain_t *rs_chain_new(const rs_pipeline_t *pl, rs_intern_t *strings,
                         rs_catalog_t *catalog, const rs_nbtable_t *neighbors,
                         const rs_delta_sink_t *deltas, char *errstr,
                         size_t errstr_size);
void rs_chain_destroy(rs_chain_t *ch);

/* Runs every stage over ev[0..n); stops at the first stage error. */
rs_err_t rs_chain_process(rs_chain_t *ch, rs_event_t *ev, size_t n,
                          const rs_emit_t *out);
/* Stage slots (the pipeline's stages); the type of slot i, NULL when it
 * is not in the chain (the item side's); the nanoseconds the last
 * rs_chain_process spent in it (for the per-stage histograms). */
size_t rs_chain_stages(const rs_chain_t *ch);
const char *rs_chain_stage_type(const rs_chain_t *ch, size_t i);
uint64_t rs_chain_stage_ns(const rs_chain_t *ch, size_t i);
/* Flushes every stage (see rs_stage_ops_t.flush). */
rs_err_t rs_chain_flush(rs_chain_t *ch, int64_t now, rs_flush_t mode,
                        const rs_emit_t *out);
/* The instance of the first stage of `type`, or NULL. */
void *rs_chain_find(const rs_chain_t *ch, const char *type);

/* State that survives (DESIGN §3, issue 11). Fills s with what every
 * stage keeps of user (pointers valid until the next save): 1, or 0 when
 * the user is not held (s is then a deletion). */
int rs_chain_save_user(rs_chain_t *ch, uint32_t user, rs_user_state_t *s);
/* Replaces what every stage keeps of s->user by s (RS_ERR_NOMEM). */
rs_err_t rs_chain_load_user(rs_chain_t *ch, const rs_user_state_t *s);
/* Marks the events a restored state already holds (at or below their
 * user's offset in the same partition) dropped as RS_DROP_REPLAYED, before
 * any stage sees them; how many. */
size_t rs_chain_mark_replayed(rs_chain_t *ch, rs_event_t *ev, size_t n);
/* Forgets user if `partition` owns it (a deletion restored). */
void rs_chain_drop_user(rs_chain_t *ch, uint32_t user, int32_t partition);
/* Forgets every user owned by `partition` (revoked); how many. */
size_t rs_chain_drop_partition(rs_chain_t *ch, int32_t partition);

#endif
