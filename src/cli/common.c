/* common.c — what the subcommands share: signals, pipeline loading and
 * -X properties. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "recstream/log.h"
#include "recstream/pipeline.h"

volatile sig_atomic_t rs_cli_stop;
static volatile sig_atomic_t hup, usr1;
static sem_t stopping; /* posted by the first stop signal, for the watchdog */
static int64_t watchdog_ms;

/* Handlers only set flags: the loops log and act (async-signal-safety). */
static void on_signal(int sig)
{
        (void)sig;
        if (!rs_cli_stop && watchdog_ms)
                sem_post(&stopping); /* async-signal-safe */
        rs_cli_stop = 1;
}

/* The last resort behind every bounded step of a shutdown: whatever still
 * waits (librdkafka joining its threads with brokers away) ends here. */
static void *watchdog(void *arg)
{
        static const char msg[] = "level=err component=cli "
                                  "event=shutdown_deadline msg=\"the "
                                  "drain did not end in time: exiting "
                                  "without committing more\"\n";
        struct timespec ts;

        (void)arg;
        while (sem_wait(&stopping) && errno == EINTR)
                ;
        ts.tv_sec = watchdog_ms / 1000;
        ts.tv_nsec = (watchdog_ms % 1000) * 1000000;
        while (nanosleep(&ts, &ts) && errno == EINTR)
                ;
        if (write(2, msg, sizeof(msg) - 1) < 0)
                _exit(RS_EXIT_FAIL);
        _exit(RS_EXIT_FAIL);
}

void rs_cli_watchdog(int64_t ms)
{
        pthread_t t;

        if (watchdog_ms || ms <= 0 || sem_init(&stopping, 0, 0))
                return;
        watchdog_ms = ms;
        if (pthread_create(&t, NULL, watchdog, NULL)) {
                watchdog_ms = 0;
                return;
        }
        pthread_detach(t);
}

static void on_hup(int sig)
{
        (void)sig;
        hup = 1;
}

static void on_usr1(int sig)
{
        (void)sig;
        usr1 = 1;
}

int rs_cli_stats_asked(void)
{
        if (!usr1)
                return 0;
        usr1 = 0;
        return 1;
}

void rs_cli_on_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        /* SIGHUP asks for a reload (`run`; the other commands log that
         * they have none): it must not end the process (nor interrupt a
         * write to stdout). */
        sa.sa_handler = on_hup;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int rs_cli_reload_asked(void)
{
        if (!hup)
                return 0;
        hup = 0;
        return 1;
}

void rs_cli_signals_poll(const char *component)
{
        if (!hup)
                return;
        hup = 0;
        rs_log(RS_LOG_WARNING,
               "component=%s event=reload_unsupported signal=SIGHUP "
               "msg=\"this command has no configuration to reload; going "
               "on\"",
               component);
}

int rs_cli_opt_prop(const char *arg, void *dst, char *why, size_t why_size)
{
        rs_cli_props_t *p = dst;
        char *eq = strchr(arg, '=');

        if (!eq || eq == arg) {
                snprintf(why, why_size, "takes key=value, not '%s'",
                         rs_config_is_secret(arg) ? RS_REDACTED : arg);
                return -1;
        }
        if (p->n == sizeof(p->v) / sizeof(p->v[0])) {
                snprintf(why, why_size, "more than %zu properties",
                         sizeof(p->v) / sizeof(p->v[0]));
                return -1;
        }
        *eq = '\0'; /* argv's own storage */
        p->v[p->n++] = (rs_kv_t){arg, eq + 1, NULL};
        return 0;
}

rs_kv_list_t rs_cli_props_list(const rs_cli_props_t *p)
{
        return (rs_kv_list_t){(rs_kv_t *)p->v, p->n};
}

int rs_cli_max_config_bytes(size_t *max)
{
        const char *s = getenv(RS_CLI_MAX_CONFIG_ENV);
        unsigned long long v;
        char *end;

        *max = RS_CONFIG_MAX_BYTES;
        if (!s || !*s)
                return 0;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || errno || v < 1 ||
            v > RS_CLI_MAX_CONFIG_LIMIT) {
                fprintf(stderr,
                        "recstream: %s must be a number of bytes from 1 to "
                        "%d, not '%s'\n",
                        RS_CLI_MAX_CONFIG_ENV, RS_CLI_MAX_CONFIG_LIMIT, s);
                return -1;
        }
        *max = (size_t)v;
        return 0;
}

void rs_cli_print_diag(const rs_diag_t *d)
{
        fprintf(stderr, "%s%d error%s\n", d->text.p ? d->text.p : "", d->errors,
                d->errors == 1 ? "" : "s");
}

rs_pipeline_t *rs_cli_read_pipeline(const char *path, rs_diag_t *d)
{
        size_t max;

        return rs_cli_max_config_bytes(&max) ? NULL
                                             : rs_pipeline_load(path, max, d);
}

rs_pipeline_t *rs_cli_load_pipeline(const char *path)
{
        rs_diag_t d;
        rs_pipeline_t *pl;

        rs_diag_init(&d, path);
        pl = rs_cli_read_pipeline(path, &d);
        if (!pl && d.errors)
                rs_cli_print_diag(&d);
        rs_diag_fini(&d);
        return pl;
}

double rs_cli_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
