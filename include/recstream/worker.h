/* worker.h — one pipeline running from Kafka to Kafka: consume a batch,
 * decode, run the stages, encode and produce what they emit, and store
 * offsets only once that output is delivered (at-least-once). */
#ifndef RECSTREAM_WORKER_H
#define RECSTREAM_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/pipeline.h"

typedef struct rs_worker_stats {
        uint64_t consumed;        /* messages polled */
        uint64_t decoded;         /* decoded into events */
        uint64_t decode_failed;   /* counted by reason below, skipped */
        uint64_t produced;        /* UserRecs handed to the producer */
        uint64_t delivered;       /* ... and acknowledged by the broker */
        uint64_t delivery_failed; /* ... and lost: the worker stops */
        uint64_t encode_failed;
        uint64_t items_applied; /* ItemMeta records applied to the catalog */
        uint64_t items_failed;  /* ... and not (counted by reason too) */
        int assigned;           /* partitions */
} rs_worker_stats_t;

typedef struct rs_worker rs_worker_t;

/* `pl` is borrowed and must outlive the worker. Connects and subscribes.
 * Caller owns; NULL on failure with errstr. */
rs_worker_t *rs_worker_new(const rs_pipeline_t *pl, char *errstr,
                           size_t errstr_size);

/* One poll → process → produce round, waiting up to the source's
 * poll_timeout. RS_OK, or a fatal error (delivery failed, consumer fatal). */
rs_err_t rs_worker_step(rs_worker_t *w);

/* Steps until *stop becomes non-zero or a fatal error. */
rs_err_t rs_worker_run(rs_worker_t *w, const volatile sig_atomic_t *stop);

/* Flushes the stages and the producer, commits, leaves the group and
 * frees. Returns the first error of the shutdown. NULL is fine. */
rs_err_t rs_worker_close(rs_worker_t *w);

void rs_worker_stats(const rs_worker_t *w, rs_worker_stats_t *st);
/* Count of decode failures with `reason` (rs_codec_reason names). */
uint64_t rs_worker_drops(const rs_worker_t *w, const char *reason);
/* Logs one `event=stats` line at info level. */
void rs_worker_log_stats(const rs_worker_t *w);

#endif
