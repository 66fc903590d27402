/* Intern table: dense ids in first-seen order, lookups across growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dense_ids),
        };
        return cmocka_run_group_tests_name("intern", tests, NULL, NULL);
}
