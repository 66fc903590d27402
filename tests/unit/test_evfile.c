/* Event files as replay reads them (rs_evfile_*): a bad row of a CSV or
 * JSON-lines file is reported with its line and loses nothing else. */
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

#include "recstream/evfile.h"
#include "recstream/intern.h"

/* The events of a file holding text[0..len), as "user/item" strings
 * joined by ' ', bad rows as "!LINE" (the number errstr names). */
static void read_all(const char *suffix, const char *text, size_t len,
                     char *out, size_t out_size)
{
        const char *dir = getenv("TMPDIR");
        char path[512], err[512];
        rs_intern_t *in = rs_intern_new();
        rs_evfile_t *f;
        rs_event_t ev;
        rs_err_t rc;
        size_t n = 0;
        int fd;

        snprintf(path, sizeof(path), "%s/rs-test-evfile-XXXXXX%s",
                 dir && *dir ? dir : "/tmp", suffix);
        fd = mkstemps(path, (int)strlen(suffix));
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, len), (ssize_t)len);
        close(fd);
        f = rs_evfile_open(path, in, RS_ID_MAX_DEFAULT, err, sizeof(err));
        assert_non_null(f);
        out[0] = '\0';
        while ((rc = rs_evfile_next(f, &ev, err, sizeof(err))) !=
               RS_ERR_NOENT) {
                if (rc == RS_OK) {
                        n += (size_t)snprintf(out + n, out_size - n, "%s%s/%s",
                                              n ? " " : "",
                                              rs_intern_str(in, ev.user, NULL),
                                              rs_intern_str(in, ev.item, NULL));
                } else {
                        long line = -1;
                        assert_int_equal(rc, RS_ERR_DECODE);
                        assert_int_equal(sscanf(err, "line %ld:", &line), 1);
                        n += (size_t)snprintf(out + n, out_size - n, "%s!%ld",
                                              n ? " " : "", line);
                }
                assert_true(n < out_size);
        }
        rs_evfile_close(f);
        rs_intern_destroy(in);
        unlink(path);
}

#define LIKE "\"item_id\":\"v\",\"event_type\":\"like\",\"ts\":5}\n"

/* A NUL byte in a line spliced the next line onto it (fgets() stops
 * nowhere special at a NUL): the next event was lost. */
static void test_jsonl_nul_byte(void **state)
{
        const char text[] = "{\"event_id\":\"e1\",\"user_id\":\"u1\"," LIKE
                            "{\"event_id\":\"e2\",\"user_id\":\"u\0x\"," LIKE
                            "{\"event_id\":\"e3\",\"user_id\":\"u3\"," LIKE;
        char got[256];

        (void)state;
        read_all(".jsonl", text, sizeof(text) - 1, got, sizeof(got));
        assert_string_equal(got, "u1/v !2 u3/v");
}

/* \u with fewer than four hex digits at the end of the line: the parser
 * stepped over the line's terminating NUL and read what an earlier,
 * longer line had left in the buffer (here a whole event of line 1
 * again). A sign or a space is not a hex digit either; \u0000 would cut
 * the id at it. */
static void test_jsonl_short_escape(void **state)
{
        const char text[] =
                "{\"event_id\":\"e1111111\",\"user_id\":\"u1\"," LIKE
                "{\"event_id\":\"\\u1\n"
                "{\"event_id\":\"e3\",\"user_id\":\"\\u+7ff\"," LIKE
                "{\"event_id\":\"e4\",\"user_id\":\"\\u 7ff\"," LIKE
                "{\"event_id\":\"e5\",\"user_id\":\"a\\u0000b\"," LIKE
                "{\"event_id\":\"e6\",\"user_id\":"
                "\"\\u00fc\\ud83d\\ude00\"," LIKE;
        char got[256];

        (void)state;
        read_all(".jsonl", text, sizeof(text) - 1, got, sizeof(got));
        assert_string_equal(got, "u1/v !2 !3 !4 !5 \xc3\xbc\xf0\x9f\x98\x80/v");
}

/* A lone surrogate has no UTF-8 form. */
static void test_jsonl_lone_surrogate(void **state)
{
        const char text[] =
                "{\"event_id\":\"e1\",\"user_id\":\"\\ud800\"," LIKE
                "{\"event_id\":\"e2\",\"user_id\":\"\\udc00\"," LIKE
                "{\"event_id\":\"e3\",\"user_id\":\"\\ud800x\"," LIKE
                "{\"event_id\":\"e4\",\"user_id\":\"u4\"," LIKE;
        char got[256];

        (void)state;
        read_all(".jsonl", text, sizeof(text) - 1, got, sizeof(got));
        assert_string_equal(got, "!1 !2 !3 u4/v");
}

/* A NUL byte in a CSV field cut the id at it: "u\0x" was user "u". */
static void test_csv_nul_byte(void **state)
{
        const char text[] = "event_id,user_id,item_id,event_type,ts_ms\n"
                            "1,u1,v,like,5\n"
                            "2,u\0x,v,like,5\n"
                            "3,u3,v,like,5\n";
        char got[256];

        (void)state;
        read_all(".csv", text, sizeof(text) - 1, got, sizeof(got));
        assert_string_equal(got, "u1/v !3 u3/v");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_jsonl_nul_byte),
                cmocka_unit_test(test_jsonl_short_escape),
                cmocka_unit_test(test_jsonl_lone_surrogate),
                cmocka_unit_test(test_csv_nul_byte),
        };
        return cmocka_run_group_tests_name("evfile", tests, NULL, NULL);
}
