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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/catalog.h"
#include "recstream/chain.h"
#include "recstream/topology.h"
#include "recstream/clock.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/intern.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
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
        OUT_CHANGELOG,   /* a state record (no batch behind it) */
};
#define KIND_BITS 3

/* A changelog: its topic, its producer topic index (-1: none), the
 * reader that restores from it, the partitions waiting for that. */
typedef struct store {
        const char *topic;
        int t;
        rs_reader_t *rd;
        int32_t *q;
        size_t nq, cap;
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
};

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

static void on_delivery(void *opaque, void *msg_opaque, rs_err_t err,
                        const char *reason)
{
        rs_worker_t *w = opaque;
        uint64_t v = (uint64_t)(uintptr_t)msg_opaque;
        uint64_t ticket = v >> KIND_BITS;
        int kind = (int)(v & ((1u << KIND_BITS) - 1));
        int dlq = kind == OUT_DLQ || kind == OUT_DLQ_ITEMS ||
                  kind == OUT_DLQ_CATALOG;
        static const char *const what[] = {
                "recs",  "dead_letter", "dead_letter", "dead_letter",
                "delta", "neighbors",   "changelog"};

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
                        w->failed = err;
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
        } else if (kind == OUT_CHANGELOG) {
                w->st.chg_delivered++;
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

        for (size_t i = 0; i < w->nchg; i++) {
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
                                NULL, 0, opaque_of(NO_TICKET, OUT_CHANGELOG));
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
                                w->st.chg_produced++;
                                w->st.chg_bytes += len;
                                w->st.chg_tombstones += !held;
                        }
                } else if (err == RS_ERR_ENCODE) {
                        w->st.encode_failed++;
                        err = RS_OK;
                }
                w->chg_flag[user] = 0;
                rs_intern_unref(w->strings, user);
        }
        w->nchg = 0;
        return err;
}

/* One item's state (or a partition's) to its partition of the items
 * changelog. */
static rs_err_t save_item(void *opaque, const rs_item_state_t *s)
{
        rs_worker_t *w = opaque;
        char pkey[16];
        const void *buf;
        size_t len, klen;
        const char *key = pkey;
        rs_err_t err;

        if (s->kind == RS_ISTATE_PARTITION)
                klen = rs_nb_partition_key(s->partition, pkey);
        else if (!(key = rs_intern_str(w->strings, s->item, &klen)))
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
                              opaque_of(NO_TICKET, OUT_CHANGELOG));
        if (err == RS_ERR_INVALID) {
                w->st.recs_rejected++;
                rs_log(RS_LOG_ERR,
                       "component=state event=rejected bytes=%zu "
                       "msg=\"lower cooccur.max_neighbors_tracked\"",
                       len);
                return RS_OK;
        }
        if (!err) {
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

/* A periodic commit's waits: output that takes longer (brokers away)
 * leaves it to the next interval instead of stopping the loop. */
#define PERIODIC_FLUSH_MS  500
#define PERIODIC_COMMIT_MS 150

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

/* Reads partition p of a store's changelog from its start to its end
 * into the state, logging like Kafka Streams' restore listener. */
static rs_err_t restore_partition(rs_worker_t *w, store_t *st, int32_t p)
{
        int64_t t0 = rs_mono_ms(), until = t0 + w->pl->state.restore_timeout;
        uint64_t records = 0, bytes = 0, corrupt = 0;
        char errstr[256];
        const rs_msg_t *m;

        if (rs_reader_reset(st->rd, p, errstr, sizeof(errstr))) {
                rs_log(RS_LOG_ERR,
                       "component=state event=restore_failed topic=%s "
                       "partition=%d reason=\"%s\"",
                       st->topic, (int)p, errstr);
                return w->failed = RS_ERR_KAFKA;
        }
        rs_log(RS_LOG_INFO,
               "component=state event=restore_start topic=%s partition=%d",
               st->topic, (int)p);
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
                        return w->failed = RS_ERR_TIMEOUT;
                }
                if (!(m = rs_reader_next(st->rd, 100)))
                        continue;
                const char *what = NULL;
                rs_err_t err = st == &w->ust ? restore_user(w, m, p, &what)
                                             : restore_item(w, m, p, &what);
                records++;
                bytes += m->len + m->key_len;
                if (err == RS_ERR_NOMEM)
                        return w->failed = err;
                if (err) {
                        if (!corrupt++)
                                rs_log(RS_LOG_WARNING,
                                       "component=state event=corrupt_record "
                                       "topic=%s partition=%d offset=%" PRId64
                                       " reason=%s detail=\"%s\" msg=\"that "
                                       "key starts empty\"",
                                       st->topic, (int)p, m->offset,
                                       what ? "bad_key"
                                            : rs_codec_reason(w->internal),
                                       what ? what
                                            : rs_codec_error(w->internal));
                        w->st.restore_corrupt++;
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
        w->st.restores++;
        w->st.restore_records += records;
        w->st.restore_bytes += bytes;
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
        size_t n = rs_chain_drop_partition(w->chain, partition);

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
            (err = mark_changed(
                     w, recs->user,
                     rs_uwin_partition(rs_chain_find(w->chain, "user_window"),
                                       recs->user))))
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
        int32_t part = rs_uwin_evicted_partition(
                rs_chain_find(w->chain, "user_window"));

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
            !(st->rd = rs_reader_new_idle(&pl->kafka, NULL, st->topic, 10000,
                                          errstr, errstr_size)))
                return RS_ERR_KAFKA;
        if (rs_reader_partitions(st->rd) < need)
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "%s has %d partitions, its side %d: every "
                                 "partition needs its own",
                                 st->topic, rs_reader_partitions(st->rd), need);
        return RS_OK;
}

static rs_err_t start_changelog(rs_worker_t *w, char *errstr,
                                size_t errstr_size)
{
        int most;

        if (input_partitions(w, &most, errstr, errstr_size))
                return RS_ERR_KAFKA;
        return open_store(w, &w->ust, most, errstr, errstr_size);
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
        if (cc) {
                /* the neighbour table as it is now, before the first list */
                if (!(w->nbr = rs_reader_new(&pl->kafka, NULL,
                                             pl->topology.neighbors_topic, 1,
                                             10000, errstr, errstr_size)))
                        return RS_ERR_KAFKA;
                int64_t until = rs_mono_ms() + 60000;
                while (!rs_reader_caught_up(w->nbr) && rs_mono_ms() < until &&
                       !(w->stop && *w->stop))
                        read_neighbors(w, 100);
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
        rs_uwin_t *win = rs_chain_find(w->chain, "user_window");
        if (w->ust.t >= 0 && win && rs_uwin_on_evict(win, user_evicted, w))
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
        };
        if (!(w->src = rs_source_new(&pl->kafka, &ccf, on_drain, w, errstr,
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
        rs_err_t err = rs_items_reset(w->items_part, partition);

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
        };
        if (!(w->isrc = rs_source_new(&pl->kafka, &ccf, on_drain, w, errstr,
                                      errstr_size)))
                return RS_ERR_KAFKA;
        w->last_delta = rs_mono_ms();
        return RS_OK;
}

rs_worker_t *rs_worker_new(const rs_pipeline_t *pl, int role,
                           const volatile sig_atomic_t *stop, char *errstr,
                           size_t errstr_size)
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
        w->users = role != RS_ROLE_ITEMS;
        w->items_side = role != RS_ROLE_USERS && has_items;
        w->ticket = w->iticket = NO_TICKET;
        w->event_time = INT64_MIN;
        w->t_deltas = w->t_nb = w->ust.t = w->ist.t = -1;
        w->ust.topic = pl->state.users_topic;
        w->ist.topic = pl->state.items_topic;
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
        if (!(w->sink = rs_sink_new(&pl->kafka, pl->sink.topic, &pl->sink.kafka,
                                    on_delivery, w, errstr, errstr_size)))
                goto fail;
        rs_sink_set_stop(w->sink, stop);
        if (has_items &&
            ((w->t_deltas =
                      rs_sink_add_topic(w->sink, pl->topology.deltas_topic,
                                        errstr, errstr_size)) < 0 ||
             (w->t_nb = rs_sink_add_topic(w->sink, pl->topology.neighbors_topic,
                                          errstr, errstr_size)) < 0))
                goto fail;
        if (ensure_topics(w, errstr, errstr_size))
                goto fail;
        if (w->users && pl->items.topic) {
                if (!(w->items_codec =
                              rs_codec_new(pl->items.framing, w->strings,
                                           errstr, errstr_size)))
                        goto fail;
                rs_codec_set_item_schema_id(w->items_codec,
                                            (int32_t)pl->items.schema_id);
                rs_codec_set_max_id(w->items_codec, (size_t)sc->max_id_bytes);
                /* every replica reads the whole catalog, from the start */
                if (!(w->items = rs_reader_new(&pl->kafka, &pl->items.kafka,
                                               pl->items.topic, 1, 10000,
                                               errstr, errstr_size)))
                        goto fail;
                /* the catalog as it is now, before the first event */
                int64_t until = rs_mono_ms() + 30000;
                while (!rs_reader_caught_up(w->items) && rs_mono_ms() < until &&
                       !(stop && *stop))
                        read_items(w, 100);
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

/* One batch of the input through the user side. */
/* One batch through the user side; returns the records consumed. */
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
                w->failed = RS_ERR_KAFKA;
                return 0;
        }
        if (n == 0)
                return 0;
        size_t nev;
        w->st.consumed += (uint64_t)n;
        nev = decode_batch(w, n, ticket);
        w->st.decoded += nev;
        for (size_t i = 0; i < nev; i++)
                if (w->events[i].ts > w->event_time)
                        w->event_time = w->events[i].ts;
        w->ticket = ticket;
        rs_chain_mark_replayed(w->chain, w->events, nev);
        if (!w->failed &&
            (err = rs_chain_process(w->chain, w->events, nev, &out)))
                w->failed = err;
        w->ticket = NO_TICKET;
        /* (a user the window does not hold has nothing to write: evicted
         * users' records stay in the changelog, bounded on restore by
         * user_window.max_users) */
        const rs_uwin_t *win = rs_chain_find(w->chain, "user_window");
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

/* One batch of deltas through the item side, and what it publishes. */
/* Deltas applied since the item side last settled, or records waiting:
 * its lists may not yet be what its counts give. */
static size_t unsettled(const rs_worker_t *w)
{
        return (size_t)(w->st.deltas_applied - w->settled_at) +
               rs_items_pending(w->items_part);
}

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
                w->failed = RS_ERR_KAFKA;
                return 0;
        }
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
        if (!w->failed && rs_mono_ms() >= w->next_commit) {
                rs_err_t err =
                        commit_all(w, PERIODIC_FLUSH_MS, PERIODIC_COMMIT_MS);
                if (err && !w->failed)
                        rs_log(RS_LOG_DEBUG,
                               "component=worker event=commit_skipped "
                               "reason=\"%s\" msg=\"not all output or state "
                               "delivered: tried again at the next "
                               "interval\"",
                               rs_err_str(err));
                w->next_commit = rs_mono_ms() + w->pl->state.commit_interval;
        }
        if (rs_log_level >= RS_LOG_INFO && rs_mono_ms() >= w->next_stats) {
                rs_worker_log_stats(w);
                w->next_stats = rs_mono_ms() + STATS_EVERY_MS;
        }
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
        if (w->sink && (w->src || w->isrc) && !w->failed) {
                /* what is pending: lists, and what the item side holds
                 * back for its refresh */
                if (w->chain && w->src)
                        rs_chain_flush(w->chain, w->event_time,
                                       RS_FLUSH_PENDING, &out);
                if (w->items_part && w->isrc)
                        rs_items_publish(w->items_part, 1);
                if ((err = commit_all(w, (int)w->pl->sink.flush_timeout,
                                      10000)) == RS_ERR_TIMEOUT)
                        rs_log(RS_LOG_ERR,
                               "component=sink event=flush_timeout "
                               "outstanding=%d msg=\"not delivered in "
                               "time: not committed, consumed again on "
                               "restart\"",
                               rs_sink_outstanding(w->sink));
                committed = !err;
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

void rs_worker_stats(const rs_worker_t *w, rs_worker_stats_t *st)
{
        *st = w->st;
        st->restoring = (int)(w->ust.nq + w->ist.nq);
        st->assigned = (w->src ? rs_source_assigned(w->src) : 0) +
                       (w->isrc ? rs_source_assigned(w->isrc) : 0);
}

/* What each store holds, and what it evicted: " key=value" pairs. */
static size_t state_stats(const rs_worker_t *w, char *out, size_t size)
{
        const rs_uwin_t *win =
                w->chain ? rs_chain_find(w->chain, "user_window") : NULL;
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
                             up == INT64_MIN || w->event_time == INT64_MIN
                                     ? -1LL
                                     : (long long)(w->event_time - up));
                off += k > 0 && (size_t)k < size - off ? (size_t)k : 0;
        }
        return off;
}

void rs_worker_log_stats(const rs_worker_t *w)
{
        char drops[1024] = "", state[512] = "";
        size_t off = 0;
        int k;

        state_stats(w, state, sizeof(state));
        for (int r = 1; r < RS_DROP__COUNT; r++) {
                k = snprintf(drops + off, sizeof(drops) - off,
                             " drop_%s_%s=%" PRIu64, rs_drop_stage(r),
                             rs_drop_name(r), w->st.dropped[r]);
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
               " commits=%" PRIu64 " reloads=%" PRIu64
               " restoring=%zu partitions=%d%s%s",
               w->st.consumed, w->st.processed, w->st.dead_letters,
               w->st.dropped[RS_DROP_DUPLICATE],
               w->st.dropped[RS_DROP_RATE_LIMIT], w->st.decoded,
               w->st.decode_failed, w->st.produced, w->st.delivered,
               w->st.recs_rejected, w->st.dlq_produced, w->st.dlq_delivered,
               w->st.dlq_rejected, w->st.delivery_failed, w->st.encode_failed,
               w->st.items_applied, w->st.items_failed, w->st.deltas_produced,
               w->st.deltas_delivered, w->st.delta_bytes, w->st.deltas_consumed,
               w->st.deltas_applied, w->st.deltas_failed, w->st.nb_produced,
               w->st.nb_delivered, w->st.nb_bytes, w->st.nb_applied,
               w->st.nb_failed, w->st.chg_produced, w->st.chg_bytes,
               w->st.chg_tombstones, w->st.chg_delivered, w->st.restores,
               w->st.restore_records, w->st.restore_bytes,
               w->st.restore_corrupt, w->st.commits, w->st.reloads,
               w->ust.nq + w->ist.nq,
               (w->src ? rs_source_assigned(w->src) : 0) +
                       (w->isrc ? rs_source_assigned(w->isrc) : 0),
               drops, state);
}
