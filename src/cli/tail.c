/* tail.c — `recstream tail`: a topic's Avro records as JSON lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "recstream/buf.h"
#include "recstream/codec.h"
#include "recstream/kafka.h"

static const rs_cmd_info_t tail_cmd = {
        .name = "tail",
        .synopsis = "-b BOOTSTRAP -t TOPIC [--from-beginning] [-e] [--max N]\n"
                    "       [--idle-timeout DURATION] [--events] "
                    "[--print-key] [--print-meta]\n"
                    "       [--framing F] [-X librdkafka.key=value]...",
        .about = "Prints each UserRecs record of TOPIC (or BehaviorEvent "
                 "with --events) as one\n"
                 "JSON object per line on stdout, with every field of the "
                 "record: nested\n"
                 "records as objects, unions as their value or null. Event "
                 "lines are the\n"
                 "JSON-lines input of `replay` and `eval --input` (save them "
                 "as .jsonl), so\n"
                 "live traffic can be captured and evaluated.\n"
                 "With --print-key or --print-meta each line is an envelope "
                 "in kcat -J's\n"
                 "shape instead: {\"topic\", \"partition\", \"offset\", "
                 "\"ts\", \"headers\": [name,\n"
                 "value, ...], \"key\", \"payload\": the record} (meta "
                 "fields with --print-meta,\n"
                 "key with --print-key).\n"
                 "Stops after N records (--max), at the end of the "
                 "partitions (-e), after\n"
                 "DURATION without a record (--idle-timeout), or on "
                 "SIGINT/SIGTERM. Records\n"
                 "that cannot be decoded are reported on stderr "
                 "(topic[partition]@offset)\n"
                 "and skipped.\n",
        .signals = "SIGINT, SIGTERM  stop reading, flush stdout, exit as "
                   "below\n"
                   "SIGHUP           logged and ignored\n"
                   "SIGPIPE          ignored (a closed stdout ends the "
                   "command)",
        .exits = "0  stopped (N records, end of partitions, idle, or a "
                 "signal); all decoded\n"
                 "1  a record could not be decoded, or the topic could not "
                 "be read\n"
                 "2  usage error",
};

typedef struct tail_opts {
        const char *bootstrap, *topic;
        int from_beginning, events, framing, at_end, key, meta;
        int64_t max, idle_ms;
} tail_opts_t;

/* The bytes of a key or header value as a JSON string, or null. */
static void bytes_json(rs_buf_t *b, const void *p, size_t len)
{
        if (p)
                rs_buf_json_str(b, p, len);
        else
                rs_buf_adds(b, "null");
}

/* The record of m as one JSON line into line; -1 when it cannot be read. */
static int print_record(rs_codec_t *codec, const tail_opts_t *o,
                        const rs_reader_t *rd, const rs_msg_t *m,
                        rs_buf_t *line)
{
        char *json = NULL;
        rs_err_t err =
                o->events
                        ? rs_codec_event_to_json(codec, m->value, m->len, &json)
                        : rs_codec_recs_to_json(codec, m->value, m->len, &json);

        if (err)
                return -1;
        if (!o->key && !o->meta) {
                rs_buf_adds(line, json);
                free(json);
                return line->oom ? -1 : 0;
        }
        rs_buf_adds(line, "{");
        if (o->meta) {
                const char *name;
                const void *val;
                size_t size;
                rs_buf_adds(line, "\"topic\":");
                rs_buf_json_str(line, m->topic, strlen(m->topic));
                rs_buf_printf(line,
                              ",\"partition\":%d,\"offset\":%lld,\"ts\":%lld,"
                              "\"headers\":[",
                              (int)m->partition, (long long)m->offset,
                              (long long)m->timestamp);
                for (size_t i = 0; !rs_reader_header(rd, i, &name, &val, &size);
                     i++) {
                        rs_buf_adds(line, i ? "," : "");
                        rs_buf_json_str(line, name, strlen(name));
                        rs_buf_adds(line, ",");
                        bytes_json(line, val, size);
                }
                rs_buf_adds(line, "],");
        }
        if (o->key) {
                rs_buf_adds(line, "\"key\":");
                bytes_json(line, m->key, m->key_len);
                rs_buf_adds(line, ",");
        }
        rs_buf_adds(line, "\"payload\":");
        rs_buf_adds(line, json);
        rs_buf_adds(line, "}");
        free(json);
        return line->oom ? -1 : 0;
}

int rs_cmd_tail(int argc, char **argv)
{
        tail_opts_t o = {.framing = RS_FRAMING_PLAIN, .max = -1, .idle_ms = -1};
        rs_cli_props_t props = {.n = 0};
        const rs_opt_t opts[] = {
                RS_OPT_BOOTSTRAP(&o.bootstrap,
                                 "the brokers (bootstrap.servers); "
                                 "--bootstrap-server\nas "
                                 "kafka-console-consumer spells it",
                                 RS_OPT_REQUIRED),
                RS_OPT_TOPIC(&o.topic, "the topic to read (every partition)",
                             RS_OPT_REQUIRED),
                {.name = "from-beginning",
                 .kind = RS_OPT_FLAG,
                 .dst = &o.from_beginning,
                 .doc = "start at each partition's first record (default:\nits "
                        "end, new records only)"},
                {.name = "exit",
                 .short_name = 'e',
                 .kind = RS_OPT_FLAG,
                 .dst = &o.at_end,
                 .doc = "exit at the end of the partitions (where they\nended "
                        "at start), as kcat -e"},
                {.name = "max",
                 .alias = "max-messages",
                 .kind = RS_OPT_INT,
                 .dst = &o.max,
                 .arg = "N",
                 .min = 0,
                 .max = 9.2e18,
                 .doc = "exit after N records (--max-messages as\n"
                        "kafka-console-consumer spells it)"},
                {.name = "idle-timeout",
                 .kind = RS_OPT_DURATION,
                 .dst = &o.idle_ms,
                 .arg = "DURATION",
                 .min = 0,
                 .max = 9.2e18,
                 .doc = "exit after DURATION without a record (e.g. 5s, "
                        "500ms)"},
                {.name = "events",
                 .kind = RS_OPT_FLAG,
                 .dst = &o.events,
                 .doc = "the topic holds BehaviorEvents (default UserRecs)"},
                {.name = "print-key",
                 .kind = RS_OPT_FLAG,
                 .dst = &o.key,
                 .doc = "print each record's key (an envelope, see above)"},
                {.name = "print-meta",
                 .kind = RS_OPT_FLAG,
                 .dst = &o.meta,
                 .doc = "print topic, partition, offset, timestamp (ms)\nand "
                        "headers"},
                RS_OPT_FRAMING(&o.framing),
                RS_OPT_PROPERTY(&props, "consumer"),
                {.name = NULL}};
        long long seen = 0, bad = 0;
        char errstr[512] = "out of memory"; /* unless a constructor says */
        rs_intern_t *in = NULL;
        rs_codec_t *codec = NULL;
        rs_reader_t *rd = NULL;
        rs_buf_t line;
        int rc = RS_EXIT_FAIL, r = rs_cli_parse(&tail_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);

        rs_kv_list_t kv = rs_cli_props_list(&props);
        rs_kv_t boot = {"bootstrap.servers", o.bootstrap, NULL};
        rs_kv_list_t common = {&boot, 1};
        rs_buf_init(&line);
        rs_cli_on_signals();
        if (!(in = rs_intern_new()) ||
            !(codec = rs_codec_new(o.framing, in, errstr, sizeof(errstr))) ||
            !(rd = rs_reader_new(&common, &kv, o.topic, o.from_beginning,
                                 100000, errstr, sizeof(errstr)))) {
                fprintf(stderr, "recstream: tail: %s\n", errstr);
                goto out;
        }
        double last = rs_cli_now(); /* of the last record, or the start */
        while (!rs_cli_stop && (o.max < 0 || seen < o.max)) {
                rs_cli_signals_poll("tail");
                if (o.at_end && rs_reader_caught_up(rd))
                        break;
                const rs_msg_t *m = rs_reader_next(rd, 100);
                if (!m) {
                        if (o.idle_ms >= 0 &&
                            (rs_cli_now() - last) * 1000 >= (double)o.idle_ms)
                                break;
                        continue;
                }
                last = rs_cli_now();
                rs_buf_reset(&line);
                if (print_record(codec, &o, rd, m, &line)) {
                        bad++;
                        fprintf(stderr, "recstream: tail: %s[%d]@%lld: %s\n",
                                m->topic, (int)m->partition,
                                (long long)m->offset, rs_codec_error(codec));
                        continue;
                }
                if (puts(line.p) == EOF)
                        break;
                seen++;
        }
        rc = fflush(stdout) || bad ? RS_EXIT_FAIL : RS_EXIT_OK;
out:
        rs_buf_fini(&line);
        rs_reader_destroy(rd);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        return rc;
}
