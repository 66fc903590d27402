/* demo.c — `recstream demo`: the embedded default in one process. Starts
 * the dev broker, writes generated short-video events, runs the demo
 * pipeline until every event is processed and its output delivered, then
 * reads the output topic back and prints it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "recstream/buf.h"
#include "recstream/codec.h"
#include "recstream/devbroker.h"
#include "recstream/gen.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
#include "recstream/pipeline.h"
#include "recstream/worker.h"

static const rs_cmd_info_t demo_cmd = {
        .name = "demo",
        .synopsis = "[-c PIPELINE] [--events N] [--show N]",
        .about = "Runs the dev broker, N generated events (default 2000), "
                 "the pipeline and\nprints what reached the output topic. "
                 "The pipeline is pipelines/demo.yaml,\nbuilt into the "
                 "binary (it runs from any directory); -c runs another one\n"
                 "(its bootstrap.servers from ${KAFKA_BOOTSTRAP}, which demo "
                 "sets).\n",
        .env = "KAFKA_BOOTSTRAP        set by demo itself to the dev broker's "
               "address",
        .signals = "SIGINT, SIGTERM  stop the worker and the broker, exit 1",
        .exits = "0  every event processed and every list read back\n"
                 "1  the broker, worker or read-back failed or timed out\n"
                 "2  usage error, or the pipeline has errors",
        .config = 1,
};

#define DEMO_USERS 200
#define RECENT     5

/* What each generated user did last, to show next to their list. */
typedef struct recent {
        char item[DEMO_USERS][RECENT][24];
        int n[DEMO_USERS];
} recent_t;

static void remember(recent_t *r, const rs_event_fields_t *ev)
{
        int u = atoi(ev->user_id + 1); /* "u<N>" */
        int positive = ev->type == RS_EV_LIKE || ev->type == RS_EV_SHARE ||
                       (ev->type == RS_EV_WATCH && ev->duration_ms > 0 &&
                        ev->watch_ms * 2 >= ev->duration_ms);

        if (!positive || u < 0 || u >= DEMO_USERS)
                return;
        if (r->n[u] && !strcmp(r->item[u][(r->n[u] - 1) % RECENT], ev->item_id))
                return; /* a like right after its watch */
        snprintf(r->item[u][r->n[u] % RECENT], sizeof(r->item[u][0]), "%s",
                 ev->item_id);
        r->n[u]++;
}

typedef struct counts {
        unsigned long long ok, failed;
} counts_t;

static void on_delivery(void *opaque, void *msg_opaque, rs_err_t err,
                        const char *reason, int32_t partition, int64_t offset)
{
        counts_t *c = opaque;
        (void)msg_opaque;
        (void)partition;
        (void)offset;
        (void)reason;
        if (err)
                c->failed++;
        else
                c->ok++;
}

/* Writes the next n events of gen to the pipeline's first input topic. */
static int produce_events(const rs_pipeline_t *pl, rs_gen_t *gen, long n,
                          recent_t *recent, char *errstr, size_t errstr_size)
{
        counts_t dr = {0, 0};
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                in ? rs_codec_new(pl->source.framing, in, errstr, errstr_size)
                   : NULL;
        rs_sink_t *sink = rs_sink_new(&pl->kafka, pl->source.topics.v[0], NULL,
                                      on_delivery, &dr, errstr, errstr_size);
        int rc = -1;

        if (!gen || !codec || !sink)
                goto out;
        rs_codec_set_schema_ids(codec, (int32_t)pl->source.schema_id,
                                (int32_t)pl->sink.schema_id);
        for (long i = 0; i < n; i++) {
                rs_event_fields_t ev;
                const void *buf;
                size_t len;
                rs_gen_next(gen, &ev);
                remember(recent, &ev);
                if (rs_codec_encode_event(codec, &ev, &buf, &len) ||
                    rs_sink_produce(sink, 0, -1, ev.user_id, strlen(ev.user_id),
                                    buf, len, NULL, 0, NULL)) {
                        rs_seterr(errstr, errstr_size, RS_ERR_ENCODE,
                                  "cannot produce event %ld", i);
                        goto out;
                }
        }
        if (rs_sink_flush(sink, 30000) || dr.failed ||
            dr.ok != (unsigned long long)n) {
                rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                          "%llu of %ld events delivered", dr.ok, n);
                goto out;
        }
        rc = 0;
out:
        rs_sink_destroy(sink);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        return rc;
}

/* Steps the worker until it consumed `until` records and what it produced
 * has gone round (its deltas applied, the lists published and read back),
 * at most `seconds`. 0 when it got there. */
static int run_until(rs_worker_t *w, unsigned long long until, double seconds)
{
        rs_worker_stats_t st;
        double deadline = rs_cli_now() + seconds;

        for (;;) {
                rs_cli_signals_poll("demo");
                if (rs_worker_step(w) || rs_cli_stop || rs_cli_now() > deadline)
                        return -1;
                rs_worker_stats(w, &st);
                if (st.consumed >= until && rs_worker_settled(w))
                        return 0;
        }
}

static void show_user(const recent_t *recent, int u, const rs_recs_t *r,
                      const rs_intern_t *in)
{
        printf("  u%d watched:", u);
        int first = recent->n[u] > RECENT ? recent->n[u] - RECENT : 0;
        for (int i = first; i < recent->n[u]; i++)
                printf("%s %s", i > first ? "," : "",
                       recent->item[u][i % RECENT]);
        printf("\n");
        for (uint32_t i = 0; i < r->n; i++) {
                const rs_rec_t *it = &r->items[i];
                printf("    %2u. %-8s %.3f  ", i + 1,
                       rs_intern_str(in, it->item, NULL), it->score);
                if (it->because_of != RS_ID_NONE)
                        printf("%s %s\n",
                               it->reason == RS_REASON_SEQUENCE
                                       ? "next after"
                                       : "because you watched",
                               rs_intern_str(in, it->because_of, NULL));
                else
                        printf("%s\n", rs_reason_name(it->reason));
        }
}

/* Reads the output topic from the beginning, keeps each user's newest
 * list, prints `show` records as they are on the wire and a few users'
 * watches next to their lists. Returns how many records it read. */
static long print_output(const rs_pipeline_t *pl, const char *bootstrap,
                         long expect, long show, const recent_t *recent)
{
        char errstr[512] = "out of memory"; /* unless a constructor says */
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                in ? rs_codec_new(pl->sink.framing, in, errstr, sizeof(errstr))
                   : NULL;
        rs_kv_t boot = {"bootstrap.servers", bootstrap, NULL};
        rs_kv_list_t common = {&boot, 1};
        rs_reader_t *rd = rs_reader_new(&common, NULL, pl->sink.topic, 1, 20000,
                                        errstr, sizeof(errstr));
        rs_recs_t *latest = calloc(DEMO_USERS, sizeof(*latest));
        rs_buf_t line;
        rs_recs_t recs;
        long got = 0, bad = 0, users = 0;
        double deadline = rs_cli_now() + 20;

        rs_buf_init(&line);
        if (!codec || !rd || !latest) {
                fprintf(stderr, "recstream: demo: %s\n", errstr);
                goto out;
        }
        rs_codec_set_schema_ids(codec, (int32_t)pl->source.schema_id,
                                (int32_t)pl->sink.schema_id);
        printf("\noutput topic %s, as JSON (first %ld):\n", pl->sink.topic,
               show);
        while (got + bad < expect && rs_cli_now() < deadline) {
                const rs_msg_t *m = rs_reader_next(rd, 200);
                if (!m)
                        continue;
                if (rs_codec_decode_recs(codec, m->value, m->len, &recs)) {
                        bad++;
                        continue;
                }
                char *json = NULL;
                if (got++ < show &&
                    !rs_codec_recs_to_json(codec, m->value, m->len, &json)) {
                        printf("%s\n", json); /* as `tail` prints it */
                        free(json);
                }
                const char *uid = rs_intern_str(in, recs.user, NULL);
                int u = atoi(uid + 1);
                if (u >= 0 && u < DEMO_USERS &&
                    recs.generated_ts >= latest[u].generated_ts) {
                        users += latest[u].generated_ts == 0;
                        latest[u] = recs;
                }
        }
        printf("\nlatest lists of a few of the %ld users:\n", users);
        for (int u = 0, shown = 0; u < DEMO_USERS && shown < 4; u++)
                if (latest[u].n >= 3 && recent->n[u] >= 3) {
                        show_user(recent, u, &latest[u], in);
                        shown++;
                }
out:
        free(latest);
        rs_buf_fini(&line);
        rs_reader_destroy(rd);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        return bad ? -1 : got;
}

#define BUILTIN "pipelines/demo.yaml, built in"

extern const char rs_pipeline_demo_yaml[]; /* build/gen/pipelines.c */

/* The demo pipeline built into the binary; NULL after printing its
 * errors (none unless the build is broken). */
static rs_pipeline_t *builtin_pipeline(void)
{
        rs_diag_t d;
        rs_pipeline_t *pl;

        rs_diag_init(&d, BUILTIN);
        pl = rs_pipeline_parse(rs_pipeline_demo_yaml,
                               strlen(rs_pipeline_demo_yaml), &d);
        if (!pl)
                rs_cli_print_diag(&d);
        rs_diag_fini(&d);
        return pl;
}

int rs_cmd_demo(int argc, char **argv)
{
        const char *path = NULL;
        int64_t events = 2000, show = 3;
        const rs_opt_t opts[] = {
                {.name = "config",
                 .short_name = 'c',
                 .kind = RS_OPT_STRING,
                 .dst = &path,
                 .arg = "PIPELINE",
                 .doc = "a pipeline file instead of the built-in demo "
                        "pipeline"},
                {.name = "events",
                 .short_name = 'n',
                 .kind = RS_OPT_INT,
                 .dst = &events,
                 .arg = "N",
                 .min = 4,
                 .max = 10000000,
                 .doc = "generated events (default 2000)"},
                {.name = "show",
                 .short_name = 's',
                 .kind = RS_OPT_INT,
                 .dst = &show,
                 .arg = "N",
                 .min = 0,
                 .max = 1000000,
                 .doc = "output records printed in full (default 3)"},
                {.name = NULL}};
        const char *const topics[] = {"video.behavior", "video.recs"};
        char errstr[512] = "out of memory"; /* unless a constructor says */
        int rc = RS_EXIT_FAIL;
        rs_devbroker_t *db = NULL;
        rs_pipeline_t *pl = NULL;
        rs_worker_t *w = NULL;
        rs_worker_stats_t st;
        rs_gen_conf_t gc = {.seed = 7,
                            .users = DEMO_USERS,
                            .series = 24,
                            .episodes = 6,
                            .standalone = 300,
                            .categories = 8,
                            .start_ts = 1767225600000LL};
        rs_gen_t *gen = NULL;
        double t0 = rs_cli_now();
        recent_t *recent = NULL;
        int r = rs_cli_parse(&demo_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
        if (!(recent = calloc(1, sizeof(*recent))) ||
            !(gen = rs_gen_new(&gc))) {
                free(recent);
                fprintf(stderr, "recstream: demo: out of memory\n");
                return RS_EXIT_FAIL;
        }
        if (!getenv("RECSTREAM_LOG_LEVEL"))
                rs_log_set_level(RS_LOG_WARNING);
        rs_cli_on_signals();

        if (!(db = rs_devbroker_new(1, 4, 0, topics, 2, errstr,
                                    sizeof(errstr)))) {
                fprintf(stderr, "recstream: demo: %s\n", errstr);
                goto out;
        }
        /* The pipeline reads its broker from ${KAFKA_BOOTSTRAP}. */
        setenv("KAFKA_BOOTSTRAP", rs_devbroker_bootstrap(db), 1);
        printf("dev broker:   %s\n", rs_devbroker_bootstrap(db));

        if (!(pl = path ? rs_cli_load_pipeline(path) : builtin_pipeline())) {
                rc = RS_EXIT_USAGE;
                goto out;
        }
        printf("pipeline:     %s (%s, config %s)\n", pl->name,
               path ? path : BUILTIN, pl->hash);
        rs_cli_watchdog(pl->shutdown_timeout + 5000);
        /* its internal topics, which the mock cannot create on request */
        if (rs_devbroker_create_topic(db, pl->topology.deltas_topic,
                                      (int)pl->topology.partitions) ||
            rs_devbroker_create_topic(db, pl->topology.neighbors_topic,
                                      (int)pl->topology.partitions) ||
            rs_devbroker_create_topic(db, pl->state.items_topic,
                                      (int)pl->topology.partitions)) {
                fprintf(stderr, "recstream: demo: cannot create topics\n");
                goto out;
        }

        /* Three quarters of the events, until the model learnt from them
         * has gone round (user side → deltas → item side → neighbour
         * lists → every replica's table); then the last quarter, whose
         * users get lists from it. */
        long first = (long)(events - events / 4);
        if (produce_events(pl, gen, first, recent, errstr, sizeof(errstr))) {
                fprintf(stderr, "recstream: demo: %s\n", errstr);
                goto out;
        }
        printf("produced:     %ld generated events to %s\n", first,
               pl->source.topics.v[0]);
        if (!(w = rs_worker_new(pl, -1, &rs_cli_stop, NULL, errstr,
                                sizeof(errstr)))) {
                fprintf(stderr, "recstream: demo: %s\n", errstr);
                goto out;
        }
        int late = run_until(w, (unsigned long long)first, 45);
        if (!late) {
                rs_worker_stats(w, &st);
                printf("learnt:       %llu pair deltas applied, %llu "
                       "neighbour records read back\n",
                       (unsigned long long)st.deltas_applied,
                       (unsigned long long)st.nb_applied);
                if (produce_events(pl, gen, (long)events - first, recent,
                                   errstr, sizeof(errstr))) {
                        fprintf(stderr, "recstream: demo: %s\n", errstr);
                        goto out;
                }
                printf("produced:     %ld more\n", (long)events - first);
                late = run_until(w, (unsigned long long)events, 45);
        }
        rs_worker_stats(w, &st);
        rs_err_t err = rs_worker_close(w);
        w = NULL;
        printf("worker:       consumed %llu, decoded %llu, produced %llu, "
               "delivered %llu UserRecs\n",
               (unsigned long long)st.consumed, (unsigned long long)st.decoded,
               (unsigned long long)st.produced,
               (unsigned long long)st.delivered);
        if (err || st.consumed < (unsigned long long)events) {
                fprintf(stderr,
                        "recstream: demo: the worker did not finish "
                        "(%s)\n",
                        err ? rs_err_str(err) : "timed out");
                goto out;
        }

        long got = print_output(pl, rs_devbroker_bootstrap(db),
                                (long)st.delivered, (long)show, recent);
        if (got != (long)st.delivered) {
                fprintf(stderr,
                        "recstream: demo: read %ld of %llu output "
                        "records back\n",
                        got, (unsigned long long)st.delivered);
                goto out;
        }
        printf("\ndemo OK: %ld events in, %ld UserRecs out, %.1f s\n",
               (long)events, got, rs_cli_now() - t0);
        rc = RS_EXIT_OK;
out:
        rs_worker_close(w);
        rs_pipeline_destroy(pl);
        rs_devbroker_destroy(db);
        rs_gen_destroy(gen);
        free(recent);
        return rc;
}
