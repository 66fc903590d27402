/* http.h — the worker's HTTP port (libmicrohttpd, its own thread), serving
 * what the main loop publishes through the monitor (metrics.h):
 *
 *   GET  /metrics  the latest snapshot, Prometheus text format 0.0.4
 *   GET  /healthz  200 while the main loop beat within stall_ms, else 503
 *   GET  /readyz   200 when the worker says it is ready, else 503 and why
 *   POST /reload   the reload hook's answer (none yet: 501)
 *
 * The only module that sees libmicrohttpd. */
#ifndef RECSTREAM_HTTP_H
#define RECSTREAM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/metrics.h"

typedef struct rs_http rs_http_t;

/* Listens on bind:port (IPv4) and serves `mon` (borrowed, outlives the
 * server). Caller owns; NULL with errstr when the port cannot be bound. */
rs_http_t *rs_http_new(const char *bind, int port, rs_monitor_t *mon,
                       int64_t stall_ms, char *errstr, size_t errstr_size);
/* Stops the thread and closes the port. NULL is fine. */
void rs_http_destroy(rs_http_t *h);
/* The port listened on (the one chosen when asked for 0). */
int rs_http_port(const rs_http_t *h);

#endif
