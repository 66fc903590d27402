/* kafka_bench — the Kafka end-to-end and latency benchmarks' clients
 * (bench/kafka_bench.sh drives them against `recstream dev-broker`).
 *
 *   kafka_bench load    -b B -t TOPIC -n N [--users U] [--events-per-s E]
 *                       [--items I]
 *       N generated BehaviorEvents as fast as the producer goes, keyed by
 *       user; event time advances E events per second (default 20,000), and
 *       each message's timestamp is its event time. Then reads the
 *       partitions' watermarks: prints `produced=N kept=K` (the mock cluster
 *       drops a partition's oldest messages beyond ~100,000 / 5 MiB).
 *       --items I (load, latency, nbdelay): uniform users over I
 *       Zipf(1.0)-popular videos instead of series and standalone videos.
 *   kafka_bench bare    -b B -t TOPIC -g GROUP -n K [--batch M]
 *       The physical limit: a fresh group, rd_kafka_consume_batch_queue and
 *       the worker's own codec decode (rs_codec_decode_event), nothing else.
 *   kafka_bench worker  -c PIPELINE -g GROUP -n K [--settle]
 *                       [--deltas T --neighbors T --items-group G]
 *                       [--users-changelog T --items-changelog T]
 *       The worker exactly as `recstream run` builds it (rs_worker_new,
 *       rs_worker_step until K events are consumed), with group GROUP (and
 *       the internal topics and item group given, for fresh state on a
 *       broker that already served a run). --settle: then on until what
 *       it produced has gone round (rs_worker_settled: deltas applied,
 *       the item side settled, its neighbour records delivered and read
 *       back, the lists delivered), reported as settled_s. cpu_s: the
 *       process's CPU time from the first to the last consumed batch.
 *       The changelog topics given replace the pipeline's state.*_topic;
 *       changelog_* and commits: the worker's stats before it closes
 *       (what its periodic commits wrote; closing commits once more).
 *   kafka_bench latency -b B -t TOPIC -r RECS_TOPIC --rate R --seconds S
 *                       [--users U] [--warmup W] [--linger MS] [--seed S]
 *       Produces R events/s for S seconds, each event's ts the wall clock at
 *       its produce call, and reads the worker's UserRecs meanwhile: for a
 *       UserRecs of user u with generated_ts T, the event it reflects is u's
 *       newest event with ts T; latency = UserRecs arrival − that event's
 *       produce call. Events of the first W seconds are not measured.
 *   kafka_bench watch   -b B -t TOPIC -g GROUP -n K --deltas T
 *                       --items-group G --neighbors T [--pids P,P,..]
 *                       [--broker-pid P]
 *       An observer of replicas running elsewhere, through the consumer
 *       groups' committed offsets (every 20 ms): from the first offset the
 *       users group committed on TOPIC to when it committed all K, and to
 *       when the items group had committed every delta of T (the user side
 *       commits input only once its deltas are acknowledged, so by then
 *       every delta is in T); then until T's neighbour topic has not grown
 *       for 2 s (the item side settled). CPU time and RSS of each replica
 *       process (/proc) over the measured span.
 *   kafka_bench nbdelay -b B -t TOPIC --neighbors T --rate R --seconds S
 *                       [--probes P] [--users U] [--warmup W] [--seed S]
 *       R generated events/s as background load, and P probes a second:
 *       a fresh user watches a fresh item a, then a fresh item b. b is new
 *       to the item side, so its first neighbour record (published at once)
 *       lists a. Reads the neighbour topic from its end as a replica's
 *       follower does: delay = arrival of b's record listing a − the produce
 *       call of b's event; late_*: of the probes in the second half of the
 *       measured span (the mock's fetches slow as its partitions grow).
 *   kafka_bench internal -b B --deltas T --neighbors T
 *       Reads both internal topics from their start, decodes every record
 *       and counts what it carries (updates by kind, neighbours).
 *   kafka_bench kept    -b B -t TOPIC
 *       Reads TOPIC from its start to its end: the records and key + value
 *       bytes the broker kept, and the records it dropped (the partitions'
 *       low offsets: the mock's retention).
 *   kafka_bench tally   -b B -t TOPIC[,TOPIC...] --seconds S [--warmup W]
 *       Reads the topics from their ends and counts, per topic, the
 *       records (and key + value bytes) whose timestamp falls in the S
 *       seconds that start W seconds after it began (default 2), by the
 *       wall clock: a window of producer time, whatever the reader's lag.
 *       One `tally topic=T records=N bytes=B ...` line per topic.
 *   kafka_bench first   -b B -t TOPIC [--seconds S]
 *       Takes TOPIC's end offsets, prints `ready`, then waits (at most S
 *       seconds, default 120) for the first record past them: prints its
 *       arrival as wall-clock ms (first_ms) and where it is.
 *
 * bare and worker time the same span: from the end of the first batch to
 * the end of the batch that reaches K events, so (K − first batch) / span.
 * Each prints one `key=value` line on stdout. */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "recstream/codec.h"
#include "recstream/gen.h"
#include "recstream/log.h"
#include "recstream/pipeline.h"
#include "recstream/vec.h"
#include "recstream/worker.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static int64_t mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* CPU time of this process (every thread), µs. */
static int64_t cpu_us(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
               ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static int64_t wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *why)
{
        fprintf(stderr, "kafka_bench: %s: %s\n", what, why);
        exit(1);
}

typedef struct opts {
        const char *bootstrap, *topic, *recs_topic, *group, *pipeline;
        const char *deltas, *neighbors, *items_group, *pids;
        long long n;
        unsigned long long seed;
        const char *users_changelog, *items_changelog;
        long users, items, batch, linger_ms, broker_pid;
        int progress, settle;
        double events_per_s, rate, seconds, warmup, probes;
} opts_t;

static rd_kafka_conf_t *conf_new(const opts_t *o)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[256];

        if (rd_kafka_conf_set(conf, "bootstrap.servers", o->bootstrap, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK)
                die("bootstrap.servers", err);
        return conf;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
        char err[256];

        if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK)
                die(key, err);
}

/* The short-video generator (series, episodes, standalone videos), or
 * with items > 0 its Zipf(1.0) mode over that many videos. */
static rs_gen_t *gen_new(long users, long items, unsigned long long seed)
{
        rs_gen_conf_t gc = {.seed = seed,
                            .users = (uint32_t)users,
                            .series = 2000,
                            .episodes = 8,
                            .standalone = 1000000,
                            .categories = 16,
                            .start_ts = 0,
                            .zipf_items = (uint32_t)items,
                            .zipf_exponent = 1.0};
        rs_gen_t *gen = rs_gen_new(&gc);

        if (!gen)
                die("generator", "out of memory");
        return gen;
}

static void dr_count(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        long long *failed = opaque;

        (void)rk;
        if (m->err && (*failed)++ == 0)
                fprintf(stderr, "kafka_bench: delivery failed: %s\n",
                        rd_kafka_err2str(m->err));
}

static rd_kafka_t *producer_new(const opts_t *o, long long *failed,
                                const char *linger)
{
        rd_kafka_conf_t *conf = conf_new(o);
        char err[256];
        rd_kafka_t *rk;

        set(conf, "linger.ms", linger);
        set(conf, "queue.buffering.max.messages", "1000000");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_count);
        rd_kafka_conf_set_opaque(conf, failed);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))))
                die("producer", err);
        return rk;
}

static void produce(rd_kafka_t *rk, const char *topic, const char *user,
                    const void *buf, size_t len, int64_t ts)
{
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_KEY(user, strlen(user)),
                        RD_KAFKA_V_VALUE((void *)buf, len),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
                if (!err)
                        return;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        die("produce", rd_kafka_err2str(err));
                rd_kafka_poll(rk, 10);
        }
}

/*
 * load
 */

static int cmd_load(const opts_t *o)
{
        long long failed = 0, kept = 0;
        rd_kafka_t *rk = producer_new(o, &failed, "20");
        rs_gen_t *gen = gen_new(o->users, o->items, o->seed);
        rs_intern_t *in = rs_intern_new();
        char err[256];
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt;
        int64_t t0 = wall_ms(), start = mono_us();
        double step_ms = 1000.0 / o->events_per_s;

        if (!codec)
                die("codec", err);
        for (long long i = 0; i < o->n && !stop; i++) {
                rs_event_fields_t ev;
                const void *buf;
                size_t len;
                rs_gen_next(gen, &ev);
                ev.ts = t0 + (int64_t)((double)i * step_ms);
                if (rs_codec_encode_event(codec, &ev, &buf, &len))
                        die("encode", rs_codec_error(codec));
                produce(rk, o->topic, ev.user_id, buf, len, ev.ts);
                if ((i & 1023) == 0)
                        rd_kafka_poll(rk, 0);
        }
        if (rd_kafka_flush(rk, 120000))
                die("flush", "timed out");
        double secs = (double)(mono_us() - start) / 1e6;
        rkt = rd_kafka_topic_new(rk, o->topic, NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1)
                die("metadata", o->topic);
        int parts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        for (int p = 0; p < parts; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hi,
                                                     10000))
                        die("watermarks", o->topic);
                kept += hi - lo;
        }
        printf("produced=%lld failed=%lld kept=%lld partitions=%d "
               "seconds=%.2f rate=%.0f\n",
               o->n, failed, kept, parts, secs, (double)o->n / secs);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        rs_gen_destroy(gen);
        rd_kafka_destroy(rk);
        return failed ? 1 : 0;
}

/*
 * bare
 */

static void report(const char *what, long long first, long long total,
                   int64_t t_first, int64_t t_last, const char *extra)
{
        double secs = (double)(t_last - t_first) / 1e6;

        printf("%s events=%lld measured=%lld seconds=%.3f rate=%.0f%s\n", what,
               total, total - first, secs,
               secs > 0 ? (double)(total - first) / secs : 0.0, extra);
}

static int cmd_bare(const opts_t *o)
{
        rd_kafka_conf_t *conf = conf_new(o);
        rd_kafka_topic_partition_list_t *topics;
        rd_kafka_message_t **msgs = malloc((size_t)o->batch * sizeof(*msgs));
        rs_intern_t *in = rs_intern_new();
        char err[256];
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        long long total = 0, first = 0, bad = 0;
        int64_t t_first = 0, t_last = 0, deadline;
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;

        if (!codec || !msgs)
                die("codec", err);
        set(conf, "group.id", o->group);
        set(conf, "auto.offset.reset", "earliest");
        set(conf, "enable.auto.commit", "false");
        set(conf, "enable.partition.eof", "false");
        set(conf, "queued.min.messages", "1000000");
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))))
                die("consumer", err);
        rd_kafka_poll_set_consumer(rk);
        q = rd_kafka_queue_get_consumer(rk);
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, o->topic,
                                          RD_KAFKA_PARTITION_UA);
        if (rd_kafka_subscribe(rk, topics))
                die("subscribe", o->topic);
        rd_kafka_topic_partition_list_destroy(topics);
        deadline = mono_us() + 120 * 1000000LL;
        while (total < o->n && !stop && mono_us() < deadline) {
                ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs,
                                                         (size_t)o->batch);
                for (ssize_t i = 0; i < n; i++) {
                        rs_event_t ev;
                        if (msgs[i]->err)
                                bad++;
                        else if (rs_codec_decode_event(codec, msgs[i]->payload,
                                                       msgs[i]->len, &ev))
                                bad++;
                        else
                                total++;
                        rd_kafka_message_destroy(msgs[i]);
                }
                if (n > 0) {
                        t_last = mono_us();
                        if (!t_first) {
                                t_first = t_last;
                                first = total;
                        }
                }
        }
        snprintf(err, sizeof(err), " bad=%lld", bad);
        report("bare", first, total, t_first, t_last, err);
        rd_kafka_queue_destroy(q);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        free(msgs);
        return total < o->n;
}

/*
 * worker
 */

static int cmd_worker(const opts_t *o)
{
        rs_diag_t d;
        rs_pipeline_t *pl;
        rs_worker_t *w;
        rs_worker_stats_t st;
        char errstr[512], extra[512];
        long long first = 0;
        int64_t t_first = 0, t_last = 0, deadline, next_progress = 0;
        int64_t c_first = 0, c_last;
        rs_err_t err = RS_OK;

        rs_diag_init(&d, o->pipeline);
        if (!(pl = rs_pipeline_load(o->pipeline, 0, &d))) {
                fprintf(stderr, "%s", d.text.p ? d.text.p : "");
                return 2;
        }
        rs_diag_fini(&d);
        if (o->group)
                pl->source.group = o->group;
        static char uchg[256], ichg[256];
        if (o->deltas) {
                /* its own changelogs beside its own internal topics:
                 * <prefix>.cooc-deltas -> <prefix>.users-changelog, ... */
                size_t n = strlen(o->deltas);
                const char *dot = strrchr(o->deltas, '.');
                n = dot ? (size_t)(dot - o->deltas) : n;
                snprintf(uchg, sizeof(uchg), "%.*s.users-changelog", (int)n,
                         o->deltas);
                snprintf(ichg, sizeof(ichg), "%.*s.items-changelog", (int)n,
                         o->deltas);
                pl->topology.deltas_topic = o->deltas;
                pl->state.users_topic = uchg;
                pl->state.items_topic = ichg;
        }
        if (o->neighbors)
                pl->topology.neighbors_topic = o->neighbors;
        if (o->items_group)
                pl->topology.items_group = o->items_group;
        if (o->users_changelog)
                pl->state.users_topic = o->users_changelog;
        if (o->items_changelog)
                pl->state.items_topic = o->items_changelog;
        if (!(w = rs_worker_new(pl, -1, &stop, NULL, errstr, sizeof(errstr))))
                die("worker", errstr);
        deadline = mono_us() + 600 * 1000000LL;
        do {
                if ((err = rs_worker_step(w)))
                        break;
                rs_worker_stats(w, &st);
                if (st.consumed && !t_first) {
                        t_first = mono_us();
                        c_first = cpu_us();
                        first = (long long)st.consumed;
                }
                if (o->progress && mono_us() >= next_progress) {
                        fprintf(stderr, "kafka_bench: %.1f s consumed=%llu\n",
                                (double)(mono_us() - t_first) / 1e6,
                                (unsigned long long)st.consumed);
                        next_progress = mono_us() + 5000000;
                }
        } while ((long long)st.consumed < o->n && !stop &&
                 mono_us() < deadline);
        t_last = mono_us();
        c_last = cpu_us();
        int64_t t_settled = t_last;
        while (o->settle && !err && !stop && mono_us() < deadline &&
               !rs_worker_settled(w)) {
                err = rs_worker_step(w);
                t_settled = mono_us();
        }
        int settled = rs_worker_settled(w);
        rs_worker_stats(w, &st);
        snprintf(extra, sizeof(extra),
                 " decoded=%llu produced=%llu delivered=%llu "
                 "deltas=%llu deltas_applied=%llu delta_bytes=%llu "
                 "nb=%llu nb_bytes=%llu settled_s=%.3f cpu_s=%.3f "
                 "changelog_produced=%llu changelog_bytes=%llu commits=%llu "
                 "restore_records=%llu",
                 (unsigned long long)st.decoded,
                 (unsigned long long)st.produced,
                 (unsigned long long)st.delivered,
                 (unsigned long long)st.deltas_produced,
                 (unsigned long long)st.deltas_applied,
                 (unsigned long long)st.delta_bytes,
                 (unsigned long long)st.nb_produced,
                 (unsigned long long)st.nb_bytes,
                 o->settle && settled ? (double)(t_settled - t_first) / 1e6
                                      : -1.0,
                 (double)(c_last - c_first) / 1e6,
                 (unsigned long long)st.chg_produced,
                 (unsigned long long)st.chg_bytes,
                 (unsigned long long)st.commits,
                 (unsigned long long)st.restore_records);
        report("worker", first, (long long)st.consumed, t_first, t_last, extra);
        if (rs_worker_close(w) && !err)
                err = RS_ERR_KAFKA;
        rs_pipeline_destroy(pl);
        return err || (long long)st.consumed < o->n;
}

/*
 * latency
 */

#define RING 8 /* newest events kept per user */

typedef struct sent {
        int64_t ts;      /* event time = wall clock ms at produce */
        int64_t at_us;   /* monotonic µs of the produce call */
        int8_t measured; /* already matched to a UserRecs */
        int8_t warm;     /* produced during the warm-up */
} sent_t;

typedef struct lat {
        const opts_t *o;
        pthread_mutex_t lock;
        sent_t (*ring)[RING];
        uint8_t *pos;
        long long produced, failed;
        int done;
} lat_t;

static void *producer_main(void *arg)
{
        lat_t *L = arg;
        const opts_t *o = L->o;
        char linger[32], err[256];
        rs_gen_t *gen = gen_new(o->users, o->items, o->seed);
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        rd_kafka_t *rk;
        int64_t start = mono_us(), end = start + (int64_t)(o->seconds * 1e6),
                warm_end = start + (int64_t)(o->warmup * 1e6);
        long long sent = 0;

        if (!codec)
                die("codec", err);
        snprintf(linger, sizeof(linger), "%ld", o->linger_ms);
        rk = producer_new(o, &L->failed, linger);
        while (!stop) {
                int64_t now = mono_us();
                if (now >= end)
                        break;
                long long due =
                        (long long)((double)(now - start) / 1e6 * o->rate);
                pthread_mutex_lock(&L->lock);
                for (; sent < due; sent++) {
                        rs_event_fields_t ev;
                        const void *buf;
                        size_t len;
                        rs_gen_next(gen, &ev);
                        ev.ts = wall_ms();
                        if (rs_codec_encode_event(codec, &ev, &buf, &len))
                                die("encode", rs_codec_error(codec));
                        long u = strtol(ev.user_id + 1, NULL, 10);
                        int64_t at = mono_us();
                        produce(rk, o->topic, ev.user_id, buf, len, ev.ts);
                        sent_t *s = &L->ring[u][L->pos[u]++ % RING];
                        *s = (sent_t){ev.ts, at, 0, at < warm_end};
                }
                pthread_mutex_unlock(&L->lock);
                rd_kafka_poll(rk, 0);
                /* ~1,000 produce rounds a second */
                struct timespec tick = {0, 1000000 - (mono_us() - now) % 1000 *
                                                             1000};
                nanosleep(&tick, NULL);
        }
        rd_kafka_flush(rk, 10000);
        pthread_mutex_lock(&L->lock);
        L->produced = sent;
        L->done = 1;
        pthread_mutex_unlock(&L->lock);
        rd_kafka_destroy(rk);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        rs_gen_destroy(gen);
        return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p)
{
        if (!n)
                return NAN;
        size_t i = (size_t)ceil(p * (double)n) - 1;
        return (double)v[i < n ? i : n - 1] / 1000.0;
}

static int cmd_latency(const opts_t *o)
{
        lat_t L = {.o = o};
        rd_kafka_conf_t *conf = conf_new(o);
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *list;
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt;
        rs_intern_t *in = rs_intern_new();
        char err[256];
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        size_t cap = (size_t)(o->rate * o->seconds) + 16, nlat = 0;
        int64_t *lat = malloc(cap * sizeof(*lat));
        long long recs = 0, unmatched = 0, warm = 0;
        pthread_t thr;
        rs_recs_t *r = malloc(sizeof(*r));

        L.ring = calloc((size_t)o->users, sizeof(*L.ring));
        L.pos = calloc((size_t)o->users, 1);
        if (!codec || !lat || !r || !L.ring || !L.pos)
                die("latency", "out of memory");
        pthread_mutex_init(&L.lock, NULL);

        /* The UserRecs reader: every partition from its end, fetching
         * without the mock broker's idle wait. */
        set(conf, "group.id", "kafka-bench-latency");
        set(conf, "enable.auto.commit", "false");
        set(conf, "enable.partition.eof", "false");
        set(conf, "fetch.wait.max.ms", "1");
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))))
                die("consumer", err);
        rd_kafka_poll_set_consumer(rk);
        rkt = rd_kafka_topic_new(rk, o->recs_topic, NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 ||
            md->topics[0].err)
                die("metadata", o->recs_topic);
        list = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(list, o->recs_topic, p)
                        ->offset = RD_KAFKA_OFFSET_END;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (rd_kafka_assign(rk, list))
                die("assign", o->recs_topic);
        rd_kafka_topic_partition_list_destroy(list);
        /* let the reader reach the ends before anything is produced */
        for (int i = 0; i < 10; i++) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m)
                        rd_kafka_message_destroy(m);
        }

        if (pthread_create(&thr, NULL, producer_main, &L))
                die("thread", strerror(errno));
        int64_t quiet_until = 0;
        for (;;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
                int64_t now = mono_us();
                pthread_mutex_lock(&L.lock);
                int done = L.done;
                if (m && !m->err) {
                        recs++;
                        if (rs_codec_decode_recs(codec, m->payload, m->len,
                                                 r) == RS_OK) {
                                const char *user =
                                        rs_intern_str(in, r->user, NULL);
                                long u = user ? strtol(user + 1, NULL, 10) : -1;
                                sent_t *best = NULL;
                                for (int k = 0;
                                     u >= 0 && u < o->users && k < RING; k++) {
                                        sent_t *s = &L.ring[u][k];
                                        if (s->at_us && !s->measured &&
                                            s->ts == r->generated_ts &&
                                            (!best || s->at_us > best->at_us))
                                                best = s;
                                }
                                if (!best) {
                                        unmatched++;
                                } else {
                                        best->measured = 1;
                                        if (best->warm)
                                                warm++;
                                        else if (nlat < cap)
                                                lat[nlat++] = now - best->at_us;
                                }
                        } else {
                                unmatched++;
                        }
                }
                pthread_mutex_unlock(&L.lock);
                if (m)
                        rd_kafka_message_destroy(m);
                if (done && !quiet_until)
                        quiet_until = now + 2000000; /* late UserRecs */
                if ((quiet_until && now > quiet_until) || stop)
                        break;
        }
        pthread_join(thr, NULL);
        qsort(lat, nlat, sizeof(*lat), cmp_i64);
        printf("latency rate=%.0f seconds=%.1f produced=%lld failed=%lld "
               "userrecs=%lld measured=%zu warmup=%lld unmatched=%lld "
               "p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f\n",
               o->rate, o->seconds, L.produced, L.failed, recs, nlat, warm,
               unmatched, pct(lat, nlat, 0.50), pct(lat, nlat, 0.99),
               pct(lat, nlat, 0.999), pct(lat, nlat, 1.0));
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        free(lat);
        free(r);
        free(L.ring);
        free(L.pos);
        return nlat == 0;
}

/*
 * watch
 */

/* A topic's partitions, and a consumer of group (NULL: none) that never
 * joins it: rd_kafka_committed asks the group's coordinator. */
typedef struct tview {
        rd_kafka_t *rk;
        const char *topic;
        rd_kafka_topic_partition_list_t *parts;
} tview_t;

static void tview_init(tview_t *v, const opts_t *o, const char *topic,
                       const char *group)
{
        rd_kafka_conf_t *conf = conf_new(o);
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt;
        char err[256];

        set(conf, "group.id", group ? group : "kafka-bench-watch");
        set(conf, "enable.auto.commit", "false");
        if (!(v->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))))
                die("consumer", err);
        v->topic = topic;
        rkt = rd_kafka_topic_new(v->rk, topic, NULL);
        if (rd_kafka_metadata(v->rk, 0, rkt, &md, 10000) ||
            md->topic_cnt != 1 || md->topics[0].err)
                die("metadata", topic);
        v->parts =
                rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(v->parts, topic, p);
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
}

static void tview_fini(tview_t *v)
{
        rd_kafka_topic_partition_list_destroy(v->parts);
        rd_kafka_destroy(v->rk);
}

/* The group's committed offsets, summed (none: 0). */
static long long tview_committed(tview_t *v)
{
        long long sum = 0;

        for (int i = 0; i < v->parts->cnt; i++)
                v->parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        if (rd_kafka_committed(v->rk, v->parts, 5000))
                return -1;
        for (int i = 0; i < v->parts->cnt; i++)
                if (v->parts->elems[i].offset > 0)
                        sum += v->parts->elems[i].offset;
        return sum;
}

/* Sums of the partitions' high (and low) watermarks. */
static long long tview_end(tview_t *v, long long *low)
{
        long long sum = 0, lsum = 0;

        for (int i = 0; i < v->parts->cnt; i++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(v->rk, v->topic, i, &lo,
                                                     &hi, 5000))
                        die("watermarks", v->topic);
                sum += hi;
                lsum += lo;
        }
        if (low)
                *low = lsum;
        return sum;
}

#define MAX_PIDS 16

typedef struct proc {
        double cpu_s; /* utime + stime */
        double rss_mb, hwm_mb;
} proc_t;

/* What /proc says of pid; zeros when it is gone. */
static proc_t proc_read(long pid)
{
        proc_t p = {0, 0, 0};
        char path[64], line[256];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if ((f = fopen(path, "r"))) {
                char buf[1024];
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                buf[n] = '\0';
                /* after "(comm)": state is field 3, utime 14, stime 15 */
                const char *q = strrchr(buf, ')');
                unsigned long ut = 0, st = 0;
                if (q && sscanf(q + 2,
                                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                                "%*u %lu %lu",
                                &ut, &st) == 2)
                        p.cpu_s = (double)(ut + st) /
                                  (double)sysconf(_SC_CLK_TCK);
                fclose(f);
        }
        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        if ((f = fopen(path, "r"))) {
                while (fgets(line, sizeof(line), f)) {
                        long kb;
                        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                                p.rss_mb = (double)kb * 1024 / 1e6;
                        else if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
                                p.hwm_mb = (double)kb * 1024 / 1e6;
                }
                fclose(f);
        }
        return p;
}

static int parse_pids(const char *s, long *pids)
{
        int n = 0;

        while (s && *s && n < MAX_PIDS) {
                char *end;
                pids[n++] = strtol(s, &end, 10);
                s = *end == ',' ? end + 1 : NULL;
        }
        return n;
}

/* ",a,b,c" of the replicas' values, in pids order. */
static void join(char *out, size_t size, const proc_t *a, const proc_t *b,
                 int n, int what)
{
        size_t off = 0;

        out[0] = '\0';
        for (int i = 0; i < n && off < size; i++) {
                double v = what == 0   ? b[i].cpu_s - a[i].cpu_s
                           : what == 1 ? b[i].rss_mb
                                       : b[i].hwm_mb;
                int k = snprintf(out + off, size - off, "%s%.*f", i ? "," : "",
                                 what ? 0 : 2, v);
                off += k > 0 ? (size_t)k : 0;
        }
}

static int cmd_watch(const opts_t *o)
{
        tview_t in, deltas, nb;
        long pids[MAX_PIDS];
        int npids = parse_pids(o->pids, pids);
        proc_t p0[MAX_PIDS], p1[MAX_PIDS], b0 = {0, 0, 0}, b1 = {0, 0, 0};
        long long first = 0, users = 0, items = 0, dend = 0, dlow = 0;
        long long nb_end = -1, nb_low = 0;
        int64_t t_first = 0, t_users = 0, t_items = 0, t_nb = 0, deadline;
        int64_t next_progress = 0, nb_moved = 0;
        char cpu[256], rss[256], hwm[256];

        tview_init(&in, o, o->topic, o->group);
        tview_init(&deltas, o, o->deltas, o->items_group);
        tview_init(&nb, o, o->neighbors, NULL);
        deadline = mono_us() + (int64_t)(o->seconds * 1e6);
        while (!stop && mono_us() < deadline) {
                int64_t now = mono_us();
                if (!t_users) {
                        users = tview_committed(&in);
                        if (users > 0 && !t_first) {
                                t_first = now;
                                first = users;
                                for (int i = 0; i < npids; i++)
                                        p0[i] = proc_read(pids[i]);
                                if (o->broker_pid)
                                        b0 = proc_read(o->broker_pid);
                        }
                        if (users >= o->n)
                                t_users = now;
                }
                if (t_users && !t_items) {
                        dend = tview_end(&deltas, &dlow);
                        items = tview_committed(&deltas);
                        if (items >= dend && dend > 0) {
                                t_items = mono_us();
                                for (int i = 0; i < npids; i++)
                                        p1[i] = proc_read(pids[i]);
                                if (o->broker_pid)
                                        b1 = proc_read(o->broker_pid);
                        }
                }
                if (t_items) {
                        long long e = tview_end(&nb, &nb_low);
                        if (e != nb_end) {
                                nb_end = e;
                                nb_moved = now;
                        } else if (now - nb_moved >= 2000000) {
                                t_nb = nb_moved;
                                break;
                        }
                }
                if (o->progress && now >= next_progress) {
                        fprintf(stderr,
                                "kafka_bench: watch users=%lld/%lld "
                                "items=%lld/%lld\n",
                                users, o->n, items, dend);
                        next_progress = now + 2000000;
                }
                struct timespec tick = {0, 20000000};
                nanosleep(&tick, NULL);
        }
        if (!t_items) {
                fprintf(stderr,
                        "kafka_bench: watch: not done: users committed "
                        "%lld of %lld, items %lld of %lld\n",
                        users, o->n, items, dend);
                return 1;
        }
        join(cpu, sizeof(cpu), p0, p1, npids, 0);
        join(rss, sizeof(rss), p0, p1, npids, 1);
        join(hwm, sizeof(hwm), p0, p1, npids, 2);
        double secs = (double)(t_items - t_first) / 1e6;
        double usecs = (double)(t_users - t_first) / 1e6;
        printf("watch events=%lld measured=%lld seconds=%.3f rate=%.0f "
               "users_seconds=%.3f rate_users=%.0f deltas=%lld "
               "deltas_dropped=%lld nb=%lld nb_dropped=%lld "
               "settled_seconds=%.3f cpu_s=%s broker_cpu_s=%.2f rss_mb=%s "
               "hwm_mb=%s\n",
               o->n, o->n - first, secs, (double)(o->n - first) / secs, usecs,
               (double)(o->n - first) / usecs, dend, dlow, nb_end, nb_low,
               (double)(t_nb - t_first) / 1e6, cpu, b1.cpu_s - b0.cpu_s, rss,
               hwm);
        tview_fini(&in);
        tview_fini(&deltas);
        tview_fini(&nb);
        return 0;
}

/*
 * nbdelay
 */

typedef struct probes {
        const opts_t *o;
        pthread_mutex_t lock;
        int64_t *at_us; /* produce call of probe k's second event; 0: none */
        int8_t *warm;
        long cap, n;
        long long produced, failed;
        int done;
} probes_t;

static void probe_event(rs_event_fields_t *ev, char *eid, char *user,
                        char *item, long k, char which)
{
        sprintf(eid, "probe%ld%c", k, which);
        sprintf(user, "probe%ld", k);
        sprintf(item, "p%c%ld", which, k);
        *ev = (rs_event_fields_t){.event_id = eid,
                                  .user_id = user,
                                  .item_id = item,
                                  .type = RS_EV_WATCH,
                                  .ts = wall_ms(),
                                  .watch_ms = 58000,
                                  .duration_ms = 60000,
                                  .category = "probe",
                                  .device = "bench"};
}

static void *probe_main(void *arg)
{
        probes_t *P = arg;
        const opts_t *o = P->o;
        char err[256], eid[32], user[32], item[32];
        rs_gen_t *gen = gen_new(o->users, o->items, o->seed);
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        rd_kafka_t *rk;
        int64_t start = mono_us(), end = start + (int64_t)(o->seconds * 1e6),
                warm_end = start + (int64_t)(o->warmup * 1e6);
        long long sent = 0;
        long k = 0;

        if (!codec)
                die("codec", err);
        rk = producer_new(o, &P->failed, "5");
        while (!stop) {
                int64_t now = mono_us();
                const void *buf;
                size_t len;
                if (now >= end)
                        break;
                double s = (double)(now - start) / 1e6;
                long long due = (long long)(s * o->rate);
                for (; sent < due; sent++) {
                        rs_event_fields_t ev;
                        rs_gen_next(gen, &ev);
                        ev.ts = wall_ms();
                        if (rs_codec_encode_event(codec, &ev, &buf, &len))
                                die("encode", rs_codec_error(codec));
                        produce(rk, o->topic, ev.user_id, buf, len, ev.ts);
                }
                for (; k < (long)(s * o->probes) && k < P->cap; k++) {
                        rs_event_fields_t ev;
                        probe_event(&ev, eid, user, item, k, 'a');
                        if (rs_codec_encode_event(codec, &ev, &buf, &len))
                                die("encode", rs_codec_error(codec));
                        produce(rk, o->topic, user, buf, len, ev.ts);
                        probe_event(&ev, eid, user, item, k, 'b');
                        if (rs_codec_encode_event(codec, &ev, &buf, &len))
                                die("encode", rs_codec_error(codec));
                        int64_t at = mono_us();
                        produce(rk, o->topic, user, buf, len, ev.ts);
                        pthread_mutex_lock(&P->lock);
                        P->at_us[k] = at;
                        P->warm[k] = at < warm_end;
                        P->n = k + 1;
                        pthread_mutex_unlock(&P->lock);
                }
                rd_kafka_poll(rk, 0);
                struct timespec tick = {0, 1000000 - (mono_us() - now) % 1000 *
                                                             1000};
                nanosleep(&tick, NULL);
        }
        rd_kafka_flush(rk, 10000);
        pthread_mutex_lock(&P->lock);
        P->produced = sent;
        P->done = 1;
        pthread_mutex_unlock(&P->lock);
        rd_kafka_destroy(rk);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        rs_gen_destroy(gen);
        return NULL;
}

/* Assigns every partition of topic to a fresh consumer, from its start
 * (or end); *parts its partition count. */
static rd_kafka_t *reader_new(const opts_t *o, const char *topic, int from_end,
                              const char *fetch_wait, int *parts)
{
        rd_kafka_conf_t *conf = conf_new(o);
        rd_kafka_topic_partition_list_t *list;
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt;
        rd_kafka_t *rk;
        char err[256];

        set(conf, "group.id", "kafka-bench-reader");
        set(conf, "enable.auto.commit", "false");
        set(conf, "enable.partition.eof", "false");
        if (fetch_wait)
                set(conf, "fetch.wait.max.ms", fetch_wait);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))))
                die("consumer", err);
        rd_kafka_poll_set_consumer(rk);
        rkt = rd_kafka_topic_new(rk, topic, NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 ||
            md->topics[0].err)
                die("metadata", topic);
        *parts = md->topics[0].partition_cnt;
        list = rd_kafka_topic_partition_list_new(*parts);
        for (int p = 0; p < *parts; p++)
                rd_kafka_topic_partition_list_add(list, topic, p)->offset =
                        from_end ? RD_KAFKA_OFFSET_END
                                 : RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (rd_kafka_assign(rk, list))
                die("assign", topic);
        rd_kafka_topic_partition_list_destroy(list);
        return rk;
}

static int cmd_nbdelay(const opts_t *o)
{
        probes_t P = {.o = o};
        rs_intern_t *in = rs_intern_new();
        char err[256];
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        int parts;
        rd_kafka_t *rk = reader_new(o, o->neighbors, 1, "1", &parts);
        long long records = 0, bad = 0, without = 0;
        size_t nlat = 0;
        pthread_t thr;

        P.cap = (long)(o->probes * o->seconds) + 16;
        P.at_us = calloc((size_t)P.cap, sizeof(*P.at_us));
        P.warm = calloc((size_t)P.cap, 1);
        int8_t *seen = calloc((size_t)P.cap, 1);
        int64_t *lat = malloc((size_t)P.cap * sizeof(*lat));
        int64_t *late = malloc((size_t)P.cap * sizeof(*late));
        size_t nlate = 0;
        int64_t start = mono_us(),
                half_us = (int64_t)((o->warmup + o->seconds) / 2 * 1e6);
        if (!codec || !P.at_us || !P.warm || !seen || !lat || !late)
                die("nbdelay", "out of memory");
        pthread_mutex_init(&P.lock, NULL);
        /* let the reader reach the ends before anything is produced */
        for (int i = 0; i < 10; i++) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m)
                        rd_kafka_message_destroy(m);
        }
        start = mono_us();
        if (pthread_create(&thr, NULL, probe_main, &P))
                die("thread", strerror(errno));
        int64_t quiet_until = 0;
        for (;;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
                int64_t now = mono_us();
                long k;
                char *end;
                if (m && !m->err && m->key && m->key_len > 2 &&
                    m->key_len < 24 && !memcmp(m->key, "pb", 2)) {
                        char key[24];
                        memcpy(key, m->key, m->key_len);
                        key[m->key_len] = '\0';
                        k = strtol(key + 2, &end, 10);
                        rs_nb_rec_t r;
                        int found = 0;
                        records++;
                        if (*end || k < 0 || k >= P.cap || !m->payload) {
                                bad++;
                        } else if (rs_codec_decode_nb(codec, m->payload, m->len,
                                                      &r)) {
                                bad++;
                        } else {
                                char want[24];
                                snprintf(want, sizeof(want), "pa%ld", k);
                                for (size_t i = 0; i < r.nnb; i++) {
                                        const char *id = rs_intern_str(
                                                in, r.nb[i].item, NULL);
                                        if (id && !strcmp(id, want))
                                                found = 1;
                                }
                        }
                        pthread_mutex_lock(&P.lock);
                        if (found && !seen[k] && P.at_us[k]) {
                                seen[k] = 1;
                                if (!P.warm[k]) {
                                        lat[nlat++] = now - P.at_us[k];
                                        /* the second half of the run */
                                        if (P.at_us[k] - start >= half_us) {
                                                late[nlate++] =
                                                        now - P.at_us[k];
                                        }
                                }
                        } else if (!found) {
                                without++;
                        }
                        pthread_mutex_unlock(&P.lock);
                }
                if (m)
                        rd_kafka_message_destroy(m);
                pthread_mutex_lock(&P.lock);
                int done = P.done;
                pthread_mutex_unlock(&P.lock);
                if (done && !quiet_until)
                        quiet_until = now + 5000000; /* late records */
                if ((quiet_until && now > quiet_until) || stop)
                        break;
        }
        pthread_join(thr, NULL);
        long measured_probes = 0, missing = 0;
        for (long k = 0; k < P.n; k++) {
                if (P.warm[k])
                        continue;
                measured_probes++;
                missing += !seen[k];
        }
        qsort(lat, nlat, sizeof(*lat), cmp_i64);
        qsort(late, nlate, sizeof(*late), cmp_i64);
        printf("nbdelay rate=%.0f probes_per_s=%.1f seconds=%.1f "
               "produced=%lld failed=%lld probes=%ld measured=%zu "
               "missing=%ld records=%lld without=%lld bad=%lld p50_ms=%.2f "
               "p90_ms=%.2f p99_ms=%.2f max_ms=%.2f late_p50_ms=%.2f "
               "late_p99_ms=%.2f\n",
               o->rate, o->probes, o->seconds, P.produced, P.failed,
               measured_probes, nlat, missing, records, without, bad,
               pct(lat, nlat, 0.50), pct(lat, nlat, 0.90), pct(lat, nlat, 0.99),
               pct(lat, nlat, 1.0), pct(late, nlate, 0.50),
               pct(late, nlate, 0.99));
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        free(P.at_us);
        free(P.warm);
        free(seen);
        free(lat);
        free(late);
        return nlat == 0;
}

/*
 * internal
 */

/* Reads topic from its start to where it ends now, calling fn on each
 * record's value (NULL for a tombstone). */
static void read_all(const opts_t *o, const char *topic,
                     void (*fn)(void *, const rd_kafka_message_t *), void *arg)
{
        int parts;
        rd_kafka_t *rk = reader_new(o, topic, 0, "10", &parts);
        int64_t *hi = calloc((size_t)parts, sizeof(*hi));
        int64_t *next = calloc((size_t)parts, sizeof(*next));
        int64_t deadline = mono_us() + 120 * 1000000LL;
        int left = 0;

        if (!hi || !next)
                die("internal", "out of memory");
        for (int p = 0; p < parts; p++) {
                int64_t lo;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi[p],
                                                     5000))
                        die("watermarks", topic);
                next[p] = lo;
                left += next[p] < hi[p];
        }
        while (left > 0 && !stop && mono_us() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err && m->partition >= 0 && m->partition < parts &&
                    next[m->partition] < hi[m->partition]) {
                        fn(arg, m);
                        next[m->partition] = m->offset + 1;
                        if (next[m->partition] >= hi[m->partition])
                                left--;
                }
                rd_kafka_message_destroy(m);
        }
        if (left > 0)
                die("internal", "the topic was not read to its end in time");
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        free(hi);
        free(next);
}

typedef struct internal_counts {
        rs_codec_t *codec;
        long long records, bytes, bad, updates, pairs, marginals, popularity;
        long long cats, sources;
        long long items, partitions, tombstones, neighbors, key_bytes;
} internal_counts_t;

static void count_delta(void *arg, const rd_kafka_message_t *m)
{
        internal_counts_t *c = arg;
        const rs_delta_t *d;

        c->records++;
        c->bytes += (long long)m->len;
        if (!m->payload ||
            rs_codec_decode_delta(c->codec, m->payload, m->len, &d)) {
                c->bad++;
                return;
        }
        c->updates += (long long)d->n;
        for (size_t i = 0; i < d->n; i++) {
                if (d->upd[i].other == RS_DELTA_MARGINAL)
                        c->marginals++;
                else if (d->upd[i].other == RS_DELTA_POPULARITY)
                        c->popularity++;
                else
                        c->pairs++;
        }
        c->cats += (long long)d->ncats;
        c->sources += (long long)d->nsrc;
}

static void count_nb(void *arg, const rd_kafka_message_t *m)
{
        internal_counts_t *c = arg;
        rs_nb_rec_t r;

        c->records++;
        c->key_bytes += (long long)m->key_len;
        if (!m->payload) {
                c->tombstones++;
                return;
        }
        c->bytes += (long long)m->len;
        if (rs_codec_decode_nb(c->codec, m->payload, m->len, &r)) {
                c->bad++;
                return;
        }
        if (r.kind == RS_NB_PARTITION) {
                c->partitions++;
        } else {
                c->items++;
                c->neighbors += (long long)r.nnb;
        }
}

static int cmd_internal(const opts_t *o)
{
        rs_intern_t *in = rs_intern_new();
        char err[256];
        internal_counts_t d = {0}, n = {0};

        d.codec = rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        n.codec = d.codec;
        if (!d.codec)
                die("codec", err);
        read_all(o, o->deltas, count_delta, &d);
        read_all(o, o->neighbors, count_nb, &n);
        printf("internal delta_records=%lld delta_bytes=%lld updates=%lld "
               "pair_updates=%lld marginal_updates=%lld "
               "popularity_updates=%lld categories=%lld sources=%lld "
               "delta_bad=%lld nb_records=%lld nb_items=%lld "
               "nb_partitions=%lld nb_tombstones=%lld nb_neighbors=%lld "
               "nb_bytes=%lld nb_key_bytes=%lld nb_bad=%lld\n",
               d.records, d.bytes, d.updates, d.pairs, d.marginals,
               d.popularity, d.cats, d.sources, d.bad, n.records, n.items,
               n.partitions, n.tombstones, n.neighbors, n.bytes, n.key_bytes,
               n.bad);
        rs_codec_destroy(d.codec);
        rs_intern_destroy(in);
        return d.bad || n.bad;
}

/*
 * kept, tally, first
 */

typedef struct kept_counts {
        long long records, bytes, tombstones;
} kept_counts_t;

static void count_kept(void *arg, const rd_kafka_message_t *m)
{
        kept_counts_t *c = arg;

        c->records++;
        c->bytes += (long long)(m->len + m->key_len);
        c->tombstones += m->payload == NULL;
}

static int cmd_kept(const opts_t *o)
{
        kept_counts_t c = {0};
        long long dropped = 0;
        int parts;
        rd_kafka_t *rk = reader_new(o, o->topic, 0, "10", &parts);

        for (int p = 0; p < parts; p++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hi,
                                                     5000))
                        die("watermarks", o->topic);
                dropped += lo;
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        read_all(o, o->topic, count_kept, &c);
        printf("kept topic=%s partitions=%d records=%lld bytes=%lld "
               "tombstones=%lld dropped=%lld\n",
               o->topic, parts, c.records, c.bytes, c.tombstones, dropped);
        return 0;
}

/* A consumer of every partition of the comma-separated topics, assigned
 * at their end offsets as they are now; the topics in *names (n of them,
 * at most 8). */
static rd_kafka_t *reader_at_ends(const opts_t *o, const char *topics,
                                  char names[8][256], int *n)
{
        rd_kafka_conf_t *conf = conf_new(o);
        rd_kafka_topic_partition_list_t *list =
                rd_kafka_topic_partition_list_new(64);
        char err[256];
        rd_kafka_t *rk;

        set(conf, "group.id", "kafka-bench-reader");
        set(conf, "enable.auto.commit", "false");
        set(conf, "fetch.wait.max.ms", "10");
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))))
                die("consumer", err);
        rd_kafka_poll_set_consumer(rk);
        *n = 0;
        for (const char *t = topics; *t && *n < 8;) {
                size_t len = strcspn(t, ",");
                const struct rd_kafka_metadata *md;
                rd_kafka_topic_t *rkt;
                if (!len || len >= sizeof(names[0]))
                        die("topics", topics);
                memcpy(names[*n], t, len);
                names[*n][len] = 0;
                rkt = rd_kafka_topic_new(rk, names[*n], NULL);
                if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) ||
                    md->topic_cnt != 1 || md->topics[0].err)
                        die("metadata", names[*n]);
                for (int p = 0; p < md->topics[0].partition_cnt; p++) {
                        int64_t lo, hi;
                        if (rd_kafka_query_watermark_offsets(rk, names[*n], p,
                                                             &lo, &hi, 5000))
                                die("watermarks", names[*n]);
                        rd_kafka_topic_partition_list_add(list, names[*n], p)
                                ->offset = hi;
                }
                rd_kafka_metadata_destroy(md);
                rd_kafka_topic_destroy(rkt);
                ++*n;
                t += len + (t[len] == ',');
        }
        if (rd_kafka_assign(rk, list))
                die("assign", topics);
        rd_kafka_topic_partition_list_destroy(list);
        return rk;
}

static int cmd_tally(const opts_t *o)
{
        char names[8][256];
        kept_counts_t c[8] = {{0}};
        long long late = 0;
        int n;
        rd_kafka_t *rk = reader_at_ends(o, o->topic, names, &n);
        int64_t from = wall_ms() + (int64_t)(o->warmup * 1000),
                to = from + (int64_t)(o->seconds * 1000);

        /* what was produced in the window arrives within 2 s of its end */
        while (!stop && wall_ms() < to + 2000) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                int64_t ts = rd_kafka_message_timestamp(m, NULL);
                const char *t = m->err ? NULL : rd_kafka_topic_name(m->rkt);
                for (int i = 0; t && i < n; i++)
                        if (!strcmp(t, names[i]) && ts >= from && ts < to)
                                count_kept(&c[i], m);
                late += t && ts >= to;
                rd_kafka_message_destroy(m);
        }
        for (int i = 0; i < n; i++)
                printf("tally topic=%s seconds=%.1f records=%lld bytes=%lld "
                       "tombstones=%lld\n",
                       names[i], o->seconds, c[i].records, c[i].bytes,
                       c[i].tombstones);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return stop ? 1 : 0;
}

static int cmd_first(const opts_t *o)
{
        char names[8][256];
        int n;
        rd_kafka_t *rk = reader_at_ends(o, o->topic, names, &n);
        int64_t deadline = mono_us() + (int64_t)(o->seconds * 1e6);
        int found = 0;

        printf("ready\n");
        fflush(stdout);
        while (!stop && !found && mono_us() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 10);
                if (!m)
                        continue;
                if (!m->err) {
                        printf("first first_ms=%lld topic=%s partition=%d "
                               "offset=%lld\n",
                               (long long)wall_ms(),
                               rd_kafka_topic_name(m->rkt), (int)m->partition,
                               (long long)m->offset);
                        found = 1;
                }
                rd_kafka_message_destroy(m);
        }
        if (!found)
                printf("first first_ms=-1\n");
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return !found;
}

static const char usage[] =
        "usage: kafka_bench load    -b B -t TOPIC -n N [--users U] "
        "[--events-per-s E]\n"
        "       kafka_bench bare    -b B -t TOPIC -g GROUP -n K [--batch M]\n"
        "       kafka_bench worker  -c PIPELINE -g GROUP -n K [--settle]\n"
        "                           [--deltas T --neighbors T --items-group "
        "G]\n"
        "                           [--users-changelog T --items-changelog "
        "T]\n"
        "       kafka_bench latency -b B -t TOPIC -r RECS --rate R --seconds "
        "S\n"
        "                           [--users U] [--warmup W] [--linger MS]\n"
        "       kafka_bench watch   -b B -t TOPIC -g GROUP -n K --deltas T\n"
        "                           --items-group G --neighbors T [--pids "
        "P,..]\n"
        "                           [--broker-pid P] [--seconds S]\n"
        "       kafka_bench nbdelay -b B -t TOPIC --neighbors T --rate R "
        "--seconds S\n"
        "                           [--probes P] [--users U] [--warmup W]\n"
        "       kafka_bench internal -b B --deltas T --neighbors T\n"
        "       kafka_bench kept    -b B -t TOPIC\n"
        "       kafka_bench tally   -b B -t TOPIC[,TOPIC..] --seconds S "
        "[--warmup W]\n"
        "       kafka_bench first   -b B -t TOPIC [--seconds S]\n"
        "       (load, latency and nbdelay also take --seed S and --items "
        "I)\n";

int main(int argc, char **argv)
{
        static const struct option lopts[] = {{"users", 1, NULL, 'u'},
                                              {"events-per-s", 1, NULL, 'e'},
                                              {"batch", 1, NULL, 'm'},
                                              {"rate", 1, NULL, 'R'},
                                              {"seconds", 1, NULL, 's'},
                                              {"warmup", 1, NULL, 'w'},
                                              {"linger", 1, NULL, 'l'},
                                              {"seed", 1, NULL, 'S'},
                                              {"settle", 0, NULL, 'T'},
                                              {"deltas", 1, NULL, 'D'},
                                              {"neighbors", 1, NULL, 'N'},
                                              {"items-group", 1, NULL, 'I'},
                                              {"pids", 1, NULL, 'P'},
                                              {"broker-pid", 1, NULL, 'B'},
                                              {"probes", 1, NULL, 'p'},
                                              {"items", 1, NULL, 'i'},
                                              {"users-changelog", 1, NULL, 'U'},
                                              {"items-changelog", 1, NULL, 'C'},
                                              {NULL, 0, NULL, 0}};
        opts_t o = {.users = 100000,
                    .batch = 10000,
                    .linger_ms = 5,
                    .events_per_s = 20000,
                    .warmup = 2,
                    .probes = 20,
                    .seed = 1};
        int c;

        if (argc < 2) {
                fputs(usage, stderr);
                return 2;
        }
        const char *cmd = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "b:t:r:g:c:n:", lopts, NULL)) !=
               -1) {
                switch (c) {
                case 'b': o.bootstrap = optarg; break;
                case 't': o.topic = optarg; break;
                case 'r': o.recs_topic = optarg; break;
                case 'g': o.group = optarg; break;
                case 'c': o.pipeline = optarg; break;
                case 'n': o.n = atoll(optarg); break;
                case 'u': o.users = atol(optarg); break;
                case 'e': o.events_per_s = atof(optarg); break;
                case 'm': o.batch = atol(optarg); break;
                case 'R': o.rate = atof(optarg); break;
                case 's': o.seconds = atof(optarg); break;
                case 'w': o.warmup = atof(optarg); break;
                case 'l': o.linger_ms = atol(optarg); break;
                case 'S': o.seed = strtoull(optarg, NULL, 10); break;
                case 'T': o.settle = 1; break;
                case 'D': o.deltas = optarg; break;
                case 'N': o.neighbors = optarg; break;
                case 'I': o.items_group = optarg; break;
                case 'P': o.pids = optarg; break;
                case 'B': o.broker_pid = atol(optarg); break;
                case 'p': o.probes = atof(optarg); break;
                case 'i': o.items = atol(optarg); break;
                case 'U': o.users_changelog = optarg; break;
                case 'C': o.items_changelog = optarg; break;
                default: fputs(usage, stderr); return 2;
                }
        }
        rs_vec_init(); /* as recstream's main(): OpenBLAS on this thread */
        o.progress = getenv("KAFKA_BENCH_PROGRESS") != NULL;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if (getenv("RECSTREAM_LOG_LEVEL"))
                rs_log_set_level(
                        rs_log_level_parse(getenv("RECSTREAM_LOG_LEVEL")));
        if (o.users < 1 || o.items < 0 || o.batch < 1 || o.events_per_s <= 0)
                goto usage;
        if (!strcmp(cmd, "load") && o.bootstrap && o.topic && o.n > 0)
                return cmd_load(&o);
        if (!strcmp(cmd, "bare") && o.bootstrap && o.topic && o.group &&
            o.n > 0)
                return cmd_bare(&o);
        if (!strcmp(cmd, "worker") && o.pipeline && o.n > 0)
                return cmd_worker(&o);
        if (!strcmp(cmd, "latency") && o.bootstrap && o.topic && o.recs_topic &&
            o.rate > 0 && o.seconds > 0)
                return cmd_latency(&o);
        if (!strcmp(cmd, "watch") && o.bootstrap && o.topic && o.group &&
            o.deltas && o.items_group && o.neighbors && o.n > 0) {
                if (o.seconds <= 0)
                        o.seconds = 600;
                return cmd_watch(&o);
        }
        if (!strcmp(cmd, "nbdelay") && o.bootstrap && o.topic && o.neighbors &&
            o.rate >= 0 && o.seconds > 0 && o.probes > 0)
                return cmd_nbdelay(&o);
        if (!strcmp(cmd, "internal") && o.bootstrap && o.deltas && o.neighbors)
                return cmd_internal(&o);
        if (!strcmp(cmd, "kept") && o.bootstrap && o.topic)
                return cmd_kept(&o);
        if (!strcmp(cmd, "tally") && o.bootstrap && o.topic && o.seconds > 0 &&
            o.warmup >= 0)
                return cmd_tally(&o);
        if (!strcmp(cmd, "first") && o.bootstrap && o.topic) {
                if (o.seconds <= 0)
                        o.seconds = 120;
                return cmd_first(&o);
        }
usage:
        fputs(usage, stderr);
        return 2;
}
