/* worker.c — a pipeline's process on Kafka, by role (DESIGN §3):
 *
 *  - the user side consumes the input (group <p>.users), runs the stage
 *    chain, produces UserRecs, dead letters and the pairs stage's deltas
 *    (to <p>.cooc-deltas, at the partition each names), and scores from a
 *    neighbour table that follows <p>.item-neighbors from its start;
 *  - the item side consumes the deltas (group <p>.items), applies each to
 *    its partition's cooccur instance and produces what they publish to
 *    <p>.item-neighbors (compacted, keyed by item id); when no delta came
 *    for topology.settle_after it publishes everything that changed;
 *  - role all runs both in one process, through the same topics.
 *
 * Every polled record ends one of four ways, and the books count each:
 * processed (it reached the end of the stages), dead-lettered (it could
 * not be decoded, or a stage found it invalid, too old or from the
 * future: its bytes go to the DLQ with the reason in headers), a
 * duplicate, or rate-limited. The batch's offsets are stored only once
 * every output and every dead letter produced from it — and from every
 * batch before it — is acknowledged (kafka.h's tickets). */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "recstream/catalog.h"
#include "recstream/chain.h"
#include "recstream/checkpoint.h"
#include "recstream/topology.h"
#include "recstream/clock.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/intern.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
#include "recstream/metrics.h"
#include "recstream/score.h"
#include "recstream/user_window.h"
#include "recstream/worker.h"

#define NO_TICKET      UINT64_MAX
#define MAX_REASONS    32
#define MAX_ORIGINS    64 /* source and catalog topics with a DLQ */
#define STATS_EVERY_MS 10000
/* Room left in a dead letter for its key and headers. */
#define DLQ_OVERHEAD 8192

/* What a delivery report is for: the low bits of its opaque; the rest is
 * the ticket of the batch (of the user side's source or the item side's)
 * that waits for it. */
enum {
        OUT_RECS,        /* UserRecs: user side */
        OUT_DLQ,         /* a dead letter of the user side's input */
        OUT_DLQ_ITEMS,   /* ... of the item side's input (deltas) */
        OUT_DLQ_CATALOG, /* ... of the catalog (no batch behind it) */
        OUT_DELTA,       /* a pair delta: user side */
        OUT_NB,          /* a neighbour record: item side */
        OUT_CHG_USERS,   /* a users changelog record (no batch behind it) */
        OUT_CHG_ITEMS,   /* ... of the items changelog */
};
#define KIND_BITS 3

/* A changelog: its topic, its producer topic index (-1: none), the
 * reader that restores from it, the partitions waiting for that, its
 * records produced and not yet reported. With state.state_dir, by
 * partition: the next changelog offset the state here covers (-1: not
 * held here) and the one of its checkpoint file (-1: none written or
 * loaded). */
typedef struct store {
        const char *topic;
        int t;
        rs_reader_t *rd;
        int32_t *q;
        size_t nq, cap;
        uint64_t inflight;
        int64_t *covers, *saved;
        int parts;
} store_t;

typedef struct origin {
        const char *topic; /* as librdkafka names it (pointer compared) */
        char name[256];
        int dlq; /* sink topic index, -1 while not made */
} origin_t;

struct rs_worker {
        const rs_pipeline_t *pl;
        rs_pipeline_t *reloaded; /* the last reload's, its values in use */
        const volatile sig_atomic_t *stop;
        int users, items_side; /* which sides run here */
        rs_intern_t *strings;
        rs_codec_t *in, *out;
        rs_codec_t *internal; /* deltas and neighbour records */
        rs_source_t *src;     /* user side: the input */
        rs_sink_t *sink;
        int t_deltas, t_nb; /* sink topics */
        rs_nbtable_t *table;
        rs_reader_t *nbr; /* follows item-neighbors into table */
        rs_chain_t *chain;
        rs_uwin_t *win; /* the chain's user_window, or NULL */
        /* item side */
        rs_source_t *isrc;
        rs_items_t *items_part;
        rs_msg_t *imsgs;
        uint64_t iticket;    /* of the delta batch being processed */
        int64_t last_delta;  /* monotonic ms a delta last came */
        uint64_t settled_at; /* deltas_applied at the last settle */
        const rs_delta_t *cur_delta;
        rs_catalog_t *catalog;
        rs_reader_t *items; /* ItemMeta topic, NULL when none */
        rs_codec_t *items_codec;
        rs_msg_t *msgs;
        rs_event_t *events;
        uint32_t *ev_msg;   /* events[i] came from msgs[ev_msg[i]] */
        uint64_t ticket;    /* of the batch being processed */
        int64_t event_time; /* newest event ts seen */
        int64_t good_time;  /* ... of the events not dead-lettered (a
                               future-dated one would move it ahead) */
        int64_t deadline;   /* monotonic ms the shutdown must end by */
        rs_err_t failed;    /* first fatal error */
        rs_worker_stats_t st;
        struct {
                const char *reason;
                uint64_t count;
        } drops[MAX_REASONS]; /* decode failures by reason */
        origin_t origins[MAX_ORIGINS];
        int norigins;
        int64_t next_stats;
        /* state that survives (users side): the users changed since the
         * last commit, each with a reference and its partition; the
         * partitions assigned and waiting for their restore */
        store_t ust, ist; /* the users and the items changelogs */
        const char *deltas_v[1];
        rs_strings_t deltas; /* the item side's input, for resuming */
        uint32_t *chg;
        int32_t *chg_part;
        uint8_t *chg_flag; /* by user id */
        size_t nchg, chg_cap, chg_flag_cap;
        int64_t next_commit;
        /* what /metrics shows (metrics.h): NULL when nobody looks */
        rs_monitor_t *mon;
        rs_buf_t mtext;    /* the next snapshot, rendered here */
        const char *phase; /* while starting: what it waits for */
        int consuming;     /* polled with every assigned partition
                              restored */
        rs_hist_t h_stage[RS_MAX_STAGES]; /* by chain slot */
        rs_hist_t h_decode, h_items, h_latency;
        char fail_reason[256]; /* of the first fatal error */
        /* state.state_dir: users held grouped by partition for a
         * checkpoint, ck_ids[ck_at[p] .. ck_at[p + 1]) */
        uint32_t *ck_ids;
        size_t *ck_at, *ck_fill, ck_cap;
        int64_t next_checkpoint;
        /* exactly_once: the properties every consumer and reader gets
         * (the pipeline's, and read_committed; at_least_once: the
         * pipeline's own), the producer's transactional.id, whether a
         * transaction is open */
        const rs_kv_list_t *ckafka;
        rs_kv_list_t ckafka_eos;
        int eos, txn_open;
        char txn_id[512];
};

/* Upper bounds (seconds) of the histograms: a batch through one stage,
 * and an event's time to its list. */
static const double stage_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                  0.005,  0.01,    0.025,  0.05,  0.1,
                                  0.25,   0.5,     1,      2.5,   5};
static const double latency_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                    2.5,   5,    10,    30,   60,  300,  3600};
#define NLE(a) (sizeof(a) / sizeof((a)[0]))

static void publish_metrics(rs_worker_t *w);

/* The first fatal error's reason, for the one line that ends the run. */
static void fail_why(rs_worker_t *w, rs_err_t err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void fail_why(rs_worker_t *w, rs_err_t err, const char *fmt, ...)
{
        va_list ap;

        if (!w->fail_reason[0]) {
                va_start(ap, fmt);
                vsnprintf(w->fail_reason, sizeof(w->fail_reason), fmt, ap);
                va_end(ap);
        }
        if (!w->failed)
                w->failed = err;
}

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The main loop beats, and every few hundred ms publishes a snapshot. */
static void tick(rs_worker_t *w)
{
        if (w->mon && rs_monitor_due(w->mon))
                publish_metrics(w);
}

static rs_source_t *src_of(rs_worker_t *w, int kind)
{
        return kind == OUT_DLQ_ITEMS || kind == OUT_NB ? w->isrc : w->src;
}

static void count_drop(rs_worker_t *w, const char *reason)
{
        int i;

        for (i = 0; i < MAX_REASONS && w->drops[i].reason; i++)
                if (!strcmp(w->drops[i].reason, reason))
                        break;
        if (i == MAX_REASONS) {
                i = MAX_REASONS - 1; /* "other": the table is generous */
                reason = "other";
        }
        w->drops[i].reason = reason;
        w->drops[i].count++;
}

uint64_t rs_worker_drops(const rs_worker_t *w, const char *reason)
{
        for (int i = 0; i < MAX_REASONS && w->drops[i].reason; i++)
                if (!strcmp(w->drops[i].reason, reason))
                        return w->drops[i].count;
        return 0;
}

/* The index of topic's origin (for ev->topic and its DLQ), made on first
 * sight; the last slot is shared past MAX_ORIGINS. */
static int origin_of(rs_worker_t *w, const char *topic)
{
        int i;

        for (i = 0; i < w->norigins; i++)
                if (w->origins[i].topic == topic ||
                    !strcmp(w->origins[i].name, topic))
                        return i;
        if (w->norigins == MAX_ORIGINS)
                return MAX_ORIGINS - 1;
        origin_t *o = &w->origins[w->norigins];
        o->topic = topic;
        snprintf(o->name, sizeof(o->name), "%s", topic);
        o->dlq = -1;
        return w->norigins++;
}

/* What a delivery report needs: the kind of record and the batch it
 * holds (NONE_SHIFTED: none, such as a settle's records). */
#define NONE_SHIFTED (UINT64_MAX >> KIND_BITS)

static void *opaque_of(uint64_t ticket, int kind)
{
        if (ticket == NO_TICKET)
                ticket = NONE_SHIFTED;
        return (void *)(uintptr_t)(ticket << KIND_BITS | (uint64_t)kind);
}

/* A changelog record of st was acknowledged at (partition, offset): the
 * state held of that partition covers the changelog up to it. */
static void chg_delivered(store_t *st, int32_t partition, int64_t offset)
{
        if (st->covers && partition >= 0 && partition < st->parts &&
            st->covers[partition] >= 0 && offset >= st->covers[partition])
                st->covers[partition] = offset + 1;
}

static void on_delivery(void *opaque, void *msg_opaque, rs_err_t err,
                        const char *reason, int32_t partition, int64_t offset)
{
        rs_worker_t *w = opaque;
        uint64_t v = (uint64_t)(uintptr_t)msg_opaque;
        uint64_t ticket = v >> KIND_BITS;
        int kind = (int)(v & ((1u << KIND_BITS) - 1));
        int dlq = kind == OUT_DLQ || kind == OUT_DLQ_ITEMS ||
                  kind == OUT_DLQ_CATALOG;
        store_t *chg = kind == OUT_CHG_USERS   ? &w->ust
                       : kind == OUT_CHG_ITEMS ? &w->ist
                                               : NULL;
        static const char *const what[] = {
                "recs",  "dead_letter", "dead_letter", "dead_letter",
                "delta", "neighbors",   "changelog",   "changelog"};

        if (chg)
                chg->inflight--;

        if (err == RS_ERR_KAFKA) {
                /* The broker refuses this record for good: retrying, or
                 * restarting, would fail the same way, so the record is
                 * given up, loudly, and the stream goes on. */
                if (dlq)
                        w->st.dlq_rejected++;
                else
                        w->st.recs_rejected++;
                rs_log(RS_LOG_ERR,
                       "component=sink event=rejected what=%s reason=\"%s\"",
                       what[kind], reason);
        } else if (err) {
                /* librdkafka retried until message.timeout.ms: the output
                 * is lost, so its offsets must never be stored. Stop. */
                w->st.delivery_failed++;
                if (!w->failed) {
                        fail_why(w, err, "%s not delivered: %s", what[kind],
                                 reason);
                        rs_log(RS_LOG_ERR,
                               "component=sink event=delivery_failed "
                               "what=%s reason=\"%s\"",
                               what[kind], reason);
                }
                return;
        } else if (dlq) {
                w->st.dlq_delivered++;
        } else if (kind == OUT_DELTA) {
                w->st.deltas_delivered++;
        } else if (kind == OUT_NB) {
                w->st.nb_delivered++;
        } else if (kind == OUT_RECS) {
                w->st.delivered++;
        } else if (chg) {
                w->st.chg_delivered++;
                chg_delivered(chg, partition, offset);
        }
        if (ticket != NONE_SHIFTED)
                rs_source_release(src_of(w, kind), ticket);
}

/* Produces a record of `kind` whose ticket (NO_TICKET: none) is held
 * until the broker acknowledges it. RS_ERR_INVALID: the record is over
 * message.max.bytes and was not sent (the hold is released). On any
 * other failure the hold is never released, so the batch's offsets are
 * never stored: its records are consumed again on restart. */
static rs_err_t produce_held(rs_worker_t *w, int kind, uint64_t ticket,
                             int topic, int32_t partition, const void *key,
                             size_t klen, const void *buf, size_t len,
                             const rs_header_t *h, size_t nh)
{
        rs_err_t err;

        if (ticket != NO_TICKET)
                rs_source_hold(src_of(w, kind), ticket);
        err = rs_sink_produce(w->sink, topic, partition, key, klen, buf, len, h,
                              nh, opaque_of(ticket, kind));
        if (err == RS_ERR_INVALID && ticket != NO_TICKET)
                rs_source_release(src_of(w, kind), ticket);
        return err;
}

/* Milliseconds left before the shutdown deadline, or `ms` when none. */
static int budget(const rs_worker_t *w, int64_t ms)
{
        if (!w->deadline)
                return (int)ms;
        int64_t left = w->deadline - rs_mono_ms();
        return (int)(left < 0 ? 0 : left < ms ? left : ms);
}

/*
 * State that survives (DESIGN §3, issue 11), the users side: every user
 * an event or a list changed since the last commit is written to the
 * users changelog at the commit, before the offsets; a partition assigned
 * is paused until its changelog has been read back into the stages.
 */

/* Remembers that user (of partition) changed, holding its id. */
static rs_err_t mark_changed(rs_worker_t *w, uint32_t user, int32_t partition)
{
        if (w->ust.t < 0 || user == RS_ID_NONE)
                return RS_OK;
        if (rs_grow_zeroed((void **)&w->chg_flag, &w->chg_flag_cap, user,
                           sizeof(*w->chg_flag)))
                return RS_ERR_NOMEM;
        if (w->chg_flag[user])
                return RS_OK;
        if (w->nchg == w->chg_cap) {
                size_t cap = w->chg_cap ? w->chg_cap * 2 : 1024;
                uint32_t *c = realloc(w->chg, cap * sizeof(*c));
                if (!c)
                        return RS_ERR_NOMEM;
                w->chg = c;
                int32_t *p = realloc(w->chg_part, cap * sizeof(*p));
                if (!p)
                        return RS_ERR_NOMEM;
                w->chg_part = p;
                w->chg_cap = cap;
        }
        w->chg_flag[user] = 1;
        rs_intern_ref(w->strings, user);
        w->chg[w->nchg] = user;
        w->chg_part[w->nchg++] = partition;
        return RS_OK;
}

/* Produces the state of every changed user (a tombstone for one no
 * longer held) to its partition of the users changelog. */
static rs_err_t write_changes(rs_worker_t *w)
{
        rs_user_state_t s;
        rs_err_t err = RS_OK;
        size_t i;

        for (i = 0; i < w->nchg; i++) {
                uint32_t user = w->chg[i];
                const void *buf = NULL;
                size_t len = 0, klen;
                const char *key = rs_intern_str(w->strings, user, &klen);
                int held = rs_chain_save_user(w->chain, user, &s);
                int32_t part = held ? s.partition : w->chg_part[i];
                if (!err && key && part >= 0 &&
                    (!held || !(err = rs_codec_encode_user_state(
                                        w->internal, &s, &buf, &len)))) {
                        err = rs_sink_produce(
                                w->sink, w->ust.t, part, key, klen, buf, len,
                                NULL, 0, opaque_of(NO_TICKET, OUT_CHG_USERS));
                        if (err == RS_ERR_INVALID) {
                                /* over message.max.bytes: not durable */
                                w->st.recs_rejected++;
                                rs_log(RS_LOG_ERR,
                                       "component=state event=rejected "
                                       "bytes=%zu msg=\"lower "
                                       "user_window.max_events or max_seen\"",
                                       len);
                                err = RS_OK;
                        } else if (!err) {
                                w->ust.inflight++;
                                w->st.chg_produced++;
                                w->st.chg_bytes += len;
                                w->st.chg_tombstones += !held;
                        }
                } else if (err == RS_ERR_ENCODE) {
                        w->st.encode_failed++;
                        err = RS_OK;
                }
                if (err)
                        break; /* this user and the rest stay changed */
                w->chg_flag[user] = 0;
                rs_intern_unref(w->strings, user);
        }
        /* what was not written is written at the next commit */
        if (i < w->nchg) {
                memmove(w->chg, w->chg + i, (w->nchg - i) * sizeof(*w->chg));
                memmove(w->chg_part, w->chg_part + i,
                        (w->nchg - i) * sizeof(*w->chg_part));
        }
        w->nchg -= i;
        return err;
}

/* The key of an item state record in the items changelog (and its
 * checkpoint): the item's id, or the partition's own key written into
 * pkey; NULL when the id is no longer held. */
static const char *item_key(const rs_worker_t *w, const rs_item_state_t *s,
                            char pkey[16], size_t *klen)
{
        if (s->kind == RS_ISTATE_PARTITION) {
                *klen = rs_nb_partition_key(s->partition, pkey);
                return pkey;
        }
        return rs_intern_str(w->strings, s->item, klen);
}

/* One item's state (or a partition's) to its partition of the items
 * changelog. */
static rs_err_t save_item(void *opaque, const rs_item_state_t *s)
{
        rs_worker_t *w = opaque;
        char pkey[16];
        const void *buf;
        size_t len, klen;
        const char *key = item_key(w, s, pkey, &klen);
        rs_err_t err;

        if (!key)
                return RS_OK;
        if (s->deleted) { /* a tombstone */
                buf = NULL;
                len = 0;
                w->st.chg_tombstones++;
        } else if ((err = rs_codec_encode_item_state(w->internal, s, &buf,
                                                     &len))) {
                w->st.encode_failed++;
                return RS_OK;
        }
        err = rs_sink_produce(w->sink, w->ist.t, s->partition, key, klen, buf,
                              len, NULL, 0,
                              opaque_of(NO_TICKET, OUT_CHG_ITEMS));
        if (err == RS_ERR_INVALID) {
                w->st.recs_rejected++;
                rs_log(RS_LOG_ERR,
                       "component=state event=rejected bytes=%zu "
                       "msg=\"lower cooccur.max_neighbors_tracked\"",
                       len);
                return RS_OK;
        }
        if (!err) {
                w->ist.inflight++;
                w->st.chg_produced++;
                w->st.chg_bytes += len;
        }
        return err;
}

/* Every changed key of both sides to its changelog. */
static rs_err_t write_all_changes(rs_worker_t *w)
{
        rs_err_t err;

        if (w->chain && (err = write_changes(w)))
                return err;
        if (w->items_part && w->ist.t >= 0 &&
            (err = rs_items_save(w->items_part, save_item, w)))
                return err;
        return RS_OK;
}

/* Delivers every output, writes the changed state and waits for it,
 * then commits the offsets of both sides: committed offsets never run
 * ahead of durable state. Each wait is at most timeout_ms, and a commit
 * is tried again while commit_ms allows (a periodic commit waits little
 * and tries once: the next interval tries again). */
static rs_err_t commit_all(rs_worker_t *w, int timeout_ms, int commit_ms)
{
        rs_err_t err;

        if ((err = rs_sink_flush(w->sink, budget(w, timeout_ms))))
                return err;
        if ((err = write_all_changes(w)))
                return w->failed = err;
        if ((err = rs_sink_flush(w->sink, budget(w, timeout_ms))))
                return err;
        if (w->failed)
                return w->failed;
        if (w->src && (err = rs_source_commit(w->src, budget(w, commit_ms))))
                return err;
        if (w->isrc && (err = rs_source_commit(w->isrc, budget(w, commit_ms))))
                return err;
        w->st.commits++;
        return RS_OK;
}

/*
 * exactly_once: one transaction per commit_interval holds the interval's
 * outputs, its changelog records and the consumed positions of each
 * consumer group here (role all: both groups, one send_offsets each, which
 * a transaction allows). A transaction that cannot commit is aborted, and
 * since what is in memory has moved past what is committed, the worker
 * stops as if it had crashed: its restart restores the committed state.
 */

/* How long one transactional call may wait before it is tried again. */
#define TXN_CALL_MS 10000

/* The transaction failed (kind, why; NULL: what librdkafka said of it,
 * or the worker's failure): aborted when it can be, logged once; the
 * worker stops (exit 1). */
static rs_err_t txn_failed(rs_worker_t *w, rs_txn_fail_t kind, const char *why)
{
        char errstr[512];

        if (!why)
                why = *rs_sink_txn_error(w->sink) ? rs_sink_txn_error(w->sink)
                                                  : rs_err_str(w->failed);
        if (kind != RS_TXN_FATAL && w->txn_open) {
                w->st.txn_aborts++;
                rs_txn_fail_t a =
                        rs_sink_txn_abort(w->sink, budget(w, TXN_CALL_MS),
                                          errstr, sizeof(errstr));

                rs_log(RS_LOG_ERR,
                       "component=worker event=txn_aborted reason=\"%s\" "
                       "abort=%s msg=\"the transaction's outputs, state and "
                       "offsets are discarded; the state in memory is past "
                       "them: stopping (exit 1), a restart restores the "
                       "committed state\"",
                       why, a ? errstr : "ok");
        } else {
                rs_log(RS_LOG_ERR,
                       "component=worker event=txn_failed fatal=%d "
                       "reason=\"%s\" msg=\"the producer cannot go on "
                       "(fenced by a newer one, or not authorised): "
                       "stopping (exit 1)\"",
                       kind == RS_TXN_FATAL, why);
        }
        w->txn_open = 0;
        if (!w->failed)
                w->failed = RS_ERR_KAFKA;
        return w->failed;
}

/* Whether a transactional call that left f is made again: while it is
 * retriable (brokers away: logged each time), unless the worker is
 * stopping (past its deadline, or asked to between commits). */
static int txn_retry(rs_worker_t *w, rs_txn_fail_t f, const char *why)
{
        if (f != RS_TXN_RETRIABLE ||
            (w->deadline ? budget(w, 1) == 0 : w->stop && *w->stop))
                return 0;
        rs_log(RS_LOG_WARNING, "component=worker event=txn_retry reason=\"%s\"",
               why);
        return 1;
}

/* Commits the open transaction: the changed state written into it, the
 * positions of each group added, then committed (what is outstanding is
 * delivered first); the next one begun unless closing. */
static rs_err_t txn_commit(rs_worker_t *w, int begin_next)
{
        char errstr[512] = "";
        rs_txn_fail_t f = RS_TXN_OK;
        rs_err_t err;

        if (w->failed || !w->txn_open)
                return w->failed;
        if ((err = write_all_changes(w))) {
                w->failed = err;
                return txn_failed(w, RS_TXN_ABORTABLE, rs_err_str(err));
        }
        rs_source_t *srcs[2] = {w->src, w->isrc};
        for (int i = 0; i < 2 && !f; i++)
                do
                        f = srcs[i] ? rs_sink_txn_send_offsets(
                                              w->sink, srcs[i],
                                              budget(w, TXN_CALL_MS), errstr,
                                              sizeof(errstr))
                                    : RS_TXN_OK;
                while (txn_retry(w, f, errstr));
        if (!f)
                do
                        f = rs_sink_txn_commit(w->sink, budget(w, TXN_CALL_MS),
                                               errstr, sizeof(errstr));
                while (txn_retry(w, f, errstr));
        if (f)
                return txn_failed(w,
                                  f == RS_TXN_RETRIABLE ? RS_TXN_ABORTABLE : f,
                                  errstr);
        if (w->failed) /* a delivery failed meanwhile */
                return w->failed;
        w->txn_open = 0;
        w->st.txn_commits++;
        w->st.commits++;
        rs_source_txn_committed(w->src);
        rs_source_txn_committed(w->isrc);
        if (!begin_next)
                return RS_OK;
        if ((f = rs_sink_txn_begin(w->sink, errstr, sizeof(errstr))))
                return txn_failed(w, f, errstr);
        w->txn_open = 1;
        return RS_OK;
}

/* A periodic commit's waits: output that takes longer (brokers away)
 * leaves it to the next interval instead of stopping the loop. */
#define PERIODIC_FLUSH_MS  500
#define PERIODIC_COMMIT_MS 150

/*
 * Local checkpoints (state.state_dir): a partition's whole state in a
 * file with the changelog offset it covers, written only when that state
 * is what the changelog says up to there — every change written and
 * acknowledged (right after a commit, a revoke's drain, the final
 * commit). Never on the per-event path.
 */

/* Whether st's state is its changelog's up to covers[]: no change waits
 * to be written, no record waits for its acknowledgement. */
static int store_durable(const rs_worker_t *w, const store_t *st)
{
        if (!st->covers || w->failed || st->inflight)
                return 0;
        if (st == &w->ust)
                return w->chain && w->nchg == 0;
        return w->items_part && !rs_items_unsaved(w->items_part);
}

static void count_user(void *opaque, uint32_t user, int32_t partition)
{
        rs_worker_t *w = opaque;

        (void)user;
        if (partition >= 0 && partition < w->ust.parts)
                w->ck_at[partition + 1]++;
}

static void place_user(void *opaque, uint32_t user, int32_t partition)
{
        rs_worker_t *w = opaque;

        if (partition >= 0 && partition < w->ust.parts)
                w->ck_ids[w->ck_fill[partition]++] = user;
}

/* The users held, grouped by partition into ck_ids / ck_at. */
static rs_err_t group_users(rs_worker_t *w)
{
        const rs_uwin_t *win = w->win;
        size_t n = win ? rs_uwin_users(win) : 0;
        int parts = w->ust.parts;

        if (n > w->ck_cap) {
                if (rs_resize((void **)&w->ck_ids, n, sizeof(*w->ck_ids)))
                        return RS_ERR_NOMEM;
                w->ck_cap = n;
        }
        memset(w->ck_at, 0, ((size_t)parts + 1) * sizeof(*w->ck_at));
        if (!win)
                return RS_OK;
        rs_uwin_each(win, count_user, w);
        for (int p = 0; p < parts; p++) {
                w->ck_at[p + 1] += w->ck_at[p];
                w->ck_fill[p] = w->ck_at[p];
        }
        rs_uwin_each(win, place_user, w);
        return RS_OK;
}

typedef struct ck_write {
        rs_worker_t *w;
        rs_ckpt_writer_t *ck;
} ck_write_t;

static rs_err_t add_user(ck_write_t *c, uint32_t user)
{
        rs_worker_t *w = c->w;
        rs_user_state_t s;
        const void *buf;
        size_t len, klen;
        const char *key = rs_intern_str(w->strings, user, &klen);

        if (!key || !rs_chain_save_user(w->chain, user, &s))
                return RS_OK;
        if (rs_codec_encode_user_state(w->internal, &s, &buf, &len)) {
                w->st.encode_failed++; /* not in the changelog either */
                return RS_OK;
        }
        return rs_ckpt_add(c->ck, key, klen, buf, len);
}

static rs_err_t add_item(void *opaque, const rs_item_state_t *s)
{
        ck_write_t *c = opaque;
        rs_worker_t *w = c->w;
        char pkey[16];
        const void *buf;
        size_t len, klen;
        const char *key = item_key(w, s, pkey, &klen);

        if (!key || s->deleted)
                return RS_OK;
        if (rs_codec_encode_item_state(w->internal, s, &buf, &len)) {
                w->st.encode_failed++;
                return RS_OK;
        }
        return rs_ckpt_add(c->ck, key, klen, buf, len);
}

/* Writes partition p's checkpoint; a failure is logged and counted (the
 * changelog still has everything). */
static void checkpoint_partition(rs_worker_t *w, store_t *st, int32_t p)
{
        const char *dir = w->pl->state.state_dir;
        int64_t t0 = rs_mono_ms();
        char errstr[512] = "";
        ck_write_t c = {w, NULL};
        rs_err_t err = RS_OK;

        if (!(c.ck = rs_ckpt_begin(dir, st->topic, p, st->covers[p], errstr,
                                   sizeof(errstr))))
                goto failed;
        if (st == &w->ust)
                for (size_t i = w->ck_at[p]; i < w->ck_at[p + 1] && !err; i++)
                        err = add_user(&c, w->ck_ids[i]);
        else
                err = rs_items_save_partition(w->items_part, p, add_item, &c);
        if (err) {
                rs_ckpt_abort(c.ck);
                snprintf(errstr, sizeof(errstr), "%s", rs_err_str(err));
                if (err == RS_ERR_NOMEM)
                        w->failed = err;
                goto failed;
        }
        uint64_t keys = rs_ckpt_records(c.ck), bytes = rs_ckpt_bytes(c.ck);
        if (rs_ckpt_commit(c.ck, errstr, sizeof(errstr)))
                goto failed;
        st->saved[p] = st->covers[p];
        w->st.checkpoints++;
        w->st.checkpoint_bytes += bytes;
        rs_log(RS_LOG_INFO,
               "component=state event=checkpoint topic=%s partition=%d "
               "offset=%" PRId64 " keys=%" PRIu64 " bytes=%" PRIu64
               " seconds=%.3f",
               st->topic, (int)p, st->covers[p], keys, bytes,
               (double)(rs_mono_ms() - t0) / 1000.0);
        return;
failed:
        w->st.checkpoint_failed++;
        rs_log(RS_LOG_WARNING,
               "component=state event=checkpoint_failed topic=%s "
               "partition=%d reason=\"%s\" msg=\"the changelog still has "
               "it: a restore reads more of it\"",
               st->topic, (int)p, errstr);
}

/* The checkpoint of every partition of st held here whose state moved
 * since its file, when that state is durable. */
static void checkpoint_store(rs_worker_t *w, store_t *st)
{
        int due = 0;

        if (!store_durable(w, st))
                return;
        for (int p = 0; p < st->parts; p++)
                due |= st->covers[p] >= 0 && st->covers[p] != st->saved[p];
        if (!due)
                return;
        if (st == &w->ust && group_users(w)) {
                w->failed = RS_ERR_NOMEM;
                return;
        }
        for (int p = 0; p < st->parts && !w->failed; p++)
                if (st->covers[p] >= 0 && st->covers[p] != st->saved[p])
                        checkpoint_partition(w, st, p);
}

static void checkpoint_all(rs_worker_t *w)
{
        checkpoint_store(w, &w->ust);
        checkpoint_store(w, &w->ist);
}

/* Partition p left this process: its file stays for whoever holds it
 * next on this machine. */
static void checkpoint_forget(store_t *st, int32_t p)
{
        if (st->covers && p >= 0 && p < st->parts)
                st->covers[p] = st->saved[p] = -1;
}

/* A partition of a store's side was assigned: restored before its
 * records are consumed (it is paused until then). */
static void queue_restore(rs_worker_t *w, store_t *st, int32_t partition)
{
        for (size_t i = 0; i < st->nq; i++)
                if (st->q[i] == partition)
                        return;
        if (st->nq == st->cap) {
                size_t cap = st->cap ? st->cap * 2 : 16;
                int32_t *q = realloc(st->q, cap * sizeof(*q));
                if (!q) {
                        w->failed = RS_ERR_NOMEM;
                        return;
                }
                st->q = q;
                st->cap = cap;
        }
        st->q[st->nq++] = partition;
        w->consuming = 0;
}

static void unqueue_restore(store_t *st, int32_t partition)
{
        for (size_t i = 0; i < st->nq; i++)
                if (st->q[i] == partition) {
                        memmove(st->q + i, st->q + i + 1,
                                (--st->nq - i) * sizeof(*st->q));
                        return;
                }
}

static void users_assigned(void *opaque, const char *topic, int32_t partition)
{
        rs_worker_t *w = opaque;

        (void)topic;
        queue_restore(w, &w->ust, partition);
}

static void items_assigned(void *opaque, const char *topic, int32_t partition)
{
        rs_worker_t *w = opaque;

        (void)topic;
        queue_restore(w, &w->ist, partition);
}

/* Applies one users changelog record of partition p: the key is the
 * user. RS_ERR_DECODE: refused (why in *what). */
static rs_err_t restore_user(rs_worker_t *w, const rs_msg_t *m, int32_t p,
                             const char **what)
{
        rs_user_state_t s;
        const char *why = rs_event_check_id(m->key, m->key_len,
                                            (size_t)w->pl->source.max_id_bytes);
        uint32_t user =
                why ? RS_ID_NONE : rs_intern_id(w->strings, m->key, m->key_len);
        rs_err_t err;

        if (user == RS_ID_NONE) {
                *what = "the key is no user id";
                return RS_ERR_DECODE;
        }
        if (!m->value) { /* deleted: evicted, or gone with its partition */
                rs_chain_drop_user(w->chain, user, p);
                return RS_OK;
        }
        if (!(err = rs_codec_decode_user_state(w->internal, m->value, m->len,
                                               &s))) {
                s.user = user;
                if (s.partition != p) {
                        *what = "another partition's user";
                        err = RS_ERR_DECODE;
                } else {
                        err = rs_chain_load_user(w->chain, &s);
                }
        }
        /* refused: the user starts empty (whatever an older record of it
         * said); the others are restored */
        if (err && err != RS_ERR_NOMEM)
                rs_chain_drop_user(w->chain, user, p);
        return err;
}

/* The same for the items changelog: the key is an item, or the
 * partition's own record. */
static rs_err_t restore_item(rs_worker_t *w, const rs_msg_t *m, int32_t p,
                             const char **what)
{
        rs_item_state_t s;
        char pkey[16];
        size_t plen = rs_nb_partition_key(p, pkey);
        int part = m->key_len == plen && !memcmp(m->key, pkey, plen);
        const char *why =
                part ? NULL
                     : rs_event_check_id(m->key, m->key_len,
                                         (size_t)w->pl->source.max_id_bytes);
        uint32_t item = part || why
                                ? RS_ID_NONE
                                : rs_intern_id(w->strings, m->key, m->key_len);
        rs_err_t err;

        if (!part && item == RS_ID_NONE) {
                *what = "the key is no item id";
                return RS_ERR_DECODE;
        }
        if (!m->value) { /* evicted by its owner */
                if (part)
                        return RS_OK;
                s = (rs_item_state_t){.kind = RS_ISTATE_ITEM,
                                      .partition = p,
                                      .item = item,
                                      .deleted = 1};
                return rs_items_load(w->items_part, &s);
        }
        if ((err = rs_codec_decode_item_state(w->internal, m->value, m->len,
                                              &s)))
                return err;
        s.item = item;
        if (s.partition != p || (s.kind == RS_ISTATE_PARTITION) != part) {
                *what = "another partition's record";
                return RS_ERR_DECODE;
        }
        return rs_items_load(w->items_part, &s);
}

/* Applies one record of st's partition p, read from its changelog or
 * (offset -1) from its checkpoint file. A record refused is counted in
 * *corrupt and restore_corrupt, the first of a restore logged, and that
 * key starts empty; only RS_ERR_NOMEM is returned. */
static rs_err_t restore_record(rs_worker_t *w, store_t *st, int32_t p,
                               const rs_msg_t *m, uint64_t *corrupt)
{
        const char *what = NULL;
        char at[24] = "checkpoint";
        rs_err_t err = st == &w->ust ? restore_user(w, m, p, &what)
                                     : restore_item(w, m, p, &what);

        if (err == RS_ERR_NOMEM)
                return err;
        if (!err)
                return RS_OK;
        if (!(*corrupt)++) {
                if (m->offset >= 0)
                        snprintf(at, sizeof(at), "%" PRId64, m->offset);
                rs_log(RS_LOG_WARNING,
                       "component=state event=corrupt_record topic=%s "
                       "partition=%d offset=%s reason=%s detail=\"%s\" "
                       "msg=\"that key starts empty\"",
                       st->topic, (int)p, at,
                       what ? "bad_key" : rs_codec_reason(w->internal),
                       what ? what : rs_codec_error(w->internal));
        }
        w->st.restore_corrupt++;
        return RS_OK;
}

/* A checkpoint file's records being applied to partition p. */
typedef struct ck_load {
        rs_worker_t *w;
        store_t *st;
        int32_t p;
        uint64_t applied, corrupt;
} ck_load_t;

/* One record of the file, as if read from the changelog: a record refused
 * is counted and that key starts empty, as there. */
static rs_err_t apply_record(void *opaque, const void *key, size_t klen,
                             const void *value, size_t len)
{
        ck_load_t *c = opaque;
        rs_worker_t *w = c->w;
        rs_msg_t m = {.key = key,
                      .key_len = klen,
                      .value = value,
                      .len = len,
                      .topic = c->st->topic,
                      .partition = c->p,
                      .offset = -1,
                      .timestamp = -1};
        rs_err_t err = restore_record(w, c->st, c->p, &m, &c->corrupt);

        c->applied++;
        if (err)
                return err;
        if (c->applied % 10000 == 0)
                rs_intern_collect(w->strings);
        return RS_OK;
}

/* Partition p's checkpoint file, when there is one that holds: loaded,
 * and the offset the changelog's tail starts at. Else (none, or refused)
 * RS_READER_BEGINNING: the changelog is read in full. */
static int64_t load_checkpoint(rs_worker_t *w, store_t *st, int32_t p)
{
        const char *dir = w->pl->state.state_dir;
        char errstr[512], path[RS_STATE_DIR_MAX + 300], bad[sizeof(path) + 8];
        int64_t t0 = rs_mono_ms(), lo = 0, hi = 0;
        ck_load_t c = {w, st, p, 0, 0};
        rs_ckpt_info_t info;
        rs_err_t err;

        rs_ckpt_path(path, sizeof(path), dir, st->topic, p);
        err = rs_ckpt_load(dir, st->topic, p, NULL, NULL, &info, errstr,
                           sizeof(errstr));
        if (err == RS_ERR_NOENT)
                return RS_READER_BEGINNING;
        if (!err &&
            rs_reader_bounds(st->rd, p, &lo, &hi, errstr, sizeof(errstr)))
                return RS_READER_BEGINNING; /* the reset says it again */
        if (!err && (info.offset > hi || info.offset < lo)) {
                err = RS_ERR_DECODE;
                info.reason = info.offset > hi ? "beyond_end" : "before_start";
                snprintf(errstr, sizeof(errstr),
                         "it covers the changelog up to offset %" PRId64
                         ", which holds %" PRId64 "..%" PRId64 "%s",
                         info.offset, lo, hi,
                         info.offset > hi ? " (was the topic made again?)"
                                          : "");
        }
        if (!err)
                err = rs_ckpt_load(dir, st->topic, p, apply_record, &c, &info,
                                   errstr, sizeof(errstr));
        if (err == RS_ERR_NOMEM) {
                w->failed = err;
                return RS_READER_BEGINNING;
        }
        if (err) {
                /* what a second read applied goes (the file changed) */
                if (c.applied && st == &w->ust)
                        rs_chain_drop_partition(w->chain, p);
                else if (c.applied && rs_items_reset(w->items_part, p))
                        w->failed = RS_ERR_NOMEM;
                w->st.checkpoint_corrupt++;
                rs_log(RS_LOG_WARNING,
                       "component=state event=checkpoint_refused topic=%s "
                       "partition=%d file=\"%s\" reason=%s detail=\"%s\" "
                       "msg=\"restored from the changelog in full; the file "
                       "is kept as .corrupt\"",
                       st->topic, (int)p, path,
                       info.reason ? info.reason : "io", errstr);
                snprintf(bad, sizeof(bad), "%s.corrupt", path);
                rename(path, bad);
                return RS_READER_BEGINNING;
        }
        rs_intern_collect(w->strings);
        st->saved[p] = info.offset;
        w->st.checkpoint_loaded++;
        w->st.checkpoint_keys += info.records;
        rs_log(RS_LOG_INFO,
               "component=state event=restore_checkpoint topic=%s "
               "partition=%d file=\"%s\" keys=%" PRIu64 " bytes=%" PRIu64
               " corrupt=%" PRIu64 " offset=%" PRId64 " end=%" PRId64
               " seconds=%.3f",
               st->topic, (int)p, path, info.records, info.bytes, c.corrupt,
               info.offset, hi, (double)(rs_mono_ms() - t0) / 1000.0);
        return info.offset;
}

/* Reads partition p of a store's changelog into the state — from its
 * start, or from where its checkpoint file ends — to its end, logging
 * like Kafka Streams' restore listener. */
static rs_err_t restore_partition(rs_worker_t *w, store_t *st, int32_t p)
{
        int64_t t0 = rs_mono_ms(), until = t0 + w->pl->state.restore_timeout;
        uint64_t records = 0, bytes = 0, corrupt = 0;
        int64_t from = RS_READER_BEGINNING, end = 0;
        char errstr[256];
        const rs_msg_t *m;

        if (st->covers && (from = load_checkpoint(w, st, p)) < 0 && w->failed)
                return w->failed;
        if (rs_reader_reset(st->rd, p, from, &end, errstr, sizeof(errstr))) {
                rs_log(RS_LOG_ERR,
                       "component=state event=restore_failed topic=%s "
                       "partition=%d reason=\"%s\"",
                       st->topic, (int)p, errstr);
                fail_why(w, RS_ERR_KAFKA, "restore of %s[%d] failed: %s",
                         st->topic, (int)p, errstr);
                return w->failed;
        }
        rs_log(RS_LOG_INFO,
               "component=state event=restore_start topic=%s partition=%d "
               "from=%s",
               st->topic, (int)p, from >= 0 ? "checkpoint" : "beginning");
        while (!rs_reader_caught_up(st->rd) && !w->failed) {
                if (w->stop && *w->stop) {
                        /* nothing of it was processed: it stays paused,
                         * and the next owner restores it */
                        rs_log(RS_LOG_INFO,
                               "component=state event=restore_abandoned "
                               "topic=%s partition=%d reason=stopping",
                               st->topic, (int)p);
                        return RS_ERR_TIMEOUT;
                }
                if (rs_mono_ms() > until) {
                        rs_log(RS_LOG_ERR,
                               "component=state event=restore_failed "
                               "topic=%s partition=%d reason=\"state."
                               "restore_timeout passed\"",
                               st->topic, (int)p);
                        fail_why(w, RS_ERR_TIMEOUT,
                                 "restore of %s[%d] took longer than "
                                 "state.restore_timeout",
                                 st->topic, (int)p);
                        return w->failed;
                }
                tick(w);
                if (!(m = rs_reader_next(st->rd, 100)))
                        continue;
                rs_err_t err = restore_record(w, st, p, m, &corrupt);
                records++;
                bytes += m->len + m->key_len;
                w->st.restore_records++;
                w->st.restore_bytes += m->len + m->key_len;
                if (err) {
                        fail_why(w, err, "out of memory restoring %s[%d]",
                                 st->topic, (int)p);
                        return w->failed;
                }
                if (records % 10000 == 0) {
                        rs_intern_collect(w->strings);
                        rs_log(RS_LOG_INFO,
                               "component=state event=restore_progress "
                               "topic=%s partition=%d records=%" PRIu64,
                               st->topic, (int)p, records);
                }
        }
        rs_intern_collect(w->strings);
        if (st->covers)
                st->covers[p] = end;
        w->st.restores++;
        rs_log(corrupt ? RS_LOG_WARNING : RS_LOG_INFO,
               "component=state event=restored topic=%s partition=%d "
               "records=%" PRIu64 " bytes=%" PRIu64 " corrupt=%" PRIu64
               " seconds=%.3f",
               st->topic, (int)p, records, bytes, corrupt,
               (double)(rs_mono_ms() - t0) / 1000.0);
        return RS_OK;
}

/* The partitions assigned since the last step: restored, then resumed. */
static void restore_assigned(rs_worker_t *w, store_t *st, rs_source_t *src,
                             const rs_strings_t *topics)
{
        /* exactly_once: what the interval holds is committed before a
         * restore that may outlast transaction.timeout.ms */
        if (st->nq && w->eos && txn_commit(w, 1))
                return;
        while (st->nq && !w->failed) {
                int32_t p = st->q[0];
                if (st->rd && restore_partition(w, st, p))
                        return;
                unqueue_restore(st, p);
                for (size_t t = 0; t < topics->n; t++)
                        rs_source_resume(src, topics->v[t], p);
        }
}

/* An input partition went to another replica: its users' state was
 * written at the drain before; here it goes, and with it their pending
 * lists (the new owner publishes them). */
static void users_revoked(void *opaque, const char *topic, int32_t partition)
{
        rs_worker_t *w = opaque;
        size_t n;

        /* after the revoke's commit: the state as it leaves */
        checkpoint_store(w, &w->ust);
        checkpoint_forget(&w->ust, partition);
        n = rs_chain_drop_partition(w->chain, partition);
        unqueue_restore(&w->ust, partition);
        rs_log(RS_LOG_INFO,
               "component=state event=partition_dropped topic=%s "
               "partition=%d users=%zu",
               topic, (int)partition, n);
}

/* Before a revoke's commit: every output delivered, the changed state
 * written and delivered. */
static int on_drain(void *opaque)
{
        rs_worker_t *w = opaque;
        int ms = (int)w->pl->sink.flush_timeout;

        if (w->eos) {
                /* the transaction holds the revoked partitions' offsets
                 * with their outputs and state: committed here, before
                 * they are given up (after a close's final commit there
                 * is none open) */
                txn_commit(w, !w->deadline);
                return 0;
        }
        if (rs_sink_flush(w->sink, budget(w, ms)) || write_all_changes(w) ||
            rs_sink_flush(w->sink, budget(w, ms))) {
                rs_log(RS_LOG_WARNING,
                       "component=sink event=drain_timeout "
                       "outstanding=%d",
                       rs_sink_outstanding(w->sink));
                return 0; /* not committed: consumed again by the new owner */
        }
        return budget(w, 10000);
}

static rs_err_t emit(void *opaque, const rs_recs_t *recs)
{
        rs_worker_t *w = opaque;
        const void *buf;
        size_t len, klen;
        const char *key = rs_intern_str(w->strings, recs->user, &klen);
        rs_err_t err;

        if (!key || rs_codec_encode_recs(w->out, recs, &buf, &len)) {
                w->st.encode_failed++;
                rs_log(RS_LOG_ERR,
                       "component=sink event=encode_failed "
                       "reason=\"%s\"",
                       rs_codec_error(w->out));
                return RS_OK; /* a bug of ours; counted, not fatal */
        }
        /* the user's publish state moved: written at the next commit */
        if (w->ust.t >= 0 &&
            (err = mark_changed(w, recs->user,
                                rs_uwin_partition(w->win, recs->user))))
                return err;
        err = produce_held(w, OUT_RECS, w->ticket, 0, -1, key, klen, buf, len,
                           NULL, 0);
        if (err == RS_ERR_INVALID) {
                /* larger than message.max.bytes: cannot be published */
                w->st.recs_rejected++;
                rs_log(RS_LOG_ERR,
                       "component=sink event=rejected what=recs bytes=%zu "
                       "max=%zu",
                       len, rs_sink_max_message(w->sink));
                return RS_OK;
        }
        if (err)
                return err;
        w->st.produced++;
        /* event time of its newest event to the hand-off (like Kafka
         * Streams' record-e2e-latency) */
        int64_t lat = rs_wall_ms() - recs->generated_ts;
        rs_hist_observe(&w->h_latency, lat > 0 ? (double)lat / 1000.0 : 0);
        return RS_OK;
}

/* Sends m's key and value bytes to its topic's DLQ with the reason and
 * its origin in headers, holding `ticket` (NO_TICKET: none) until the
 * broker acknowledges it. A fatal error only when the producer could not
 * take it (stopping while the brokers are away). */
static rs_err_t dead_letter(rs_worker_t *w, const rs_msg_t *m, int kind,
                            uint64_t ticket, const char *stage,
                            const char *reason, const char *detail)
{
        char part[16], off[24], ts[24], trunc[24];
        origin_t *o = &w->origins[origin_of(w, m->topic)];
        char errstr[256];
        size_t len = m->len, max;
        rs_err_t err;

        rs_log(RS_LOG_DEBUG,
               "component=dlq event=dead_letter stage=%s reason=%s topic=%s "
               "partition=%d offset=%" PRId64 " detail=\"%s\"",
               stage, reason, m->topic, (int)m->partition, m->offset, detail);
        if (!w->pl->dlq.enabled)
                return RS_OK;
        if (o->dlq < 0) {
                char name[300];
                snprintf(name, sizeof(name), "%s.dlq", o->name);
                o->dlq = rs_sink_add_topic(
                        w->sink, w->pl->dlq.topic ? w->pl->dlq.topic : name,
                        errstr, sizeof(errstr));
                if (o->dlq < 0) {
                        rs_log(RS_LOG_ERR,
                               "component=dlq event=topic_failed reason=\"%s\"",
                               errstr);
                        return w->failed = RS_ERR_KAFKA;
                }
        }
        snprintf(part, sizeof(part), "%d", (int)m->partition);
        snprintf(off, sizeof(off), "%" PRId64, m->offset);
        snprintf(ts, sizeof(ts), "%" PRId64, m->timestamp);
        rs_header_t h[8] = {
                {"error.stage", stage, strlen(stage)},
                {"error.reason", reason, strlen(reason)},
                {"error.detail", detail, strlen(detail)},
                {"source.topic", o->name, strlen(o->name)},
                {"source.partition", part, strlen(part)},
                {"source.offset", off, strlen(off)},
                {"source.timestamp", ts, strlen(ts)},
        };
        size_t nh = 7;
        /* A record the consumer could fetch may still be more than this
         * producer may send: its head goes, and how long it was. */
        max = rs_sink_max_message(w->sink);
        max = max > DLQ_OVERHEAD + m->key_len ? max - DLQ_OVERHEAD - m->key_len
                                              : 0;
        if (len > max) {
                snprintf(trunc, sizeof(trunc), "%zu", len);
                h[nh++] = (rs_header_t){"error.value.truncated", trunc,
                                        strlen(trunc)};
                len = max;
        }
        err = produce_held(w, kind, ticket, o->dlq, -1, m->key, m->key_len,
                           m->value, len, h, nh);
        if (err == RS_ERR_INVALID) { /* cannot happen with the cut above */
                w->st.dlq_rejected++;
                return RS_OK;
        }
        if (err)
                return w->failed = err;
        w->st.dlq_produced++;
        return RS_OK;
}

/* Applies what arrived on the ItemMeta topic (at most a batch), waiting
 * up to timeout_ms for the first record. */
static void read_items(rs_worker_t *w, int timeout_ms)
{
        const rs_msg_t *m;
        rs_item_meta_t meta;

        for (int k = 0;
             k < 1000 && (m = rs_reader_next(w->items, k ? 0 : timeout_ms));
             k++) {
                rs_err_t err = rs_codec_decode_item(w->items_codec, m->value,
                                                    m->len, &meta);
                const char *reason = rs_codec_reason(w->items_codec);
                const char *detail = rs_codec_error(w->items_codec);
                if (!err && (err = rs_catalog_apply(w->catalog, &meta))) {
                        reason = err == RS_ERR_INVALID ? "item_embedding_dim"
                                 : err == RS_ERR_FULL  ? "item_limit"
                                                       : "nomem";
                        detail = err == RS_ERR_INVALID
                                         ? "the embedding has another "
                                           "dimension than items.embedding_dim"
                                 : err == RS_ERR_FULL
                                         ? "a new item past items.max_items"
                                         : "out of memory";
                }
                if (err) {
                        w->st.items_failed++;
                        rs_log(RS_LOG_WARNING,
                               "component=catalog event=bad_record "
                               "partition=%d offset=%" PRId64
                               " reason=%s detail=\"%s\"",
                               (int)m->partition, m->offset, reason, detail);
                        dead_letter(w, m, OUT_DLQ_CATALOG, NO_TICKET, "catalog",
                                    reason, detail);
                        continue;
                }
                w->st.items_applied++;
        }
        rs_intern_collect(w->strings); /* the ids of rejected records */
}

/*
 * The topics between the two sides.
 */

/* The pairs stage's delta of the batch being processed: produced to its
 * partition of cooc-deltas, holding the batch until it is acknowledged. */
static rs_err_t send_delta(void *opaque, const rs_delta_t *d)
{
        rs_worker_t *w = opaque;
        const void *buf;
        size_t len;
        rs_err_t err;

        if ((err = rs_codec_encode_delta(w->internal, d, &buf, &len))) {
                w->st.encode_failed++;
                rs_log(RS_LOG_ERR,
                       "component=pairs event=encode_failed reason=\"%s\"",
                       rs_codec_error(w->internal));
                return RS_OK;
        }
        err = produce_held(w, OUT_DELTA, w->ticket, w->t_deltas, d->partition,
                           NULL, 0, buf, len, NULL, 0);
        if (err == RS_ERR_INVALID) {
                /* over message.max.bytes: a batch too large for one record */
                w->st.recs_rejected++;
                rs_log(RS_LOG_ERR,
                       "component=pairs event=rejected bytes=%zu max=%zu "
                       "msg=\"lower source.batch_size or pairs.max_pairs\"",
                       len, rs_sink_max_message(w->sink));
                return RS_OK;
        }
        if (err)
                return err;
        w->st.deltas_produced++;
        w->st.delta_bytes += len;
        return RS_OK;
}

static const char *topic_name(void *opaque, uint16_t topic)
{
        rs_worker_t *w = opaque;
        return topic < w->norigins ? w->origins[topic].name : "";
}

/* What the item side publishes: produced to item-neighbors keyed by item
 * id (a tombstone: a null value), holding the delta batch being applied. */
static rs_err_t send_nb(void *opaque, const rs_nb_rec_t *r)
{
        rs_worker_t *w = opaque;
        const void *buf = NULL;
        size_t len = 0, klen;
        char pkey[16];
        const char *key;
        rs_err_t err;

        if (r->kind == RS_NB_PARTITION) {
                klen = rs_nb_partition_key(r->partition, pkey);
                key = pkey;
        } else if (!(key = rs_intern_str(w->strings, r->item, &klen))) {
                return RS_OK;
        }
        if (!r->deleted &&
            (err = rs_codec_encode_nb(w->internal, r, &buf, &len))) {
                w->st.encode_failed++;
                return RS_OK;
        }
        err = produce_held(w, OUT_NB, w->iticket, w->t_nb, -1, key, klen, buf,
                           len, NULL, 0);
        if (err == RS_ERR_INVALID) {
                w->st.recs_rejected++;
                rs_log(RS_LOG_ERR,
                       "component=cooccur event=rejected bytes=%zu max=%zu "
                       "msg=\"lower cooccur.max_neighbors\"",
                       len, rs_sink_max_message(w->sink));
                return RS_OK;
        }
        if (err)
                return err;
        w->st.nb_produced++;
        w->st.nb_bytes += len;
        return RS_OK;
}

/* Applies what arrived on item-neighbors to the table (at most a batch),
 * waiting up to timeout_ms for the first record. */
static void read_neighbors(rs_worker_t *w, int timeout_ms)
{
        const rs_msg_t *m;
        rs_nb_rec_t r;

        for (int k = 0;
             k < 10000 && (m = rs_reader_next(w->nbr, k ? 0 : timeout_ms));
             k++) {
                rs_err_t err;
                if (!m->value) { /* a tombstone: the item is gone */
                        const char *why = rs_event_check_id(
                                m->key, m->key_len,
                                (size_t)w->pl->source.max_id_bytes);
                        uint32_t id = why ? RS_ID_NONE
                                          : rs_intern_id(w->strings, m->key,
                                                         m->key_len);
                        r = (rs_nb_rec_t){.kind = RS_NB_ITEM,
                                          .item = id,
                                          .deleted = 1,
                                          .updated_ts = INT64_MIN};
                        err = id == RS_ID_NONE ? RS_ERR_DECODE
                                               : rs_nbtable_apply(w->table, &r);
                } else if (!(err = rs_codec_decode_nb(w->internal, m->value,
                                                      m->len, &r))) {
                        err = rs_nbtable_apply(w->table, &r);
                }
                if (err && err != RS_ERR_FULL) {
                        w->st.nb_failed++;
                        rs_log(RS_LOG_WARNING,
                               "component=neighbors event=bad_record "
                               "partition=%d offset=%" PRId64
                               " reason=%s detail=\"%s\"",
                               (int)m->partition, m->offset,
                               rs_codec_reason(w->internal),
                               rs_codec_error(w->internal));
                        continue;
                }
                w->st.nb_applied++;
        }
        rs_intern_collect(w->strings);
}

/* The partitions of the input (the most of its topics'). */
static rs_err_t input_partitions(rs_worker_t *w, int *most, char *errstr,
                                 size_t errstr_size)
{
        int parts = 0;

        *most = 0;
        for (size_t t = 0; t < w->pl->source.topics.n; t++) {
                if (rs_kafka_partitions(&w->pl->kafka,
                                        w->pl->source.topics.v[t], 10000,
                                        &parts, errstr, errstr_size))
                        return RS_ERR_KAFKA;
                if (parts > *most)
                        *most = parts;
        }
        return RS_OK;
}

/* Whether the user side here keeps a changelog: it has state to keep. */
static int users_changelog(const rs_worker_t *w)
{
        return w->users && w->pl->state.changelog &&
               rs_pipeline_stage_conf(w->pl, "user_window");
}

/* Creates the internal topics when missing (Admin API) and checks that
 * cooc-deltas has topology.partitions partitions: items hash to them. */
static rs_err_t ensure_topics(rs_worker_t *w, char *errstr, size_t errstr_size)
{
        const rs_topology_conf_t *t = &w->pl->topology;
        rs_topic_spec_t specs[4] = {
                {t->deltas_topic, (int)t->partitions, 0},
                {t->neighbors_topic, (int)t->partitions, 1},
        };
        size_t n = rs_pipeline_has_items(w->pl) ? 2 : 0;
        int parts = 0;
        rs_err_t err;

        /* the changelogs: a partition for each of their side's */
        if (users_changelog(w)) {
                if ((err = input_partitions(w, &parts, errstr, errstr_size)))
                        return err;
                specs[n++] = (rs_topic_spec_t){w->ust.topic, parts, 1};
        }
        if (w->items_side && w->pl->state.changelog)
                specs[n++] =
                        (rs_topic_spec_t){w->ist.topic, (int)t->partitions, 1};
        if (n)
                rs_kafka_create_topics(&w->pl->kafka, specs, n, 10000);
        if (!rs_pipeline_has_items(w->pl))
                return RS_OK;
        if ((err = rs_kafka_partitions(&w->pl->kafka, t->deltas_topic, 10000,
                                       &parts, errstr, errstr_size)))
                return err;
        if (parts != (int)t->partitions)
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "%s has %d partitions, topology.partitions "
                                 "is %lld: items would go to the wrong "
                                 "instance (make them agree)",
                                 t->deltas_topic, parts,
                                 (long long)t->partitions);
        return RS_OK;
}

/* A user evicted beyond max_users: a tombstone at the next commit. */
static void user_evicted(void *opaque, uint32_t user)
{
        rs_worker_t *w = opaque;
        int32_t part = rs_uwin_evicted_partition(w->win);

        if (part >= 0 && mark_changed(w, user, part))
                w->failed = RS_ERR_NOMEM;
}

/* A changelog's producer topic and the reader that restores from it; it
 * needs a partition for each of its side's (`need`). */
static rs_err_t open_store(rs_worker_t *w, store_t *st, int need, char *errstr,
                           size_t errstr_size)
{
        const rs_pipeline_t *pl = w->pl;

        if ((st->t = rs_sink_add_topic(w->sink, st->topic, errstr,
                                       errstr_size)) < 0 ||
            !(st->rd = rs_reader_new_idle(w->ckafka, NULL, st->topic, 10000,
                                          errstr, errstr_size)))
                return RS_ERR_KAFKA;
        if (rs_reader_partitions(st->rd) < need)
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "%s has %d partitions, its side %d: every "
                                 "partition needs its own",
                                 st->topic, rs_reader_partitions(st->rd), need);
        if (!pl->state.state_dir)
                return RS_OK;
        st->parts = rs_reader_partitions(st->rd);
        if (!(st->covers = malloc((size_t)st->parts * sizeof(*st->covers))) ||
            !(st->saved = malloc((size_t)st->parts * sizeof(*st->saved))))
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "out of memory");
        for (int p = 0; p < st->parts; p++)
                st->covers[p] = st->saved[p] = -1;
        return RS_OK;
}

static rs_err_t start_changelog(rs_worker_t *w, char *errstr,
                                size_t errstr_size)
{
        int most;

        if (input_partitions(w, &most, errstr, errstr_size))
                return RS_ERR_KAFKA;
        if (open_store(w, &w->ust, most, errstr, errstr_size))
                return RS_ERR_KAFKA;
        if (w->ust.covers &&
            (!(w->ck_at =
                       calloc((size_t)w->ust.parts + 1, sizeof(*w->ck_at))) ||
             !(w->ck_fill = calloc((size_t)w->ust.parts, sizeof(*w->ck_fill)))))
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "out of memory");
        return RS_OK;
}

static rs_err_t start_users(rs_worker_t *w, char *errstr, size_t errstr_size)
{
        const rs_pipeline_t *pl = w->pl;
        const rs_source_conf_t *sc = &pl->source;
        const void *cc = rs_pipeline_stage_conf(pl, "cooccur");

        if (!(w->table = rs_nbtable_new(w->strings,
                                        (size_t)pl->topology.max_neighbor_items,
                                        cc ? rs_cooc_trending_size(cc) : 1)))
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "out of memory");
        rs_delta_sink_t deltas = {send_delta, topic_name, w,
                                  (int32_t)pl->topology.partitions};
        if (!(w->chain = rs_chain_new(pl, w->strings, w->catalog, w->table,
                                      &deltas, errstr, errstr_size)))
                return RS_ERR_INVALID;
        w->win = rs_chain_find(w->chain, "user_window");
        if (cc) {
                /* the neighbour table as it is now, before the first list */
                if (!(w->nbr = rs_reader_new(w->ckafka, NULL,
                                             pl->topology.neighbors_topic, 1,
                                             10000, errstr, errstr_size)))
                        return RS_ERR_KAFKA;
                int64_t until = rs_mono_ms() + 60000;
                w->phase = "loading the neighbour table";
                while (!rs_reader_caught_up(w->nbr) && rs_mono_ms() < until &&
                       !(w->stop && *w->stop)) {
                        tick(w);
                        read_neighbors(w, 100);
                }
                if (!rs_reader_caught_up(w->nbr))
                        return rs_seterr(errstr, errstr_size, RS_ERR_TIMEOUT,
                                         "the neighbour topic %s did not "
                                         "load in 60 s",
                                         pl->topology.neighbors_topic);
                rs_log(RS_LOG_INFO,
                       "component=neighbors event=loaded topic=%s items=%zu "
                       "records=%" PRIu64,
                       pl->topology.neighbors_topic, rs_nbtable_items(w->table),
                       w->st.nb_applied);
        }
        if (users_changelog(w) && start_changelog(w, errstr, errstr_size))
                return RS_ERR_KAFKA;
        /* an evicted user's record goes from the changelog too, so that
         * the topic holds at most the users held */
        if (w->ust.t >= 0 && w->win &&
            rs_uwin_on_evict(w->win, user_evicted, w))
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "too many listeners on user_window");
        rs_consumer_conf_t ccf = {
                .topics = &sc->topics,
                .group = sc->group,
                .from_latest = sc->auto_offset_reset == RS_OFFSET_LATEST,
                .batch_size = (size_t)sc->batch_size,
                .max_inflight = (size_t)sc->max_inflight_batches,
                .kafka = &sc->kafka,
                .revoked = users_revoked,
                .assigned = w->ust.rd ? users_assigned : NULL,
                .transactional = w->eos,
        };
        if (!(w->src = rs_source_new(w->ckafka, &ccf, on_drain, w, errstr,
                                     errstr_size)))
                return RS_ERR_KAFKA;
        return RS_OK;
}

/* A cooc-deltas partition went to another replica: what was learnt from
 * it here goes, so that only its owner publishes its items. (Without a
 * changelog the new owner starts from the committed offset: issue 11.) */
static void items_revoked(void *opaque, const char *topic, int32_t partition)
{
        rs_worker_t *w = opaque;
        rs_err_t err;

        checkpoint_store(w, &w->ist);
        checkpoint_forget(&w->ist, partition);
        err = rs_items_reset(w->items_part, partition);

        rs_log(err ? RS_LOG_ERR : RS_LOG_INFO,
               "component=items event=partition_reset topic=%s partition=%d "
               "reason=\"%s\"",
               topic, (int)partition, err ? rs_err_str(err) : "revoked");
        if (err == RS_ERR_NOMEM)
                w->failed = err;
}

static rs_err_t start_items(rs_worker_t *w, char *errstr, size_t errstr_size)
{
        const rs_pipeline_t *pl = w->pl;
        rs_nb_sink_t out = {send_nb, w};

        if (!(w->items_part =
                      rs_items_new(pl, w->strings, &out, errstr, errstr_size)))
                return RS_ERR_INVALID;
        if (!(w->imsgs =
                      calloc((size_t)pl->source.batch_size, sizeof(*w->imsgs))))
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "out of memory");
        w->deltas_v[0] = pl->topology.deltas_topic;
        w->deltas = (rs_strings_t){w->deltas_v, 1};
        if (pl->state.changelog &&
            open_store(w, &w->ist, (int)pl->topology.partitions, errstr,
                       errstr_size))
                return RS_ERR_KAFKA;
        rs_consumer_conf_t ccf = {
                .topics = &w->deltas,
                .group = pl->topology.items_group,
                .from_latest = 0,
                .batch_size = (size_t)pl->source.batch_size,
                .max_inflight = (size_t)pl->source.max_inflight_batches,
                .kafka = &pl->source.kafka,
                .revoked = items_revoked,
                .assigned = w->ist.rd ? items_assigned : NULL,
                .transactional = w->eos,
        };
        if (!(w->isrc = rs_source_new(w->ckafka, &ccf, on_drain, w, errstr,
                                      errstr_size)))
                return RS_ERR_KAFKA;
        w->last_delta = rs_mono_ms();
        return RS_OK;
}

/* exactly_once: every consumer and reader read_committed, the producer
 * transactional — its id configured, or made unique to this process
 * (fencing rests on the group generations sent with the offsets, KIP-447,
 * not on the id) — its transactions initialised and the first begun. */
static rs_err_t start_transactions(rs_worker_t *w, int role, char *errstr,
                                   size_t errstr_size)
{
        const rs_pipeline_t *pl = w->pl;
        static const char *const roles[] = {"all", "users", "items"};
        int64_t timeout = 3 * pl->state.commit_interval;
        char host[256] = "";
        rs_txn_fail_t f;

        if (!(w->ckafka_eos.v =
                      calloc(pl->kafka.n + 1, sizeof(*w->ckafka_eos.v))))
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "out of memory");
        memcpy(w->ckafka_eos.v, pl->kafka.v,
               pl->kafka.n * sizeof(*w->ckafka_eos.v));
        w->ckafka_eos.v[pl->kafka.n] =
                (rs_kv_t){"isolation.level", "read_committed", NULL};
        w->ckafka_eos.n = pl->kafka.n + 1;
        w->ckafka = &w->ckafka_eos;
        if (pl->state.transactional_id) {
                snprintf(w->txn_id, sizeof(w->txn_id), "%s",
                         pl->state.transactional_id);
        } else {
                if (gethostname(host, sizeof(host) - 1))
                        snprintf(host, sizeof(host), "host");
                snprintf(w->txn_id, sizeof(w->txn_id), "%s.%s.%s.%ld.%" PRIx64,
                         pl->name, roles[role], host, (long)getpid(),
                         (uint64_t)rs_wall_ms());
        }
        /* the coordinator aborts a transaction left open this long (a
         * crashed process's): at least 10 s, 3 commit intervals */
        if (timeout < 10000)
                timeout = 10000;
        if (timeout > 900000)
                timeout = 900000;
        if (!(w->sink = rs_sink_new_transactional(
                      &pl->kafka, pl->sink.topic, &pl->sink.kafka, w->txn_id,
                      (int)timeout, on_delivery, w, errstr, errstr_size)))
                return RS_ERR_KAFKA;
        if ((f = rs_sink_txn_init(w->sink, 30000, errstr, errstr_size)) ||
            (f = rs_sink_txn_begin(w->sink, errstr, errstr_size)))
                return RS_ERR_KAFKA;
        w->txn_open = 1;
        rs_log(RS_LOG_INFO,
               "component=worker event=transactions guarantee=exactly_once "
               "transactional_id=%s transaction_timeout_ms=%lld "
               "isolation=read_committed",
               w->txn_id, (long long)timeout);
        return RS_OK;
}

rs_worker_t *rs_worker_new(const rs_pipeline_t *pl, int role,
                           const volatile sig_atomic_t *stop, rs_monitor_t *mon,
                           char *errstr, size_t errstr_size)
{
        rs_worker_t *w = calloc(1, sizeof(*w));
        const rs_source_conf_t *sc = &pl->source;
        int has_items = rs_pipeline_has_items(pl);

        if (!w)
                goto nomem;
        if (role < 0)
                role = pl->topology.role;
        if (role == RS_ROLE_ITEMS && !has_items) {
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "role items: the pipeline has no cooccur stage");
                free(w);
                return NULL;
        }
        w->pl = pl;
        w->stop = stop;
        w->mon = mon;
        w->phase = "connecting";
        rs_buf_init(&w->mtext);
        for (size_t i = 0; i < RS_MAX_STAGES; i++)
                rs_hist_init(&w->h_stage[i], stage_le, NLE(stage_le));
        rs_hist_init(&w->h_decode, stage_le, NLE(stage_le));
        rs_hist_init(&w->h_items, stage_le, NLE(stage_le));
        rs_hist_init(&w->h_latency, latency_le, NLE(latency_le));
        w->users = role != RS_ROLE_ITEMS;
        w->items_side = role != RS_ROLE_USERS && has_items;
        w->ticket = w->iticket = NO_TICKET;
        w->event_time = w->good_time = INT64_MIN;
        w->t_deltas = w->t_nb = w->ust.t = w->ist.t = -1;
        w->ust.topic = pl->state.users_topic;
        w->ist.topic = pl->state.items_topic;
        w->eos = pl->processing.guarantee == RS_GUARANTEE_EXACTLY_ONCE;
        w->ckafka = &pl->kafka;
        tick(w);
        if (!(w->strings = rs_intern_new()) ||
            !(w->msgs = calloc((size_t)sc->batch_size, sizeof(*w->msgs))) ||
            !(w->events = calloc((size_t)sc->batch_size, sizeof(*w->events))) ||
            !(w->ev_msg = calloc((size_t)sc->batch_size, sizeof(*w->ev_msg))))
                goto nomem;

        if (!(w->in = rs_codec_new(sc->framing, w->strings, errstr,
                                   errstr_size)) ||
            !(w->out = rs_codec_new(pl->sink.framing, w->strings, errstr,
                                    errstr_size)) ||
            !(w->internal = rs_codec_new(RS_FRAMING_PLAIN, w->strings, errstr,
                                         errstr_size)))
                goto fail;
        rs_codec_set_schema_ids(w->in, (int32_t)sc->schema_id,
                                (int32_t)pl->sink.schema_id);
        rs_codec_set_schema_ids(w->out, (int32_t)sc->schema_id,
                                (int32_t)pl->sink.schema_id);
        rs_codec_set_max_id(w->in, (size_t)sc->max_id_bytes);
        rs_codec_set_max_id(w->internal, (size_t)sc->max_id_bytes);
        rs_codec_set_pipeline(w->out, pl->name, pl->hash);
        rs_codec_set_stamp(w->out, 1); /* published_ts, list_id */
        rs_codec_set_pipeline(w->internal, pl->name, pl->hash);
        for (size_t i = 0; i < sc->nwriters; i++)
                if (rs_codec_add_event_writer(
                            w->in, sc->writers[i].json, sc->writers[i].len,
                            sc->writers[i].id, errstr, errstr_size))
                        goto fail;
        if (!(w->catalog =
                      rs_catalog_new((size_t)pl->items.embedding_dim,
                                     (size_t)pl->items.max_items, w->strings)))
                goto nomem;
        /* The producer first: the catalog's dead letters need it. */
        if (w->eos) {
                if (start_transactions(w, role, errstr, errstr_size))
                        goto fail;
        } else if (!(w->sink = rs_sink_new(&pl->kafka, pl->sink.topic,
                                           &pl->sink.kafka, on_delivery, w,
                                           errstr, errstr_size))) {
                goto fail;
        }
        rs_sink_set_stop(w->sink, stop);
        if (has_items &&
            ((w->t_deltas =
                      rs_sink_add_topic(w->sink, pl->topology.deltas_topic,
                                        errstr, errstr_size)) < 0 ||
             (w->t_nb = rs_sink_add_topic(w->sink, pl->topology.neighbors_topic,
                                          errstr, errstr_size)) < 0))
                goto fail;
        w->phase = "creating the internal topics";
        tick(w);
        if (ensure_topics(w, errstr, errstr_size))
                goto fail;
        w->phase = "connecting";
        if (w->users && pl->items.topic) {
                if (!(w->items_codec =
                              rs_codec_new(pl->items.framing, w->strings,
                                           errstr, errstr_size)))
                        goto fail;
                rs_codec_set_item_schema_id(w->items_codec,
                                            (int32_t)pl->items.schema_id);
                rs_codec_set_max_id(w->items_codec, (size_t)sc->max_id_bytes);
                /* every replica reads the whole catalog, from the start */
                if (!(w->items = rs_reader_new(w->ckafka, &pl->items.kafka,
                                               pl->items.topic, 1, 10000,
                                               errstr, errstr_size)))
                        goto fail;
                /* the catalog as it is now, before the first event */
                int64_t until = rs_mono_ms() + 30000;
                w->phase = "loading the catalog";
                while (!rs_reader_caught_up(w->items) && rs_mono_ms() < until &&
                       !(stop && *stop)) {
                        tick(w);
                        read_items(w, 100);
                }
                if (!rs_reader_caught_up(w->items)) {
                        rs_seterr(errstr, errstr_size, RS_ERR_TIMEOUT,
                                  "the catalog topic %s did not load in 30 s",
                                  pl->items.topic);
                        goto fail;
                }
                rs_log(RS_LOG_INFO,
                       "component=catalog event=loaded topic=%s items=%zu "
                       "failed=%" PRIu64,
                       pl->items.topic, rs_catalog_items(w->catalog),
                       w->st.items_failed);
        }
        if ((w->items_side && start_items(w, errstr, errstr_size)) ||
            (w->users && start_users(w, errstr, errstr_size)))
                goto fail;
        w->next_stats = rs_mono_ms() + STATS_EVERY_MS;
        w->next_commit = rs_mono_ms() + pl->state.commit_interval;
        w->next_checkpoint = rs_mono_ms() + pl->state.checkpoint_interval;
        w->phase = NULL;
        if (w->mon)
                publish_metrics(w);
        rs_log(RS_LOG_INFO,
               "component=worker event=started pipeline=%s config_hash=%s "
               "role=%s group=%s topics=%zu sink=%s dlq=%s partitions=%lld",
               pl->name, pl->hash,
               w->users && w->items_side ? "all"
               : w->users                ? "users"
                                         : "items",
               sc->group, sc->topics.n, pl->sink.topic,
               !pl->dlq.enabled ? "off"
               : pl->dlq.topic  ? pl->dlq.topic
                                : "<topic>.dlq",
               (long long)pl->topology.partitions);
        return w;
nomem:
        rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
fail:
        if (w) {
                /* not started: nothing to flush or commit */
                rs_source_destroy(w->src);
                rs_source_destroy(w->isrc);
                w->src = w->isrc = NULL;
                rs_worker_close(w);
        }
        return NULL;
}

/* Decodes the batch into w->events; what cannot be decoded goes to the
 * DLQ. The number of events. */
static size_t decode_batch(rs_worker_t *w, long n, uint64_t ticket)
{
        size_t nev = 0;

        for (long i = 0; i < n && !w->failed; i++) {
                const rs_msg_t *m = &w->msgs[i];
                rs_event_t *ev = &w->events[nev];
                if (rs_codec_decode_event(w->in, m->value, m->len, ev)) {
                        w->st.decode_failed++;
                        w->st.dead_letters++;
                        count_drop(w, rs_codec_reason(w->in));
                        dead_letter(w, m, OUT_DLQ, ticket, "decode",
                                    rs_codec_reason(w->in),
                                    rs_codec_error(w->in));
                        continue;
                }
                ev->topic = (uint16_t)origin_of(w, m->topic);
                ev->partition = m->partition;
                ev->offset = m->offset;
                ev->ingest_ts = m->timestamp >= 0 ? m->timestamp : RS_NONE_I64;
                w->ev_msg[nev++] = (uint32_t)i;
        }
        return nev;
}

/* Counts what the stages dropped and dead-letters what is a producer's
 * bug (rs_drop_dead_letter). */
static void settle_batch(rs_worker_t *w, size_t nev, uint64_t ticket)
{
        char detail[96];

        for (size_t i = 0; i < nev && !w->failed; i++) {
                const rs_event_t *ev = &w->events[i];
                int drop = ev->drop;
                w->st.dropped[drop]++;
                if (!rs_drop_dead_letter(drop)) {
                        if (drop != RS_DROP_DUPLICATE &&
                            drop != RS_DROP_RATE_LIMIT &&
                            drop != RS_DROP_REPLAYED)
                                w->st.processed++;
                        continue;
                }
                w->st.dead_letters++;
                snprintf(detail, sizeof(detail), "ts=%" PRId64, ev->ts);
                dead_letter(w, &w->msgs[w->ev_msg[i]], OUT_DLQ, ticket,
                            rs_drop_stage(drop), rs_drop_name(drop), detail);
        }
}

/* One batch of the input through the user side; returns the records
 * consumed. */
static long users_step(rs_worker_t *w, int timeout_ms)
{
        const rs_pipeline_t *pl = w->pl;
        rs_emit_t out = {emit, w};
        uint64_t ticket;
        long n;
        rs_err_t err;

        if (w->items)
                read_items(w, 0);
        if (w->nbr)
                read_neighbors(w, 0);
        restore_assigned(w, &w->ust, w->src, &pl->source.topics);
        if (w->failed)
                return 0;
        if (rs_source_inflight(w->src) >=
            (size_t)pl->source.max_inflight_batches) {
                rs_sink_poll(w->sink, 10);
                return 0;
        }
        n = rs_source_poll(w->src, w->msgs, (size_t)pl->source.batch_size,
                           timeout_ms, &ticket);
        if (n < 0) {
                fail_why(w, RS_ERR_KAFKA,
                         "the consumer of %s failed (see poll_failed)",
                         pl->source.group);
                return 0;
        }
        if (!w->ust.nq && rs_source_assigned(w->src))
                w->consuming = 1;
        if (n == 0) {
                /* no events: the neighbour records read above may be what
                 * users whose lists were empty wait for (score) */
                if (w->nbr && !w->failed &&
                    (err = rs_chain_flush(w->chain, w->event_time, RS_FLUSH_DUE,
                                          &out)))
                        fail_why(w, err, "a stage failed: %s", rs_err_str(err));
                return 0;
        }
        size_t nev;
        w->st.consumed += (uint64_t)n;
        int64_t t0 = w->mon ? now_ns() : 0;
        nev = decode_batch(w, n, ticket);
        if (w->mon)
                rs_hist_observe(&w->h_decode, (double)(now_ns() - t0) / 1e9);
        w->st.decoded += nev;
        for (size_t i = 0; i < nev; i++)
                if (w->events[i].ts > w->event_time)
                        w->event_time = w->events[i].ts;
        w->ticket = ticket;
        rs_chain_mark_replayed(w->chain, w->events, nev);
        if (!w->failed &&
            (err = rs_chain_process(w->chain, w->events, nev, &out)))
                fail_why(w, err, "a stage failed: %s", rs_err_str(err));
        w->ticket = NO_TICKET;
        for (size_t i = 0; i < nev; i++)
                if (!rs_drop_dead_letter(w->events[i].drop) &&
                    w->events[i].ts > w->good_time)
                        w->good_time = w->events[i].ts;
        for (size_t i = 0;
             nev && i < rs_chain_stages(w->chain) && i < RS_MAX_STAGES; i++)
                if (rs_chain_stage_type(w->chain, i))
                        rs_hist_observe(&w->h_stage[i],
                                        (double)rs_chain_stage_ns(w->chain, i) /
                                                1e9);
        /* (a user the window does not hold has nothing to write: evicted
         * users' records stay in the changelog, bounded on restore by
         * user_window.max_users) */
        const rs_uwin_t *win = w->win;
        for (size_t i = 0; i < nev && !w->failed; i++)
                if (w->events[i].drop != RS_DROP_REPLAYED && win &&
                    rs_uwin_holds(win, w->events[i].user) &&
                    (err = mark_changed(w, w->events[i].user,
                                        w->events[i].partition)))
                        w->failed = err;
        if (!w->failed)
                settle_batch(w, nev, ticket);
        /* A batch that failed part-way is never marked done, so its
         * offsets are never stored: it is consumed again. */
        if (!w->failed)
                rs_source_done(w->src, ticket);
        /* the batch is processed and its output encoded: ids no longer
         * held by any state are freed */
        rs_intern_collect(w->strings);
        return n;
}

/* Deltas applied since the item side last settled, or records waiting:
 * its lists may not yet be what its counts give. */
static size_t unsettled(const rs_worker_t *w)
{
        return (size_t)(w->st.deltas_applied - w->settled_at) +
               rs_items_pending(w->items_part);
}

/* One batch of deltas through the item side, and what it publishes;
 * returns the records consumed. */
static long items_step(rs_worker_t *w, int timeout_ms)
{
        const rs_pipeline_t *pl = w->pl;
        uint64_t ticket;
        long n;
        rs_err_t err = RS_OK;

        restore_assigned(w, &w->ist, w->isrc, &w->deltas);
        if (w->failed)
                return 0;
        if (rs_source_inflight(w->isrc) >=
            (size_t)pl->source.max_inflight_batches) {
                rs_sink_poll(w->sink, 10);
                return 0;
        }
        n = rs_source_poll(w->isrc, w->imsgs, (size_t)pl->source.batch_size,
                           timeout_ms, &ticket);
        if (n < 0) {
                fail_why(w, RS_ERR_KAFKA,
                         "the consumer of %s failed (see poll_failed)",
                         pl->topology.items_group);
                return 0;
        }
        if (!w->users && !w->ist.nq && rs_source_assigned(w->isrc))
                w->consuming = 1;
        if (n == 0) {
                /* quiet: publish what waits for its refresh, at once */
                if (unsettled(w) &&
                    rs_mono_ms() - w->last_delta >= pl->topology.settle_after) {
                        uint64_t before = w->st.nb_produced;
                        if ((err = rs_items_publish(w->items_part, 1)))
                                w->failed = err;
                        w->settled_at = w->st.deltas_applied;
                        rs_log(RS_LOG_INFO,
                               "component=items event=settled records=%" PRIu64,
                               w->st.nb_produced - before);
                }
                return 0;
        }
        w->last_delta = rs_mono_ms();
        w->iticket = ticket;
        int64_t t0 = w->mon ? now_ns() : 0;
        for (long i = 0; i < n && !err && !w->failed; i++) {
                const rs_msg_t *m = &w->imsgs[i];
                const rs_delta_t *d;
                w->st.deltas_consumed++;
                err = rs_codec_decode_delta(w->internal, m->value, m->len, &d);
                if (!err && d->partition != m->partition)
                        err = RS_ERR_INVALID; /* misrouted */
                if (!err)
                        err = rs_items_apply(w->items_part, d);
                if (err == RS_ERR_NOMEM)
                        break;
                if (err) {
                        w->st.deltas_failed++;
                        dead_letter(w, m, OUT_DLQ_ITEMS, ticket, "cooccur",
                                    err == RS_ERR_INVALID
                                            ? "wrong_partition"
                                            : rs_codec_reason(w->internal),
                                    rs_codec_error(w->internal));
                        err = RS_OK;
                        continue;
                }
                w->st.deltas_applied++;
        }
        if (!err)
                err = rs_items_publish(w->items_part, 0);
        if (w->mon)
                rs_hist_observe(&w->h_items, (double)(now_ns() - t0) / 1e9);
        w->iticket = NO_TICKET;
        if (err)
                w->failed = err;
        if (!w->failed)
                rs_source_done(w->isrc, ticket);
        rs_intern_collect(w->strings);
        return n;
}

rs_err_t rs_worker_step(rs_worker_t *w)
{
        const int timeout = (int)w->pl->source.poll_timeout;

        if (w->failed)
                return w->failed;
        if (w->users && w->items_side) {
                /* both sides: neither waits while the other has work;
                 * when both are quiet, each waits half as long */
                long got = users_step(w, 0);
                if (!w->failed)
                        got += items_step(w, 0);
                if (!got && !w->failed) {
                        got = users_step(w, timeout / 2);
                        if (!w->failed)
                                items_step(w, got ? 0 : timeout / 2);
                }
        } else if (w->users) {
                users_step(w, timeout);
        } else if (w->items_side) {
                items_step(w, timeout);
        }
        rs_sink_poll(w->sink, 0);
        if (!w->failed && w->eos &&
            (rs_source_txn_lost(w->src) || rs_source_txn_lost(w->isrc)))
                txn_failed(w, RS_TXN_ABORTABLE,
                           "partitions lost (the group session timed out) "
                           "with records processed in the open transaction: "
                           "their new owner reads them again");
        if (!w->failed && rs_mono_ms() >= w->next_commit) {
                rs_err_t err = w->eos ? txn_commit(w, 1)
                                      : commit_all(w, PERIODIC_FLUSH_MS,
                                                   PERIODIC_COMMIT_MS);
                if (err && !w->failed)
                        rs_log(RS_LOG_DEBUG,
                               "component=worker event=commit_skipped "
                               "reason=\"%s\" msg=\"not all output or state "
                               "delivered: tried again at the next "
                               "interval\"",
                               rs_err_str(err));
                /* every change delivered: its offsets are known */
                if (!err && w->pl->state.state_dir &&
                    rs_mono_ms() >= w->next_checkpoint) {
                        checkpoint_all(w);
                        w->next_checkpoint =
                                rs_mono_ms() + w->pl->state.checkpoint_interval;
                }
                w->next_commit = rs_mono_ms() + w->pl->state.commit_interval;
        }
        if (rs_log_level >= RS_LOG_INFO && rs_mono_ms() >= w->next_stats) {
                rs_worker_log_stats(w);
                w->next_stats = rs_mono_ms() + STATS_EVERY_MS;
        }
        tick(w);
        return w->failed;
}

rs_err_t rs_worker_reload(rs_worker_t *w, rs_pipeline_t *next, char *errstr,
                          size_t errstr_size)
{
        char why[192];

        if (rs_pipeline_reloadable(w->pl, next, why, sizeof(why))) {
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "%s changes only with a restart", why);
                return RS_ERR_INVALID;
        }
        /* Stages read their conf where they use it (RS_PROP_RELOAD): the
         * new values are copied over the old in place, and the pipeline
         * they point into (lists, strings) is kept until the next reload
         * or close. The structural keys copied along are equal. */
        for (size_t i = 0; i < next->nstages; i++)
                memcpy(w->pl->stages[i].conf, next->stages[i].conf,
                       next->stages[i].ops->conf_size);
        rs_codec_set_pipeline(w->out, next->name, next->hash);
        rs_codec_set_pipeline(w->internal, next->name, next->hash);
        rs_pipeline_destroy(w->reloaded);
        w->reloaded = next;
        w->st.reloads++;
        return RS_OK;
}

rs_err_t rs_worker_close(rs_worker_t *w)
{
        rs_err_t err = RS_OK;
        rs_emit_t out = {emit, w};
        int committed = 0;

        if (!w)
                return RS_OK;
        w->deadline = rs_mono_ms() + w->pl->shutdown_timeout;
        if (w->mon)
                publish_metrics(w); /* not ready: stopping */
        if (w->sink && (w->src || w->isrc) && !w->failed) {
                /* what is pending: lists, and what the item side holds
                 * back for its refresh */
                if (w->chain && w->src)
                        rs_chain_flush(w->chain, w->event_time,
                                       RS_FLUSH_PENDING, &out);
                if (w->items_part && w->isrc)
                        rs_items_publish(w->items_part, 1);
                if (w->eos)
                        err = txn_commit(w, 0);
                else if ((err = commit_all(w, (int)w->pl->sink.flush_timeout,
                                           10000)) == RS_ERR_TIMEOUT)
                        rs_log(RS_LOG_ERR,
                               "component=sink event=flush_timeout "
                               "outstanding=%d msg=\"not delivered in "
                               "time: not committed, consumed again on "
                               "restart\"",
                               rs_sink_outstanding(w->sink));
                committed = !err;
                if (committed)
                        checkpoint_all(w);
        }
        if (w->eos && w->txn_open && w->failed) /* a failure left it open */
                txn_failed(w, RS_TXN_ABORTABLE, NULL);
        if (w->eos && w->txn_open) { /* never started: nothing in it */
                char errstr[256];
                rs_sink_txn_abort(w->sink, budget(w, TXN_CALL_MS), errstr,
                                  sizeof(errstr));
                w->txn_open = 0;
        }
        if (w->failed && !err)
                err = w->failed;
        if (w->src || w->isrc || w->sink)
                rs_worker_log_stats(w);
        /* Undelivered output past the deadline is given up: its offsets
         * were not stored, so it is consumed again on restart. */
        if (w->sink && rs_sink_outstanding(w->sink))
                rs_sink_purge(w->sink);
        /* After the final commit a close that times out only did not
         * leave the group (brokers away): nothing is lost, nothing due. */
        if (rs_source_close(w->src, budget(w, 10000)) && !err && !committed)
                err = RS_ERR_TIMEOUT;
        if (rs_source_close(w->isrc, budget(w, 10000)) && !err && !committed)
                err = RS_ERR_TIMEOUT;
        rs_sink_destroy(w->sink);
        rs_chain_destroy(w->chain);
        rs_pipeline_destroy(w->reloaded);
        rs_reader_destroy(w->ust.rd);
        rs_reader_destroy(w->ist.rd);
        free(w->ust.q);
        free(w->ist.q);
        free(w->ust.covers);
        free(w->ust.saved);
        free(w->ist.covers);
        free(w->ist.saved);
        free(w->ck_ids);
        free(w->ck_at);
        free(w->ck_fill);
        free(w->chg);
        free(w->chg_part);
        free(w->chg_flag);
        rs_items_destroy(w->items_part);
        rs_reader_destroy(w->nbr);
        rs_nbtable_destroy(w->table);
        rs_reader_destroy(w->items);
        rs_codec_destroy(w->items_codec);
        rs_catalog_destroy(w->catalog);
        rs_codec_destroy(w->in);
        rs_codec_destroy(w->out);
        rs_codec_destroy(w->internal);
        rs_intern_destroy(w->strings);
        free(w->msgs);
        free(w->events);
        free(w->ev_msg);
        free(w->imsgs);
        rs_buf_fini(&w->mtext);
        free(w->ckafka_eos.v);
        free(w);
        return err;
}

int rs_worker_settled(const rs_worker_t *w)
{
        const rs_worker_stats_t *st = &w->st;

        return st->deltas_delivered == st->deltas_produced &&
               (!w->items_part ||
                (st->deltas_consumed >= st->deltas_produced && !unsettled(w) &&
                 st->nb_delivered == st->nb_produced)) &&
               (!w->nbr || st->nb_applied >= st->nb_delivered) &&
               st->delivered + st->recs_rejected == st->produced;
}

/* The counts kept elsewhere (see rs_worker_stats_t). */
static void other_counts(const rs_worker_t *w, rs_worker_stats_t *st)
{
        const rs_score_t *sc =
                w->chain ? rs_chain_find(w->chain, "score") : NULL;
        rs_score_counts_t c = {0};

        if (sc)
                c = rs_score_counts(sc);
        st->lists_debounced = c.debounced;
        st->lists_unchanged = c.unchanged;
        st->lists_empty = c.empty;
        st->rebalances = 0;
        for (int k = 0; k < 2; k++) {
                const rs_source_t *src = k ? w->isrc : w->src;
                if (src)
                        st->rebalances += rs_source_rebalances(src, 0) +
                                          rs_source_rebalances(src, 1);
        }
}

void rs_worker_stats(const rs_worker_t *w, rs_worker_stats_t *st)
{
        *st = w->st;
        other_counts(w, st);
        st->restoring = (int)(w->ust.nq + w->ist.nq);
        st->assigned = (w->src ? rs_source_assigned(w->src) : 0) +
                       (w->isrc ? rs_source_assigned(w->isrc) : 0);
}

/* What each store holds, and what it evicted: " key=value" pairs. */
static size_t state_stats(const rs_worker_t *w, char *out, size_t size)
{
        const rs_uwin_t *win = w->win;
        rs_items_totals_t it = rs_items_totals(w->items_part);
        int k = snprintf(out, size,
                         " ids=%" PRIu32 " ids_bytes=%zu ids_freed=%" PRIu64
                         " catalog_items=%zu catalog_rejected=%" PRIu64,
                         rs_intern_live(w->strings),
                         rs_intern_bytes(w->strings),
                         rs_intern_freed(w->strings),
                         w->catalog ? rs_catalog_items(w->catalog) : 0,
                         w->catalog ? rs_catalog_rejected(w->catalog) : 0);
        size_t off = k > 0 && (size_t)k < size ? (size_t)k : 0;

        if (win && off < size) {
                k = snprintf(
                        out + off, size - off,
                        " users=%zu users_bytes=%zu user_evictions=%" PRIu64,
                        rs_uwin_users(win), rs_uwin_bytes(win),
                        rs_uwin_evictions(win));
                off += k > 0 && (size_t)k < size - off ? (size_t)k : 0;
        }
        if (w->items_part && off < size) {
                k = snprintf(out + off, size - off,
                             " items=%zu pairs=%zu cooc_bytes=%zu "
                             "item_evictions=%" PRIu64 " items_unsettled=%zu"
                             " updates_replayed=%" PRIu64,
                             it.items, it.pairs, it.bytes, it.evictions,
                             unsettled(w), it.skipped);
                off += k > 0 && (size_t)k < size - off ? (size_t)k : 0;
        }
        if (w->table && off < size) {
                int64_t up = rs_nbtable_updated(w->table);
                k = snprintf(out + off, size - off,
                             " neighbor_items=%zu neighbor_bytes=%zu "
                             "neighbor_age_ms=%lld",
                             rs_nbtable_items(w->table),
                             rs_nbtable_bytes(w->table),
                             up == INT64_MIN || w->good_time == INT64_MIN
                                     ? -1LL
                                     : (long long)(w->good_time - up));
                off += k > 0 && (size_t)k < size - off ? (size_t)k : 0;
        }
        return off;
}

void rs_worker_log_stats(const rs_worker_t *w)
{
        char drops[1024] = "", state[512] = "";
        size_t off = 0;
        int k;
        rs_worker_stats_t st;

        rs_worker_stats(w, &st);

        /* exactly_once only: an at_least_once line stays as it was */
        if (w->eos) {
                k = snprintf(drops, sizeof(drops),
                             " txn_commits=%" PRIu64 " txn_aborts=%" PRIu64,
                             st.txn_commits, st.txn_aborts);
                off = k > 0 && (size_t)k < sizeof(drops) ? (size_t)k : 0;
        }
        state_stats(w, state, sizeof(state));
        for (int r = 1; r < RS_DROP__COUNT; r++) {
                k = snprintf(drops + off, sizeof(drops) - off,
                             " drop_%s_%s=%" PRIu64, rs_drop_stage(r),
                             rs_drop_name(r), st.dropped[r]);
                if (k < 0 || (size_t)k >= sizeof(drops) - off)
                        break;
                off += (size_t)k;
        }
        for (int i = 0; i < MAX_REASONS && w->drops[i].reason; i++) {
                k = snprintf(drops + off, sizeof(drops) - off,
                             " drop_decode_%s=%" PRIu64, w->drops[i].reason,
                             w->drops[i].count);
                if (k < 0 || (size_t)k >= sizeof(drops) - off)
                        break;
                off += (size_t)k;
        }
        rs_log(RS_LOG_INFO,
               "component=worker event=stats consumed=%" PRIu64
               " processed=%" PRIu64 " dead_letters=%" PRIu64
               " duplicate=%" PRIu64 " rate_limited=%" PRIu64
               " decoded=%" PRIu64 " decode_failed=%" PRIu64
               " produced=%" PRIu64 " delivered=%" PRIu64
               " recs_rejected=%" PRIu64 " dlq_produced=%" PRIu64
               " dlq_delivered=%" PRIu64 " dlq_rejected=%" PRIu64
               " delivery_failed=%" PRIu64 " encode_failed=%" PRIu64
               " items_applied=%" PRIu64 " items_failed=%" PRIu64
               " deltas_produced=%" PRIu64 " deltas_delivered=%" PRIu64
               " delta_bytes=%" PRIu64 " deltas_consumed=%" PRIu64
               " deltas_applied=%" PRIu64 " deltas_failed=%" PRIu64
               " nb_produced=%" PRIu64 " nb_delivered=%" PRIu64
               " nb_bytes=%" PRIu64 " nb_applied=%" PRIu64 " nb_failed=%" PRIu64
               " changelog_produced=%" PRIu64 " changelog_bytes=%" PRIu64
               " changelog_tombstones=%" PRIu64 " changelog_delivered=%" PRIu64
               " restores=%" PRIu64 " restore_records=%" PRIu64
               " restore_bytes=%" PRIu64 " restore_corrupt=%" PRIu64
               " checkpoints=%" PRIu64 " checkpoint_bytes=%" PRIu64
               " checkpoint_failed=%" PRIu64 " checkpoint_loaded=%" PRIu64
               " checkpoint_keys=%" PRIu64 " checkpoint_corrupt=%" PRIu64
               " commits=%" PRIu64 " reloads=%" PRIu64 " rebalances=%" PRIu64
               " lists_debounced=%" PRIu64 " lists_unchanged=%" PRIu64
               " lists_empty=%" PRIu64 " restoring=%d partitions=%d%s%s",
               st.consumed, st.processed, st.dead_letters,
               st.dropped[RS_DROP_DUPLICATE], st.dropped[RS_DROP_RATE_LIMIT],
               st.decoded, st.decode_failed, st.produced, st.delivered,
               st.recs_rejected, st.dlq_produced, st.dlq_delivered,
               st.dlq_rejected, st.delivery_failed, st.encode_failed,
               st.items_applied, st.items_failed, st.deltas_produced,
               st.deltas_delivered, st.delta_bytes, st.deltas_consumed,
               st.deltas_applied, st.deltas_failed, st.nb_produced,
               st.nb_delivered, st.nb_bytes, st.nb_applied, st.nb_failed,
               st.chg_produced, st.chg_bytes, st.chg_tombstones,
               st.chg_delivered, st.restores, st.restore_records,
               st.restore_bytes, st.restore_corrupt, st.checkpoints,
               st.checkpoint_bytes, st.checkpoint_failed, st.checkpoint_loaded,
               st.checkpoint_keys, st.checkpoint_corrupt, st.commits,
               st.reloads, st.rebalances, st.lists_debounced,
               st.lists_unchanged, st.lists_empty, st.restoring, st.assigned,
               drops, state);
}

const char *rs_worker_error(const rs_worker_t *w)
{
        return w->fail_reason;
}

/*
 * /metrics (README "Operating"): rendered here, in the main loop, from the
 * counters above, and handed to the HTTP thread through the monitor.
 */

/* Why the worker is not ready, or NULL when it is. */
static const char *not_ready(const rs_worker_t *w, char *buf, size_t size)
{
        if (w->failed) {
                snprintf(buf, size, "failed: %s",
                         w->fail_reason[0] ? w->fail_reason
                                           : rs_err_str(w->failed));
                return buf;
        }
        if (w->deadline)
                return "stopping";
        if (w->phase) {
                snprintf(buf, size, "starting: %s", w->phase);
                return buf;
        }
        rs_source_t *src = w->users ? w->src : w->isrc;
        if (!src || !rs_source_assigned(src)) {
                snprintf(buf, size, "no partitions of group %s assigned",
                         w->users ? w->pl->source.group
                                  : w->pl->topology.items_group);
                return buf;
        }
        if (w->ust.nq + w->ist.nq) {
                snprintf(buf, size, "restoring the state of %zu partitions",
                         w->ust.nq + w->ist.nq);
                return buf;
        }
        if (!w->consuming)
                return "assigned, not consuming yet";
        return NULL;
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void counter(rs_buf_t *b, const char *name, const char *help, uint64_t v)
{
        rs_prom_family(b, name, "counter", help);
        rs_prom_sample(b, name, NULL, (double)v);
}

static void gauge(rs_buf_t *b, const char *name, const char *help, double v)
{
        rs_prom_family(b, name, "gauge", help);
        rs_prom_sample(b, name, NULL, v);
}

static void source_metrics(rs_buf_t *b, const rs_source_t *src, int part)
{
        const char *group = rs_source_group(src);
        const rs_lag_t *lag;
        size_t n = rs_source_lag(src, &lag);
        char pbuf[16];

        if (part == 0) {
                rs_prom_sample(b, "recstream_partitions_assigned",
                               L("group", group), rs_source_assigned(src));
        } else if (part == 1) {
                rs_prom_sample(b, "recstream_rebalances_total",
                               L("group", group, "kind", "assigned"),
                               (double)rs_source_rebalances(src, 0));
                rs_prom_sample(b, "recstream_rebalances_total",
                               L("group", group, "kind", "revoked"),
                               (double)rs_source_rebalances(src, 1));
        } else {
                for (size_t i = 0; i < n; i++) {
                        if (lag[i].lag < 0)
                                continue; /* not known yet */
                        snprintf(pbuf, sizeof(pbuf), "%d",
                                 (int)lag[i].partition);
                        rs_prom_sample(b, "recstream_consumer_lag",
                                       L("group", group, "topic", lag[i].topic,
                                         "partition", pbuf),
                                       (double)lag[i].lag);
                }
        }
}

static void store(rs_buf_t *b, int what, const char *name, double entries,
                  double bytes, double evictions)
{
        const char *const *l = L("store", name);

        if (what == 0 && entries >= 0)
                rs_prom_sample(b, "recstream_state_entries", l, entries);
        else if (what == 1)
                rs_prom_sample(b, "recstream_state_bytes", l, bytes);
        else if (what == 2 && evictions >= 0)
                rs_prom_sample(b, "recstream_state_evictions_total", l,
                               evictions);
}

static void stores(rs_buf_t *b, const rs_worker_t *w, int what)
{
        const rs_uwin_t *win = w->win;
        const rs_score_t *sc =
                w->chain ? rs_chain_find(w->chain, "score") : NULL;

        if (w->strings)
                store(b, what, "strings", rs_intern_live(w->strings),
                      (double)rs_intern_bytes(w->strings),
                      (double)rs_intern_freed(w->strings));
        if (w->catalog)
                store(b, what, "catalog", (double)rs_catalog_items(w->catalog),
                      (double)rs_catalog_bytes(w->catalog), -1);
        if (win)
                store(b, what, "user_window", (double)rs_uwin_users(win),
                      (double)rs_uwin_bytes(win),
                      (double)rs_uwin_evictions(win));
        if (sc)
                store(b, what, "score", -1, (double)rs_score_bytes(sc), -1);
        if (w->items_part) {
                rs_items_totals_t it = rs_items_totals(w->items_part);
                store(b, what, "cooccur", (double)it.items, (double)it.bytes,
                      (double)it.evictions);
        }
        if (w->table)
                store(b, what, "neighbors", (double)rs_nbtable_items(w->table),
                      (double)rs_nbtable_bytes(w->table), -1);
}

/* The counters of rs_worker_stats_t that /metrics shows as they are, in
 * the order rendered (the others are derived, or labelled: in render). */
static const struct {
        const char *name, *help;
        size_t off; /* of a uint64_t in rs_worker_stats_t */
} counters[] = {
/* clang-format off */
#define C(field, name, help) {name, help, offsetof(rs_worker_stats_t, field)}
        /* clang-format on */
        /* the books */
        C(consumed, "recstream_records_consumed_total",
          "Input records (BehaviorEvent) polled."),
        C(decoded, "recstream_records_decoded_total",
          "Input records decoded into events."),
        C(processed, "recstream_records_processed_total",
          "Events that reached the end of the stages."),
        C(dead_letters, "recstream_dead_letters_total",
          "Input records sent (dlq.enabled false: due) to the dead-letter "
          "topic."),
        C(dlq_produced, "recstream_dlq_produced_total",
          "Dead letters handed to the producer (input, deltas, catalog)."),
        C(dlq_delivered, "recstream_dlq_delivered_total",
          "Dead letters acknowledged by the broker."),
        C(dlq_rejected, "recstream_dlq_rejected_total",
          "Dead letters the broker refused for good."),
        /* lists */
        C(produced, "recstream_lists_produced_total",
          "UserRecs lists handed to the producer (published)."),
        C(delivered, "recstream_lists_delivered_total",
          "UserRecs lists acknowledged by the broker."),
        C(recs_rejected, "recstream_records_rejected_total",
          "Output records refused for good (over message.max.bytes)."),
        C(delivery_failed, "recstream_delivery_failures_total",
          "Output not delivered within message.timeout.ms (fatal)."),
        C(encode_failed, "recstream_encode_failures_total",
          "Output records that could not be encoded."),
        /* the catalog and the topology */
        C(items_applied, "recstream_catalog_records_applied_total",
          "ItemMeta records applied to the catalog."),
        C(items_failed, "recstream_catalog_records_failed_total",
          "ItemMeta records refused (dead-lettered)."),
        C(deltas_produced, "recstream_deltas_produced_total",
          "Pair deltas the user side produced."),
        C(delta_bytes, "recstream_deltas_produced_bytes_total",
          "Bytes of the pair deltas produced."),
        C(deltas_consumed, "recstream_deltas_consumed_total",
          "Pair deltas the item side consumed."),
        C(deltas_applied, "recstream_deltas_applied_total",
          "Pair deltas the item side applied."),
        C(deltas_failed, "recstream_deltas_failed_total",
          "Pair deltas refused (dead-lettered)."),
        C(nb_produced, "recstream_neighbor_records_produced_total",
          "Neighbour records the item side published."),
        C(nb_applied, "recstream_neighbor_records_applied_total",
          "Neighbour records applied to this process's table."),
        C(nb_failed, "recstream_neighbor_records_failed_total",
          "Neighbour records refused."),
        /* state that survives */
        C(chg_produced, "recstream_changelog_records_produced_total",
          "Changelog records written (tombstones included)."),
        C(chg_bytes, "recstream_changelog_produced_bytes_total",
          "Bytes of the changelog records written."),
        C(chg_tombstones, "recstream_changelog_tombstones_total",
          "Changelog tombstones written (evicted or gone keys)."),
        C(restores, "recstream_restores_total",
          "Partition restores completed."),
        C(restore_records, "recstream_restore_records_total",
          "Changelog records read by restores (live during a restore)."),
        C(restore_bytes, "recstream_restore_bytes_total",
          "Bytes of changelog records read by restores."),
        C(restore_corrupt, "recstream_restore_corrupt_records_total",
          "Changelog records refused as corrupt (that key started empty)."),
        C(commits, "recstream_commits_total", "Offset commits completed."),
#undef C
};

static void render(rs_worker_t *w, rs_buf_t *b)
{
        rs_worker_stats_t st;
        /* the configuration in use: the last reload's hash is the one its
         * UserRecs carry */
        const rs_pipeline_t *pl = w->reloaded ? w->reloaded : w->pl;
        const char *role = w->users && w->items_side ? "all"
                           : w->users                ? "users"
                                                     : "items";

        rs_worker_stats(w, &st);
        rs_prom_family(b, "recstream_info", "gauge",
                       "The pipeline this process runs: name, config hash "
                       "(as in its UserRecs) and role.");
        rs_prom_sample(
                b, "recstream_info",
                L("pipeline", pl->name, "config_hash", pl->hash, "role", role),
                1);
        gauge(b, "recstream_ready",
              "1 when /readyz answers 200 (assigned, restored, loaded, "
              "consuming).",
              !not_ready(w, (char[64]){0}, 64));

        for (size_t i = 0; i < NLE(counters); i++)
                counter(b, counters[i].name, counters[i].help,
                        *(const uint64_t *)((const char *)&st +
                                            counters[i].off));

        /* by label */
        rs_prom_family(b, "recstream_records_dropped_total", "counter",
                       "Records dropped, by stage and reason (decode "
                       "failures and what the stages dropped; dead-lettered "
                       "ones among them).");
        for (int r = 1; r < RS_DROP__COUNT; r++)
                rs_prom_sample(
                        b, "recstream_records_dropped_total",
                        L("stage", rs_drop_stage(r), "reason", rs_drop_name(r)),
                        (double)st.dropped[r]);
        for (int i = 0; i < MAX_REASONS && w->drops[i].reason; i++)
                rs_prom_sample(
                        b, "recstream_records_dropped_total",
                        L("stage", "decode", "reason", w->drops[i].reason),
                        (double)w->drops[i].count);

        rs_prom_family(b, "recstream_lists_suppressed_total", "counter",
                       "Refreshes not published: held back by "
                       "score.min_refresh_interval (debounce), or the same "
                       "list as the last one (unchanged), or a user's "
                       "first list with no candidate yet (empty).");
        rs_prom_sample(b, "recstream_lists_suppressed_total",
                       L("reason", "debounce"), (double)st.lists_debounced);
        rs_prom_sample(b, "recstream_lists_suppressed_total",
                       L("reason", "unchanged"), (double)st.lists_unchanged);
        rs_prom_sample(b, "recstream_lists_suppressed_total",
                       L("reason", "empty"), (double)st.lists_empty);

        /* gauges */
        if (w->table) {
                int64_t up = rs_nbtable_updated(w->table);
                if (up != INT64_MIN && w->good_time != INT64_MIN)
                        gauge(b, "recstream_neighbor_table_age_seconds",
                              "Event time of the newest input event minus "
                              "that of the neighbour table's newest record.",
                              (double)(w->good_time - up) / 1000.0);
        }
        if (w->good_time != INT64_MIN)
                gauge(b, "recstream_last_event_timestamp_seconds",
                      "Event time of the newest input event not "
                      "dead-lettered (Unix seconds).",
                      (double)w->good_time / 1000.0);
        gauge(b, "recstream_restoring_partitions",
              "Partitions assigned and paused until their state is "
              "restored.",
              st.restoring);

        /* the consumers */
        rs_source_t *srcs[2] = {w->src, w->isrc};
        static const char *const fam[3][2] = {
                {"recstream_partitions_assigned",
                 "Partitions assigned to this member, by group."},
                {"recstream_rebalances_total",
                 "Rebalance callbacks, by group and kind (assigned, "
                 "revoked)."},
                {"recstream_consumer_lag",
                 "Records behind the partition's end, from its committed "
                 "offset (librdkafka statistics, every "
                 "statistics.interval.ms)."},
        };
        for (int f = 0; f < 3; f++) {
                rs_prom_family(b, fam[f][0], f == 1 ? "counter" : "gauge",
                               fam[f][1]);
                for (int k = 0; k < 2; k++)
                        if (srcs[k])
                                source_metrics(b, srcs[k], f);
        }

        /* state sizes */
        rs_prom_family(b, "recstream_state_entries", "gauge",
                       "Keys each store holds (strings: live ids; "
                       "user_window: users; cooccur, neighbors, catalog: "
                       "items).");
        stores(b, w, 0);
        rs_prom_family(b, "recstream_state_bytes", "gauge",
                       "Bytes each store holds.");
        stores(b, w, 1);
        rs_prom_family(b, "recstream_state_evictions_total", "counter",
                       "Keys each store evicted to stay within its bound "
                       "(strings: ids freed).");
        stores(b, w, 2);

        /* time */
        rs_prom_family(b, "recstream_stage_batch_seconds", "histogram",
                       "Time one batch spent in a stage (decode, each "
                       "user-side stage, cooccur: a batch of deltas).");
        if (w->users)
                rs_prom_hist(b, "recstream_stage_batch_seconds",
                             L("stage", "decode"), &w->h_decode);
        for (size_t i = 0;
             w->chain && i < rs_chain_stages(w->chain) && i < RS_MAX_STAGES;
             i++) {
                const char *type = rs_chain_stage_type(w->chain, i);
                if (type)
                        rs_prom_hist(b, "recstream_stage_batch_seconds",
                                     L("stage", type), &w->h_stage[i]);
        }
        if (w->items_side)
                rs_prom_hist(b, "recstream_stage_batch_seconds",
                             L("stage", "cooccur"), &w->h_items);
        rs_prom_family(b, "recstream_event_to_recommendation_seconds",
                       "histogram",
                       "Wall clock at a list's hand-off to the producer "
                       "minus the event time of the newest event it "
                       "reflects (a replayed history lands in +Inf).");
        rs_prom_hist(b, "recstream_event_to_recommendation_seconds", NULL,
                     &w->h_latency);
}

static void publish_metrics(rs_worker_t *w)
{
        char why[320];
        const char *reason = not_ready(w, why, sizeof(why));

        rs_buf_reset(&w->mtext);
        render(w, &w->mtext);
        if (w->mtext.oom) { /* keep the last snapshot; say so */
                rs_monitor_set_ready(w->mon, 0, "out of memory");
                return;
        }
        rs_monitor_publish(w->mon, &w->mtext, !reason, reason ? reason : "");
}
