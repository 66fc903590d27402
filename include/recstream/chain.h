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
/* Flushes every stage (see rs_stage_ops_t.flush). */
rs_err_t rs_chain_flush(rs_chain_t *ch, int64_t now, rs_flush_t mode,
                        const rs_emit_t *out);
/* The instance of the first stage of `type`, or NULL. */
void *rs_chain_find(const rs_chain_t *ch, const char *type);

#endif
