/* produce.c — `recstream produce`: the canonical CSV (or the built-in
 * generator) to Avro BehaviorEvents on a topic, keyed by user_id; with
 * --output to the canonical CSV in a file instead (what `eval` reads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "recstream/codec.h"
#include "recstream/csvin.h"
#include "recstream/gen.h"
#include "recstream/kafka.h"
#include "recstream/log.h"

static const rs_cmd_info_t produce_cmd = {
        .name = "produce",
        .synopsis = "(-b BOOTSTRAP -t TOPIC | --output OUT.csv) (--input FILE "
                    "| --generate N)\n"
                    "       [--framing F] [--schema-id ID] [--seed S] "
                    "[--start-ts MS|now]\n"
                    "       [--id-offset N] [--world series|platform] "
                    "[--users N]\n"
                    "       [--items N] [--days D] [-X "
                    "librdkafka.key=value]...",
        .about = "Writes BehaviorEvent records keyed by user_id. FILE is "
                 "the canonical event\nCSV ('-' for stdin); bad rows are "
                 "reported and skipped. --generate writes N\nevents of the "
                 "built-in short-video generator (event ids e1, e2, ...); a "
                 "later\nrun continues that history instead of repeating it "
                 "with --id-offset and\n--start-ts: the summary line on "
                 "stderr says which values continue this run.\n"
                 "--world platform is the realistic stream (include/"
                 "recstream/gen.h): by\ndefault 5,000 users and 22,000 "
                 "videos over 14 days, sessions, a play\nbefore every "
                 "watch or skip, series, drifting tastes, new releases, "
                 "bots;\nit ends after its days (--generate N: at most N "
                 "events); continued, it is\nanother world with the same "
                 "user and video names.\n",
        .signals = "SIGINT, SIGTERM  stop writing, deliver what was "
                   "written (up to 60 s), exit\n"
                   "SIGHUP           logged and ignored",
        .exits = "0  every event written was delivered\n"
                 "1  the input cannot be read, or a delivery failed\n"
                 "2  usage error",
};

static int opt_world(const char *arg, void *dst, char *why, size_t why_size)
{
        if (strcmp(arg, "series") && strcmp(arg, "platform")) {
                snprintf(why, why_size, "expected series or platform, got '%s'",
                         arg);
                return -1;
        }
        *(int *)dst = strcmp(arg, "series") ? RS_GEN_PLATFORM : RS_GEN_SERIES;
        return 0;
}

static int opt_start_ts(const char *arg, void *dst, char *why, size_t why_size)
{
        int64_t v;

        if (!strcmp(arg, "now")) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                *(int64_t *)dst =
                        (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
                return 0;
        }
        if (rs_int_parse(arg, &v) || v < 0 || v > 253402300799999LL) {
                snprintf(why, why_size,
                         "expected milliseconds since the Unix epoch (0 to "
                         "253402300799999) or now, got '%s'",
                         arg);
                return -1;
        }
        *(int64_t *)dst = v;
        return 0;
}

typedef struct delivery {
        unsigned long long ok, failed;
        char first_error[256];
} delivery_t;

static void on_delivery(void *opaque, void *msg_opaque, rs_err_t err,
                        const char *reason, int32_t partition, int64_t offset)
{
        delivery_t *d = opaque;

        (void)msg_opaque;
        (void)partition;
        (void)offset;
        if (!err) {
                d->ok++;
                return;
        }
        if (!d->failed++)
                snprintf(d->first_error, sizeof(d->first_error), "%s", reason);
}

/* A text field as the canonical CSV reader takes it back: in quotes, with
 * quotes doubled, when it holds a comma, a quote or a line break; then
 * sep. Returns what fprintf does. */
static int csv_text(FILE *out, const char *s, char sep)
{
        if (!s[strcspn(s, ",\"\r\n")])
                return fprintf(out, "%s%c", s, sep);
        if (fputc('"', out) == EOF)
                return -1;
        for (; *s; s++)
                if ((*s == '"' && fputc('"', out) == EOF) ||
                    fputc(*s, out) == EOF)
                        return -1;
        return fprintf(out, "\"%c", sep);
}

/* One row of the canonical CSV (../shared/data/README.md). Returns what
 * fprintf does. */
static int csv_row(FILE *out, const rs_event_fields_t *ev)
{
        char watch[24] = "", dur[24] = "", value[32] = "";

        if (ev->watch_ms != 0 && ev->watch_ms != RS_NONE_I64)
                snprintf(watch, sizeof(watch), "%lld", (long long)ev->watch_ms);
        if (ev->duration_ms != RS_NONE_I64)
                snprintf(dur, sizeof(dur), "%lld", (long long)ev->duration_ms);
        if (ev->value == ev->value) /* not NaN */
                snprintf(value, sizeof(value), "%.17g", ev->value);
        if (csv_text(out, ev->event_id, ',') < 0 ||
            csv_text(out, ev->user_id, ',') < 0 ||
            csv_text(out, ev->item_id, ',') < 0 ||
            fprintf(out, "%s,%lld,%s,%s,", rs_event_type_name(ev->type),
                    (long long)ev->ts, watch, dur) < 0 ||
            csv_text(out, ev->category ? ev->category : "", ',') < 0)
                return -1;
        return fprintf(out, "%s\n", value);
}

int rs_cmd_produce(int argc, char **argv)
{
        const char *bootstrap = NULL, *topic = NULL, *input = NULL, *reason;
        const char *output = NULL;
        FILE *out = NULL;
        int64_t generate = -1, schema_id = 1, seed = 42, id_offset = 0,
                start_ts = 1767225600000LL, last_ts = 0, users = -1, items = -1,
                days = -1;
        int framing = RS_FRAMING_PLAIN, rc = RS_EXIT_FAIL;
        int world = RS_GEN_SERIES;
        unsigned long long bad = 0, sent = 0;
        rs_cli_props_t props = {.n = 0};
        const rs_opt_t opts[] = {
                RS_OPT_BOOTSTRAP(&bootstrap, "the brokers (bootstrap.servers)",
                                 0),
                RS_OPT_TOPIC(&topic, "the topic to write", 0),
                {.name = "output",
                 .short_name = 'o',
                 .kind = RS_OPT_STRING,
                 .dst = &output,
                 .arg = "OUT.csv",
                 .doc = "write the events as the canonical CSV to OUT "
                        "('-':\nstdout) instead of Kafka (no -b, -t, -X), "
                        "e.g. a\ngenerated stream for `eval`"},
                {.name = "input",
                 .short_name = 'i',
                 .kind = RS_OPT_STRING,
                 .dst = &input,
                 .arg = "FILE",
                 .doc = "the canonical event CSV ('-': stdin)"},
                {.name = "generate",
                 .kind = RS_OPT_INT,
                 .dst = &generate,
                 .arg = "N",
                 .min = 0,
                 .max = 1e15,
                 .doc = "N generated events instead of a file"},
                RS_OPT_FRAMING(&framing),
                {.name = "schema-id",
                 .kind = RS_OPT_INT,
                 .dst = &schema_id,
                 .arg = "ID",
                 .min = 0,
                 .max = 2147483647,
                 .doc = "the Confluent schema id written (default 1)"},
                {.name = "seed",
                 .kind = RS_OPT_INT,
                 .dst = &seed,
                 .arg = "S",
                 .min = 0,
                 .max = 9.2e18,
                 .doc = "--generate: the generator's seed (default 42)"},
                {.name = "start-ts",
                 .kind = RS_OPT_FN,
                 .dst = &start_ts,
                 .fn = opt_start_ts,
                 .arg = "MS|now",
                 .doc = "--generate: the first event's time, ms since "
                        "the\nepoch or now (default "
                        "1767225600000,\n2026-01-01T00:00:00Z)"},
                {.name = "id-offset",
                 .kind = RS_OPT_INT,
                 .dst = &id_offset,
                 .arg = "N",
                 .min = 0,
                 .max = 1e18,
                 .doc = "--generate: event ids start at e<N+1> (default "
                        "0)"},
                {.name = "world",
                 .kind = RS_OPT_FN,
                 .dst = &world,
                 .fn = opt_world,
                 .arg = "W",
                 .doc = "--generate: series (default: 1,000 users, 2,320 "
                        "videos,\nendless) or platform (see above)"},
                {.name = "users",
                 .kind = RS_OPT_INT,
                 .dst = &users,
                 .arg = "N",
                 .min = 1,
                 .max = 100000000,
                 .doc = "--generate: the users (default 1000, platform "
                        "5000)"},
                {.name = "items",
                 .kind = RS_OPT_INT,
                 .dst = &items,
                 .arg = "N",
                 .min = 16,
                 .max = 100000000,
                 .doc = "--world platform: the videos, 55% of them "
                        "episodes of\nseries of 8 (default 22000)"},
                {.name = "days",
                 .kind = RS_OPT_INT,
                 .dst = &days,
                 .arg = "D",
                 .min = 1,
                 .max = 3650,
                 .doc = "--world platform: the days it spans (default "
                        "14)"},
                RS_OPT_PROPERTY(&props, "producer"),
                {.name = NULL}};
        char errstr[512] = "out of memory"; /* unless a constructor says */
        FILE *f = NULL;
        rs_csv_t *csv = NULL;
        rs_gen_t *gen = NULL;
        rs_intern_t *in = NULL;
        rs_codec_t *codec = NULL;
        rs_sink_t *sink = NULL;
        delivery_t dr = {0};
        int r = rs_cli_parse(&produce_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
        if ((!input) == (generate < 0))
                return rs_cli_usage_error(&produce_cmd,
                                          "give one of --input and "
                                          "--generate");
        if (!output && (!bootstrap || !topic))
                return rs_cli_usage_error(&produce_cmd,
                                          "give -b and -t (or --output)");
        if (output && (bootstrap || topic || props.n))
                return rs_cli_usage_error(&produce_cmd,
                                          "--output writes a file: no -b, "
                                          "-t or -X");
        if (input && (seed != 42 || id_offset || start_ts != 1767225600000LL ||
                      world || users > 0))
                return rs_cli_usage_error(&produce_cmd,
                                          "--seed, --start-ts, --id-offset, "
                                          "--world and --users only apply "
                                          "to --generate");
        if (world != RS_GEN_PLATFORM && (items > 0 || days > 0))
                return rs_cli_usage_error(&produce_cmd,
                                          "--items and --days only apply "
                                          "to --world platform");

        if (input) {
                f = strcmp(input, "-") ? fopen(input, "rb") : stdin;
                if (!f) {
                        fprintf(stderr, "recstream: produce: cannot open %s\n",
                                input);
                        return RS_EXIT_FAIL;
                }
                if (!(csv = rs_csv_new(f, errstr, sizeof(errstr)))) {
                        fprintf(stderr, "recstream: produce: %s: %s\n", input,
                                errstr);
                        goto out;
                }
        } else {
                rs_gen_conf_t gc = {.seed = (uint64_t)seed,
                                    .users = 1000,
                                    .series = 40,
                                    .episodes = 8,
                                    .standalone = 2000,
                                    .categories = 8,
                                    .start_ts = start_ts,
                                    .first_id = (uint64_t)id_offset};
                if (world == RS_GEN_PLATFORM) {
                        uint32_t n = items > 0 ? (uint32_t)items : 22000;
                        gc.world = RS_GEN_PLATFORM;
                        gc.users = 5000;
                        gc.series = (uint32_t)(n * 0.55 / 8);
                        gc.standalone = n - gc.series * 8;
                        gc.categories = 16;
                        gc.days = days > 0 ? (uint32_t)days : 14;
                        gc.bots_permille = 5;
                }
                if (users > 0)
                        gc.users = (uint32_t)users;
                if (!(gen = rs_gen_new(&gc)))
                        goto out;
        }
        if (output) {
                out = strcmp(output, "-") ? fopen(output, "w") : stdout;
                if (!out) {
                        fprintf(stderr, "recstream: produce: cannot write %s\n",
                                output);
                        goto out;
                }
                if (fputs("event_id,user_id,item_id,event_type,ts_ms,watch_ms,"
                          "duration_ms,category,value\n",
                          out) < 0)
                        goto write_fail;
        }
        if (!out) { /* the Kafka path: Avro records through a producer */
                rs_kv_list_t kv = rs_cli_props_list(&props);
                rs_kv_t boot = {"bootstrap.servers", bootstrap, NULL};
                rs_kv_list_t common = {&boot, 1};
                if (!(in = rs_intern_new()) ||
                    !(codec = rs_codec_new(framing, in, errstr,
                                           sizeof(errstr))) ||
                    !(sink = rs_sink_new(&common, topic, &kv, on_delivery, &dr,
                                         errstr, sizeof(errstr)))) {
                        fprintf(stderr, "recstream: produce: %s\n", errstr);
                        goto out;
                }
                rs_codec_set_schema_ids(codec, (int32_t)schema_id, 2);
        }
        rs_cli_on_signals();
        for (;;) {
                rs_event_fields_t ev;
                const void *buf;
                size_t len;
                if (rs_cli_stop)
                        break;
                rs_cli_signals_poll("produce");
                if (gen) {
                        if ((int64_t)sent >= generate || !rs_gen_next(gen, &ev))
                                break;
                } else {
                        rs_err_t err = rs_csv_next(csv, &ev, &reason, errstr,
                                                   sizeof(errstr));
                        if (err == RS_ERR_NOENT)
                                break;
                        if (err) {
                                if (bad++ < 10)
                                        fprintf(stderr,
                                                "recstream: produce: %s: %s "
                                                "(skipped)\n",
                                                input, errstr);
                                continue;
                        }
                }
                last_ts = ev.ts;
                if (out) {
                        if (csv_row(out, &ev) < 0)
                                goto write_fail;
                        sent++;
                        continue;
                }
                if (rs_codec_encode_event(codec, &ev, &buf, &len)) {
                        bad++;
                        continue;
                }
                if (rs_sink_produce(sink, 0, -1, ev.user_id, strlen(ev.user_id),
                                    buf, len, NULL, 0, NULL))
                        goto out;
                sent++;
                if ((sent & 1023) == 0)
                        rs_sink_poll(sink, 0);
        }
        if (out) {
                if (fflush(out) || ferror(out))
                        goto write_fail;
                fprintf(stderr,
                        "recstream: produce: %llu events to %s (%llu bad "
                        "rows skipped)\n",
                        sent, output, bad);
        } else {
                if (rs_sink_flush(sink, 60000)) {
                        fprintf(stderr,
                                "recstream: produce: flush timed out\n");
                        goto out;
                }
                fprintf(stderr,
                        "recstream: produce: %llu events to %s (%llu "
                        "delivered, %llu failed, %llu bad rows skipped)\n",
                        sent, topic, dr.ok, dr.failed, bad);
                if (dr.failed)
                        fprintf(stderr,
                                "recstream: produce: first failure: %s\n",
                                dr.first_error);
        }
        if (gen)
                fprintf(stderr,
                        "recstream: produce: to continue this history: "
                        "--seed %lld --id-offset %llu --start-ts %lld\n",
                        (long long)seed + 1,
                        (unsigned long long)id_offset + sent,
                        (long long)(sent ? last_ts + 1 : start_ts));
        rc = dr.failed ? RS_EXIT_FAIL : RS_EXIT_OK;
        goto out;
write_fail:
        fprintf(stderr, "recstream: produce: writing %s failed\n", output);
out:
        if (out && out != stdout && fclose(out) && rc == RS_EXIT_OK) {
                fprintf(stderr, "recstream: produce: writing %s failed\n",
                        output);
                rc = RS_EXIT_FAIL;
        }
        rs_sink_destroy(sink);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        rs_csv_destroy(csv);
        rs_gen_destroy(gen);
        if (f && f != stdin)
                fclose(f);
        return rc;
}
