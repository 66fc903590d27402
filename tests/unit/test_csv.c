/* Canonical CSV reader: columns by name, empty optionals, quoting, bad
 * rows reported with their line and skipped. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/csvin.h"

static void test_rows(void **state)
{
        const char text[] =
                "event_id,user_id,item_id,event_type,ts_ms,watch_ms,"
                "duration_ms,category,value\n"
                "1,196,242,rate,881250949000,,,Comedy,3\n"
                "2,u2,v9,watch,5,4000,10000,\"Kids, Family\",\n"
                "3,u3,v1,teleport,6,,,,\n"
                "\n"
                "4,u4,v2,like,7,,,,\n";
        FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
        char err[256];
        rs_csv_t *csv = rs_csv_new(f, err, sizeof(err));
        rs_event_fields_t ev;

        (void)state;
        assert_non_null(csv);
        assert_int_equal(rs_csv_next(csv, &ev, err, sizeof(err)), RS_OK);
        assert_string_equal(ev.user_id, "196");
        assert_string_equal(ev.item_id, "242");
        assert_int_equal(ev.type, RS_EV_RATE);
        assert_int_equal(ev.ts, 881250949000LL);
        assert_int_equal(ev.watch_ms, 0);
        assert_true(ev.duration_ms == RS_NONE_I64);
        assert_string_equal(ev.category, "Comedy");
        assert_true(ev.value == 3.0);

        assert_int_equal(rs_csv_next(csv, &ev, err, sizeof(err)), RS_OK);
        assert_string_equal(ev.category, "Kids, Family");
        assert_int_equal(ev.duration_ms, 10000);
        assert_true(isnan(ev.value));

        assert_int_equal(rs_csv_next(csv, &ev, err, sizeof(err)),
                         RS_ERR_DECODE);
        assert_string_equal(err, "line 4: unknown event_type 'teleport'");

        assert_int_equal(rs_csv_next(csv, &ev, err, sizeof(err)), RS_OK);
        assert_string_equal(ev.event_id, "4");
        assert_null(ev.category);
        assert_int_equal(rs_csv_next(csv, &ev, err, sizeof(err)), RS_ERR_NOENT);
        rs_csv_destroy(csv);
        fclose(f);
}

static void test_header_needs_columns(void **state)
{
        const char text[] = "event_id,user_id,ts_ms\n";
        FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
        char err[256];

        (void)state;
        assert_null(rs_csv_new(f, err, sizeof(err)));
        assert_string_equal(err, "line 1: the header lacks column 'item_id'");
        fclose(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_header_needs_columns),
        };
        return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
