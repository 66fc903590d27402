/* worker.c — the consume → stages → produce loop. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recstream/catalog.h"
#include "recstream/chain.h"
#include "recstream/codec.h"
#include "recstream/intern.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
#include "recstream/worker.h"

#define NO_TICKET      UINT64_MAX
#define MAX_REASONS    16
#define STATS_EVERY_MS 10000

struct rs_worker {
        const rs_pipeline_t *pl;
        rs_intern_t *strings;
        rs_codec_t *in, *out;
        rs_source_t *src;
        rs_sink_t *sink;
        rs_chain_t *chain;
        rs_catalog_t *catalog;
        rs_reader_t *items; /* ItemMeta topic, NULL when none */
        rs_codec_t *items_codec;
        rs_msg_t *msgs;
        rs_event_t *events;
        uint64_t ticket;    /* of the batch being processed */
        int64_t event_time; /* newest event ts seen */
        rs_err_t failed;    /* first fatal error */
        rs_worker_stats_t st;
        struct {
                const char *reason;
                uint64_t count;
        } drops[MAX_REASONS];
        int64_t next_stats;
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_drop(rs_worker_t *w, const char *reason)
{
        int i;

        for (i = 0; i < MAX_REASONS && w->drops[i].reason; i++)
                if (!strcmp(w->drops[i].reason, reason))
                        break;
        if (i == MAX_REASONS)
                i = MAX_REASONS - 1; /* "other": the table is generous */
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

static void on_delivery(void *opaque, void *msg_opaque, rs_err_t err,
                        const char *reason)
{
        rs_worker_t *w = opaque;
        uint64_t ticket = (uint64_t)(uintptr_t)msg_opaque;

        if (err) {
                /* librdkafka retried until message.timeout.ms: the output
                 * is lost, so its offsets must never be stored. Stop. */
                w->st.delivery_failed++;
                if (!w->failed) {
                        w->failed = err;
                        rs_log(RS_LOG_ERR,
                               "component=sink event=delivery_failed "
                               "topic=%s reason=\"%s\"",
                               w->pl->sink.topic, reason);
                }
                return;
        }
        w->st.delivered++;
        if (ticket != NO_TICKET)
                rs_source_release(w->src, ticket);
}

static void on_drain(void *opaque)
{
        rs_worker_t *w = opaque;

        if (rs_sink_flush(w->sink, (int)w->pl->sink.flush_timeout))
                rs_log(RS_LOG_WARNING,
                       "component=sink event=drain_timeout "
                       "outstanding=%d",
                       rs_sink_outstanding(w->sink));
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
        if (w->ticket != NO_TICKET)
                rs_source_hold(w->src, w->ticket);
        /* On failure the hold is never released, so the batch's offsets
         * are never stored: the records are consumed again on restart. */
        err = rs_sink_produce(w->sink, key, klen, buf, len,
                              (void *)(uintptr_t)w->ticket);
        if (err)
                return err;
        w->st.produced++;
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
                if (!err)
                        err = rs_catalog_apply(w->catalog, &meta);
                if (err) {
                        w->st.items_failed++;
                        count_drop(w,
                                   err == RS_ERR_INVALID ? "item_embedding_dim"
                                   : err == RS_ERR_FULL
                                           ? "item_limit"
                                           : rs_codec_reason(w->items_codec));
                        continue;
                }
                w->st.items_applied++;
        }
        rs_intern_collect(w->strings); /* the ids of rejected records */
}

rs_worker_t *rs_worker_new(const rs_pipeline_t *pl, char *errstr,
                           size_t errstr_size)
{
        rs_worker_t *w = calloc(1, sizeof(*w));
        const rs_source_conf_t *sc = &pl->source;

        if (!w)
                goto nomem;
        w->pl = pl;
        w->ticket = NO_TICKET;
        w->event_time = INT64_MIN;
        if (!(w->strings = rs_intern_new()) ||
            !(w->msgs = calloc((size_t)sc->batch_size, sizeof(*w->msgs))) ||
            !(w->events = calloc((size_t)sc->batch_size, sizeof(*w->events))))
                goto nomem;

        if (!(w->in = rs_codec_new(sc->framing, w->strings, errstr,
                                   errstr_size)) ||
            !(w->out = rs_codec_new(pl->sink.framing, w->strings, errstr,
                                    errstr_size)))
                goto fail;
        rs_codec_set_schema_ids(w->in, (int32_t)sc->schema_id,
                                (int32_t)pl->sink.schema_id);
        rs_codec_set_schema_ids(w->out, (int32_t)sc->schema_id,
                                (int32_t)pl->sink.schema_id);
        rs_codec_set_pipeline(w->out, pl->name, pl->hash);
        for (size_t i = 0; i < sc->nwriters; i++)
                if (rs_codec_add_event_writer(
                            w->in, sc->writers[i].json, sc->writers[i].len,
                            sc->writers[i].id, errstr, errstr_size))
                        goto fail;

        if (!(w->catalog = rs_catalog_new((size_t)pl->items.embedding_dim,
                                          (size_t)pl->items.max_items,
                                          w->strings)) ||
            !(w->chain = rs_chain_new(pl, w->strings, w->catalog, errstr,
                                      errstr_size)))
                goto fail;
        if (pl->items.topic) {
                if (!(w->items_codec =
                              rs_codec_new(pl->items.framing, w->strings,
                                           errstr, errstr_size)))
                        goto fail;
                rs_codec_set_item_schema_id(w->items_codec,
                                            (int32_t)pl->items.schema_id);
                /* every replica reads the whole catalog, from the start */
                if (!(w->items = rs_reader_new(&pl->kafka, &pl->items.kafka,
                                               pl->items.topic, 1, 10000,
                                               errstr, errstr_size)))
                        goto fail;
                /* the catalog as it is now, before the first event */
                int64_t until = mono_ms() + 30000;
                while (!rs_reader_caught_up(w->items) && mono_ms() < until)
                        read_items(w, 100);
                if (!rs_reader_caught_up(w->items)) {
                        rs_seterr(errstr, errstr_size, RS_ERR_TIMEOUT,
                                  "the catalog topic %s did not load in 30 s",
                                  pl->items.topic);
                        goto fail;
                }
                rs_log(RS_LOG_INFO,
                       "component=catalog event=loaded topic=%s items=%zu "
                       "failed=%llu",
                       pl->items.topic, rs_catalog_items(w->catalog),
                       (unsigned long long)w->st.items_failed);
        }

        if (!(w->sink = rs_sink_new(&pl->kafka, &pl->sink, on_delivery, w,
                                    errstr, errstr_size)) ||
            !(w->src = rs_source_new(&pl->kafka, sc, on_drain, w, errstr,
                                     errstr_size)))
                goto fail;
        w->next_stats = mono_ms() + STATS_EVERY_MS;
        rs_log(RS_LOG_INFO,
               "component=worker event=started pipeline=%s config_hash=%s "
               "group=%s topics=%zu sink=%s",
               pl->name, pl->hash, sc->group, sc->topics.n, pl->sink.topic);
        return w;
nomem:
        rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
fail:
        if (w) {
                /* not started: nothing to flush or commit */
                rs_source_destroy(w->src);
                w->src = NULL;
                rs_worker_close(w);
        }
        return NULL;
}

rs_err_t rs_worker_step(rs_worker_t *w)
{
        const rs_pipeline_t *pl = w->pl;
        rs_emit_t out = {emit, w};
        uint64_t ticket;
        long n;
        size_t nev = 0;
        rs_err_t err;

        if (w->failed)
                return w->failed;
        if (w->items)
                read_items(w, 0);
        if (rs_source_inflight(w->src) >=
            (size_t)pl->source.max_inflight_batches) {
                rs_sink_poll(w->sink, 10);
                return w->failed;
        }
        n = rs_source_poll(w->src, w->msgs, (size_t)pl->source.batch_size,
                           (int)pl->source.poll_timeout, &ticket);
        if (n < 0)
                return w->failed = RS_ERR_KAFKA;
        if (n > 0) {
                w->st.consumed += (uint64_t)n;
                for (long i = 0; i < n; i++) {
                        const rs_msg_t *m = &w->msgs[i];
                        rs_event_t *ev = &w->events[nev];
                        if (rs_codec_decode_event(w->in, m->value, m->len,
                                                  ev)) {
                                w->st.decode_failed++;
                                count_drop(w, rs_codec_reason(w->in));
                                rs_log(RS_LOG_DEBUG,
                                       "component=source event=decode_failed "
                                       "topic=%s partition=%d offset=%lld "
                                       "reason=%s detail=\"%s\"",
                                       m->topic, (int)m->partition,
                                       (long long)m->offset,
                                       rs_codec_reason(w->in),
                                       rs_codec_error(w->in));
                                continue;
                        }
                        ev->partition = m->partition;
                        ev->offset = m->offset;
                        ev->ingest_ts =
                                m->timestamp >= 0 ? m->timestamp : RS_NONE_I64;
                        if (ev->ts > w->event_time)
                                w->event_time = ev->ts;
                        nev++;
                }
                w->st.decoded += nev;
                w->ticket = ticket;
                if ((err = rs_chain_process(w->chain, w->events, nev, &out)))
                        w->failed = err;
                w->ticket = NO_TICKET;
                /* A batch that failed part-way is never marked done, so its
                 * offsets are never stored: it is consumed again. */
                if (!w->failed)
                        rs_source_done(w->src, ticket);
                /* the batch is processed and its output encoded: ids no
                 * longer held by any state are freed */
                rs_intern_collect(w->strings);
        }
        rs_sink_poll(w->sink, 0);
        if (rs_log_level >= RS_LOG_INFO && mono_ms() >= w->next_stats) {
                rs_worker_log_stats(w);
                w->next_stats = mono_ms() + STATS_EVERY_MS;
        }
        return w->failed;
}

rs_err_t rs_worker_run(rs_worker_t *w, const volatile sig_atomic_t *stop)
{
        rs_err_t err = RS_OK;

        while (!*stop && !(err = rs_worker_step(w)))
                ;
        return err;
}

rs_err_t rs_worker_close(rs_worker_t *w)
{
        rs_err_t err = RS_OK;
        rs_emit_t out = {emit, w};

        if (!w)
                return RS_OK;
        if (w->sink && w->src && !w->failed) {
                if (w->chain)
                        rs_chain_flush(w->chain, w->event_time,
                                       RS_FLUSH_PENDING, &out);
                if (rs_sink_flush(w->sink, (int)w->pl->sink.flush_timeout)) {
                        rs_log(RS_LOG_ERR,
                               "component=sink event=flush_timeout "
                               "outstanding=%d",
                               rs_sink_outstanding(w->sink));
                        err = RS_ERR_TIMEOUT;
                }
                if (!err && !w->failed)
                        rs_source_commit(w->src);
        }
        if (w->failed && !err)
                err = w->failed;
        if (w->src || w->sink)
                rs_worker_log_stats(w);
        rs_source_destroy(w->src);
        rs_sink_destroy(w->sink);
        rs_chain_destroy(w->chain);
        rs_reader_destroy(w->items);
        rs_codec_destroy(w->items_codec);
        rs_catalog_destroy(w->catalog);
        rs_codec_destroy(w->in);
        rs_codec_destroy(w->out);
        rs_intern_destroy(w->strings);
        free(w->msgs);
        free(w->events);
        free(w);
        return err;
}

void rs_worker_stats(const rs_worker_t *w, rs_worker_stats_t *st)
{
        *st = w->st;
        st->assigned = w->src ? rs_source_assigned(w->src) : 0;
}

void rs_worker_log_stats(const rs_worker_t *w)
{
        char drops[512] = "";
        size_t off = 0;

        for (int i = 0; i < MAX_REASONS && w->drops[i].reason; i++) {
                int k = snprintf(drops + off, sizeof(drops) - off,
                                 " drop_%s=%llu", w->drops[i].reason,
                                 (unsigned long long)w->drops[i].count);
                if (k < 0 || (size_t)k >= sizeof(drops) - off)
                        break;
                off += (size_t)k;
        }
        rs_log(RS_LOG_INFO,
               "component=worker event=stats consumed=%llu decoded=%llu "
               "decode_failed=%llu produced=%llu delivered=%llu "
               "delivery_failed=%llu encode_failed=%llu items_applied=%llu "
               "items_failed=%llu partitions=%d%s",
               (unsigned long long)w->st.consumed,
               (unsigned long long)w->st.decoded,
               (unsigned long long)w->st.decode_failed,
               (unsigned long long)w->st.produced,
               (unsigned long long)w->st.delivered,
               (unsigned long long)w->st.delivery_failed,
               (unsigned long long)w->st.encode_failed,
               (unsigned long long)w->st.items_applied,
               (unsigned long long)w->st.items_failed,
               w->src ? rs_source_assigned(w->src) : 0, drops);
}
