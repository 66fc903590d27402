/* tail.c — `recstream tail`: a topic's Avro records as JSON lines. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "recstream/buf.h"
#include "recstream/codec.h"
#include "recstream/kafka.h"

static const char usage[] =
        "usage: recstream tail -b BOOTSTRAP -t TOPIC [--from-beginning] "
        "[--max N]\n"
        "       [--idle-timeout MS] [--events] [--framing F] "
        "[-X librdkafka.key=value]...\n"
        "Prints each UserRecs record (or BehaviorEvent with --events) as one\n"
        "JSON object per line on stdout. Stops after N records, after MS\n"
        "milliseconds without a record, or on SIGINT/SIGTERM.\n";

/* The record of m as one JSON line into line; -1 when it cannot be read. */
static int print_record(rs_codec_t *codec, const rs_intern_t *in, int events,
                        const rs_msg_t *m, rs_buf_t *line)
{
        rs_recs_t recs;
        char *json = NULL;

        if (!events) {
                if (rs_codec_decode_recs(codec, m->value, m->len, &recs))
                        return -1;
                return rs_buf_recs_json(line, &recs, in);
        }
        if (rs_codec_event_to_json(codec, m->value, m->len, &json))
                return -1;
        rs_buf_adds(line, json);
        free(json);
        return 0;
}

int rs_cmd_tail(int argc, char **argv)
{
        static const struct option opts[] = {{"bootstrap", 1, NULL, 'b'},
                                             {"topic", 1, NULL, 't'},
                                             {"from-beginning", 0, NULL, 'B'},
                                             {"max", 1, NULL, 'm'},
                                             {"idle-timeout", 1, NULL, 'I'},
                                             {"events", 0, NULL, 'e'},
                                             {"framing", 1, NULL, 'f'},
                                             {"help", 0, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        const char *bootstrap = NULL, *topic = NULL;
        int from_beginning = 0, events = 0, framing = RS_FRAMING_PLAIN, c;
        long long max = -1, idle_ms = -1, seen = 0, bad = 0;
        rs_cli_props_t props = {.n = 0};
        char errstr[512];
        rs_intern_t *in = NULL;
        rs_codec_t *codec = NULL;
        rs_reader_t *rd = NULL;
        rs_buf_t line;
        int rc = RS_EXIT_FAIL;

        optind = 1;
        while ((c = getopt_long(argc, argv, "b:t:X:h", opts, NULL)) != -1) {
                switch (c) {
                case 'b': bootstrap = optarg; break;
                case 't': topic = optarg; break;
                case 'B': from_beginning = 1; break;
                case 'm': max = atoll(optarg); break;
                case 'I': idle_ms = atoll(optarg); break;
                case 'e': events = 1; break;
                case 'f':
                        if ((framing = rs_framing_parse(optarg)) < 0)
                                goto usage;
                        break;
                case 'X':
                        if (rs_cli_props_add(&props, optarg))
                                return RS_EXIT_USAGE;
                        break;
                case 'h': fputs(usage, stdout); return RS_EXIT_OK;
                default: goto usage;
                }
        }
        if (!bootstrap || !topic || optind != argc)
                goto usage;

        rs_kv_list_t kv = rs_cli_props_list(&props);
        rs_kv_t boot = {"bootstrap.servers", bootstrap, NULL};
        rs_kv_list_t common = {&boot, 1};
        rs_buf_init(&line);
        rs_cli_on_signals();
        if (!(in = rs_intern_new()) ||
            !(codec = rs_codec_new(framing, in, errstr, sizeof(errstr))) ||
            !(rd = rs_reader_new(&common, &kv, topic, from_beginning, 100000,
                                 errstr, sizeof(errstr)))) {
                fprintf(stderr, "recstream: tail: %s\n", errstr);
                goto out;
        }
        struct timespec last, now;
        clock_gettime(CLOCK_MONOTONIC, &last);
        while (!rs_cli_stop && (max < 0 || seen < max)) {
                rs_cli_signals_poll("tail");
                const rs_msg_t *m = rs_reader_next(rd, 100);
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (!m) {
                        long long waited =
                                (now.tv_sec - last.tv_sec) * 1000LL +
                                (now.tv_nsec - last.tv_nsec) / 1000000;
                        if (idle_ms >= 0 && waited >= idle_ms)
                                break;
                        continue;
                }
                last = now;
                rs_buf_reset(&line);
                if (print_record(codec, in, events, m, &line)) {
                        bad++;
                        fprintf(stderr, "recstream: tail: %s[%d]@%lld: %s\n",
                                m->topic, (int)m->partition,
                                (long long)m->offset, rs_codec_error(codec));
                        continue;
                }
                puts(line.p);
                seen++;
        }
        fflush(stdout);
        rc = bad ? RS_EXIT_FAIL : RS_EXIT_OK;
out:
        rs_buf_fini(&line);
        rs_reader_destroy(rd);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        return rc;
usage:
        fputs(usage, stderr);
        return RS_EXIT_USAGE;
}
