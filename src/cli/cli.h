/* cli.h — subcommands. Each parses its own arguments and returns the
 * process exit code: 0 ok, 1 runtime failure, 2 usage or configuration. */
#ifndef RECSTREAM_CLI_H
#define RECSTREAM_CLI_H

#include <signal.h>
#include <stdint.h>

#include "recstream/config.h"

enum { RS_EXIT_OK = 0, RS_EXIT_FAIL = 1, RS_EXIT_USAGE = 2 };

int rs_cmd_run(int argc, char **argv);
int rs_cmd_validate(int argc, char **argv);
int rs_cmd_doc(int argc, char **argv);
int rs_cmd_devbroker(int argc, char **argv);
int rs_cmd_produce(int argc, char **argv);
int rs_cmd_tail(int argc, char **argv);
int rs_cmd_demo(int argc, char **argv);
int rs_cmd_replay(int argc, char **argv);
int rs_cmd_eval(int argc, char **argv);

/* Set by SIGINT/SIGTERM once rs_cli_on_signals() ran. */
extern volatile sig_atomic_t rs_cli_stop;
/* SIGINT/SIGTERM set rs_cli_stop; SIGHUP is noted for
 * rs_cli_signals_poll() and never ends the process, nor does SIGUSR1
 * (rs_cli_stats_asked); SIGPIPE is ignored. */
void rs_cli_on_signals(void);
/* After the first SIGINT/SIGTERM the process exits 1 at the latest `ms`
 * later, whatever is still waiting (call once, after rs_cli_on_signals). */
void rs_cli_watchdog(int64_t ms);
/* From a command's main loop (never the handler): logs, for `component`,
 * that a SIGHUP received since the last call asked for a reload that is
 * not supported. */
void rs_cli_signals_poll(const char *component);
/* Whether a SIGHUP (reload the configuration) came since the last call;
 * for commands that reload, in place of rs_cli_signals_poll. */
int rs_cli_reload_asked(void);
/* Whether a SIGUSR1 (log the stats line now) came since the last call. */
int rs_cli_stats_asked(void);

/* The size limit of pipeline files (and of the files they name). */
#define RS_CLI_MAX_CONFIG_ENV   "RECSTREAM_MAX_CONFIG_BYTES"
#define RS_CLI_MAX_CONFIG_LIMIT (1024 * 1024 * 1024)
/* RS_CONFIG_MAX_BYTES, or RECSTREAM_MAX_CONFIG_BYTES when set; -1 (with a
 * message on stderr) when that is not a number from 1 to 1 GiB. */
int rs_cli_max_config_bytes(size_t *max);

struct rs_pipeline;
/* Loads and validates a pipeline file under rs_cli_max_config_bytes(); on
 * failure prints every error (and their count) to stderr and returns
 * NULL: exit RS_EXIT_USAGE. */
struct rs_pipeline *rs_cli_load_pipeline(const char *path);
/* Monotonic seconds, for progress lines and timings. */
double rs_cli_now(void);

/* -X key=value librdkafka properties gathered by a command. */
typedef struct rs_cli_props {
        rs_kv_t v[64];
        size_t n;
} rs_cli_props_t;

/* Adds "key=value"; -1 (with a message on stderr) when malformed. */
int rs_cli_props_add(rs_cli_props_t *p, char *arg);
/* The list view of p. */
rs_kv_list_t rs_cli_props_list(const rs_cli_props_t *p);

#endif
