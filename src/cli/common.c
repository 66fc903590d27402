/* common.c — what the subcommands share: signals and -X properties. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "recstream/pipeline.h"

volatile sig_atomic_t rs_cli_stop;

static void on_signal(int sig)
{
        (void)sig;
        rs_cli_stop = 1;
}

void rs_cli_on_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int rs_cli_props_add(rs_cli_props_t *p, char *arg)
{
        char *eq = strchr(arg, '=');

        if (!eq || eq == arg) {
                fprintf(stderr, "recstream: -X takes key=value, not '%s'\n",
                        arg);
                return -1;
        }
        if (p->n == sizeof(p->v) / sizeof(p->v[0])) {
                fprintf(stderr, "recstream: too many -X properties\n");
                return -1;
        }
        *eq = '\0';
        p->v[p->n++] = (rs_kv_t){arg, eq + 1, NULL};
        return 0;
}

rs_kv_list_t rs_cli_props_list(const rs_cli_props_t *p)
{
        return (rs_kv_list_t){(rs_kv_t *)p->v, p->n};
}

rs_pipeline_t *rs_cli_load_pipeline(const char *path)
{
        rs_diag_t d;
        rs_pipeline_t *pl;

        rs_diag_init(&d, path);
        pl = rs_pipeline_load(path, &d);
        if (!pl)
                fprintf(stderr, "%s%d error%s\n", d.text.p ? d.text.p : "",
                        d.errors, d.errors == 1 ? "" : "s");
        rs_diag_fini(&d);
        return pl;
}

double rs_cli_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
