/* Codec: round trips in every framing, schema evolution both ways, enum
 * mapping by symbol, and bad bytes failing that record only. Expected
 * values are written out here, not derived from the code under test. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/codec.h"
#include "recstream/intern.h"

static const rs_event_fields_t sample = {
        .event_id = "e-1",
        .user_id = "u42",
        .item_id = "v7",
        .type = RS_EV_WATCH,
        .ts = 1700000000123LL,
        .watch_ms = 8000,
        .duration_ms = 10000,
        .category = "cooking",
        .value = NAN,
        .device = "ios",
        .session_id = NULL,
};

static void check_sample(rs_intern_t *in, const rs_event_t *ev)
{
        assert_string_equal(rs_intern_str(in, ev->user, NULL), "u42");
        assert_string_equal(rs_intern_str(in, ev->item, NULL), "v7");
        assert_string_equal(rs_intern_str(in, ev->category, NULL), "cooking");
        assert_int_equal(ev->type, RS_EV_WATCH);
        assert_int_equal(ev->ts, 1700000000123LL);
        assert_int_equal(ev->watch_ms, 8000);
        assert_int_equal(ev->duration_ms, 10000);
        assert_true(isnan(ev->value));
}

static void roundtrip(rs_framing_t framing)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec = rs_codec_new(framing, in, err, sizeof(err));
        const void *buf;
        size_t len;
        rs_event_t ev;

        assert_non_null(codec);
        assert_int_equal(rs_codec_encode_event(codec, &sample, &buf, &len),
                         RS_OK);
        assert_int_equal(rs_codec_decode_event(codec, buf, len, &ev), RS_OK);
        check_sample(in, &ev);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

static void test_roundtrip_plain(void **state)
{
        (void)state;
        roundtrip(RS_FRAMING_PLAIN);
}

static void test_roundtrip_confluent(void **state)
{
        (void)state;
        roundtrip(RS_FRAMING_CONFLUENT);
}

static void test_roundtrip_single_object(void **state)
{
        (void)state;
        roundtrip(RS_FRAMING_SINGLE_OBJECT);
}

/* Plain Avro bytes of sample, written out by hand from the spec:
 * strings are zigzag-varint length + bytes, enum and union indexes are
 * zigzag varints. */
static const unsigned char sample_plain[] = {
        0x06, 'e',  '-',  '1',              /* event_id */
        0x06, 'u',  '4',  '2',              /* user_id */
        0x04, 'v',  '7',                    /* item_id */
        0x06,                               /* event_type = 3 (watch) */
        0xf6, 0xa1, 0xab, 0xfe, 0xf9, 0x62, /* ts 1700000000123 */
        0x80, 0x7d,                         /* watch_ms 8000 */
        0x02, 0xa0, 0x9c, 0x01,             /* duration_ms: branch 1, 10000 */
        0x02, 0x0e, 'c',  'o',  'o',  'k',  'i', 'n', 'g', /* category */
        0x00,                                              /* value: null */
        0x02, 0x06, 'i',  'o',  's',                       /* device */
        0x00, /* session_id: null */
};

static void test_encode_matches_spec_bytes(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        const void *buf;
        size_t len;

        (void)state;
        assert_int_equal(rs_codec_encode_event(codec, &sample, &buf, &len),
                         RS_OK);
        assert_int_equal(len, sizeof(sample_plain));
        assert_memory_equal(buf, sample_plain, len);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

static void test_confluent_header(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_CONFLUENT, in, err, sizeof(err));
        const void *buf;
        size_t len;
        rs_event_t ev;
        unsigned char copy[128];

        (void)state;
        rs_codec_set_schema_ids(codec, 0x01020304, 9);
        assert_int_equal(rs_codec_encode_event(codec, &sample, &buf, &len),
                         RS_OK);
        assert_memory_equal(buf, "\x00\x01\x02\x03\x04", 5);
        assert_memory_equal((const char *)buf + 5, sample_plain,
                            sizeof(sample_plain));
        memcpy(copy, buf, len);
        copy[4] = 0x05; /* an id nobody registered */
        assert_int_equal(rs_codec_decode_event(codec, copy, len, &ev),
                         RS_ERR_DECODE);
        assert_string_equal(rs_codec_reason(codec), "unknown_schema");
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* Canonical form and fingerprint of a small schema, checked against the
 * Avro specification's rules by hand and CRC-64-AVRO of "\"int\"" whose
 * value the Java reference implementation prints (0x7275d51a3f395c8f). */
static void test_canonical_form(void **state)
{
        const char *json =
                "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\","
                "\"doc\":\"x\",\"fields\":[{\"name\":\"f\",\"type\":{\"type\":"
                "\"long\",\"logicalType\":\"timestamp-millis\"},\"default\":0},"
                "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                "\"symbols\":[\"x\",\"y\"]}}]}";
        char *canon = NULL;
        uint64_t fp;

        (void)state;
        assert_int_equal(rs_codec_canonical_form(json, strlen(json), &canon,
                                                 &fp, NULL, 0),
                         RS_OK);
        assert_string_equal(
                canon,
                "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
                "{\"name\":\"f\",\"type\":\"long\"},{\"name\":\"e\",\"type\":"
                "{\"name\":\"a.b.E\",\"type\":\"enum\",\"symbols\":[\"x\","
                "\"y\"]}}]}");
        free(canon);
        assert_int_equal(
                rs_codec_canonical_form("\"int\"", 5, NULL, &fp, NULL, 0),
                RS_OK);
        assert_true(fp == 0x7275d51a3f395c8fULL);
}

/* An older writer: no duration/category/value/device/session fields, an
 * int watch_ms, and its enum symbols in another order with one symbol the
 * reader does not know. */
static const char old_writer[] =
        "{\"type\":\"record\",\"name\":\"BehaviorEvent\",\"namespace\":"
        "\"recstream\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":\"string\"},"
        "{\"name\":\"item_id\",\"type\":\"string\"},"
        "{\"name\":\"event_type\",\"type\":{\"type\":\"enum\",\"name\":"
        "\"EventType\",\"symbols\":[\"bookmark\",\"like\",\"watch\"]}},"
        "{\"name\":\"ts\",\"type\":\"long\"},"
        "{\"name\":\"watch_ms\",\"type\":\"int\"},"
        "{\"name\":\"extra\",\"type\":\"string\"}]}";

static void test_older_writer(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        rs_event_t ev;
        /* e, u, i, like(1), ts=5, watch_ms=3, extra="zz" */
        const unsigned char like[] = {0x02, 'e',  0x02, 'u',  0x02, 'i',
                                      0x02, 0x0a, 0x06, 0x04, 'z',  'z'};
        /* the same with event_type bookmark(0) */
        unsigned char bookmark[sizeof(like)];

        (void)state;
        assert_int_equal(rs_codec_add_event_writer(codec, old_writer,
                                                   strlen(old_writer), -1, err,
                                                   sizeof(err)),
                         RS_OK);
        assert_int_equal(rs_codec_decode_event(codec, like, sizeof(like), &ev),
                         RS_OK);
        assert_int_equal(ev.type, RS_EV_LIKE);
        assert_int_equal(ev.ts, 5);
        assert_int_equal(ev.watch_ms, 3);
        assert_true(ev.duration_ms == RS_NONE_I64);
        assert_int_equal(ev.category, RS_ID_NONE);
        assert_true(isnan(ev.value));
        assert_string_equal(rs_intern_str(in, ev.user, NULL), "u");

        memcpy(bookmark, like, sizeof(like));
        bookmark[6] = 0x00; /* event_type 0: bookmark */
        assert_int_equal(
                rs_codec_decode_event(codec, bookmark, sizeof(bookmark), &ev),
                RS_ERR_DECODE);
        assert_string_equal(rs_codec_reason(codec), "unknown_event_type");
        /* and the next good record still decodes */
        assert_int_equal(rs_codec_decode_event(codec, like, sizeof(like), &ev),
                         RS_OK);
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

static void test_incompatible_writer_rejected(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        const char *no_user =
                "{\"type\":\"record\",\"name\":\"BehaviorEvent\",\"fields\":["
                "{\"name\":\"event_id\",\"type\":\"string\"}]}";
        const char *bad_ts =
                "{\"type\":\"record\",\"name\":\"BehaviorEvent\",\"fields\":["
                "{\"name\":\"event_id\",\"type\":\"string\"},"
                "{\"name\":\"user_id\",\"type\":\"string\"},"
                "{\"name\":\"item_id\",\"type\":\"string\"},"
                "{\"name\":\"event_type\",\"type\":\"string\"},"
                "{\"name\":\"ts\",\"type\":\"string\"}]}";

        (void)state;
        assert_int_equal(rs_codec_add_event_writer(codec, no_user,
                                                   strlen(no_user), -1, err,
                                                   sizeof(err)),
                         RS_ERR_INVALID);
        assert_non_null(strstr(err, "user_id"));
        assert_int_equal(rs_codec_add_event_writer(codec, bad_ts,
                                                   strlen(bad_ts), -1, err,
                                                   sizeof(err)),
                         RS_ERR_INVALID);
        assert_non_null(strstr(err, "'ts'"));
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

static void test_garbage_fails_record_only(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_event_t ev;
        static const unsigned char junk[][12] = {
                {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                 0xff, 0x01},
                {0x7f, 'x'},
                {0}, /* a valid all-empty record and one trailing byte */
        };

        (void)state;
        for (int f = 0; f < RS_FRAMING__COUNT; f++) {
                rs_codec_t *codec = rs_codec_new(f, in, err, sizeof(err));
                for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
                        assert_int_equal(rs_codec_decode_event(codec, junk[i],
                                                               sizeof(junk[i]),
                                                               &ev),
                                         RS_ERR_DECODE);
                assert_int_equal(rs_codec_decode_event(codec, "", 0, &ev),
                                 RS_ERR_DECODE);
                const void *buf;
                size_t len;
                assert_int_equal(
                        rs_codec_encode_event(codec, &sample, &buf, &len),
                        RS_OK);
                /* every truncation of a good record fails cleanly */
                for (size_t cut = 0; cut < len; cut++)
                        assert_int_equal(
                                rs_codec_decode_event(codec, buf, cut, &ev),
                                RS_ERR_DECODE);
                assert_int_equal(rs_codec_decode_event(codec, buf, len, &ev),
                                 RS_OK);
                check_sample(in, &ev);
                rs_codec_destroy(codec);
        }
        rs_intern_destroy(in);
}

static void test_recs_roundtrip(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_recs_t recs = {0}, back;
        const void *buf;
        size_t len;

        (void)state;
        recs.user = rs_intern_id(in, "u1", 2);
        recs.generated_ts = 123456;
        recs.n = 2;
        recs.items[0] =
                (rs_rec_t){rs_intern_id(in, "ep3", 3),
                           rs_intern_id(in, "ep2", 3), 0.75, RS_REASON_COVISIT};
        recs.items[1] = (rs_rec_t){rs_intern_id(in, "hot", 3), RS_ID_NONE, 0.5,
                                   RS_REASON_TRENDING};
        for (int f = 0; f < RS_FRAMING__COUNT; f++) {
                rs_codec_t *codec = rs_codec_new(f, in, err, sizeof(err));
                rs_codec_set_pipeline(codec, "video", "abc");
                assert_int_equal(rs_codec_encode_recs(codec, &recs, &buf, &len),
                                 RS_OK);
                assert_int_equal(rs_codec_decode_recs(codec, buf, len, &back),
                                 RS_OK);
                assert_int_equal(back.user, recs.user);
                assert_int_equal(back.generated_ts, 123456);
                assert_int_equal(back.n, 2);
                assert_int_equal(back.items[0].item, recs.items[0].item);
                assert_int_equal(back.items[0].because_of,
                                 recs.items[0].because_of);
                assert_true(back.items[0].score == 0.75);
                assert_int_equal(back.items[1].reason, RS_REASON_TRENDING);
                assert_int_equal(back.items[1].because_of, RS_ID_NONE);
                rs_codec_destroy(codec);
        }
        rs_intern_destroy(in);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip_plain),
                cmocka_unit_test(test_roundtrip_confluent),
                cmocka_unit_test(test_roundtrip_single_object),
                cmocka_unit_test(test_encode_matches_spec_bytes),
                cmocka_unit_test(test_confluent_header),
                cmocka_unit_test(test_canonical_form),
                cmocka_unit_test(test_older_writer),
                cmocka_unit_test(test_incompatible_writer_rejected),
                cmocka_unit_test(test_garbage_fails_record_only),
                cmocka_unit_test(test_recs_roundtrip),
        };
        return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
