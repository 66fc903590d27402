/* kafka_bench — the Kafka end-to-end and latency benchmarks' clients
 * (bench/kafka_bench.sh drives them against `recstream dev-broker`).
 *
 *   kafka_bench load    -b B -t TOPIC -n N [--users U] [--events-per-s E]
 *       N generated BehaviorEvents as fast as the producer goes, keyed by
 *       user; event time advances E events per second (default 20,000), and
 *       each message's timestamp is its event time. Then reads the
 *       partitions' watermarks: prints `produced=N kept=K` (the mock cluster
 *       drops a partition's oldest messages beyond ~100,000 / 5 MiB).
 *   kafka_bench bare    -b B -t TOPIC -g GROUP -n K [--batch M]
 *       The physical limit: a fresh group, rd_kafka_consume_batch_queue and
 *       the worker's own codec decode (rs_codec_decode_event), nothing else.
 *   kafka_bench worker  -c PIPELINE -g GROUP -n K
 *       The worker exactly as `recstream run` builds it (rs_worker_new,
 *       rs_worker_step until K events are consumed), with group GROUP.
 *   kafka_bench latency -b B -t TOPIC -r RECS_TOPIC --rate R --seconds S
 *                       [--users U] [--warmup W] [--linger MS] [--seed S]
 *       Produces R events/s for S seconds, each event's ts the wall clock at
 *       its produce call, and reads the worker's UserRecs meanwhile: for a
 *       UserRecs of user u with generated_ts T, the event it reflects is u's
 *       newest event with ts T; latency = UserRecs arrival − that event's
 *       produce call. Events of the first W seconds are not measured.
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
#include <time.h>

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
        long long n;
        unsigned long long seed;
        long users, batch, linger_ms;
        int progress;
        double events_per_s, rate, seconds, warmup;
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

static rs_gen_t *gen_new(long users, unsigned long long seed)
{
        rs_gen_conf_t gc = {.seed = seed,
                            .users = (uint32_t)users,
                            .series = 2000,
                            .episodes = 8,
                            .standalone = 1000000,
                            .categories = 16,
                            .start_ts = 0};
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
        rs_gen_t *gen = gen_new(o->users, o->seed);
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
        char errstr[512], extra[256];
        long long first = 0;
        int64_t t_first = 0, t_last = 0, deadline, next_progress = 0;
        rs_err_t err = RS_OK;

        rs_diag_init(&d, o->pipeline);
        if (!(pl = rs_pipeline_load(o->pipeline, 0, &d))) {
                fprintf(stderr, "%s", d.text.p ? d.text.p : "");
                return 2;
        }
        rs_diag_fini(&d);
        if (o->group)
                pl->source.group = o->group;
        if (!(w = rs_worker_new(pl, -1, NULL, errstr, sizeof(errstr))))
                die("worker", errstr);
        deadline = mono_us() + 600 * 1000000LL;
        do {
                if ((err = rs_worker_step(w)))
                        break;
                rs_worker_stats(w, &st);
                if (st.consumed && !t_first) {
                        t_first = mono_us();
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
        rs_worker_stats(w, &st);
        snprintf(extra, sizeof(extra),
                 " decoded=%llu produced=%llu delivered=%llu",
                 (unsigned long long)st.decoded,
                 (unsigned long long)st.produced,
                 (unsigned long long)st.delivered);
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
        rs_gen_t *gen = gen_new(o->users, o->seed);
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

static const char usage[] =
        "usage: kafka_bench load    -b B -t TOPIC -n N [--users U] "
        "[--events-per-s E]\n"
        "       kafka_bench bare    -b B -t TOPIC -g GROUP -n K [--batch M]\n"
        "       kafka_bench worker  -c PIPELINE -g GROUP -n K\n"
        "       kafka_bench latency -b B -t TOPIC -r RECS --rate R --seconds "
        "S\n"
        "                           [--users U] [--warmup W] [--linger MS]\n"
        "       (load and latency also take --seed S)\n";

int main(int argc, char **argv)
{
        static const struct option lopts[] = {
                {"users", 1, NULL, 'u'},   {"events-per-s", 1, NULL, 'e'},
                {"batch", 1, NULL, 'm'},   {"rate", 1, NULL, 'R'},
                {"seconds", 1, NULL, 's'}, {"warmup", 1, NULL, 'w'},
                {"linger", 1, NULL, 'l'},  {"seed", 1, NULL, 'S'},
                {NULL, 0, NULL, 0}};
        opts_t o = {.users = 100000,
                    .batch = 10000,
                    .linger_ms = 5,
                    .events_per_s = 20000,
                    .warmup = 2,
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
        if (o.users < 1 || o.batch < 1 || o.events_per_s <= 0)
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
usage:
        fputs(usage, stderr);
        return 2;
}
