/* worker.h — one pipeline running from Kafka to Kafka: consume a batch,
 * decode, run the stages, encode and produce what they emit, dead-letter
 * what cannot be used, and store offsets only once that output and those
 * dead letters are delivered (at-least-once). */
#ifndef RECSTREAM_WORKER_H
#define RECSTREAM_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/event.h"
#include "recstream/metrics.h"
#include "recstream/pipeline.h"

/* The books: consumed = processed + dead_letters + dropped[DUPLICATE] +
 * dropped[RATE_LIMIT], record for record. A record is processed when it
 * reached the end of the stages (weight-0 records included: they are
 * ordinary traffic, counted in dropped[ZERO_WEIGHT] as well). */
typedef struct rs_worker_stats {
        uint64_t consumed;                /* messages polled */
        uint64_t decoded;                 /* decoded into events */
        uint64_t decode_failed;           /* dead letters of the decoder */
        uint64_t dropped[RS_DROP__COUNT]; /* events dropped by the stages */
        uint64_t processed;
        uint64_t dead_letters;  /* records sent (or, dlq off, due) to the DLQ */
        uint64_t dlq_produced;  /* ... handed to the producer */
        uint64_t dlq_delivered; /* ... and acknowledged */
        uint64_t dlq_rejected;  /* ... refused by the broker for good */
        uint64_t produced;      /* UserRecs handed to the producer */
        uint64_t delivered;     /* ... and acknowledged by the broker */
        uint64_t recs_rejected; /* ... refused for good (too large) */
        uint64_t delivery_failed; /* not delivered in time: the worker stops */
        uint64_t encode_failed;
        uint64_t items_applied; /* ItemMeta records applied to the catalog */
        uint64_t items_failed;  /* ... and not (dead-lettered) */
        /* the topology: deltas the user side produced (and their bytes),
         * the item side consumed = applied + failed (dead-lettered);
         * neighbour records the item side produced, the table applied */
        uint64_t deltas_produced, deltas_delivered, delta_bytes;
        uint64_t deltas_consumed, deltas_applied, deltas_failed;
        uint64_t nb_produced, nb_delivered, nb_bytes, nb_applied, nb_failed;
        /* state that survives: changelog records written (and bytes,
         * tombstones), acknowledged; restores, the records they read and
         * applied, those refused as corrupt; commits */
        uint64_t chg_produced, chg_bytes, chg_tombstones, chg_delivered;
        uint64_t restores, restore_records, restore_bytes, restore_corrupt;
        /* state.state_dir: checkpoint files written (and their bytes),
         * failed to write; loaded (and their keys), refused as damaged
         * or stale (the changelog was then read in full) */
        uint64_t checkpoints, checkpoint_bytes, checkpoint_failed;
        uint64_t checkpoint_loaded, checkpoint_keys, checkpoint_corrupt;
        uint64_t commits;
        uint64_t reloads; /* live reloads applied */
        /* filled by rs_worker_stats from where they are counted: the
         * consumers' rebalance callbacks (both groups), and what the score
         * stage did not publish (rs_score_counts) */
        uint64_t rebalances;
        uint64_t lists_debounced, lists_unchanged, lists_empty;
        /* exactly_once: transactions committed, aborted */
        uint64_t txn_commits, txn_aborts;
        int restoring; /* partitions assigned and paused until restored */
        int assigned;  /* partitions */
} rs_worker_stats_t;

typedef struct rs_worker rs_worker_t;

/* `pl` is borrowed and must outlive the worker. `role` is RS_ROLE_* (-1:
 * the pipeline's topology.role). Creates the internal topics when missing,
 * loads the catalog and the neighbour table, connects and subscribes.
 * *stop (borrowed, may be NULL) is looked at wherever the worker would
 * wait for brokers. `mon` (borrowed, may be NULL) gets the heartbeat, the
 * readiness and a snapshot of the metrics every RS_MONITOR_EVERY_MS, from
 * the start on. Caller owns; NULL on failure with errstr. */
rs_worker_t *rs_worker_new(const rs_pipeline_t *pl, int role,
                           const volatile sig_atomic_t *stop, rs_monitor_t *mon,
                           char *errstr, size_t errstr_size);
/* The first fatal error's reason ("" when none, or none known). */
const char *rs_worker_error(const rs_worker_t *w);

/* One poll → process → produce round, waiting up to the source's
 * poll_timeout. RS_OK, or a fatal error (delivery failed, consumer fatal). */
rs_err_t rs_worker_step(rs_worker_t *w);

/* Flushes the stages and the producer, commits, leaves the group and
 * frees, all within the pipeline's shutdown_timeout: what is not
 * delivered by then is not committed. Returns the first error of the
 * shutdown. NULL is fine. */
rs_err_t rs_worker_close(rs_worker_t *w);

/* A live reload: next (from the same file, read again) replaces the
 * running settings that may change without a restart (RS_PROP_RELOAD:
 * weights, scoring, diversity, refresh) — state is kept, and the
 * UserRecs produced afterwards carry next's config hash. Any other
 * difference (topics, roles, the stage graph, state sizes, librdkafka
 * properties) refuses it with RS_ERR_INVALID and the key in errstr; the
 * old settings keep running. On RS_OK the worker owns next; otherwise the
 * caller still does. */
rs_err_t rs_worker_reload(rs_worker_t *w, rs_pipeline_t *next, char *errstr,
                          size_t errstr_size);

void rs_worker_stats(const rs_worker_t *w, rs_worker_stats_t *st);
/* Whether what this process produced has gone round: its deltas
 * delivered and (with the item side here) applied and published, what it
 * published read back into its neighbour table, its lists delivered. */
int rs_worker_settled(const rs_worker_t *w);
/* Count of decode failures with `reason` (rs_codec_reason names). */
uint64_t rs_worker_drops(const rs_worker_t *w, const char *reason);
/* Logs one `event=stats` line at info level: the books, every drop reason
 * of every stage, dead letters and deliveries. */
void rs_worker_log_stats(const rs_worker_t *w);

#endif
