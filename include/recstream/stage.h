/* stage.h — the one interface every pipeline stage implements, and the
 * static registry that finds a stage by its YAML `type:`.
 *
 * A batch of decoded events flows through the stages in YAML order. A stage
 * may mark an event dropped (ev->drop = its reason), annotate it (weight),
 * update its own state, and emit recommendation lists through `out`. A NULL
 * `out` to process means nothing is published yet (replay, eval): stages only
 * learn, and a later RS_FLUSH_ALL emits every list. */
#ifndef RECSTREAM_STAGE_H
#define RECSTREAM_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/catalog.h"
#include "recstream/config.h"
#include "recstream/err.h"
#include "recstream/event.h"
#include "recstream/intern.h"
#include "recstream/records.h"

/* Where stages send recommendation lists (the sink, a file, a test). The
 * list is borrowed for the duration of the call. */
typedef struct rs_emit {
        rs_err_t (*fn)(void *opaque, const rs_recs_t *recs);
        void *opaque;
} rs_emit_t;

/* What a flush emits: what is due at `now` (after each batch), what is
 * pending at all (a draining shutdown), or every user's current list (the
 * end of a replay). */
typedef enum rs_flush {
        RS_FLUSH_DUE,
        RS_FLUSH_PENDING,
        RS_FLUSH_ALL,
} rs_flush_t;

/* Where the pairs stage sends its deltas: the Kafka topic of the
 * topology, or the item side in the same process (replay, eval). */
typedef struct rs_delta_sink {
        /* One delta (borrowed for the call), at a batch's end, in
         * partition order. */
        rs_err_t (*fn)(void *opaque, const rs_delta_t *d);
        /* The name of source topic index `topic` (rs_event_t.topic). */
        const char *(*topic_name)(void *opaque, uint16_t topic);
        void *opaque;
        int32_t partitions; /* of <pipeline>.cooc-deltas */
} rs_delta_sink_t;

struct rs_uwin;
struct rs_nbtable;

/* What a stage instance may use; borrowed, outlives the instance. The
 * typed members are what stages need of each other: a stage declares
 * them in rs_stage_ops_t.needs, the pipeline checks their order, and the
 * chain fills them as it creates the stages. */
typedef struct rs_stage_env {
        rs_intern_t *strings;
        const char *pipeline;
        rs_catalog_t *catalog; /* item facts (ItemMeta), never NULL */
        /* Wall-clock ms since the epoch, for judging event times ahead of
         * now (rs_wall_ms; tests give their own). Never NULL. */
        int64_t (*wall_ms)(void);
        struct rs_uwin *user_window; /* once the user_window stage is made */
        /* the item side's neighbour lists and popularity, as this process
         * knows them; never NULL on the user side */
        const struct rs_nbtable *neighbors;
        rs_delta_sink_t deltas;
} rs_stage_env_t;

/* Which side of the topology runs a stage (DESIGN §3). */
typedef enum rs_side {
        RS_SIDE_USERS, /* over the input events, in the stage chain */
        RS_SIDE_ITEMS, /* over the pair deltas (cooccur): not in the chain */
} rs_side_t;

typedef struct rs_stage_ops {
        const char *type;
        const char *doc;
        rs_side_t side;
        /* Types of the stages that must come before it (NULL-terminated;
         * may be NULL): `validate` reports a missing or later one at this
         * stage's `type:`. */
        const char *const *needs;
        const rs_prop_t *props; /* NULL-name terminated */
        size_t conf_size;       /* the struct props fill */
        /* Optional cross-key rules after props applied; returns errors. */
        int (*check)(void *conf, const rs_node_t *node, const char *path,
                     rs_diag_t *d);
        /* conf is borrowed and outlives the instance. NULL on failure.
         * Users side only. */
        void *(*create)(const void *conf, rs_stage_env_t *env, char *errstr,
                        size_t errstr_size);
        rs_err_t (*process)(void *st, rs_event_t *ev, size_t n,
                            const rs_emit_t *out);
        /* Emit by `mode` as of event time `now`. May be NULL. */
        rs_err_t (*flush)(void *st, int64_t now, rs_flush_t mode,
                          const rs_emit_t *out);
        /* State that survives (DESIGN §3, issue 11): save fills what the
         * stage keeps of `user` into its part of s (pointers valid until
         * the stage's next save); load replaces what it keeps of s->user
         * by s's part. NULL when the stage keeps nothing per user. */
        void (*save)(void *st, uint32_t user, rs_user_state_t *s);
        rs_err_t (*load)(void *st, const rs_user_state_t *s);
        void (*destroy)(void *st);
} rs_stage_ops_t;

/* The registered stage of `type`, or NULL. */
const rs_stage_ops_t *rs_stage_find(const char *type);
/* The i-th registered stage, NULL past the end. */
const rs_stage_ops_t *rs_stage_at(size_t i);

#endif
