/* http.c — /metrics, /healthz, /readyz on libmicrohttpd's own thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "recstream/http.h"

/* How long POST /reload waits for the main loop's answer. */
#define RELOAD_WAIT_MS 30000

struct rs_http {
        struct MHD_Daemon *d;
        rs_monitor_t *mon;
        int64_t stall_ms;
        int port;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
                              const char *type, char *body, size_t len,
                              enum MHD_ResponseMemoryMode mode)
{
        struct MHD_Response *r =
                MHD_create_response_from_buffer(len, body, mode);
        enum MHD_Result ret;

        if (!r) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status,
                            const char *msg)
{
        return answer(c, status, "text/plain; charset=utf-8", (char *)msg,
                      strlen(msg), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
        rs_http_t *h = cls;
        int get = !strcmp(method, MHD_HTTP_METHOD_GET) ||
                  !strcmp(method, MHD_HTTP_METHOD_HEAD);
        char buf[600], reason[512];

        (void)version;
        (void)upload;
        /* the first call only announces the request: answer on the next,
         * with any upload read (and ignored) */
        if (!*con_cls) {
                *con_cls = h;
                return MHD_YES;
        }
        if (*upload_size) {
                *upload_size = 0;
                return MHD_YES;
        }
        if (!strcmp(url, "/metrics") && get) {
                size_t len;
                char *body = rs_monitor_metrics(h->mon, &len);
                if (!body)
                        return text(c, 500, "out of memory\n");
                return answer(c, 200,
                              "text/plain; version=0.0.4; "
                              "charset=utf-8",
                              body, len, MHD_RESPMEM_MUST_FREE);
        }
        if (!strcmp(url, "/healthz") && get) {
                int64_t idle = rs_monitor_idle_ms(h->mon);
                if (idle <= h->stall_ms)
                        return text(c, 200, "ok\n");
                snprintf(buf, sizeof(buf),
                         "stalled: the main loop made no progress for "
                         "%lld ms\n",
                         (long long)idle);
                return text(c, 503, buf);
        }
        if (!strcmp(url, "/readyz") && get) {
                if (rs_monitor_ready(h->mon, reason, sizeof(reason)))
                        return text(c, 200, "ready\n");
                snprintf(buf, sizeof(buf), "not ready: %s\n", reason);
                return text(c, 503, buf);
        }
        if (!strcmp(url, "/reload")) {
                /* the main loop reloads and answers (as on SIGHUP) */
                static const unsigned status[] = {[RS_RELOAD_OK] = 200,
                                                  [RS_RELOAD_REFUSED] = 409,
                                                  [RS_RELOAD_INVALID] = 422,
                                                  [RS_RELOAD_TIMEOUT] = 503};
                char msg[600];
                if (strcmp(method, MHD_HTTP_METHOD_POST))
                        return text(c, 405, "POST /reload\n");
                int r = rs_monitor_reload(h->mon, RELOAD_WAIT_MS, reason,
                                          sizeof(reason));
                snprintf(msg, sizeof(msg), "%s\n", reason);
                return text(c, status[r], msg);
        }
        if (!strcmp(url, "/metrics") || !strcmp(url, "/healthz") ||
            !strcmp(url, "/readyz"))
                return text(c, 405, "GET only\n");
        return text(c, 404,
                    "not found: /metrics, /healthz, /readyz, POST "
                    "/reload\n");
}

rs_http_t *rs_http_new(const char *bind, int port, rs_monitor_t *mon,
                       int64_t stall_ms, char *errstr, size_t errstr_size)
{
        rs_http_t *h = calloc(1, sizeof(*h));
        struct sockaddr_in sa;

        if (!h) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        h->mon = mon;
        h->stall_ms = stall_ms;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1) {
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "http.bind '%s' is not an IPv4 address", bind);
                free(h);
                return NULL;
        }
        errno = 0;
        h->d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)port,
                NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
        if (!h->d) {
                int e = errno;
                rs_seterr(errstr, errstr_size, RS_ERR_IO,
                          "cannot listen on %s:%d (http.port, http.bind): %s",
                          bind, port,
                          e ? strerror(e) : "libmicrohttpd refused to start");
                free(h);
                return NULL;
        }
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        h->port = info ? info->port : port;
        return h;
}

void rs_http_destroy(rs_http_t *h)
{
        if (!h)
                return;
        if (h->d)
                MHD_stop_daemon(h->d);
        free(h);
}

int rs_http_port(const rs_http_t *h)
{
        return h->port;
}
