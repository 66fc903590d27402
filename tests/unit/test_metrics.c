/* Prometheus text helpers, histograms, the monitor, and log lines. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "recstream/http.h"
#include "recstream/log.h"
#include "recstream/metrics.h"

static void test_sample_escapes_labels(void **state)
{
        rs_buf_t b;

        (void)state;
        rs_buf_init(&b);
        rs_prom_family(&b, "recstream_x_total", "counter",
                       "Help with a \\ and a\n\"newline\".");
        rs_prom_sample(
                &b, "recstream_x_total",
                (const char *const[]){"topic", "a\"b\\c\nd", "p", "0", NULL},
                3);
        rs_prom_sample(&b, "recstream_y", NULL, 0.25);
        rs_prom_sample(&b, "recstream_y", NULL, 1767230760.556);
        assert_string_equal(b.p,
                            "# HELP recstream_x_total Help with a \\\\ and "
                            "a\\n\"newline\".\n"
                            "# TYPE recstream_x_total counter\n"
                            "recstream_x_total{topic=\"a\\\"b\\\\c\\nd\","
                            "p=\"0\"} 3\n"
                            "recstream_y 0.25\n"
                            "recstream_y 1767230760.556\n");
        rs_buf_fini(&b);
}

static void test_histogram_cumulative(void **state)
{
        static const double le[] = {0.1, 1, 10};
        rs_hist_t h;
        rs_buf_t b;

        (void)state;
        rs_hist_init(&h, le, 3);
        rs_hist_observe(&h, 0.05);
        rs_hist_observe(&h, 0.1); /* on a bound: that bucket (le is <=) */
        rs_hist_observe(&h, 5);
        rs_hist_observe(&h, 50);
        rs_buf_init(&b);
        rs_prom_hist(&b, "recstream_h_seconds",
                     (const char *const[]){"stage", "score", NULL}, &h);
        assert_string_equal(
                b.p,
                "recstream_h_seconds_bucket{stage=\"score\",le=\"0.1\"} 2\n"
                "recstream_h_seconds_bucket{stage=\"score\",le=\"1\"} 2\n"
                "recstream_h_seconds_bucket{stage=\"score\",le=\"10\"} 3\n"
                "recstream_h_seconds_bucket{stage=\"score\",le=\"+Inf\"} 4\n"
                "recstream_h_seconds_sum{stage=\"score\"} 55.15\n"
                "recstream_h_seconds_count{stage=\"score\"} 4\n");
        rs_buf_fini(&b);
}

static void test_monitor_snapshot(void **state)
{
        rs_monitor_t *m = rs_monitor_new();
        rs_buf_t b;
        char why[64];
        size_t len;
        char *got;

        (void)state;
        assert_non_null(m);
        assert_int_equal(rs_monitor_ready(m, why, sizeof(why)), 0);
        assert_string_equal(why, "starting");
        got = rs_monitor_metrics(m, &len);
        assert_int_equal(len, 0);
        free(got);
        rs_buf_init(&b);
        rs_buf_adds(&b, "a 1\n");
        rs_monitor_publish(m, &b, 1, "");
        assert_int_equal(b.len, 0); /* the old (empty) buffer back */
        rs_buf_adds(&b, "a 2\n");
        rs_monitor_publish(m, &b, 0, "restoring");
        /* the reader sees the last one published, not the one being made */
        rs_buf_adds(&b, "a 3 (not yet)\n");
        got = rs_monitor_metrics(m, &len);
        assert_string_equal(got, "a 2\n");
        assert_int_equal(len, 4);
        free(got);
        assert_int_equal(rs_monitor_ready(m, why, sizeof(why)), 0);
        assert_string_equal(why, "restoring");
        rs_monitor_beat(m);
        assert_true(rs_monitor_idle_ms(m) < 1000);
        /* due at once, then not again within RS_MONITOR_EVERY_MS */
        assert_int_equal(rs_monitor_due(m), 1);
        assert_int_equal(rs_monitor_due(m), 0);
        rs_buf_fini(&b);
        rs_monitor_destroy(m);
}

static void test_log_one_line(void **state)
{
        char q[32], line[512];
        int fds[2];

        (void)state;
        assert_string_equal(rs_log_quote("a \"b\" \\c", q, sizeof(q)),
                            "a \\\"b\\\" \\\\c");
        /* cut to fit, never half an escape */
        assert_string_equal(rs_log_quote("\"\"\"\"", q, 4), "\\\"");
        /* a record with a newline in a value is still one line */
        assert_int_equal(pipe(fds), 0);
        int saved = dup(2);
        dup2(fds[1], 2);
        rs_log_write(RS_LOG_WARNING, "component=test msg=\"%s\"",
                     "two\nlines\r\tand a tab");
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        close(fds[1]);
        ssize_t n = read(fds[0], line, sizeof(line) - 1);
        close(fds[0]);
        assert_true(n > 0);
        line[n] = '\0';
        assert_non_null(strstr(line, " level=warning component=test "
                                     "msg=\"two lines  and a tab\"\n"));
        assert_int_equal(strchr(line, '\n') - line, n - 1);
        assert_int_equal(strncmp(line, "ts=", 3), 0);
}

/* One HTTP/1.0 request to 127.0.0.1:port; the whole answer into buf. */
static int http_get(int port, const char *req, char *buf, size_t size)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        size_t off = 0;
        ssize_t n;

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
                return -1;
        if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
                return -1;
        while (off + 1 < size && (n = read(fd, buf + off, size - 1 - off)) > 0)
                off += (size_t)n;
        buf[off] = '\0';
        close(fd);
        return (int)off;
}

/* A main loop's part of POST /reload: waits until one is asked, answers
 * it as refused (or, none asked within 30 s, as a timeout the request
 * never sees: the test fails on its 503). */
static void *answer_reload(void *arg)
{
        rs_monitor_t *m = arg;

        if (rs_monitor_reload_wait(m, 30000))
                rs_monitor_reload_done(m, RS_RELOAD_REFUSED,
                                       "refused: x changes only with a "
                                       "restart");
        return NULL;
}

static void test_http_endpoints(void **state)
{
        rs_monitor_t *m = rs_monitor_new();
        char err[256], got[4096];
        rs_buf_t b;

        (void)state;
        /* port 0: one the kernel picks; a stall limit never passed */
        rs_http_t *h = rs_http_new("127.0.0.1", 0, m, 600000, err, sizeof(err));
        assert_non_null(h);
        int port = rs_http_port(h);
        assert_true(port > 0);
        assert_true(http_get(port, "GET /healthz HTTP/1.0\r\n\r\n", got,
                             sizeof(got)) > 0);
        assert_non_null(strstr(got, " 200 "));
        assert_true(http_get(port, "GET /readyz HTTP/1.0\r\n\r\n", got,
                             sizeof(got)) > 0);
        assert_non_null(strstr(got, " 503 "));
        assert_non_null(strstr(got, "\r\n\r\nnot ready: starting\n"));
        rs_buf_init(&b);
        rs_buf_adds(&b, "# TYPE recstream_up gauge\nrecstream_up 1\n");
        rs_monitor_publish(m, &b, 1, "");
        rs_buf_fini(&b);
        assert_true(http_get(port, "GET /readyz HTTP/1.0\r\n\r\n", got,
                             sizeof(got)) > 0);
        assert_non_null(strstr(got, " 200 "));
        assert_true(http_get(port, "GET /metrics HTTP/1.0\r\n\r\n", got,
                             sizeof(got)) > 0);
        assert_non_null(strstr(got, "text/plain; version=0.0.4"));
        assert_non_null(strstr(got, "\r\n\r\n# TYPE recstream_up gauge\n"
                                    "recstream_up 1\n"));
        /* POST /reload: answered by the main loop (here a thread) */
        assert_false(rs_monitor_reload_wait(m, 1)); /* none asked yet */
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, answer_reload, m), 0);
        assert_true(http_get(port, "POST /reload HTTP/1.0\r\n\r\n", got,
                             sizeof(got)) > 0);
        pthread_join(t, NULL);
        assert_false(rs_monitor_reload_asked(m)); /* answered */
        assert_non_null(strstr(got, " 409 "));
        assert_non_null(strstr(got, "\r\n\r\nrefused: x changes only with a "
                                    "restart\n"));
        /* the same port again: refused, saying which and why */
        assert_null(rs_http_new("127.0.0.1", port, m, 1000, err, sizeof(err)));
        assert_non_null(strstr(err, "cannot listen on 127.0.0.1:"));
        rs_http_destroy(h);

        /* a main loop that stopped beating: /healthz 503 */
        h = rs_http_new("127.0.0.1", 0, m, -1, err, sizeof(err));
        assert_non_null(h);
        assert_true(http_get(rs_http_port(h), "GET /healthz HTTP/1.0\r\n\r\n",
                             got, sizeof(got)) > 0);
        assert_non_null(strstr(got, " 503 "));
        assert_non_null(strstr(got, "stalled: the main loop made no progress"));
        rs_http_destroy(h);
        rs_monitor_destroy(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sample_escapes_labels),
                cmocka_unit_test(test_histogram_cumulative),
                cmocka_unit_test(test_monitor_snapshot),
                cmocka_unit_test(test_log_one_line),
                cmocka_unit_test(test_http_endpoints),
        };
        return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
