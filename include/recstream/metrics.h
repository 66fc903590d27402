/* metrics.h — what a worker shows of itself: Prometheus text (format
 * 0.0.4) written with a few helpers, histograms of fixed buckets, and the
 * monitor through which the main loop hands a snapshot to the HTTP
 * thread (http.h).
 *
 * The main loop counts in its own structs, lock-free, and every few
 * hundred ms renders the whole text into a buffer of its own and swaps
 * it into the monitor under the monitor's mutex (rs_monitor_publish);
 * the HTTP thread copies the current text out under the same mutex. The
 * heartbeat is an atomic store, cheap enough for every loop turn. */
#ifndef RECSTREAM_METRICS_H
#define RECSTREAM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/buf.h"

/*
 * Prometheus text.
 */

/* `# HELP name help` and `# TYPE name type` (counter, gauge, histogram). */
void rs_prom_family(rs_buf_t *b, const char *name, const char *type,
                    const char *help);
/* One sample `name{k1="v1",...} value`: labels is NULL or a NULL-ended
 * list of key, value, key, value...; values are escaped (\\, \", \n). */
void rs_prom_sample(rs_buf_t *b, const char *name, const char *const *labels,
                    double value);
/* A label value as the text format wants it (without quotes). */
void rs_prom_escape(rs_buf_t *b, const char *s);

/*
 * Histograms of fixed upper bounds (seconds), counted by the main loop.
 */

#define RS_HIST_MAX_BUCKETS 16

typedef struct rs_hist {
        const double *le; /* ascending upper bounds, borrowed */
        size_t n;         /* of le; +Inf is implicit */
        uint64_t counts[RS_HIST_MAX_BUCKETS +
                        1]; /* per bucket, not cumulative */
        uint64_t count;
        double sum;
} rs_hist_t;

/* le (borrowed, static) holds n ≤ RS_HIST_MAX_BUCKETS bounds. */
void rs_hist_init(rs_hist_t *h, const double *le, size_t n);
void rs_hist_observe(rs_hist_t *h, double v);
/* The samples of one histogram (its family written by the caller):
 * name_bucket{labels...,le="..."} cumulative, name_sum, name_count. */
void rs_prom_hist(rs_buf_t *b, const char *name, const char *const *labels,
                  const rs_hist_t *h);

/*
 * The monitor: the snapshot between the main loop and the HTTP thread.
 */

typedef struct rs_monitor rs_monitor_t;

/* Caller owns; NULL when out of memory. The heartbeat starts now. */
rs_monitor_t *rs_monitor_new(void);
void rs_monitor_destroy(rs_monitor_t *m);

/* Main loop: it made progress (monotonic ms now). Lock-free. */
void rs_monitor_beat(rs_monitor_t *m);
/* Main loop: whether a new snapshot is due (every RS_MONITOR_EVERY_MS);
 * also beats. */
#define RS_MONITOR_EVERY_MS 250
int rs_monitor_due(rs_monitor_t *m);
/* Main loop: swaps *text (the rendered /metrics) into the monitor, and
 * sets readiness: ready, or why not (copied). *text gets the previous
 * snapshot's buffer back, to be reset and reused. */
void rs_monitor_publish(rs_monitor_t *m, rs_buf_t *text, int ready,
                        const char *reason);
/* Main loop: readiness alone (before any snapshot: starting, loading). */
void rs_monitor_set_ready(rs_monitor_t *m, int ready, const char *reason);

/* HTTP thread: a copy of the current /metrics text (caller frees; NULL
 * when out of memory), its length in *len. */
char *rs_monitor_metrics(rs_monitor_t *m, size_t *len);
/* HTTP thread: milliseconds since the last beat. */
int64_t rs_monitor_idle_ms(rs_monitor_t *m);
/* HTTP thread: 1 when ready; else 0 with the reason in buf. */
int rs_monitor_ready(rs_monitor_t *m, char *buf, size_t size);

/* Live reload asked over HTTP. The HTTP thread asks and waits up to
 * timeout_ms for the main loop's answer: RS_RELOAD_* with its message in
 * buf (RS_RELOAD_TIMEOUT when none came). The main loop looks whether one
 * is asked (lock-free), or waits for one, and answers it. */
enum {
        RS_RELOAD_OK,
        RS_RELOAD_REFUSED, /* a change that needs a restart */
        RS_RELOAD_INVALID, /* the file does not load */
        RS_RELOAD_TIMEOUT
};
int rs_monitor_reload(rs_monitor_t *m, int64_t timeout_ms, char *buf,
                      size_t size);
int rs_monitor_reload_asked(rs_monitor_t *m);
/* Waits up to timeout_ms until a reload is asked: whether one is (for a
 * loop that has nothing else to do until then). */
int rs_monitor_reload_wait(rs_monitor_t *m, int64_t timeout_ms);
void rs_monitor_reload_done(rs_monitor_t *m, int result, const char *msg);

#endif
