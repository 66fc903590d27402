/* produce.c — `recstream produce`: the canonical CSV (or the built-in
 * generator) to Avro BehaviorEvents on a topic, keyed by user_id; with
 * --output to the canonical CSV in a file instead (what `eval` reads). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "recstream/codec.h"
#include "recstream/csvin.h"
#include "recstream/gen.h"
#include "recstream/kafka.h"
#include "recstream/log.h"

static const char usage[] =
        "usage: recstream produce -b BOOTSTRAP -t TOPIC (--input FILE.csv | "
        "--generate N)\n"
        "       [--framing plain|confluent|single-object] [--schema-id ID]\n"
        "       [--seed S] [-X librdkafka.key=value]...\n"
        "       recstream produce --output OUT.csv (--input FILE.csv | "
        "--generate N) [--seed S]\n"
        "Writes BehaviorEvent records keyed by user_id. FILE is the canonical\n"
        "event CSV ('-' for stdin); --generate writes N events of the "
        "built-in\n"
        "short-video generator. Bad CSV rows are reported and skipped.\n"
        "--output writes the events as the canonical CSV to OUT ('-' for\n"
        "stdout) instead of Kafka, e.g. a generated stream for `eval`.\n";

/* One row of the canonical CSV (../shared/data/README.md); ids and
 * categories are written as they are (the generator's have no commas,
 * quotes or line breaks). Returns what fprintf does. */
static int csv_row(FILE *out, const rs_event_fields_t *ev)
{
        char watch[24] = "", dur[24] = "", value[32] = "";

        if (ev->watch_ms != 0 && ev->watch_ms != RS_NONE_I64)
                snprintf(watch, sizeof(watch), "%lld", (long long)ev->watch_ms);
        if (ev->duration_ms != RS_NONE_I64)
                snprintf(dur, sizeof(dur), "%lld", (long long)ev->duration_ms);
        if (ev->value == ev->value) /* not NaN */
                snprintf(value, sizeof(value), "%.17g", ev->value);
        return fprintf(out, "%s,%s,%s,%s,%lld,%s,%s,%s,%s\n", ev->event_id,
                       ev->user_id, ev->item_id, rs_event_type_name(ev->type),
                       (long long)ev->ts, watch, dur,
                       ev->category ? ev->category : "", value);
}

typedef struct delivery {
        unsigned long long ok, failed;
        char first_error[256];
} delivery_t;

static void on_delivery(void *opaque, void *msg_opaque, rs_err_t err,
                        const char *reason)
{
        delivery_t *d = opaque;

        (void)msg_opaque;
        if (!err) {
                d->ok++;
                return;
        }
        if (!d->failed++)
                snprintf(d->first_error, sizeof(d->first_error), "%s", reason);
}

int rs_cmd_produce(int argc, char **argv)
{
        static const struct option opts[] = {
                {"bootstrap", 1, NULL, 'b'}, {"topic", 1, NULL, 't'},
                {"input", 1, NULL, 'i'},     {"generate", 1, NULL, 'g'},
                {"framing", 1, NULL, 'f'},   {"schema-id", 1, NULL, 's'},
                {"seed", 1, NULL, 'S'},      {"help", 0, NULL, 'h'},
                {"output", 1, NULL, 'o'},    {NULL, 0, NULL, 0}};
        const char *bootstrap = NULL, *topic = NULL, *input = NULL, *reason;
        const char *output = NULL;
        FILE *out = NULL;
        long long generate = -1;
        int framing = RS_FRAMING_PLAIN, schema_id = 1, c, rc = RS_EXIT_FAIL;
        unsigned long long seed = 42, bad = 0, sent = 0;
        rs_cli_props_t props = {.n = 0};
        char errstr[512];
        FILE *f = NULL;
        rs_csv_t *csv = NULL;
        rs_gen_t *gen = NULL;
        rs_intern_t *in = NULL;
        rs_codec_t *codec = NULL;
        rs_sink_t *sink = NULL;
        delivery_t dr = {0};

        optind = 1;
        while ((c = getopt_long(argc, argv, "b:t:i:X:h", opts, NULL)) != -1) {
                switch (c) {
                case 'b': bootstrap = optarg; break;
                case 't': topic = optarg; break;
                case 'i': input = optarg; break;
                case 'o': output = optarg; break;
                case 'g': generate = atoll(optarg); break;
                case 'f':
                        if ((framing = rs_framing_parse(optarg)) < 0)
                                goto usage;
                        break;
                case 's': schema_id = atoi(optarg); break;
                case 'S': seed = strtoull(optarg, NULL, 10); break;
                case 'X':
                        if (rs_cli_props_add(&props, optarg))
                                return RS_EXIT_USAGE;
                        break;
                case 'h': fputs(usage, stdout); return RS_EXIT_OK;
                default: goto usage;
                }
        }
        if ((!output && (!bootstrap || !topic)) ||
            (output && (bootstrap || topic || props.n)) || optind != argc ||
            (!input) == (generate < 0))
                goto usage;

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
                rs_gen_conf_t gc = {.seed = seed,
                                    .users = 1000,
                                    .series = 40,
                                    .episodes = 8,
                                    .standalone = 2000,
                                    .categories = 8,
                                    .start_ts = 1767225600000LL};
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
        rs_kv_list_t kv = rs_cli_props_list(&props);
        rs_kv_t boot = {"bootstrap.servers", bootstrap, NULL};
        rs_kv_list_t common = {&boot, 1};
        if (!(in = rs_intern_new()) ||
            !(codec = rs_codec_new(framing, in, errstr, sizeof(errstr))) ||
            (!out && !(sink = rs_sink_new(&common, topic, &kv, on_delivery, &dr,
                                          errstr, sizeof(errstr))))) {
                fprintf(stderr, "recstream: produce: %s\n", errstr);
                goto out;
        }
        rs_codec_set_schema_ids(codec, schema_id, 2);
        rs_cli_on_signals();
        for (;;) {
                rs_event_fields_t ev;
                const void *buf;
                size_t len;
                if (rs_cli_stop)
                        break;
                rs_cli_signals_poll("produce");
                if (gen) {
                        if ((long long)sent >= generate)
                                break;
                        rs_gen_next(gen, &ev);
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
                rc = RS_EXIT_OK;
                goto out;
        }
        if (rs_sink_flush(sink, 60000)) {
                fprintf(stderr, "recstream: produce: flush timed out\n");
                goto out;
        }
        fprintf(stderr,
                "recstream: produce: %llu events to %s (%llu delivered, %llu "
                "failed, %llu bad rows skipped)\n",
                sent, topic, dr.ok, dr.failed, bad);
        if (dr.failed)
                fprintf(stderr, "recstream: produce: first failure: %s\n",
                        dr.first_error);
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
usage:
        fputs(usage, stderr);
        return RS_EXIT_USAGE;
}
