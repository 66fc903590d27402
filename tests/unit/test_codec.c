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

#include "recstream/clock.h"
#include "recstream/codec.h"
#include "recstream/intern.h"
#include "recstream/records.h"

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

/* A record that fails interns nothing: every field is read and checked
 * before its ids are interned (issue 9: rejected records' ids stayed in
 * memory for good). A good record's ids that no one holds are freed by
 * the collect at the batch boundary; the ones someone holds are not. */
static void test_rejected_ids_collected(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        rs_event_t ev;
        /* e, q, r, bookmark(0): not a BehaviorEvent type */
        const unsigned char bad[] = {0x02, 'e',  0x02, 'q',  0x02, 'r',
                                     0x00, 0x0a, 0x06, 0x04, 'z',  'z'};
        const unsigned char good[] = {0x02, 'e',  0x02, 'u',  0x02, 'i',
                                      0x02, 0x0a, 0x06, 0x04, 'z',  'z'};

        (void)state;
        assert_int_equal(rs_codec_add_event_writer(codec, old_writer,
                                                   strlen(old_writer), -1, err,
                                                   sizeof(err)),
                         RS_OK);
        assert_int_equal(rs_codec_decode_event(codec, bad, sizeof(bad), &ev),
                         RS_ERR_DECODE);
        assert_int_equal(rs_intern_find(in, "q", 1), RS_ID_NONE);
        assert_int_equal(rs_intern_find(in, "r", 1), RS_ID_NONE);
        assert_int_equal(rs_codec_decode_event(codec, good, sizeof(good), &ev),
                         RS_OK);
        rs_intern_ref(in, ev.user); /* a window would hold the user */
        assert_int_equal(rs_intern_collect(in), 1); /* i */
        assert_int_equal(rs_intern_find(in, "q", 1), RS_ID_NONE);
        assert_int_equal(rs_intern_find(in, "r", 1), RS_ID_NONE);
        assert_int_equal(rs_intern_find(in, "u", 1), ev.user);
        assert_int_equal(rs_intern_live(in), 1);
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

/* The zigzag varint of v (Avro specification, "Binary Encoding"). */
static size_t put_long(unsigned char *out, int64_t v)
{
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        size_t n = 0;

        while (z >= 0x80) {
                out[n++] = (unsigned char)(z | 0x80);
                z >>= 7;
        }
        out[n++] = (unsigned char)z;
        return n;
}

/* Decodes buf and expects a dead letter with `reason`, then the sample
 * itself still decoding. */
static void expect_bad(rs_codec_t *codec, rs_intern_t *in,
                       const unsigned char *buf, size_t len, const char *reason)
{
        rs_event_t ev;

        assert_int_equal(rs_codec_decode_event(codec, buf, len, &ev),
                         RS_ERR_DECODE);
        if (reason)
                assert_string_equal(rs_codec_reason(codec), reason);
        else /* a structural reason, whichever the cut makes */
                assert_true(!strcmp(rs_codec_reason(codec), "truncated") ||
                            !strcmp(rs_codec_reason(codec), "bad_length"));
        assert_int_equal(rs_codec_decode_event(codec, sample_plain,
                                               sizeof(sample_plain), &ev),
                         RS_OK);
        check_sample(in, &ev);
}

/* Offsets in sample_plain of the length of each string and of each union
 * branch index, counted from the bytes written out above. */
static const size_t string_at[] = {0, 4, 8, 25, 35};
static const size_t branch_at[] = {20, 24, 33, 34, 39};

/* A string whose length runs past the end of the record, by one byte up
 * to far beyond any cap, at every string of the record: never a leak
 * (make asan), always a dead letter. */
static void test_string_past_the_end(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        unsigned char buf[sizeof(sample_plain) + 16];

        (void)state;
        for (size_t f = 0; f < sizeof(string_at) / sizeof(string_at[0]); f++) {
                size_t at = string_at[f];
                size_t rest = sizeof(sample_plain) - at - 1;
                const int64_t over[] = {1,   2,    63,       64,        65, 100,
                                        200, 4096, 64 << 20, 1LL << 40, -2, -1};
                for (size_t o = 0; o < sizeof(over) / sizeof(over[0]); o++) {
                        /* a negative entry is a negative length */
                        int64_t claim =
                                over[o] < 0 ? over[o] : (int64_t)rest + over[o];
                        size_t n = at;
                        memcpy(buf, sample_plain, at);
                        n += put_long(buf + n, claim);
                        memcpy(buf + n, sample_plain + at + 1, rest);
                        expect_bad(codec, in, buf, n + rest, "bad_length");
                }
        }
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* Every union of the record with a branch index it does not have. */
static void test_wrong_union_branch(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        unsigned char buf[sizeof(sample_plain) + 16];
        const int64_t bad[] = {2, 3, 100, -1, -64, INT32_MAX, INT64_MAX};

        (void)state;
        for (size_t u = 0; u < sizeof(branch_at) / sizeof(branch_at[0]); u++) {
                size_t at = branch_at[u];
                size_t rest = sizeof(sample_plain) - at - 1;
                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                        size_t n = at;
                        memcpy(buf, sample_plain, at);
                        n += put_long(buf + n, bad[i]);
                        memcpy(buf + n, sample_plain + at + 1, rest);
                        expect_bad(codec, in, buf, n + rest, "bad_union");
                }
        }
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* One to 200 bytes after a sound record, zeros or not: the record is not
 * what its schema says. */
static void test_trailing_bytes(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        unsigned char buf[sizeof(sample_plain) + 200];

        (void)state;
        memcpy(buf, sample_plain, sizeof(sample_plain));
        for (int fill = 0; fill < 3; fill++) {
                memset(buf + sizeof(sample_plain),
                       fill == 0   ? 0x00
                       : fill == 1 ? 0x02
                                   : 0xff,
                       200);
                for (size_t extra = 1; extra <= 200; extra++) {
                        expect_bad(codec, in, buf, sizeof(sample_plain) + extra,
                                   "trailing_bytes");
                        assert_non_null(strstr(rs_codec_error(codec),
                                               "after the record"));
                }
        }
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* Varints written longer than they need (0x80 continuation bytes, which
 * Avro decoders accept): the record reads as the same values. With the
 * last byte dropped as well, the record has its original length but ends
 * one byte short: a dead letter, not a record completed by anything
 * beyond its end. */
static void test_long_varints(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        unsigned char buf[sizeof(sample_plain) + 1];
        rs_event_t ev;
        const size_t ts_end = 17; /* the last byte of ts, 0x62 */

        (void)state;
        memcpy(buf, sample_plain, ts_end);
        buf[ts_end] = 0x62 | 0x80;
        buf[ts_end + 1] = 0x00;
        memcpy(buf + ts_end + 2, sample_plain + ts_end + 1,
               sizeof(sample_plain) - ts_end - 1);
        assert_int_equal(rs_codec_decode_event(codec, buf, sizeof(buf), &ev),
                         RS_OK);
        check_sample(in, &ev);
        expect_bad(codec, in, buf, sizeof(sample_plain), "truncated");
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* A record of 100 KB (a long session_id, which the stages do not read)
 * decodes, and fails as truncated or with a bad length when cut short. */
static void test_large_record(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        rs_event_fields_t big = sample;
        char *sid = malloc(100001);
        const void *buf;
        size_t len;
        rs_event_t ev;

        (void)state;
        memset(sid, 's', 100000);
        sid[100000] = '\0';
        big.session_id = sid;
        assert_int_equal(rs_codec_encode_event(codec, &big, &buf, &len), RS_OK);
        assert_true(len > 100000);
        unsigned char *copy = malloc(len);
        memcpy(copy, buf, len);
        assert_int_equal(rs_codec_decode_event(codec, copy, len, &ev), RS_OK);
        check_sample(in, &ev);
        const size_t cuts[] = {0, 30, 1000, 65536, len - 10, len - 1};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
                expect_bad(codec, in, copy, cuts[i], NULL);
        free(copy);
        free(sid);
        rs_codec_destroy(codec);
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
        recs.n = 3;
        recs.items[0] =
                (rs_rec_t){rs_intern_id(in, "ep3", 3),
                           rs_intern_id(in, "ep2", 3), 0.75, RS_REASON_COVISIT};
        recs.items[1] = (rs_rec_t){rs_intern_id(in, "hot", 3), RS_ID_NONE, 0.5,
                                   RS_REASON_TRENDING};
        /* sequence: covisit on the wire, and channels say sequence */
        recs.items[2] = (rs_rec_t){rs_intern_id(in, "ep4", 3),
                                   rs_intern_id(in, "ep3", 3), 0.25,
                                   RS_REASON_SEQUENCE};
        for (int f = 0; f < RS_FRAMING__COUNT; f++) {
                rs_codec_t *codec = rs_codec_new(f, in, err, sizeof(err));
                rs_codec_set_pipeline(codec, "video", "abc");
                assert_int_equal(rs_codec_encode_recs(codec, &recs, &buf, &len),
                                 RS_OK);
                assert_int_equal(rs_codec_decode_recs(codec, buf, len, &back),
                                 RS_OK);
                assert_int_equal(back.user, recs.user);
                assert_int_equal(back.generated_ts, 123456);
                assert_int_equal(back.n, 3);
                assert_int_equal(back.items[0].reason, RS_REASON_COVISIT);
                assert_int_equal(back.items[2].reason, RS_REASON_SEQUENCE);
                assert_int_equal(back.items[2].because_of,
                                 recs.items[2].because_of);
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

/* UserRecs version 2: published_ts and list_id round-trip as given (0 as
 * null), the worker's stamp sets the wall clock and a new id per list,
 * and a plain version 1 record (no such fields) still reads. */
static void test_recs_v2_fields(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        static rs_recs_t recs, back;
        const void *buf;
        size_t len;
        /* user_id "u1", generated_ts 1, pipeline {"p", "h"}, no items:
         * version 1, and the same as version 2 with both fields null */
        const unsigned char v1[] = {0x04, 'u',  '1', 0x02, 0x02,
                                    'p',  0x02, 'h', 0x00};
        const unsigned char v2[] = {0x04, 'u', '1',  0x02, 0x02, 'p',
                                    0x02, 'h', 0x00, 0x00, 0x00};

        (void)state;
        recs.user = rs_intern_id(in, "u1", 2);
        recs.generated_ts = 5;
        recs.published_ts = 1796083200123;
        recs.list_id = 0x0123456789abcdefULL;
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        rs_codec_set_pipeline(codec, "p", "h");
        assert_int_equal(rs_codec_encode_recs(codec, &recs, &buf, &len), RS_OK);
        /* list_id, as the schema says: branch 1 of ["null", string],
         * then 16 hex digits (length 16, zigzag 0x20); then channels,
         * version 3's: branch 1, an array of no items */
        assert_true(len > 20);
        assert_memory_equal((const unsigned char *)buf + len - 20,
                            "\x02\x20"
                            "0123456789abcdef"
                            "\x02\x00",
                            20);
        assert_int_equal(rs_codec_decode_recs(codec, buf, len, &back), RS_OK);
        assert_true(back.published_ts == 1796083200123);
        assert_true(back.list_id == 0x0123456789abcdefULL);

        recs.published_ts = 0;
        recs.list_id = 0;
        assert_int_equal(rs_codec_encode_recs(codec, &recs, &buf, &len), RS_OK);
        assert_int_equal(rs_codec_decode_recs(codec, buf, len, &back), RS_OK);
        assert_true(back.published_ts == 0 && back.list_id == 0);

        rs_codec_set_stamp(codec, 1);
        int64_t t0 = rs_wall_ms();
        assert_int_equal(rs_codec_encode_recs(codec, &recs, &buf, &len), RS_OK);
        assert_int_equal(rs_codec_decode_recs(codec, buf, len, &back), RS_OK);
        uint64_t first = back.list_id;
        assert_true(back.published_ts >= t0 &&
                    back.published_ts <= rs_wall_ms());
        assert_true(first != 0);
        assert_int_equal(rs_codec_encode_recs(codec, &recs, &buf, &len), RS_OK);
        assert_int_equal(rs_codec_decode_recs(codec, buf, len, &back), RS_OK);
        assert_true(back.list_id != 0 && back.list_id != first);

        assert_int_equal(rs_codec_decode_recs(codec, v1, sizeof(v1), &back),
                         RS_OK);
        assert_true(back.generated_ts == 1 && back.published_ts == 0 &&
                    back.list_id == 0 && back.n == 0);
        assert_int_equal(rs_codec_decode_recs(codec, v2, sizeof(v2), &back),
                         RS_OK);
        assert_true(back.generated_ts == 1 && back.published_ts == 0);
        /* cut short: neither version */
        assert_int_equal(rs_codec_decode_recs(codec, v1, sizeof(v1) - 2, &back),
                         RS_ERR_DECODE);
        /* a list_id of 16 characters that are not 16 hex digits: none */
        static const char *const not_hex[] = {
                "-123456789abcdef", " 123456789abcdef", "0x23456789abcdef",
                "+123456789abcdef", "0123456789abcdeg"};
        for (size_t i = 0; i < sizeof(not_hex) / sizeof(not_hex[0]); i++) {
                unsigned char odd[sizeof(v1) + 3 + 16];
                memcpy(odd, v1, sizeof(v1));
                odd[sizeof(v1)] = 0x00;     /* published_ts null */
                odd[sizeof(v1) + 1] = 0x02; /* list_id: the string */
                odd[sizeof(v1) + 2] = 0x20; /* of 16 bytes */
                memcpy(odd + sizeof(v1) + 3, not_hex[i], 16);
                assert_int_equal(
                        rs_codec_decode_recs(codec, odd, sizeof(odd), &back),
                        RS_OK);
                if (back.list_id != 0)
                        fail_msg("list_id '%s' read as %016llx", not_hex[i],
                                 (unsigned long long)back.list_id);
        }
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* CoocDelta 3 (issue 13): a pair update marked directed comes back
 * directed, the others not; a marginal or popularity update is never a
 * transition, whatever its flag said; the record leads with version 3. */
static void test_delta_directed(void **state)
{
        char err[256];
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        rs_delta_t d = {.partition = 0};
        const rs_delta_t *got;
        const void *buf;
        size_t len;
        uint32_t a = rs_intern_id(in, "s1e2", 4),
                 b = rs_intern_id(in, "s1e3", 4);

        (void)state;
        assert_non_null(codec);
        rs_codec_set_pipeline(codec, "t", "0");
        assert_int_equal(rs_delta_add(&d, a, b, 1000, 0.5f), RS_OK);
        d.upd[0].directed = 1;
        assert_int_equal(rs_delta_add(&d, b, a, 1000, 0.5f), RS_OK);
        assert_int_equal(rs_delta_add(&d, a, RS_DELTA_MARGINAL, 1000, 1),
                         RS_OK);
        d.upd[2].directed = 1;
        assert_int_equal(rs_codec_encode_delta(codec, &d, &buf, &len), RS_OK);
        assert_int_equal(((const unsigned char *)buf)[0], 3 << 1); /* zigzag */
        assert_int_equal(rs_codec_decode_delta(codec, buf, len, &got), RS_OK);
        assert_int_equal(got->n, 3);
        assert_int_equal(got->upd[0].item, a);
        assert_int_equal(got->upd[0].other, b);
        assert_int_equal(got->upd[0].directed, 1);
        assert_int_equal(got->upd[1].directed, 0);
        assert_int_equal(got->upd[2].other, RS_DELTA_MARGINAL);
        assert_int_equal(got->upd[2].directed, 0);
        rs_delta_fini(&d);
        rs_codec_destroy(codec);
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
                cmocka_unit_test(test_rejected_ids_collected),
                cmocka_unit_test(test_incompatible_writer_rejected),
                cmocka_unit_test(test_garbage_fails_record_only),
                cmocka_unit_test(test_recs_roundtrip),
                cmocka_unit_test(test_recs_v2_fields),
                cmocka_unit_test(test_string_past_the_end),
                cmocka_unit_test(test_wrong_union_branch),
                cmocka_unit_test(test_trailing_bytes),
                cmocka_unit_test(test_long_varints),
                cmocka_unit_test(test_large_record),
                cmocka_unit_test(test_delta_directed),
        };
        return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
