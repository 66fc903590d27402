/* run.c — `recstream run`, `validate` and `doc`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
#include "recstream/pipeline.h"
#include "recstream/worker.h"

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
                "0. SIGHUP is logged (no live\nreload yet) and ignored. "
                "SIGUSR1 logs the "
                "stats line now.",
                &role);
        char errstr[512];
        rs_pipeline_t *pl;
        rs_worker_t *w;
        rs_err_t err = RS_OK;

        if (!path)
                return RS_EXIT_USAGE;
        if (!*path)
                return RS_EXIT_OK;
        if (!(pl = rs_cli_load_pipeline(path)))
                return RS_EXIT_USAGE;
        rs_diag_t d;
        rs_diag_init(&d, path);
        if (rs_pipeline_check_run(pl, &d)) {
                fprintf(stderr, "%s%d error%s\n", d.text.p ? d.text.p : "",
                        d.errors, d.errors == 1 ? "" : "s");
                rs_diag_fini(&d);
                rs_pipeline_destroy(pl);
                return RS_EXIT_USAGE;
        }
        rs_diag_fini(&d);
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

int rs_cmd_doc(int argc, char **argv)
{
        rs_buf_t b;

        (void)argc;
        (void)argv;
        rs_buf_init(&b);
        rs_pipeline_doc(&b);
        fputs(b.p ? b.p : "", stdout);
        rs_buf_fini(&b);
        return b.oom ? RS_EXIT_FAIL : RS_EXIT_OK;
}
