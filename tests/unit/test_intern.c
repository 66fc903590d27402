/* Intern table: dense ids in first-seen order, lookups across growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/hash.h"
#include "recstream/intern.h"

static void test_dense_ids(void **state)
{
        rs_intern_t *in = rs_intern_new();
        char s[32];

        (void)state;
        assert_int_equal(rs_intern_id(in, "a", 1), 0);
        assert_int_equal(rs_intern_id(in, "b", 1), 1);
        assert_int_equal(rs_intern_id(in, "a", 1), 0);
        assert_int_equal(rs_intern_id(in, "", 0), 2);
        assert_int_equal(rs_intern_find(in, "c", 1), RS_ID_NONE);
        /* the same bytes with a NUL inside are another id */
        assert_int_equal(rs_intern_id(in, "a\0b", 3), 3);
        for (int i = 0; i < 200000; i++) {
                int n = snprintf(s, sizeof(s), "user-%d", i);
                assert_int_equal(rs_intern_id(in, s, (size_t)n),
                                 (uint32_t)(4 + i));
        }
        for (int i = 0; i < 200000; i += 997) {
                size_t len;
                int n = snprintf(s, sizeof(s), "user-%d", i);
                assert_int_equal(rs_intern_find(in, s, (size_t)n),
                                 (uint32_t)(4 + i));
                assert_string_equal(rs_intern_str(in, (uint32_t)(4 + i), &len),
                                    s);
                assert_int_equal(len, (size_t)n);
        }
        assert_int_equal(rs_intern_id_bound(in), 200004);
        assert_null(rs_intern_str(in, 200004, NULL));
        rs_intern_destroy(in);
}

/* A batch gets the ids one-by-one lookups would, in order: new strings
 * numbered as they come, repeats within the batch included, across
 * growth of the table. */
static void test_batch(void **state)
{
        rs_intern_t *in = rs_intern_new();
        const char *s[RS_INTERN_BATCH] = {"x", "y", "x", "", "y", "zz"};
        size_t len[RS_INTERN_BATCH] = {1, 1, 1, 0, 1, 2};
        uint32_t ids[RS_INTERN_BATCH];
        char buf[RS_INTERN_BATCH][32];

        (void)state;
        rs_intern_ids(in, 6, s, len, ids);
        assert_int_equal(ids[0], 0);
        assert_int_equal(ids[1], 1);
        assert_int_equal(ids[2], 0);
        assert_int_equal(ids[3], 2);
        assert_int_equal(ids[4], 1);
        assert_int_equal(ids[5], 3);
        rs_intern_ids(in, 0, s, len, ids);
        assert_int_equal(rs_intern_id_bound(in), 4);
        for (int i = 0; i < 100000; i++) {
                for (int j = 0; j < 3; j++) {
                        /* a new one, the one before it, an old one */
                        int k = j == 0 ? i : j == 1 ? i - 1 : i / 2;
                        len[j] = (size_t)snprintf(buf[j], sizeof(buf[j]),
                                                  "id-%d", k < 0 ? 0 : k);
                        s[j] = buf[j];
                }
                rs_intern_ids(in, 3, s, len, ids);
                assert_int_equal(ids[0], (uint32_t)(4 + i));
                assert_int_equal(ids[1], (uint32_t)(4 + (i ? i - 1 : 0)));
                assert_int_equal(ids[2], (uint32_t)(4 + i / 2));
        }
        assert_int_equal(rs_intern_id_bound(in), 100004);
        rs_intern_destroy(in);
}

/* Strings around and beyond the 1 MiB record block: each is interned,
 * found and read back byte for byte, and so are the short strings that
 * come after them (issue 9: a 1,048,568-byte id overflowed the block). */
static void test_long_strings(void **state)
{
        static const size_t lens[] = {1048560, 1048564, 1048566, 1048567,
                                      1048568, 1048569, 1048572, 1048576,
                                      1048577, 2097152, 3145729, 100};
        const size_t n = sizeof(lens) / sizeof(lens[0]);
        rs_intern_t *in = rs_intern_new();
        char *s = malloc(3145729 + 1);
        uint32_t ids[sizeof(lens) / sizeof(lens[0])];

        (void)state;
        assert_non_null(s);
        for (size_t i = 0; i < n; i++) {
                /* a different string each time: its length and a pattern */
                for (size_t j = 0; j < lens[i]; j++)
                        s[j] = (char)('a' + (j * 7 + i) % 26);
                ids[i] = rs_intern_id(in, s, lens[i]);
                assert_int_not_equal(ids[i], RS_ID_NONE);
                /* a short one in between lands in an ordinary block */
                char k[16];
                int kn = snprintf(k, sizeof(k), "short-%zu", i);
                assert_int_not_equal(rs_intern_id(in, k, (size_t)kn),
                                     RS_ID_NONE);
        }
        for (size_t i = 0; i < n; i++) {
                size_t len;
                const char *got = rs_intern_str(in, ids[i], &len);
                for (size_t j = 0; j < lens[i]; j++)
                        s[j] = (char)('a' + (j * 7 + i) % 26);
                assert_non_null(got);
                assert_int_equal(len, lens[i]);
                assert_memory_equal(got, s, lens[i]);
                assert_int_equal(got[len], '\0');
                assert_int_equal(rs_intern_find(in, s, lens[i]), ids[i]);
                assert_int_equal(rs_intern_id(in, s, lens[i]), ids[i]);
        }
        for (size_t i = 0; i < n; i++) {
                char k[16];
                int kn = snprintf(k, sizeof(k), "short-%zu", i);
                uint32_t id = rs_intern_find(in, k, (size_t)kn);
                assert_int_not_equal(id, RS_ID_NONE);
                assert_string_equal(rs_intern_str(in, id, NULL), k);
        }
        free(s);
        rs_intern_destroy(in);
}

/* A new id is pending: the collect at the batch boundary frees it unless
 * someone took a reference, and only there. */
static void test_collect(void **state)
{
        rs_intern_t *in = rs_intern_new();

        (void)state;
        uint32_t a = rs_intern_id(in, "a", 1), b = rs_intern_id(in, "b", 1);
        assert_int_equal(rs_intern_live(in), 2);
        assert_int_equal(rs_intern_refs(in, a), 0);
        rs_intern_ref(in, b);
        assert_int_equal(rs_intern_refs(in, b), 1);
        /* nothing is freed before the collect */
        assert_string_equal(rs_intern_str(in, a, NULL), "a");
        assert_int_equal(rs_intern_collect(in), 1);
        assert_null(rs_intern_str(in, a, NULL));
        assert_int_equal(rs_intern_find(in, "a", 1), RS_ID_NONE);
        assert_int_equal(rs_intern_hash(in, a), 0);
        assert_string_equal(rs_intern_str(in, b, NULL), "b");
        assert_int_equal(rs_intern_find(in, "b", 1), b);
        assert_int_equal(rs_intern_live(in), 1);
        assert_int_equal(rs_intern_freed(in), 1);
        /* an unref to 0 makes it pending; a ref before the collect keeps it */
        rs_intern_unref(in, b);
        rs_intern_ref(in, b);
        assert_int_equal(rs_intern_collect(in), 0);
        assert_int_equal(rs_intern_find(in, "b", 1), b);
        /* two references: one unref leaves it */
        rs_intern_ref(in, b);
        rs_intern_unref(in, b);
        assert_int_equal(rs_intern_collect(in), 0);
        rs_intern_unref(in, b);
        assert_int_equal(rs_intern_refs(in, b), 0);
        assert_string_equal(rs_intern_str(in, b, NULL), "b");
        assert_int_equal(rs_intern_collect(in), 1);
        assert_int_equal(rs_intern_live(in), 0);
        /* unknown ids and RS_ID_NONE are ignored */
        rs_intern_ref(in, RS_ID_NONE);
        rs_intern_unref(in, RS_ID_NONE);
        rs_intern_ref(in, b);
        rs_intern_unref(in, 12345);
        assert_int_equal(rs_intern_refs(in, b), 0);
        assert_int_equal(rs_intern_collect(in), 0);
        rs_intern_destroy(in);
}

/* A freed id is handed out again, only after the collect, and then names
 * the new string with the new string's hash. */
static void test_recycle(void **state)
{
        rs_intern_t *in = rs_intern_new();

        (void)state;
        uint32_t a = rs_intern_id(in, "alpha", 5);
        uint32_t keep = rs_intern_id(in, "keep", 4);
        rs_intern_ref(in, keep);
        assert_int_equal(rs_intern_hash(in, a), rs_hash_bytes("alpha", 5));
        rs_intern_ref(in, a);
        rs_intern_unref(in, a); /* pending, count 0: not free before collect */
        uint32_t c = rs_intern_id(in, "gamma", 5);
        assert_int_not_equal(c, a);
        assert_int_equal(rs_intern_id_bound(in), 3);
        rs_intern_ref(in, c);
        assert_int_equal(rs_intern_collect(in), 1);
        uint32_t d = rs_intern_id(in, "delta-a-longer-string", 21);
        assert_int_equal(d, a); /* recycled */
        assert_string_equal(rs_intern_str(in, d, NULL),
                            "delta-a-longer-string");
        assert_int_equal(rs_intern_hash(in, d),
                         rs_hash_bytes("delta-a-longer-string", 21));
        assert_int_equal(rs_intern_find(in, "alpha", 5), RS_ID_NONE);
        /* the old string comes back under a new id */
        uint32_t a2 = rs_intern_id(in, "alpha", 5);
        assert_int_not_equal(a2, d);
        assert_int_not_equal(a2, keep);
        assert_int_not_equal(a2, c);
        assert_string_equal(rs_intern_str(in, a2, NULL), "alpha");
        assert_int_equal(rs_intern_hash(in, a2), rs_hash_bytes("alpha", 5));
        assert_string_equal(rs_intern_str(in, keep, NULL), "keep");
        assert_int_equal(rs_intern_hash(in, keep), rs_hash_bytes("keep", 4));
        rs_intern_destroy(in);
}

/* Random interning, references and collects against a model of which
 * strings are live, with strings of every size class and longer ones, in
 * a table small enough that probe chains cross each other: every live
 * string is found under its id, every freed one is gone, and churn keeps
 * the id bound and the bytes at the peak of the live set. */
#define NSTR 3000
static void test_churn(void **state)
{
        rs_intern_t *in = rs_intern_new();
        static uint32_t id[NSTR], refs[NSTR];
        static char buf[600];
        uint64_t x = 42;
        size_t bytes_at_2 = 0;

        (void)state;
        for (int i = 0; i < NSTR; i++)
                id[i] = RS_ID_NONE;
        for (int round = 0; round < 40; round++) {
                for (int op = 0; op < 2000; op++) {
                        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                        int i = (int)((x >> 33) % NSTR);
                        /* i, padded: 1..45 bytes, or 250..549 */
                        int k = snprintf(buf, sizeof(buf), "%d", i);
                        size_t len = (size_t)(i % 7 == 0 ? 250 + i % 300
                                                         : k + i % 41);
                        memset(buf + k, '-', len - (size_t)k);
                        uint32_t got = rs_intern_id(in, buf, len);
                        assert_int_not_equal(got, RS_ID_NONE);
                        if (id[i] != RS_ID_NONE)
                                assert_int_equal(got, id[i]);
                        id[i] = got;
                        switch ((x >> 20) % 3) {
                        case 0:
                                rs_intern_ref(in, got);
                                refs[i]++;
                                break;
                        case 1:
                                if (refs[i]) {
                                        rs_intern_unref(in, got);
                                        refs[i]--;
                                }
                                break;
                        }
                        assert_int_equal(rs_intern_refs(in, got), refs[i]);
                }
                rs_intern_collect(in);
                uint32_t nlive = 0;
                for (int i = 0; i < NSTR; i++) {
                        if (id[i] == RS_ID_NONE)
                                continue;
                        if (!refs[i]) {
                                id[i] = RS_ID_NONE; /* freed */
                                continue;
                        }
                        nlive++;
                        size_t len;
                        const char *str = rs_intern_str(in, id[i], &len);
                        assert_non_null(str);
                        assert_int_equal(rs_intern_find(in, str, len), id[i]);
                        assert_int_equal(rs_intern_hash(in, id[i]),
                                         rs_hash_bytes(str, len));
                        int n = atoi(str);
                        assert_int_equal(n, i);
                }
                assert_int_equal(rs_intern_live(in), nlive);
                for (uint32_t k = 0; k < rs_intern_id_bound(in); k++) {
                        size_t len;
                        const char *str = rs_intern_str(in, k, &len);
                        if (str)
                                assert_int_equal(rs_intern_find(in, str, len),
                                                 k);
                }
                /* the live set is at most NSTR: so is the bound */
                assert_true(rs_intern_id_bound(in) <= NSTR);
                if (round == 2)
                        bytes_at_2 = rs_intern_bytes(in);
        }
        /* the peak was reached early: churn does not grow the table */
        assert_true(rs_intern_bytes(in) <= bytes_at_2 * 5 / 4);
        rs_intern_destroy(in);
}

/* Each of many rounds interns 5,000 new strings and frees them: the id
 * bound and the bytes stay those of one round. */
static void test_no_growth(void **state)
{
        rs_intern_t *in = rs_intern_new();
        char s[32];
        size_t bytes = 0;

        (void)state;
        for (int round = 0; round < 200; round++) {
                for (int i = 0; i < 5000; i++) {
                        int n = snprintf(s, sizeof(s), "user-%d-%d", round, i);
                        assert_int_not_equal(rs_intern_id(in, s, (size_t)n),
                                             RS_ID_NONE);
                }
                assert_int_equal(rs_intern_collect(in), 5000);
                assert_int_equal(rs_intern_live(in), 0);
                if (round == 0)
                        bytes = rs_intern_bytes(in);
        }
        assert_int_equal(rs_intern_id_bound(in), 5000);
        assert_int_equal(rs_intern_bytes(in), bytes);
        assert_int_equal(rs_intern_freed(in), 200 * 5000);
        rs_intern_destroy(in);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dense_ids),
                cmocka_unit_test(test_batch),
                cmocka_unit_test(test_long_strings),
                cmocka_unit_test(test_collect),
                cmocka_unit_test(test_recycle),
                cmocka_unit_test(test_churn),
                cmocka_unit_test(test_no_growth),
        };
        return cmocka_run_group_tests_name("intern", tests, NULL, NULL);
}
