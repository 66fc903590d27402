/* Intern table: dense ids in first-seen order, lookups across growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
        assert_int_equal(rs_intern_count(in), 200004);
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
        assert_int_equal(rs_intern_count(in), 4);
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
        assert_int_equal(rs_intern_count(in), 100004);
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dense_ids),
                cmocka_unit_test(test_batch),
                cmocka_unit_test(test_long_strings),
        };
        return cmocka_run_group_tests_name("intern", tests, NULL, NULL);
}
