/* Local checkpoint files (state.state_dir, checkpoint.h): what is written
 * comes back byte for byte with the offset it covers, and a file that is
 * damaged anywhere — any byte flipped, cut at any length, another
 * version, magic, topic or partition with a checksum that holds, bytes
 * after its end — is refused before a single record is handed out. The
 * format's offsets and the CRC are computed here by code of the test's
 * own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "recstream/checkpoint.h"

#define TOPIC "video.users-changelog"
#define NREC  40

typedef struct seen {
        size_t n;
        char keys[NREC][32];
        unsigned char vals[NREC][300];
        size_t vlen[NREC];
} seen_t;

static char dir[256];

static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

        (void)state;
        snprintf(dir, sizeof(dir), "%s/rs_ckpt_XXXXXX", tmp);
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[300];

        (void)state;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Record i: key "u<i>", value of (i * 7) % 300 bytes of a pattern (the
 * first one empty). */
static size_t value_of(int i, unsigned char *v)
{
        size_t len = (size_t)(i * 7) % 300;
        for (size_t k = 0; k < len; k++)
                v[k] = (unsigned char)(i * 31 + (int)k);
        return len;
}

static void write_file(int32_t partition, int64_t offset, int n)
{
        char err[256];
        unsigned char v[300];
        char key[32];
        rs_ckpt_writer_t *ck =
                rs_ckpt_begin(dir, TOPIC, partition, offset, err, sizeof(err));

        assert_non_null(ck);
        for (int i = 0; i < n; i++) {
                snprintf(key, sizeof(key), "u%d", i);
                size_t len = value_of(i, v);
                assert_int_equal(rs_ckpt_add(ck, key, strlen(key), v, len),
                                 RS_OK);
        }
        assert_int_equal(rs_ckpt_records(ck), (uint64_t)n);
        assert_int_equal(rs_ckpt_commit(ck, err, sizeof(err)), RS_OK);
}

static rs_err_t collect(void *opaque, const void *key, size_t klen,
                        const void *value, size_t len)
{
        seen_t *s = opaque;

        assert_true(s->n < NREC && klen < 32 && len <= 300);
        memcpy(s->keys[s->n], key, klen);
        s->keys[s->n][klen] = '\0';
        memcpy(s->vals[s->n], value, len);
        s->vlen[s->n++] = len;
        return RS_OK;
}

static char *path_of(int32_t partition)
{
        static char path[512];
        rs_ckpt_path(path, sizeof(path), dir, TOPIC, partition);
        return path;
}

static unsigned char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        unsigned char *p = malloc(1 << 20);

        assert_non_null(f);
        *len = fread(p, 1, 1 << 20, f);
        fclose(f);
        return p;
}

static void spill(const char *path, const unsigned char *p, size_t len)
{
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, len, f), len);
        fclose(f);
}

/* CRC-32 (IEEE), bit by bit. */
static uint32_t crc32_bits(const unsigned char *p, size_t len)
{
        uint32_t c = 0xFFFFFFFFu;

        for (size_t i = 0; i < len; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
        return ~c;
}

static void reseal(unsigned char *p, size_t len)
{
        uint32_t c = crc32_bits(p, len - 4);
        for (int i = 0; i < 4; i++)
                p[len - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

static rs_err_t load(int32_t partition, seen_t *s, rs_ckpt_info_t *info)
{
        char err[256];
        memset(s, 0, sizeof(*s));
        return rs_ckpt_load(dir, TOPIC, partition, collect, s, info, err,
                            sizeof(err));
}

static void test_round_trip(void **state)
{
        rs_ckpt_info_t info;
        seen_t s;
        unsigned char v[300];
        size_t len;

        (void)state;
        write_file(3, 12345678901LL, NREC);
        assert_int_equal(load(3, &s, &info), RS_OK);
        assert_int_equal(info.offset, 12345678901LL);
        assert_int_equal(info.records, NREC);
        assert_int_equal(s.n, NREC);
        for (int i = 0; i < NREC; i++) {
                char key[32];
                snprintf(key, sizeof(key), "u%d", i);
                assert_string_equal(s.keys[i], key);
                len = value_of(i, v);
                assert_int_equal(s.vlen[i], len);
                assert_memory_equal(s.vals[i], v, len);
        }
        /* the layout checkpoint.h gives: magic, version 1, the topic, the
         * partition, the offset; then the end mark, count and checksum */
        unsigned char *p = slurp(path_of(3), &len);
        size_t t = strlen(TOPIC);
        assert_memory_equal(p, "RSCKPT\r\n", 8);
        assert_int_equal(p[8], 1);
        assert_int_equal(p[12], t);
        assert_memory_equal(p + 14, TOPIC, t);
        assert_int_equal(p[14 + t], 3);
        assert_int_equal(p[18 + t], 12345678901LL & 0xFF);
        assert_int_equal(p[len - 16], 0xFF);
        assert_int_equal(p[len - 12], NREC);
        assert_int_equal(crc32_bits(p, len - 4),
                         (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 |
                                 (uint32_t)p[len - 2] << 16 |
                                 (uint32_t)p[len - 1] << 24);
        /* no temporary file left behind */
        char tmp[600];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path_of(3));
        assert_int_not_equal(access(tmp, F_OK), 0);
        free(p);
        /* an empty partition: a header and an end */
        write_file(4, 0, 0);
        assert_int_equal(load(4, &s, &info), RS_OK);
        assert_int_equal(info.records, 0);
        assert_int_equal(s.n, 0);
}

static void test_missing(void **state)
{
        rs_ckpt_info_t info;
        seen_t s;

        (void)state;
        assert_int_equal(load(9, &s, &info), RS_ERR_NOENT);
}

/* Every byte flipped, every length short of the whole: refused, and not
 * one record handed out. */
static void test_every_damage_refused(void **state)
{
        rs_ckpt_info_t info;
        seen_t s;
        size_t len;
        unsigned char *good, *bad;

        (void)state;
        write_file(0, 777, 12);
        good = slurp(path_of(0), &len);
        bad = malloc(len);
        for (size_t i = 0; i < len; i++)
                for (int bit = 0; bit < 8; bit += 3) {
                        memcpy(bad, good, len);
                        bad[i] ^= (unsigned char)(1u << bit);
                        spill(path_of(0), bad, len);
                        if (load(0, &s, &info) != RS_ERR_DECODE || s.n)
                                fail_msg("byte %zu bit %d accepted", i, bit);
                        assert_non_null(info.reason);
                }
        for (size_t cut = 0; cut < len; cut++) {
                spill(path_of(0), good, cut);
                if (load(0, &s, &info) != RS_ERR_DECODE || s.n)
                        fail_msg("cut at %zu of %zu accepted", cut, len);
        }
        /* bytes after the checksum */
        memcpy(bad, good, len);
        FILE *f = fopen(path_of(0), "wb");
        fwrite(good, 1, len, f);
        fputc(0, f);
        fclose(f);
        assert_int_equal(load(0, &s, &info), RS_ERR_DECODE);
        assert_int_equal(s.n, 0);
        /* the good one still reads */
        spill(path_of(0), good, len);
        assert_int_equal(load(0, &s, &info), RS_OK);
        assert_int_equal(s.n, 12);
        free(good);
        free(bad);
}

/* Damage a checksum cannot see: refused by what the header says. */
static void test_wrong_header_refused(void **state)
{
        rs_ckpt_info_t info;
        seen_t s;
        size_t len, t = strlen(TOPIC);
        unsigned char *good, *bad;
        const struct {
                size_t at;
                unsigned char byte;
                const char *reason;
        } cases[] = {
                {8, 2, "unknown_version"}, /* version 2 */
                {0, 'X', "bad_magic"},
                {14 + t, 2, "other_partition"}, /* partition 2's file */
                {14, 'V', "other_partition"},   /* another topic's */
        };

        (void)state;
        write_file(1, 50, 5);
        good = slurp(path_of(1), &len);
        bad = malloc(len);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                memcpy(bad, good, len);
                bad[cases[i].at] = cases[i].byte;
                reseal(bad, len);
                spill(path_of(1), bad, len);
                assert_int_equal(load(1, &s, &info), RS_ERR_DECODE);
                assert_string_equal(info.reason, cases[i].reason);
                assert_int_equal(s.n, 0);
        }

        /* flipped and resealed: the offset is trusted, so it is what the
         * caller checks against the changelog */
        memcpy(bad, good, len);
        bad[18 + t] ^= 1;
        reseal(bad, len);
        spill(path_of(1), bad, len);
        assert_int_equal(load(1, &s, &info), RS_OK);
        assert_int_equal(info.offset, 51);
        free(good);
        free(bad);
}

/* A checkpoint is replaced whole or not at all: an aborted one, or one
 * cut short in its temporary file, leaves the last one as it was. */
static void test_atomic(void **state)
{
        char err[256];
        rs_ckpt_info_t info;
        seen_t s;
        rs_ckpt_writer_t *ck;

        (void)state;
        write_file(2, 10, 3);
        ck = rs_ckpt_begin(dir, TOPIC, 2, 20, err, sizeof(err));
        assert_non_null(ck);
        assert_int_equal(rs_ckpt_add(ck, "x", 1, "y", 1), RS_OK);
        rs_ckpt_abort(ck);
        assert_int_equal(load(2, &s, &info), RS_OK);
        assert_int_equal(info.offset, 10);
        assert_int_equal(s.n, 3);
        /* bounds: an empty key, a key too long */
        ck = rs_ckpt_begin(dir, TOPIC, 2, 30, err, sizeof(err));
        assert_int_equal(rs_ckpt_add(ck, "", 0, "y", 1), RS_ERR_INVALID);
        char *big = calloc(1, RS_CKPT_MAX_KEY + 1);
        assert_int_equal(rs_ckpt_add(ck, big, RS_CKPT_MAX_KEY + 1, "y", 1),
                         RS_ERR_INVALID);
        free(big);
        assert_int_equal(rs_ckpt_commit(ck, err, sizeof(err)), RS_OK);
        assert_int_equal(load(2, &s, &info), RS_OK);
        assert_int_equal(info.offset, 30);
        assert_int_equal(s.n, 0);
        /* a directory that does not exist: an error, nothing written */
        assert_null(rs_ckpt_begin("/nonexistent-rs-dir", TOPIC, 2, 1, err,
                                  sizeof(err)));
        assert_non_null(strstr(err, "cannot create"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_missing),
                cmocka_unit_test(test_every_damage_refused),
                cmocka_unit_test(test_wrong_header_refused),
                cmocka_unit_test(test_atomic),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
