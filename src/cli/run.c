/* run.c — `recstream run`, `validate` and `doc`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "recstream/http.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
#include "recstream/pipeline.h"
#include "recstream/worker.h"

/* /healthz fails once the main loop made no progress for this long: its
 * longest legitimate waits (a revoke's drain, a commit) are shorter. */
#define RS_CLI_STALL_MS 60000

#define USAGE_ENV                                                              \
        "\nFILE is read up to RECSTREAM_MAX_CONFIG_BYTES (default 1048576, "   \
        "1 MiB);\nlarger files and lists over their documented lengths are "   \
        "errors (exit 2)."

/* -c FILE (and, with `role` not NULL, --role all|users|items into it:
 * -1 when not given). "" after --help; NULL on a usage error. */
static const char *config_arg(int argc, char **argv, const char *usage,
                              int *role)
{
        static const struct option opts[] = {{"config", 1, NULL, 'c'},
                                             {"role", 1, NULL, 'r'},
                                             {"help", 0, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        static const char *const roles[] = {"all", "users", "items"};
        const char *path = NULL;
        int c;

        optind = 1;
        if (role)
                *role = -1;
        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c': path = optarg; break;
                case 'r':
                        if (!role)
                                goto bad;
                        for (*role = 2;
                             *role >= 0 && strcmp(optarg, roles[*role]);
                             (*role)--)
                                ;
                        if (*role < 0) {
                                fprintf(stderr,
                                        "recstream: --role takes all, users "
                                        "or items, not '%s'\n",
                                        optarg);
                                path = NULL;
                                goto bad;
                        }
                        break;
                case 'h': printf("usage: %s\n", usage); return "";
                default: path = NULL; goto bad;
                }
        }
        if (path && optind == argc)
                return path;
bad:
        fprintf(stderr, "usage: %s\n", usage);
        return NULL;
}

int rs_cmd_validate(int argc, char **argv)
{
        const char *path = config_arg(
                argc, argv, "recstream validate -c FILE" USAGE_ENV, NULL);
        rs_pipeline_t *pl;

        if (!path)
                return RS_EXIT_USAGE;
        if (!*path)
                return RS_EXIT_OK;
        if (!(pl = rs_cli_load_pipeline(path)))
                return RS_EXIT_USAGE;
        printf("configuration OK\n");
        rs_pipeline_destroy(pl);
        return RS_EXIT_OK;
}

/* SIGHUP or POST /reload: FILE read again and, when only what may change
 * live changed, applied; otherwise the running configuration goes on.
 * Logged once either way with the reason, which msg gets too; returns
 * RS_RELOAD_*. */
static int reload(rs_worker_t *w, const char *path, char *msg, size_t size)
{
        char errstr[256], q[600];
        rs_pipeline_t *next;
        rs_diag_t d;
        size_t max;
        int result = RS_RELOAD_OK;

        if (rs_cli_max_config_bytes(&max)) {
                snprintf(msg, size, "invalid: " RS_CLI_MAX_CONFIG_ENV);
                return RS_RELOAD_INVALID;
        }
        rs_diag_init(&d, path);
        if (!(next = rs_pipeline_load(path, max, &d))) {
                /* the first error names file:line:col */
                const char *t = d.text.p ? d.text.p : "";
                snprintf(msg, size, "invalid: %.*s", (int)strcspn(t, "\n"), t);
                rs_log(RS_LOG_ERR,
                       "component=worker event=reload_failed errors=%d "
                       "reason=\"%s\" msg=\"the configuration is not "
                       "valid: the running one goes on\"",
                       d.errors, rs_log_quote(msg + 9, q, sizeof(q)));
                result = RS_RELOAD_INVALID;
        } else if (rs_worker_reload(w, next, errstr, sizeof(errstr))) {
                snprintf(msg, size, "refused: %s", errstr);
                rs_log(RS_LOG_ERR,
                       "component=worker event=reload_refused reason=\"%s\" "
                       "msg=\"the running configuration goes on\"",
                       rs_log_quote(errstr, q, sizeof(q)));
                rs_pipeline_destroy(next);
                result = RS_RELOAD_REFUSED;
        } else {
                snprintf(msg, size, "reloaded: config_hash=%s", next->hash);
                rs_log(RS_LOG_NOTICE,
                       "component=worker event=reloaded file=%s "
                       "config_hash=%s",
                       path, next->hash);
        }
        rs_diag_fini(&d);
        return result;
}

int rs_cmd_run(int argc, char **argv)
{
        int role;
        const char *path = config_arg(
                argc, argv,
                "recstream run -c FILE [--role all|users|items]" USAGE_ENV
                "\n--role overrides the pipeline's topology.role: users "
                "consumes the input\nand produces lists and pair deltas; "
                "items consumes the deltas and\npublishes neighbour lists; "
                "all runs both.\nSIGINT/SIGTERM: deliver, commit and exit "
                "0. SIGHUP (or POST /reload) reloads FILE: weights,\nscoring, "
                "diversity and refresh settings change, state is kept; any\n"
                "other change is refused and the running configuration goes "
                "on.\nSIGUSR1 logs the stats line now.\nHTTP (http.port, "
                "default 9464; 0 off): GET /metrics (Prometheus), /healthz,\n"
                "/readyz; POST /reload. RECSTREAM_LOG_LEVEL overrides "
                "log.level.",
                &role);
        char errstr[512], q[600];
        rs_pipeline_t *pl;
        rs_worker_t *w;
        rs_monitor_t *mon = NULL;
        rs_http_t *http = NULL;
        rs_err_t err = RS_OK;

        if (!path)
                return RS_EXIT_USAGE;
        if (!*path)
                return RS_EXIT_OK;
        if (!(pl = rs_cli_load_pipeline(path)))
                return RS_EXIT_USAGE;
        /* the log channel: the file's, unless the environment says */
        if (!getenv("RECSTREAM_LOG_LEVEL"))
                rs_log_set_level(pl->log.level);
        rs_kafka_set_debug(pl->log.kafka_debug);
        rs_cli_on_signals();
        /* the worker bounds its drain by shutdown_timeout; this bounds
         * what might still wait beyond it */
        rs_cli_watchdog(pl->shutdown_timeout + 5000);
        if (pl->http.port) {
                if (!(mon = rs_monitor_new()) ||
                    !(http = rs_http_new(pl->http.bind, (int)pl->http.port, mon,
                                         RS_CLI_STALL_MS, errstr,
                                         sizeof(errstr)))) {
                        rs_log(RS_LOG_ERR,
                               "component=http event=start_failed "
                               "reason=\"%s\"",
                               rs_log_quote(mon ? errstr : "out of memory", q,
                                            sizeof(q)));
                        rs_monitor_destroy(mon);
                        rs_pipeline_destroy(pl);
                        return RS_EXIT_FAIL;
                }
                rs_log(RS_LOG_INFO,
                       "component=http event=listening bind=%s port=%d "
                       "paths=/metrics,/healthz,/readyz",
                       pl->http.bind, rs_http_port(http));
        }
        if (!(w = rs_worker_new(pl, role, &rs_cli_stop, mon, errstr,
                                sizeof(errstr)))) {
                rs_log(RS_LOG_ERR,
                       "component=worker event=start_failed "
                       "reason=\"%s\"",
                       rs_log_quote(errstr, q, sizeof(q)));
                rs_http_destroy(http);
                rs_monitor_destroy(mon);
                rs_pipeline_destroy(pl);
                return RS_EXIT_FAIL;
        }
        while (!rs_cli_stop) {
                if (rs_cli_reload_asked())
                        reload(w, path, errstr, sizeof(errstr));
                if (mon && rs_monitor_reload_asked(mon)) {
                        int r = reload(w, path, errstr, sizeof(errstr));
                        rs_monitor_reload_done(mon, r, errstr);
                }
                if (rs_cli_stats_asked())
                        rs_worker_log_stats(w);
                if ((err = rs_worker_step(w)))
                        break;
        }
        if (!err)
                rs_log(RS_LOG_INFO, "component=worker event=stopping "
                                    "reason=signal");
        char why[256];
        snprintf(why, sizeof(why), "%s", rs_worker_error(w));
        rs_err_t cerr = rs_worker_close(w);
        /* the port closes last: /readyz said "stopping" meanwhile */
        rs_http_destroy(http);
        rs_monitor_destroy(mon);
        rs_pipeline_destroy(pl);
        int code = err || cerr ? RS_EXIT_FAIL : RS_EXIT_OK;
        if (code)
                rs_log(RS_LOG_ERR,
                       "component=worker event=failed err=\"%s\" "
                       "reason=\"%s\"",
                       rs_err_str(err ? err : cerr),
                       rs_log_quote(why[0] ? why
                                    : err  ? "see the error lines before"
                                           : "the drain on shutdown did not "
                                             "finish (see the lines before)",
                                    q, sizeof(q)));
        else
                rs_log(RS_LOG_INFO, "component=worker event=stopped");
        if (rs_kafka_background()) {
                /* A consumer's destroy still waits for its coordinator in
                 * a thread: no exit handler may run under it. */
                fflush(NULL);
                _exit(code);
        }
        return code;
}

int rs_cmd_doc(int argc, char **argv)
{
        static const struct option opts[] = {{"compare", 1, NULL, 'C'},
                                             {"help", 0, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        static const char usage[] =
                "usage: recstream doc [--compare PIPELINE]\n"
                "The pipeline file reference (Markdown) on stdout, from the "
                "property tables.\n--compare notes, beside each default, "
                "the value PIPELINE sets instead\n(validated first; exit 2 "
                "when it is not valid). docs/pipeline.md is\n`make docs`: "
                "recstream doc --compare pipelines/video.yaml.\n";
        const char *path = NULL;
        rs_pipeline_t *pl = NULL;
        rs_buf_t b;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'C': path = optarg; break;
                case 'h': fputs(usage, stdout); return RS_EXIT_OK;
                default: fputs(usage, stderr); return RS_EXIT_USAGE;
                }
        }
        if (optind != argc) {
                fputs(usage, stderr);
                return RS_EXIT_USAGE;
        }
        if (path && !(pl = rs_cli_load_pipeline(path)))
                return RS_EXIT_USAGE;
        rs_buf_init(&b);
        rs_pipeline_doc(pl ? rs_doc_root(pl->doc) : NULL, path, &b);
        int oom = b.oom;
        fputs(b.p ? b.p : "", stdout);
        rs_buf_fini(&b);
        rs_pipeline_destroy(pl);
        return oom ? RS_EXIT_FAIL : RS_EXIT_OK;
}
