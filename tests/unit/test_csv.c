/* Canonical CSV reader: columns by name, empty optionals, quoting, bad
 * rows reported with their line and skipped. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recstream/csvin.h"
#include "recstream/evfile.h"
#include "recstream/intern.h"

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
        const char *why;

        (void)state;
        assert_non_null(csv);
        assert_int_equal(rs_csv_next(csv, &ev, &why, err, sizeof(err)), RS_OK);
        assert_string_equal(ev.user_id, "196");
        assert_string_equal(ev.item_id, "242");
        assert_int_equal(ev.type, RS_EV_RATE);
        assert_int_equal(ev.ts, 881250949000LL);
        assert_int_equal(ev.watch_ms, 0);
        assert_true(ev.duration_ms == RS_NONE_I64);
        assert_string_equal(ev.category, "Comedy");
        assert_true(ev.value == 3.0);

        assert_int_equal(rs_csv_next(csv, &ev, &why, err, sizeof(err)), RS_OK);
        assert_string_equal(ev.category, "Kids, Family");
        assert_int_equal(ev.duration_ms, 10000);
        assert_true(isnan(ev.value));

        assert_int_equal(rs_csv_next(csv, &ev, &why, err, sizeof(err)),
                         RS_ERR_DECODE);
        assert_string_equal(why, "unknown_event_type");
        assert_string_equal(err, "line 4: unknown event_type 'teleport'");

        assert_int_equal(rs_csv_next(csv, &ev, &why, err, sizeof(err)), RS_OK);
        assert_string_equal(ev.event_id, "4");
        assert_null(ev.category);
        assert_int_equal(rs_csv_next(csv, &ev, &why, err, sizeof(err)),
                         RS_ERR_NOENT);
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

/* A row longer than RS_ROW_MAX — here one with an unclosed quote, which
 * would otherwise run to the end of the file — is one bad_row, never held
 * whole; the next line is read as usual. */
static void test_row_too_long(void **state)
{
        size_t big = RS_ROW_MAX + 100;
        const char head[] = "event_id,user_id,item_id,event_type,ts_ms\n"
                            "1,u1,\"";
        const char tail[] = "\n2,u2,v2,like,7\n";
        char *text = malloc(sizeof(head) + big + sizeof(tail));
        size_t n = 0;
        char err[256];
        const char *why;
        rs_event_fields_t ev;

        (void)state;
        memcpy(text, head, sizeof(head) - 1);
        n = sizeof(head) - 1;
        memset(text + n, 'x', big);
        n += big;
        memcpy(text + n, tail, sizeof(tail) - 1);
        n += sizeof(tail) - 1;
        FILE *f = fmemopen(text, n, "r");
        rs_csv_t *csv = rs_csv_new(f, err, sizeof(err));
        assert_int_equal(rs_csv_next(csv, &ev, &why, err, sizeof(err)),
                         RS_ERR_DECODE);
        assert_string_equal(why, "bad_row");
        assert_int_equal(rs_csv_next(csv, &ev, &why, err, sizeof(err)), RS_OK);
        assert_string_equal(ev.user_id, "u2");
        assert_int_equal(rs_csv_line(csv), 3);
        rs_csv_destroy(csv);
        fclose(f);
        free(text);
}

/* The id rule of every input (rs_event_check_id) on CSV and JSON lines:
 * empty, too long, invalid UTF-8 are dead letters with their reason and
 * line, and intern nothing; the rows around them are read. */
static void test_file_ids(void **state)
{
        static const struct {
                const char *suffix, *text;
        } files[] = {
                {".csv", "event_id,user_id,item_id,event_type,ts_ms,watch_ms,"
                         "duration_ms,category,value\n"
                         "e1,u1,v1,like,5\n"
                         ",u1,v1,like,5\n"
                         "e3,,v1,like,5\n"
                         "e4,u1,0123456789abcdefX,like,5\n"
                         "e5,u\xff,v1,like,5\n"
                         "e6,u1,v1,rate,5,,,,inf\n"
                         "e7,u2,v2,like,6\n"},
                {".jsonl",
                 "{\"event_id\":\"e1\",\"user_id\":\"u1\",\"item_id\":"
                 "\"v1\",\"event_type\":\"like\",\"ts_ms\":5}\n"
                 "{\"event_id\":\"\",\"user_id\":\"u1\",\"item_id\":"
                 "\"v1\",\"event_type\":\"like\",\"ts_ms\":5}\n"
                 "{\"event_id\":\"e3\",\"user_id\":\"\",\"item_id\":"
                 "\"v1\",\"event_type\":\"like\",\"ts_ms\":5}\n"
                 "{\"event_id\":\"e4\",\"user_id\":\"u1\",\"item_id\":"
                 "\"0123456789abcdefX\",\"event_type\":\"like\","
                 "\"ts_ms\":5}\n"
                 "{\"event_id\":\"e5\",\"user_id\":\"u\\udc00\","
                 "\"item_id\":\"v1\",\"event_type\":\"like\","
                 "\"ts_ms\":5}\n"
                 "{\"event_id\":\"e6\",\"user_id\":\"u1\",\"item_id\":"
                 "\"v1\",\"event_type\":\"rate\",\"ts_ms\":5,"
                 "\"value\":\"inf\"}\n"
                 "{\"event_id\":\"e7\",\"user_id\":\"u2\",\"item_id\":"
                 "\"v2\",\"event_type\":\"like\",\"ts_ms\":6}\n"},
        };
        static const char *const want[] = {"empty_id", "empty_id",
                                           "id_too_long", "invalid_utf8",
                                           "bad_value"};
        const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

        (void)state;
        for (size_t k = 0; k < 2; k++) {
                char path[512], err[256];
                snprintf(path, sizeof(path), "%s/rs_test_ids_%d%s", dir,
                         (int)getpid(), files[k].suffix);
                FILE *out = fopen(path, "w");
                fputs(files[k].text, out);
                fclose(out);
                rs_intern_t *in = rs_intern_new();
                rs_evfile_t *f = rs_evfile_open(path, in, 16, err, sizeof(err));
                rs_event_t ev;
                assert_non_null(f);
                assert_int_equal(rs_evfile_next(f, &ev, err, sizeof(err)),
                                 RS_OK);
                uint32_t before = rs_intern_find(in, "v1", 2);
                for (size_t w = 0; w < 5; w++) {
                        assert_int_equal(
                                rs_evfile_next(f, &ev, err, sizeof(err)),
                                RS_ERR_DECODE);
                        /* a lone surrogate escape is no JSON string */
                        assert_string_equal(rs_evfile_reason(f),
                                            k == 1 && w == 3 ? "bad_row"
                                                             : want[w]);
                        assert_int_equal(rs_evfile_line(f),
                                         (long)w + 2 + (k == 0));
                }
                assert_int_equal(rs_evfile_next(f, &ev, err, sizeof(err)),
                                 RS_OK);
                assert_string_equal(rs_intern_str(in, ev.user, NULL), "u2");
                /* nothing of the rejected rows was interned */
                assert_int_equal(rs_intern_find(in, "0123456789abcdefX", 17),
                                 RS_ID_NONE);
                assert_int_equal(rs_intern_find(in, "u\xff", 2), RS_ID_NONE);
                assert_int_equal(rs_intern_find(in, "v1", 2), before);
                rs_evfile_close(f);
                rs_intern_destroy(in);
                remove(path);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_header_needs_columns),
                cmocka_unit_test(test_row_too_long),
                cmocka_unit_test(test_file_ids),
        };
        return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
