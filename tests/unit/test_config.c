/* Config reader: positions, interpolation, durations, property tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/buf.h"
#include "recstream/config.h"
#include "recstream/pipeline.h"

static rs_doc_t *parse(const char *text, rs_diag_t *d)
{
        rs_diag_init(d, "t.yaml");
        return rs_doc_parse(text, strlen(text), d);
}

static void test_positions(void **state)
{
        rs_diag_t d;
        rs_doc_t *doc = parse("a: 1\nb:\n  c: [x, y]\n", &d);
        const rs_node_t *root, *b, *c;

        (void)state;
        assert_non_null(doc);
        root = rs_doc_root(doc);
        assert_int_equal(root->type, RS_NODE_MAP);
        b = rs_node_get(root, "b");
        assert_int_equal(b->line, 3);
        assert_int_equal(b->col, 3);
        c = rs_node_get(b, "c");
        assert_int_equal(c->type, RS_NODE_SEQ);
        assert_int_equal(c->n, 2);
        assert_string_equal(c->kids[1]->value, "y");
        assert_int_equal(c->kids[1]->line, 3);
        assert_int_equal(c->kids[1]->col, 10);
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

static void test_interpolation(void **state)
{
        rs_diag_t d;
        rs_doc_t *doc;

        (void)state;
        setenv("RS_T_HOST", "kafka-1", 1);
        unsetenv("RS_T_UNSET");
        setenv("RS_T_EMPTY", "", 1);
        doc = parse("a: ${RS_T_HOST}:9092\n"
                    "b: ${RS_T_UNSET:-fallback}\n"
                    "c: ${RS_T_EMPTY:-x}\n"
                    "d: cost $$5 and $x\n",
                    &d);
        assert_non_null(doc);
        assert_int_equal(d.errors, 0);
        const rs_node_t *root = rs_doc_root(doc);
        assert_string_equal(rs_node_get(root, "a")->value, "kafka-1:9092");
        assert_string_equal(rs_node_get(root, "b")->value, "fallback");
        assert_string_equal(rs_node_get(root, "c")->value, "x");
        assert_string_equal(rs_node_get(root, "d")->value, "cost $5 and $x");
        rs_doc_destroy(doc);
        rs_diag_fini(&d);

        doc = parse("a: x\nb: ${RS_T_UNSET}\n", &d);
        assert_int_equal(d.errors, 1);
        assert_non_null(strstr(d.text.p, "t.yaml:2:4: error: environment "
                                         "variable RS_T_UNSET is not set"));
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

static void test_durations(void **state)
{
        (void)state;
        assert_int_equal(rs_duration_parse("250ms"), 250);
        assert_int_equal(rs_duration_parse("30s"), 30000);
        assert_int_equal(rs_duration_parse("1.5m"), 90000);
        assert_int_equal(rs_duration_parse("2h"), 7200000);
        assert_int_equal(rs_duration_parse("7d"), 604800000);
        assert_int_equal(rs_duration_parse("0"), 0);
        assert_int_equal(rs_duration_parse("10"), -1); /* unit required */
        assert_int_equal(rs_duration_parse("-1s"), -1);
        assert_int_equal(rs_duration_parse("5 minutes"), -1);
        assert_int_equal(rs_duration_parse("s"), -1);
}

static void test_duration_str(void **state)
{
        char buf[32];

        (void)state;
        assert_string_equal(rs_duration_str(0, buf, sizeof(buf)), "0ms");
        assert_string_equal(rs_duration_str(1, buf, sizeof(buf)), "1ms");
        assert_string_equal(rs_duration_str(1500, buf, sizeof(buf)), "1500ms");
        assert_string_equal(rs_duration_str(1000, buf, sizeof(buf)), "1s");
        assert_string_equal(rs_duration_str(600000, buf, sizeof(buf)), "10m");
        assert_string_equal(rs_duration_str(3600000, buf, sizeof(buf)), "1h");
        assert_string_equal(rs_duration_str(90000, buf, sizeof(buf)), "90s");
        assert_string_equal(
                rs_duration_str((int64_t)RS_DURATION_MAX_MS, buf, sizeof(buf)),
                "3650d");
        /* what it writes reads back as the same duration */
        assert_int_equal(rs_duration_parse("3650d"),
                         (int64_t)RS_DURATION_MAX_MS);
}

typedef struct conf {
        const char *s;
        int64_t i;
        double x;
        int b;
        int e;
        int64_t ms;
        rs_strings_t list;
        rs_kv_list_t kafka;
} conf_t;

static const char *const colours[] = {"red", "green", NULL};
static const rs_prop_t props[] = {
        {"s", RS_PROP_STRING, offsetof(conf_t, s), "dflt", 0, -1, NULL, 0, ""},
        {"i", RS_PROP_INT, offsetof(conf_t, i), "7", 1, 10, NULL, 0, ""},
        {"x", RS_PROP_DOUBLE, offsetof(conf_t, x), "0.5", 0, 1, NULL, 0, ""},
        {"b", RS_PROP_BOOL, offsetof(conf_t, b), "true", 0, -1, NULL, 0, ""},
        {"e", RS_PROP_ENUM, offsetof(conf_t, e), "green", 0, -1, colours, 0,
         ""},
        {"ms", RS_PROP_DURATION, offsetof(conf_t, ms), "1m", 0, 3600000, NULL,
         0, ""},
        {"list", RS_PROP_STRINGS, offsetof(conf_t, list), "[a, b]", 1, 3, NULL,
         0, ""},
        {"kafka", RS_PROP_KAFKA, offsetof(conf_t, kafka), NULL, 0, 2, NULL, 0,
         ""},
        {"pin_key", RS_PROP_INT, offsetof(conf_t, i), NULL, 0, 9, NULL, 0, ""},
        {0},
};

/* A table as a stage would document it. */
static const rs_prop_t doc_props[] = {
        {"ms", RS_PROP_DURATION, offsetof(conf_t, ms), "1m", 1000,
         RS_DURATION_MAX_MS, NULL, 0, "a duration"},
        {"i", RS_PROP_INT, offsetof(conf_t, i), "7", 1, 10, NULL, 0, "an int"},
        {"x", RS_PROP_DOUBLE, offsetof(conf_t, x), "0.5", 0, 1, NULL, 0, "x"},
        {"nums", RS_PROP_STRINGS, offsetof(conf_t, list), "[1, 2]", 2, 2, NULL,
         RS_PROP_NUMBERS, "numbers"},
        {"kafka", RS_PROP_KAFKA, offsetof(conf_t, kafka), NULL, 0, 4, NULL, 0,
         "librdkafka"},
        {0},
};

/* The reference `recstream doc` makes: the description under its own
 * heading, list types and ranges readable, a shipped file's other values
 * noted (and only those). */
static void test_props_doc(void **state)
{
        rs_diag_t d;
        rs_doc_t *doc = parse("ms: 60s\n" /* the default, written another way */
                              "i: 3\n"    /* another value */
                              "x: 0.50\n" /* the default */
                              "nums: [1, 3]\n"
                              "kafka: {linger.ms: 5, acks: all}\n",
                              &d);
        rs_buf_t b;

        (void)state;
        rs_buf_init(&b);
        rs_props_doc(doc_props, "stage `t`", "What t does.", rs_doc_root(doc),
                     "video.yaml", &b);
        assert_false(b.oom);
        assert_non_null(
                strstr(b.p, "### stage `t`\n\nWhat t does.\n\n| key |"));
        assert_non_null(strstr(
                b.p, "| `ms` | duration | 1m | 1s – 3650d | a duration |\n"));
        assert_non_null(strstr(
                b.p,
                "| `i` | integer | 7 (video.yaml: 3) | 1 – 10 | an int |\n"));
        assert_non_null(strstr(b.p, "| `x` | number | 0.5 | 0 – 1 | x |\n"));
        assert_non_null(strstr(b.p, "| `nums` | list of numbers | [1, 2] "
                                    "(video.yaml: [1, 3]) | 2 items |"));
        assert_non_null(strstr(b.p, "| — (video.yaml sets `linger.ms`, "
                                    "`acks`) | at most 4 keys |"));
        assert_null(strstr(b.p, "e+"));
        rs_buf_fini(&b);

        /* with no file to compare, no notes */
        rs_buf_init(&b);
        rs_props_doc(doc_props, "t", NULL, NULL, NULL, &b);
        assert_null(strstr(b.p, "video.yaml"));
        assert_non_null(strstr(b.p, "### t\n\n| key |"));
        rs_buf_fini(&b);
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

static void test_duration_range_error(void **state)
{
        rs_diag_t d;
        rs_doc_t *doc = parse("ms: 3651d\n", &d);
        conf_t c = {0};

        (void)state;
        assert_int_equal(
                rs_props_apply(doc_props, rs_doc_root(doc), &c, "sec", doc, &d),
                1);
        assert_non_null(strstr(d.text.p, "t.yaml:1:5: error: sec.ms: 3651d is "
                                         "out of range [1s, 3650d]\n"));
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

static void test_defaults(void **state)
{
        rs_diag_t d;
        rs_doc_t *doc = parse("{}\n", &d);
        conf_t c = {0};

        (void)state;
        assert_int_equal(
                rs_props_apply(props, rs_doc_root(doc), &c, "sec", doc, &d), 0);
        assert_string_equal(c.s, "dflt");
        assert_int_equal(c.i, 7);
        assert_true(c.x == 0.5);
        assert_int_equal(c.b, 1);
        assert_int_equal(c.e, 1);
        assert_int_equal(c.ms, 60000);
        assert_int_equal(c.list.n, 2);
        assert_string_equal(c.list.v[1], "b");
        assert_int_equal(c.kafka.n, 0);
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

static void test_values_and_errors(void **state)
{
        rs_diag_t d;
        rs_doc_t *doc = parse("s: hello\n"
                              "i: 11\n"
                              "x: 0.25\n"
                              "b: maybe\n"
                              "e: red\n"
                              "ms: 90s\n"
                              "list: one\n"
                              "kafka: {linger.ms: 5}\n"
                              "zz: 1\n",
                              &d);
        conf_t c = {0};

        (void)state;
        assert_int_equal(
                rs_props_apply(props, rs_doc_root(doc), &c, "sec", doc, &d), 3);
        assert_non_null(strstr(d.text.p, "t.yaml:9:1: error: sec.zz: unknown "
                                         "key\n"));
        assert_non_null(strstr(d.text.p, "t.yaml:2:4: error: sec.i: 11 is out "
                                         "of range [1, 10]\n"));
        assert_non_null(strstr(d.text.p, "t.yaml:4:4: error: sec.b: expected "
                                         "true or false, got 'maybe'\n"));
        assert_string_equal(c.s, "hello");
        assert_true(c.x == 0.25);
        assert_int_equal(c.e, 0);
        assert_int_equal(c.ms, 90000);
        assert_int_equal(c.list.n, 1);
        assert_string_equal(c.list.v[0], "one");
        assert_int_equal(c.kafka.n, 1);
        assert_string_equal(c.kafka.v[0].key, "linger.ms");
        assert_string_equal(c.kafka.v[0].value, "5");
        assert_int_equal(c.kafka.v[0].at->line, 8);
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

static void test_rejects_aliases_and_documents(void **state)
{
        rs_diag_t d;

        (void)state;
        assert_null(parse("a: &x 1\nb: *x\n", &d));
        assert_non_null(strstr(d.text.p, "t.yaml:2:4: error: YAML aliases"));
        rs_diag_fini(&d);
        assert_null(parse("a: 1\n---\nb: 2\n", &d));
        assert_non_null(strstr(d.text.p, "only one YAML document"));
        rs_diag_fini(&d);
}

static void test_list_bounds(void **state)
{
        rs_diag_t d;
        rs_doc_t *doc = parse("list: [a, b, c, d]\n"
                              "kafka: {a: 1, b: 2, c: 3}\n",
                              &d);
        conf_t c = {0};

        (void)state;
        assert_int_equal(
                rs_props_apply(props, rs_doc_root(doc), &c, "sec", doc, &d), 2);
        assert_string_equal(d.text.p,
                            "t.yaml:1:7: error: sec.list: a list of 4 items; "
                            "at most 3 are allowed\n"
                            "t.yaml:2:8: error: sec.kafka: a map of 3 keys; at "
                            "most 2 are allowed\n");
        rs_doc_destroy(doc);
        rs_diag_fini(&d);

        doc = parse("list: []\n", &d);
        assert_int_equal(
                rs_props_apply(props, rs_doc_root(doc), &c, "sec", doc, &d), 1);
        assert_string_equal(d.text.p,
                            "t.yaml:1:7: error: sec.list: a list of 0 "
                            "items; at least 1 is required\n");
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

static void test_limits(void **state)
{
        rs_diag_t d;
        char text[256];
        char size[32];

        (void)state;
        /* 64 levels (the top map is one) parse; 65 do not. */
        snprintf(text, sizeof(text), "a: %.*s%.*s\n", 63,
                 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                 "[[[[",
                 63,
                 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                 "]]]]");
        rs_doc_t *doc = parse(text, &d);
        assert_non_null(doc);
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
        snprintf(text, sizeof(text), "a: %.*s%.*s\n", 64,
                 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                 "[[[[",
                 64,
                 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                 "]]]]");
        assert_null(parse(text, &d));
        assert_string_equal(d.text.p, "t.yaml:1:67: error: lists and maps "
                                      "nested deeper than 64 levels\n");
        rs_diag_fini(&d);

        assert_string_equal(rs_config_size_str(1048576, size, sizeof(size)),
                            "1 MiB");
        assert_string_equal(rs_config_size_str(65536, size, sizeof(size)),
                            "64 KiB");
        assert_string_equal(rs_config_size_str(1000, size, sizeof(size)),
                            "1000 bytes");
}

static void test_secrets(void **state)
{
        rs_diag_t d;
        char s[64];

        (void)state;
        assert_true(rs_config_is_secret("sasl.password"));
        assert_true(rs_config_is_secret("SSL.Key.Location"));
        assert_true(rs_config_is_secret("ssl.keystore.password"));
        assert_true(rs_config_is_secret("sasl.oauthbearer.client.secret"));
        assert_true(rs_config_is_secret("sasl.jaas.config"));
        assert_true(rs_config_is_secret("sec.pin_key"));
        assert_false(rs_config_is_secret("sasl.username"));
        assert_false(rs_config_is_secret("bootstrap.servers"));
        assert_false(rs_config_is_secret("security.protocol"));
        assert_false(rs_config_is_secret("sasl.jaa"));

        snprintf(s, sizeof(s), "pw=hunter2 again hunter2.");
        rs_config_redact(s, sizeof(s), "hunter2");
        assert_string_equal(s, "pw=[redacted] again [redacted].");
        /* The secret inside the marker is not replaced again. */
        snprintf(s, sizeof(s), "red red");
        rs_config_redact(s, sizeof(s), "red");
        assert_string_equal(s, "[redacted] [redacted]");
        /* Cut to fit, never a piece of the secret left. */
        snprintf(s, 16, "abc hunter2 xyz");
        rs_config_redact(s, 16, "hunter2");
        assert_string_equal(s, "abc [redacted] ");
        snprintf(s, 10, "ab hunter");
        rs_config_redact(s, 10, "hunter");
        assert_string_equal(s, "ab [redac");
        rs_config_redact(s, 10, "");
        assert_string_equal(s, "ab [redac");

        /* A secret's text is not quoted in messages; others' are. */
        rs_doc_t *doc = parse("b: \"pw${x\"\nc_key: \"pw${x\"\n"
                              "d_secret: [\"pw${x\"]\n",
                              &d);
        assert_non_null(doc);
        assert_string_equal(d.text.p,
                            "t.yaml:1:4: error: unterminated ${ in 'pw${x'\n"
                            "t.yaml:2:8: error: unterminated ${ in "
                            "[redacted]\n"
                            "t.yaml:3:12: error: unterminated ${ in "
                            "[redacted]\n");
        rs_doc_destroy(doc);
        rs_diag_fini(&d);

        /* The text that may be hashed and published has none either. */
        doc = parse("a: 1\nsasl.password: hunter2\n"
                    "k: {ssl.key.pem: \"p\\nq\", x: [y]}\nl_secret: [u, v]\n",
                    &d);
        rs_buf_t pub;
        rs_buf_init(&pub);
        assert_int_equal(rs_doc_public_text(doc, &pub), 0);
        assert_string_equal(pub.p, "a: 1\nsasl.password: [redacted]\n"
                                   "k: {ssl.key.pem: [redacted], x: [y]}\n"
                                   "l_secret: [[redacted], [redacted]]\n");
        rs_buf_fini(&pub);
        rs_doc_destroy(doc);
        rs_diag_fini(&d);

        /* ... nor its bad value. */
        doc = parse("pin_key: 12345x\n", &d);
        conf_t c = {0};
        assert_int_equal(
                rs_props_apply(props, rs_doc_root(doc), &c, "sec", doc, &d), 1);
        assert_string_equal(d.text.p, "t.yaml:1:10: error: sec.pin_key: "
                                      "expected an integer, got "
                                      "'[redacted]'\n");
        rs_doc_destroy(doc);
        rs_diag_fini(&d);
}

/* Live reload: what may change without a restart, and what may not. */
static const char reload_base[] = "name: r\n"
                                  "source: {topics: [in], batch_size: 500}\n"
                                  "sink: {topic: out}\n"
                                  "stages:\n"
                                  "  - type: clean\n"
                                  "  - type: weight\n"
                                  "    weights: {watch: 1, like: 2}\n"
                                  "  - type: user_window\n"
                                  "    max_users: 100\n"
                                  "  - type: pairs\n"
                                  "  - type: cooccur\n"
                                  "  - type: score\n"
                                  "    mmr_lambda: 1\n";

static char *edited(const char *from, const char *to)
{
        const char *at = strstr(reload_base, from);
        static char out[1024];

        assert_non_null(at);
        snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - reload_base),
                 reload_base, to, at + strlen(from));
        return out;
}

static const char *reload_verdict(const char *next_text, char *why, size_t n)
{
        rs_diag_t d1, d2;
        rs_diag_init(&d1, "a.yaml");
        rs_diag_init(&d2, "b.yaml");
        rs_pipeline_t *a =
                rs_pipeline_parse(reload_base, strlen(reload_base), &d1);
        rs_pipeline_t *b = rs_pipeline_parse(next_text, strlen(next_text), &d2);
        assert_non_null(a);
        assert_non_null(b);
        int r = rs_pipeline_reloadable(a, b, why, n);
        rs_pipeline_destroy(a);
        rs_pipeline_destroy(b);
        rs_diag_fini(&d1);
        rs_diag_fini(&d2);
        return r ? why : NULL;
}

static void test_reloadable(void **state)
{
        char why[192];

        (void)state;
        assert_null(reload_verdict(reload_base, why, sizeof(why)));
        assert_null(reload_verdict(edited("watch: 1", "watch: 0"), why,
                                   sizeof(why)));
        assert_null(reload_verdict(edited("mmr_lambda: 1", "mmr_lambda: 0.7"),
                                   why, sizeof(why)));
        assert_null(reload_verdict(
                edited("mmr_lambda: 1", "min_refresh_interval: 1m"), why,
                sizeof(why)));
        assert_string_equal(
                reload_verdict(edited("max_users: 100", "max_users: 200"), why,
                               sizeof(why)),
                "stages[2] (user_window).max_users");
        assert_string_equal(
                reload_verdict(edited("topics: [in]", "topics: [in, in2]"), why,
                               sizeof(why)),
                "source.topics");
        assert_string_equal(
                reload_verdict(edited("batch_size: 500", "batch_size: 400"),
                               why, sizeof(why)),
                "source.batch_size");
        assert_string_equal(reload_verdict(edited("  - type: clean\n", ""), why,
                                           sizeof(why)),
                            "stages (6, now 5)");
        assert_string_equal(
                reload_verdict(edited("name: r", "name: s"), why, sizeof(why)),
                "name");
        assert_string_equal(
                reload_verdict(edited("name: r\n", "name: r\nkafka: "
                                                   "{linger.ms: 7}\n"),
                               why, sizeof(why)),
                "kafka");
        assert_string_equal(
                reload_verdict(edited("name: r\n", "name: r\n"
                                                   "shutdown_timeout: 10s\n"),
                               why, sizeof(why)),
                "shutdown_timeout");
        assert_string_equal(reload_verdict(edited("sink: {topic: out}\n",
                                                  "sink: {topic: out}\n"
                                                  "log: {level: debug}\n"),
                                           why, sizeof(why)),
                            "log.level");
}

/* The parsers the command line shares with pipeline files. */
/* A property recstream sets itself is refused once, as such, under
 * exactly_once too: not a second time by the guarantee's own checks. */
static void test_reserved_once(void **state)
{
        static const char text[] = "name: t\n"
                                   "processing: {guarantee: exactly_once}\n"
                                   "kafka: {enable.idempotence: false}\n"
                                   "source: {topics: [a]}\n"
                                   "stages: [{type: passthrough}]\n"
                                   "sink: {kafka: {transactional.id: x}}\n";
        rs_diag_t d;

        (void)state;
        rs_diag_init(&d, "t.yaml");
        assert_null(rs_pipeline_parse(text, strlen(text), &d));
        assert_string_equal(
                d.text.p,
                "t.yaml:3:29: error: kafka.enable.idempotence: "
                "enable.idempotence is set by recstream: the producer is "
                "always idempotent\n"
                "t.yaml:6:34: error: sink.kafka.transactional.id: "
                "transactional.id is set by recstream: use "
                "processing.guarantee: exactly_once (and "
                "state.transactional_id to choose the id)\n");
        rs_diag_fini(&d);
}

static void test_cli_parsers(void **state)
{
        int64_t v = 7;

        (void)state;
        assert_int_equal(rs_int_parse("42", &v), 0);
        assert_true(v == 42);
        assert_int_equal(rs_int_parse("-9223372036854775808", &v), 0);
        assert_true(v == INT64_MIN);
        static const char *const bad[] = {
                "",   "abc", "1e3",  "5s",
                " 5", "5 ",  "0x10", "9223372036854775808"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                v = 7;
                assert_int_equal(rs_int_parse(bad[i], &v), -1);
                assert_true(v == 7);
        }
        assert_true(rs_duration_parse("5s") == 5000);
        assert_true(rs_duration_parse("100ms") == 100);
        assert_true(rs_duration_parse("1.5d") == 129600000);
        assert_true(rs_duration_parse("0") == 0);
        assert_true(rs_duration_parse("5") == -1);
        assert_true(rs_duration_parse("5x") == -1);
        assert_true(rs_duration_parse(" 5s") == -1);
        assert_true(rs_duration_parse("-5s") == -1);
        assert_true(rs_duration_parse("0x10s") == -1);
        assert_true(rs_duration_parse("infs") == -1);
        assert_true(rs_duration_parse("1e3ms") == 1000);
        /* insertions, deletions, substitutions and adjacent swaps: 1 each */
        assert_int_equal(rs_edit_distance("tail", "tail"), 0);
        assert_int_equal(rs_edit_distance("tial", "tail"), 1);
        assert_int_equal(rs_edit_distance("rnu", "run"), 1);
        assert_int_equal(rs_edit_distance("tai", "tail"), 1);
        assert_int_equal(rs_edit_distance("taill", "tail"), 1);
        assert_int_equal(rs_edit_distance("tall", "tail"), 1);
        assert_int_equal(rs_edit_distance("atil", "tail"), 1);
        assert_int_equal(rs_edit_distance("ca", "abc"), 3);
        assert_int_equal(rs_edit_distance("", "eval"), 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_positions),
                cmocka_unit_test(test_interpolation),
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_duration_str),
                cmocka_unit_test(test_props_doc),
                cmocka_unit_test(test_duration_range_error),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_values_and_errors),
                cmocka_unit_test(test_rejects_aliases_and_documents),
                cmocka_unit_test(test_list_bounds),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_secrets),
                cmocka_unit_test(test_reloadable),
                cmocka_unit_test(test_reserved_once),
                cmocka_unit_test(test_cli_parsers),
        };
        return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
