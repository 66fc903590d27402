/* run.c — `recstream run`, `validate` and `doc`. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
#include "recstream/pipeline.h"
#include "recstream/worker.h"

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
        const rs_opt_t opts[] = {{.name = "config",
                                  .short_name = 'c',
                                  .kind = RS_OPT_STRING,
                                  .dst = &path,
                                  .arg = "PIPELINE",
                                  .doc = "the pipeline file (YAML)",
                                  .flags = RS_OPT_REQUIRED},
                                 {.name = NULL}};
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

static const rs_cmd_info_t run_cmd = {
        .name = "run",
        .synopsis = "-c PIPELINE [--role all|users|items]",
        .about = "The worker: consumes the pipeline's input topics and "
                 "publishes each user's\nUserRecs to its sink topic, until "
                 "a signal or a fatal error. Logs go to\nstderr as key=value "
                 "lines; a stats line every 10 s.\n",
        .signals = "SIGINT, SIGTERM  deliver what is in flight, commit, "
                   "exit 0 (bounded by\n"
                   "                 shutdown_timeout; past it plus 5 s "
                   "exit 1)\n"
                   "SIGHUP           logged and ignored (no live reload "
                   "here)\n"
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
                {.name = "config",
                 .short_name = 'c',
                 .kind = RS_OPT_STRING,
                 .dst = &path,
                 .arg = "PIPELINE",
                 .doc = "the pipeline file (YAML)",
                 .flags = RS_OPT_REQUIRED},
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
        char errstr[512];
        rs_pipeline_t *pl;
        rs_worker_t *w;
        rs_err_t err = RS_OK;
        int r = rs_cli_parse(&run_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
        if (!(pl = rs_cli_load_pipeline(path)))
                return RS_EXIT_USAGE;
        rs_cli_on_signals();
        /* the worker bounds its drain by shutdown_timeout; this bounds
         * what might still wait beyond it */
        rs_cli_watchdog(pl->shutdown_timeout + 5000);
        if (!(w = rs_worker_new(pl, role, &rs_cli_stop, errstr,
                                sizeof(errstr)))) {
                rs_log(RS_LOG_ERR,
                       "component=worker event=start_failed "
                       "reason=\"%s\"",
                       errstr);
                rs_pipeline_destroy(pl);
                return RS_EXIT_FAIL;
        }
        while (!rs_cli_stop) {
                rs_cli_signals_poll("worker");
                if (rs_cli_stats_asked())
                        rs_worker_log_stats(w);
                if ((err = rs_worker_step(w)))
                        break;
        }
        if (!err)
                rs_log(RS_LOG_INFO, "component=worker event=stopping "
                                    "reason=signal");
        rs_err_t cerr = rs_worker_close(w);
        rs_pipeline_destroy(pl);
        int code = err || cerr ? RS_EXIT_FAIL : RS_EXIT_OK;
        if (code)
                rs_log(RS_LOG_ERR,
                       "component=worker event=failed reason=\"%s\"",
                       rs_err_str(err ? err : cerr));
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
        .synopsis = "",
        .about = "Prints the pipeline file reference (Markdown) on stdout: "
                 "every key of every\nsection and stage, its type, range, "
                 "default and meaning, from the same\nproperty tables that "
                 "check the files (docs/pipeline.md is its output).\n",
        .signals = "none handled.",
        .exits = "0  printed\n1  out of memory\n2  usage error",
};

int rs_cmd_doc(int argc, char **argv)
{
        const rs_opt_t opts[] = {{.name = NULL}};
        rs_buf_t b;
        int r = rs_cli_parse(&doc_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
        rs_buf_init(&b);
        rs_pipeline_doc(&b);
        fputs(b.p ? b.p : "", stdout);
        rs_buf_fini(&b);
        return b.oom ? RS_EXIT_FAIL : RS_EXIT_OK;
}
