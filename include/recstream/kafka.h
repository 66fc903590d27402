/* kafka.h — the Kafka source (high-level consumer) and sink (idempotent
 * producer). With devbroker.c the only modules that see librdkafka.
 *
 * At-least-once: the source hands out each polled batch with a ticket. The
 * worker holds the ticket once per output produced from the batch and
 * releases it on each delivery report; when a batch is processed and all
 * its outputs are delivered, and so are all batches before it, the source
 * stores the batch's offsets, which librdkafka then commits. */
#ifndef RECSTREAM_KAFKA_H
#define RECSTREAM_KAFKA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "recstream/config.h"
#include "recstream/err.h"

/* How many consumers rs_source_close left to finish their destroy in the
 * background (their threads still run librdkafka): a process should then
 * exit without running exit handlers under them (_exit). */
int rs_kafka_background(void);

/* librdkafka `debug` contexts set on every client made from now on ("" or
 * NULL: none); their lines are logged at any level. Process-wide, like
 * the log level: set once by the command. */
void rs_kafka_set_debug(const char *contexts);

/* Whether librdkafka accepts key=value; errstr says why not. */
rs_err_t rs_kafka_conf_check(const char *key, const char *value, char *errstr,
                             size_t errstr_size);

/* For a librdkafka property recstream sets itself on its clients
 * (group.id, enable.auto.commit, ...; with or without a `topic.` prefix),
 * what to do instead (static text, e.g. "use source.group"); NULL for any
 * other key. A pipeline may not set these: they would be overridden. */
const char *rs_kafka_reserved(const char *key);

/* The kinds of client recstream makes, for rs_kafka_check. */
typedef enum rs_kafka_client {
        RS_KAFKA_SOURCE,  /* rs_source_new: a group consumer */
        RS_KAFKA_SINK,    /* rs_sink_new: the idempotent producer */
        RS_KAFKA_READER,  /* rs_reader_new */
        RS_KAFKA_RESTORE, /* rs_reader_new_idle: a changelog's reader */
        RS_KAFKA_ADMIN,   /* rs_kafka_partitions, rs_kafka_create_topics */
} rs_kafka_client_t;

/* Builds the configuration of a client of `kind` from `common` and `own`
 * (either may be NULL; group and from_latest: RS_KAFKA_SOURCE's) as its
 * constructor does, and has librdkafka check all of it by making the
 * client, destroyed at once. Nothing is connected to (bootstrap.servers
 * is left out), nothing is run (no kinit) and nothing logged; TLS files
 * that are not on this machine are not read (the rest of their
 * configuration is checked). RS_OK, or
 * RS_ERR_INVALID with errstr (secret values redacted) and in *at the
 * entry of common or own that errstr names first (NULL: none). */
rs_err_t rs_kafka_check(rs_kafka_client_t kind, const rs_kv_list_t *common,
                        const rs_kv_list_t *own, const char *group,
                        int from_latest, const rs_kv_t **at, char *errstr,
                        size_t errstr_size);

typedef struct rs_msg {
        const void *key;
        size_t key_len;
        const void *value;
        size_t len;
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp; /* broker/producer timestamp, ms; -1 unknown */
} rs_msg_t;

/* librdkafka's version as the library reports it at run time
 * (rd_kafka_version_str); static. */
const char *rs_kafka_version(void);

/*
 * Source.
 */

typedef struct rs_source rs_source_t;

/* Called when partitions are about to be revoked: the worker delivers all
 * outstanding output so the offsets can be committed before the handover.
 * Returns how long (ms) the commit that follows may wait for brokers; 0:
 * no commit (not delivered, or the worker committed them itself in a
 * transaction). */
typedef int(rs_drain_fn)(void *opaque);

/* What a group consumer needs; borrowed for rs_source_new only. */
typedef struct rs_consumer_conf {
        const rs_strings_t *topics;
        const char *group;
        int from_latest; /* where a group with no committed offset starts */
        size_t batch_size, max_inflight;
        const rs_kv_list_t *kafka; /* the consumer's own properties */
        /* Called for each partition taken away, after what depends on
         * its records was drained and committed (NULL: none); the
         * source's opaque. */
        void (*revoked)(void *opaque, const char *topic, int32_t partition);
        /* Called for each partition assigned, which is paused until the
         * caller resumes it (rs_source_resume: its state restored); NULL:
         * consumed at once. */
        void (*assigned)(void *opaque, const char *topic, int32_t partition);
        /* exactly_once: the positions of processed batches are kept for
         * rs_sink_txn_send_offsets (instead of being committed by
         * rs_source_commit) */
        int transactional;
} rs_consumer_conf_t;

/* Properties: `common`, then conf->kafka. Caller owns; NULL on failure
 * with errstr. Subscribes at once. */
rs_source_t *rs_source_new(const rs_kv_list_t *common,
                           const rs_consumer_conf_t *conf, rs_drain_fn *drain,
                           void *opaque, char *errstr, size_t errstr_size);
/* Resumes a partition the assigned callback left paused. */
void rs_source_resume(rs_source_t *src, const char *topic, int32_t partition);

/* Commits what is stored, leaves the group and frees, all within
 * timeout_ms: with the brokers away it gives up leaving (the group evicts
 * the member after session.timeout.ms) and, should librdkafka's destroy
 * still wait for the coordinator by then, leaves it to finish in a thread
 * of its own that frees the rest. RS_ERR_TIMEOUT then. NULL is fine. */
rs_err_t rs_source_close(rs_source_t *src, int timeout_ms);
/* rs_source_close with 10 s. */
void rs_source_destroy(rs_source_t *src);

/* Up to `max` messages into msgs (valid until rs_source_done(*ticket)).
 * Returns how many; 0 on timeout or while too many batches are in flight.
 * Consumer errors are logged; a fatal one returns -1. */
long rs_source_poll(rs_source_t *src, rs_msg_t *msgs, size_t max,
                    int timeout_ms, uint64_t *ticket);
/* One more output of batch `ticket` is in flight. */
void rs_source_hold(rs_source_t *src, uint64_t ticket);
/* One output of batch `ticket` was delivered. */
void rs_source_release(rs_source_t *src, uint64_t ticket);
/* The batch is processed: its messages are freed, its offsets stored once
 * its outputs are delivered. */
void rs_source_done(rs_source_t *src, uint64_t ticket);
/* Batches polled whose offsets are not stored yet. */
size_t rs_source_inflight(const rs_source_t *src);
/* Partitions currently assigned. */
int rs_source_assigned(const rs_source_t *src);
/* Consumer lag of one assigned partition, from librdkafka's statistics
 * (statistics.interval.ms, 5 s unless the pipeline sets it): the
 * partition's high watermark minus its committed offset, -1 unknown. */
typedef struct rs_lag {
        char topic[256];
        int32_t partition;
        int64_t lag;
} rs_lag_t;

/* The lag of each partition as of the last statistics (valid until the
 * next poll); how many. */
size_t rs_source_lag(const rs_source_t *src, const rs_lag_t **lag);
/* Rebalance callbacks seen: assignments (revoked 0) or revocations. */
uint64_t rs_source_rebalances(const rs_source_t *src, int revoked);
/* The consumer group id. */
const char *rs_source_group(const rs_source_t *src);

/* Commits the stored offsets, waiting at most timeout_ms for the result
 * and trying again within it after a transient failure (a rebalance in
 * progress, the coordinator moving, a lost request). RS_OK (also when
 * there was nothing to commit), RS_ERR_TIMEOUT, RS_ERR_KAFKA. */
rs_err_t rs_source_commit(rs_source_t *src, int timeout_ms);

/* exactly_once: whether processed positions wait for the next
 * transaction (partitions), and forgetting them once it committed. */
int rs_source_txn_pending(const rs_source_t *src);
void rs_source_txn_committed(rs_source_t *src);
/* Partitions lost (the session timed out: no drain, no commit) whose
 * processed positions were not yet in a committed transaction: the open
 * one holds effects of records another member now reads again. */
int rs_source_txn_lost(const rs_source_t *src);

/*
 * Sink.
 */

typedef struct rs_sink rs_sink_t;

/* Delivery report of one produced message: err RS_OK (with the partition
 * and offset it was written at); RS_ERR_KAFKA for a failure retrying
 * cannot mend (the broker rejected the record: too large, invalid);
 * RS_ERR_TIMEOUT when it was not delivered within message.timeout.ms
 * (brokers away). Called from rs_sink_poll() and rs_sink_flush(). */
typedef void(rs_delivery_fn)(void *opaque, void *msg_opaque, rs_err_t err,
                             const char *reason, int32_t partition,
                             int64_t offset);

/* A record header; value bytes borrowed for the produce call. */
typedef struct rs_header {
        const char *name;
        const void *value;
        size_t len;
} rs_header_t;

/* The producer, properties `common` then `own`: `topic` is topic 0.
 * Caller owns; NULL with errstr. */
rs_sink_t *rs_sink_new(const rs_kv_list_t *common, const char *topic,
                       const rs_kv_list_t *own, rs_delivery_fn *dr,
                       void *opaque, char *errstr, size_t errstr_size);
/* The same, transactional (exactly_once): transactional.id txn_id,
 * transaction.timeout.ms txn_timeout_ms unless `own` or `common` set it.
 * Nothing is sent until rs_sink_txn_init and rs_sink_txn_begin. */
rs_sink_t *rs_sink_new_transactional(const rs_kv_list_t *common,
                                     const char *topic, const rs_kv_list_t *own,
                                     const char *txn_id, int txn_timeout_ms,
                                     rs_delivery_fn *dr, void *opaque,
                                     char *errstr, size_t errstr_size);
void rs_sink_destroy(rs_sink_t *sink);

/* What a transactional call left (librdkafka's classification): OK;
 * RETRIABLE, the same call may be made again; ABORTABLE, the transaction
 * must be aborted (rs_sink_txn_abort); FATAL, the producer is unusable
 * (fenced by a newer instance, not authorised). errstr says why. */
typedef enum rs_txn_fail {
        RS_TXN_OK,
        RS_TXN_RETRIABLE,
        RS_TXN_ABORTABLE,
        RS_TXN_FATAL,
} rs_txn_fail_t;

rs_txn_fail_t rs_sink_txn_init(rs_sink_t *sink, int timeout_ms, char *errstr,
                               size_t errstr_size);
rs_txn_fail_t rs_sink_txn_begin(rs_sink_t *sink, char *errstr,
                                size_t errstr_size);
/* Adds the positions src processed since its last transaction, with its
 * group's current metadata (generation, member: KIP-447 fencing); nothing
 * when it processed nothing. One call per consumer group: a transaction
 * may hold several. */
rs_txn_fail_t rs_sink_txn_send_offsets(rs_sink_t *sink, rs_source_t *src,
                                       int timeout_ms, char *errstr,
                                       size_t errstr_size);
/* Delivers what is outstanding, then commits (or aborts) the open
 * transaction. */
rs_txn_fail_t rs_sink_txn_commit(rs_sink_t *sink, int timeout_ms, char *errstr,
                                 size_t errstr_size);
rs_txn_fail_t rs_sink_txn_abort(rs_sink_t *sink, int timeout_ms, char *errstr,
                                size_t errstr_size);
/* The last transaction error librdkafka reported (a produce refused
 * because of it says only "erroneous state"); "" when none. Borrowed. */
const char *rs_sink_txn_error(const rs_sink_t *sink);

/* Another topic to produce to: its index, or -1 with errstr. */
int rs_sink_add_topic(rs_sink_t *sink, const char *name, char *errstr,
                      size_t errstr_size);

/* Copies key, value and headers; partition -1: the key's (librdkafka's
 * partitioner). Waits (serving delivery reports) while
 * the local queue is full, until *stop (rs_sink_set_stop) is set.
 * RS_OK; RS_ERR_INVALID when librdkafka refuses the record itself (larger
 * than message.max.bytes): nothing was queued, nothing will be reported;
 * RS_ERR_TIMEOUT when asked to stop while the queue stayed full;
 * RS_ERR_KAFKA otherwise. */
rs_err_t rs_sink_produce(rs_sink_t *sink, int topic, int32_t partition,
                         const void *key, size_t key_len, const void *value,
                         size_t len, const rs_header_t *headers,
                         size_t nheaders, void *msg_opaque);
/* Where produce looks, while it waits for room, whether to give up. */
void rs_sink_set_stop(rs_sink_t *sink, const volatile sig_atomic_t *stop);
/* Serves delivery reports; logs `event=delivery_stalled` (err) once when
 * output has waited 10 s with nothing delivered, `delivery_resumed` after. */
void rs_sink_poll(rs_sink_t *sink, int timeout_ms);
/* Waits until everything produced is delivered or failed. */
rs_err_t rs_sink_flush(rs_sink_t *sink, int timeout_ms);
/* Messages produced and not yet reported. */
int rs_sink_outstanding(rs_sink_t *sink);
/* Drops what is not yet delivered (a shutdown past its deadline): their
 * reports arrive as failures. */
void rs_sink_purge(rs_sink_t *sink);
/* The producer's message.max.bytes. */
size_t rs_sink_max_message(const rs_sink_t *sink);

/*
 * Admin.
 */

/* A topic recstream needs: compacted or not. */
typedef struct rs_topic_spec {
        const char *name;
        int partitions;
        int compact; /* cleanup.policy=compact */
} rs_topic_spec_t;

/* Creates the topics that do not exist (CreateTopics), waiting at most
 * timeout_ms, and logs what it finds: each created, each existing one
 * with other partitions or another cleanup.policy (DescribeConfigs), or
 * that the broker answers neither (the dev broker: then the caller's
 * check of partitions is what remains). Never fails the caller. */
void rs_kafka_create_topics(const rs_kv_list_t *common,
                            const rs_topic_spec_t *specs, size_t n,
                            int timeout_ms);
/* The partition count of topic (auto-created by metadata when the broker
 * does that), into *partitions. RS_ERR_NOENT when it has none in time. */
rs_err_t rs_kafka_partitions(const rs_kv_list_t *common, const char *topic,
                             int timeout_ms, int *partitions, char *errstr,
                             size_t errstr_size);

/*
 * Plain consumer for tools (tail) and tests: assign all partitions of a
 * topic, no group commits.
 */
typedef struct rs_reader rs_reader_t;

/* Properties: `common` then `own` (either may be NULL); bootstrap.servers
 * among them. Waits up to wait_ms for the topic to exist. When either
 * sets isolation.level read_committed, a partition's EOF (past the
 * transaction markers at its end) counts as read for
 * rs_reader_caught_up. */
rs_reader_t *rs_reader_new(const rs_kv_list_t *common, const rs_kv_list_t *own,
                           const char *topic, int from_beginning, int wait_ms,
                           char *errstr, size_t errstr_size);
void rs_reader_destroy(rs_reader_t *rd);
/* One message (valid until the next call) or NULL on timeout. */
const rs_msg_t *rs_reader_next(rs_reader_t *rd, int timeout_ms);
/* Header idx of the message rs_reader_next returned last (owned by the
 * reader, valid until the next call; *value NULL for a null header): 0,
 * or -1 when it has no such header. */
int rs_reader_header(const rs_reader_t *rd, size_t idx, const char **name,
                     const void **value, size_t *size);
/* Whether every partition has been read up to where it ended when the
 * reader was made (from-beginning readers). */
int rs_reader_caught_up(const rs_reader_t *rd);

/* A reader of one partition at a time (restoring a partition's state):
 * made with nothing assigned; rs_reader_reset then reads `partition` from
 * `offset` (RS_READER_BEGINNING: its beginning), and rs_reader_caught_up
 * says when it reached the end the partition had at the reset (into *end
 * when not NULL). It reads to the end and stops: no long polls
 * (fetch.wait.max.ms 10, after common and own). */
#define RS_READER_BEGINNING (-2)
rs_reader_t *rs_reader_new_idle(const rs_kv_list_t *common,
                                const rs_kv_list_t *own, const char *topic,
                                int wait_ms, char *errstr, size_t errstr_size);
rs_err_t rs_reader_reset(rs_reader_t *rd, int32_t partition, int64_t offset,
                         int64_t *end, char *errstr, size_t errstr_size);
/* Where `partition` starts and ends now (its low and high watermarks). */
rs_err_t rs_reader_bounds(rs_reader_t *rd, int32_t partition, int64_t *lo,
                          int64_t *hi, char *errstr, size_t errstr_size);
int rs_reader_partitions(const rs_reader_t *rd);

#endif
