/* run.c — `recstream run`, `validate` and `doc`. */
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

static const char *const roles[] = {"all", "users", "items"};

static int opt_role(const char *arg, void *dst, char *why, size_t why_size)
{
        for (int r = 0; r < 3; r++)
                if (!strcmp(arg, roles[r])) {
                        *(int *)dst = r;
                        return 0;
                }
        snprintf(why, why_size, "takes all, users or items, not '%s'", arg);
        return -1;
}

static const rs_cmd_info_t validate_cmd = {
        .name = "validate",
        .synopsis = "-c PIPELINE",
        .about = "Checks a pipeline file as `run` would before consuming: "
                 "every key, value,\nstage and librdkafka property; prints "
                 "`configuration OK` or every error\nas FILE:LINE:COL: "
                 "error: path.to.key: message, then their count.\n",
        .signals = "none handled: SIGINT and SIGTERM end it at once.",
        .exits = "0  configuration OK\n"
                 "2  usage error, or the pipeline has errors (all are "
                 "printed)",
        .config = 1,
};

int rs_cmd_validate(int argc, char **argv)
{
        const char *path = NULL;
        const rs_opt_t opts[] = {RS_OPT_CONFIG(&path), {.name = NULL}};
        rs_pipeline_t *pl;
        int r = rs_cli_parse(&validate_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
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
        int result = RS_RELOAD_OK;

        rs_diag_init(&d, path);
        if (!(next = rs_cli_read_pipeline(path, &d))) {
                /* the first error names file:line:col */
                const char *t =
                        d.errors && d.text.p ? d.text.p : RS_CLI_MAX_CONFIG_ENV;
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

static const rs_cmd_info_t run_cmd = {
        .name = "run",
        .synopsis = "-c PIPELINE [--role all|users|items]",
        .about = "The worker: consumes the pipeline's input topics and "
                 "publishes each user's\nUserRecs to its sink topic, until "
                 "a signal or a fatal error. Logs go to\nstderr as key=value "
                 "lines (log.level; RECSTREAM_LOG_LEVEL overrides it); a\n"
                 "stats line every 10 s. HTTP on http.port (default 9464, 0 "
                 "off): GET\n/metrics (Prometheus), /healthz, /readyz; POST "
                 "/reload.\n",
        .signals = "SIGINT, SIGTERM  deliver what is in flight, commit, "
                   "exit 0 (bounded by\n"
                   "                 shutdown_timeout; past it plus 5 s "
                   "exit 1)\n"
                   "SIGHUP           reload PIPELINE: weights, scoring, "
                   "diversity and refresh\n"
                   "                 settings change, state is kept; any "
                   "other change is\n"
                   "                 refused and the running "
                   "configuration goes on (also\n"
                   "                 POST /reload on the HTTP port)\n"
                   "SIGUSR1          log the stats line now\n"
                   "SIGPIPE          ignored",
        .exits = "0  stopped by a signal after a clean drain\n"
                 "1  runtime failure (a broker error that does not pass, "
                 "a fatal error)\n"
                 "2  usage error, or the pipeline has errors",
        .config = 1,
};

int rs_cmd_run(int argc, char **argv)
{
        const char *path = NULL;
        int role = -1;
        const rs_opt_t opts[] = {
                RS_OPT_CONFIG(&path),
                {.name = "role",
                 .kind = RS_OPT_FN,
                 .dst = &role,
                 .fn = opt_role,
                 .arg = "ROLE",
                 .doc = "overrides the pipeline's topology.role: "
                        "users\nconsumes the input and produces lists and "
                        "pair\ndeltas; items consumes the deltas and "
                        "publishes\nneighbour lists; all runs both"},
                {.name = NULL}};
        char errstr[512], q[600];
        rs_pipeline_t *pl;
        rs_worker_t *w;
        rs_monitor_t *mon = NULL;
        rs_http_t *http = NULL;
        rs_err_t err = RS_OK;

        int r = rs_cli_parse(&run_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
        if (!(pl = rs_cli_load_pipeline(path)))
                return RS_EXIT_USAGE;
        rs_diag_t d;
        rs_diag_init(&d, path);
        if (rs_pipeline_check_run(pl, &d)) {
                rs_cli_print_diag(&d);
                rs_diag_fini(&d);
                rs_pipeline_destroy(pl);
                return RS_EXIT_USAGE;
        }
        rs_diag_fini(&d);
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
                        int res = reload(w, path, errstr, sizeof(errstr));
                        rs_monitor_reload_done(mon, res, errstr);
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

static const rs_cmd_info_t doc_cmd = {
        .name = "doc",
        .synopsis = "[--compare PIPELINE]",
        .about = "Prints the pipeline file reference (Markdown) on stdout: "
                 "every key of every\nsection and stage, its type, range, "
                 "default and meaning, from the same\nproperty tables that "
                 "check the files (docs/pipeline.md is its output).\n",
        .signals = "none handled.",
        .exits = "0  printed\n1  out of memory\n2  usage error",
};

int rs_cmd_doc(int argc, char **argv)
{
        const char *path = NULL;
        const rs_opt_t opts[] = {
                {.name = "compare",
                 .kind = RS_OPT_STRING,
                 .dst = &path,
                 .arg = "PIPELINE",
                 .doc = "note, beside each default, the value PIPELINE "
                        "sets\ninstead (validated first); `make docs`: "
                        "--compare\npipelines/video.yaml"},
                {.name = NULL}};
        rs_pipeline_t *pl = NULL;
        rs_buf_t b;
        int r = rs_cli_parse(&doc_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
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
