/* What the fuzz targets of tests/fuzz/ found, one test each, with the
 * input written out by hand from the Avro specification (the crashing
 * inputs themselves are kept in tests/fuzz/corpus/). Each failed before
 * its fix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/codec.h"
#include "recstream/config.h"
#include "recstream/intern.h"
#include "recstream/pipeline.h"

/* A plain UserRecs: user_id "u1", generated_ts 1, pipeline {"p", "h"},
 * one item {"v2", score 0.0, reason REASON, because_of null}. */
#define RECS_WITH_REASON(reason)                                               \
        {                                                                      \
                0x04, 'u', '1', 0x02, 0x02, 'p', 0x02, 'h', 0x02, 0x04, 'v',   \
                        '2', 0, 0, 0, 0, 0, 0, 0, 0, (reason), 0x00, 0x00      \
        }

/* A plain ItemMeta: item_id "v1", category null, tags [], duration null,
 * embedding null, status STATUS, updated_ts 1. */
#define ITEM_WITH_STATUS(status)                                               \
        {                                                                      \
                0x04, 'v', '1', 0x00, 0x00, 0x00, 0x00, (status), 0x02         \
        }

/* A Rec's reason outside the Reason enum (covisit, interest, trending):
 * the record was read with reason 3, which no rs_reason_t names. */
static void test_recs_reason_out_of_range(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        const unsigned char good[] = RECS_WITH_REASON(0x04); /* 2: trending */
        const unsigned char three[] = RECS_WITH_REASON(0x06);
        const unsigned char minus1[] = RECS_WITH_REASON(0x01);
        static rs_recs_t recs;

        (void)state;
        assert_int_equal(rs_codec_decode_recs(codec, good, sizeof(good), &recs),
                         RS_OK);
        assert_int_equal(recs.n, 1);
        assert_int_equal(recs.items[0].reason, RS_REASON_TRENDING);
        assert_string_equal(rs_intern_str(in, recs.items[0].item, NULL), "v2");

        assert_int_equal(
                rs_codec_decode_recs(codec, three, sizeof(three), &recs),
                RS_ERR_DECODE);
        assert_string_equal(rs_codec_reason(codec), "bad_enum");
        assert_non_null(strstr(rs_codec_error(codec), "reason"));
        assert_int_equal(
                rs_codec_decode_recs(codec, minus1, sizeof(minus1), &recs),
                RS_ERR_DECODE);
        assert_string_equal(rs_codec_reason(codec), "bad_enum");
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* An ItemMeta status outside ItemStatus (active, removed) was taken as
 * active. */
static void test_item_status_out_of_range(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        const unsigned char removed[] = ITEM_WITH_STATUS(0x02);
        const unsigned char two[] = ITEM_WITH_STATUS(0x04);
        const unsigned char minus1[] = ITEM_WITH_STATUS(0x01);
        rs_item_meta_t m;

        (void)state;
        assert_int_equal(
                rs_codec_decode_item(codec, removed, sizeof(removed), &m),
                RS_OK);
        assert_int_equal(m.removed, 1);
        assert_int_equal(m.updated_ts, 1);
        assert_string_equal(rs_intern_str(in, m.item, NULL), "v1");

        assert_int_equal(rs_codec_decode_item(codec, two, sizeof(two), &m),
                         RS_ERR_DECODE);
        assert_string_equal(rs_codec_reason(codec), "bad_enum");
        assert_non_null(strstr(rs_codec_error(codec), "status"));
        assert_int_equal(
                rs_codec_decode_item(codec, minus1, sizeof(minus1), &m),
                RS_ERR_DECODE);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* A block count near INT64_MAX after a first block: the walk added it to
 * the array's running total before comparing it with the limit, a signed
 * overflow (UBSan, in make asan; the fuzzer reached it through UserRecs
 * 3's channels). items [], published_ts null, list_id null, channels: a
 * block of one "covisit", then a block of INT64_MAX strings. */
static void test_block_count_overflow(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        const unsigned char huge[] = {0x04, 'u',  '1',  0x02, 0x02, 'p',  0x02,
                                      'h',  0x00, 0x00, 0x00, 0x02, 0x02, 0x0e,
                                      'c',  'o',  'v',  'i',  's',  'i',  't',
                                      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0x01, 0x00};
        const unsigned char good[] = {0x04, 'u',  '1',  0x02, 0x02, 'p', 0x02,
                                      'h',  0x00, 0x00, 0x00, 0x02, 0x00};
        static rs_recs_t recs;

        (void)state;
        assert_int_equal(rs_codec_decode_recs(codec, good, sizeof(good), &recs),
                         RS_OK);
        assert_int_equal(recs.n, 0);
        assert_int_equal(rs_codec_decode_recs(codec, huge, sizeof(huge), &recs),
                         RS_ERR_DECODE);
        assert_string_equal(rs_codec_reason(codec), "bad_length");
        assert_non_null(strstr(rs_codec_error(codec), "block count"));
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* Every error is one line `file:line:col: error: ...`, also when
 * librdkafka's message ends with a newline (a value out of its range) and
 * when a quoted key or value holds one: fuzz_pipeline found an empty line
 * after the librdkafka message. */
static void test_diag_one_line_each(void **state)
{
        const char text[] = "name: t\n"
                            "source:\n"
                            "  kafka: {session.timeout.ms: 0}\n"
                            "sink: {framing: \"a\\nb\"}\n"
                            "stages: [{type: passthrough}]\n"
                            "kafka: {\"x\\ny\": 1}\n";
        rs_diag_t d;

        (void)state;
        rs_diag_init(&d, "t.yaml");
        assert_null(rs_pipeline_parse(text, sizeof(text) - 1, &d));
        assert_int_equal(d.errors, 3);
        assert_string_equal(
                d.text.p,
                "t.yaml:6:17: error: kafka.x y: No such configuration "
                "property: \"x y\"\n"
                "t.yaml:3:31: error: source.kafka.session.timeout.ms: "
                "Configuration property \"session.timeout.ms\" value 0 is "
                "outside allowed range 1..3600000\n"
                "t.yaml:4:17: error: sink.framing: 'a b' is not one of: "
                "plain, confluent, single-object\n");
        rs_diag_fini(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_recs_reason_out_of_range),
                cmocka_unit_test(test_item_status_out_of_range),
                cmocka_unit_test(test_block_count_overflow),
                cmocka_unit_test(test_diag_one_line_each),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
