/* cli.h — subcommands. Each parses its own arguments and returns the
 * process exit code: 0 ok, 1 runtime failure, 2 usage or configuration. */
#ifndef RECSTREAM_CLI_H
#define RECSTREAM_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

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
int rs_cmd_version(int argc, char **argv);

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
/* Every error in d, then their count ("3 errors"), on stderr. */
void rs_cli_print_diag(const rs_diag_t *d);
/* Loads and validates a pipeline file under rs_cli_max_config_bytes(),
 * with its errors into d (which the caller initialised and finishes):
 * NULL with them there, or with none when the size limit in the
 * environment is not valid (said on stderr). Caller owns the pipeline. */
struct rs_pipeline *rs_cli_read_pipeline(const char *path, rs_diag_t *d);
/* rs_cli_read_pipeline, but on failure prints every error (and their
 * count) to stderr and returns NULL: exit RS_EXIT_USAGE. */
struct rs_pipeline *rs_cli_load_pipeline(const char *path);
/* Monotonic seconds, for progress lines and timings. */
double rs_cli_now(void);

/*
 * Options: each command describes its flags in one table, which drives
 * parsing (getopt_long), strict value checks and its --help.
 */
typedef enum rs_opt_kind {
        RS_OPT_FLAG,     /* int: set to 1 */
        RS_OPT_STRING,   /* const char *: the argument */
        RS_OPT_INT,      /* int64_t in [min, max], YAML integer syntax */
        RS_OPT_DURATION, /* int64_t ms in [min, max]: 250ms, 30s, 5m, 2h, 7d */
        RS_OPT_FN,       /* fn(arg, dst): -1 with the reason in why */
} rs_opt_kind_t;

typedef struct rs_opt {
        const char *name; /* long name, without "--" */
        int short_name;   /* 0: none */
        rs_opt_kind_t kind;
        void *dst;       /* borrowed: where the value goes */
        const char *arg; /* the argument's name in --help; NULL: none */
        const char *doc; /* one or more lines of --help */
        double min, max; /* INT and DURATION(ms) bounds */
        int (*fn)(const char *arg, void *dst, char *why, size_t why_size);
        const char *alias; /* a second long name (another tool's), or NULL */
        unsigned flags;    /* RS_OPT_REQUIRED */
} rs_opt_t;

#define RS_OPT_REQUIRED 1u

/* The entries of the options several commands take, so that each spells
 * them the same: -c PIPELINE (required), -b/--bootstrap(-server), -t,
 * -X (repeatable, into an rs_cli_props_t) and --framing (into an int). */
#define RS_OPT_CONFIG(d)                                                       \
        {                                                                      \
                .name = "config", .short_name = 'c', .kind = RS_OPT_STRING,    \
                .dst = (d), .arg = "PIPELINE",                                 \
                .doc = "the pipeline file (YAML)", .flags = RS_OPT_REQUIRED    \
        }
#define RS_OPT_BOOTSTRAP(d, doc_, flags_)                                      \
        {                                                                      \
                .name = "bootstrap", .short_name = 'b',                        \
                .alias = "bootstrap-server", .kind = RS_OPT_STRING,            \
                .dst = (d), .arg = "HOST:PORT", .doc = (doc_),                 \
                .flags = (flags_)                                              \
        }
#define RS_OPT_TOPIC(d, doc_, flags_)                                          \
        {                                                                      \
                .name = "topic", .short_name = 't', .kind = RS_OPT_STRING,     \
                .dst = (d), .arg = "TOPIC", .doc = (doc_), .flags = (flags_)   \
        }
/* client: "producer" or "consumer" (a string literal). */
#define RS_OPT_PROPERTY(d, client)                                             \
        {                                                                      \
                .name = "property", .short_name = 'X', .kind = RS_OPT_FN,      \
                .dst = (d), .fn = rs_cli_opt_prop, .arg = "KEY=VALUE",         \
                .doc = "a librdkafka " client                                  \
                       " property (repeatable), as\nkcat -X"                   \
        }
#define RS_OPT_FRAMING(d)                                                      \
        {                                                                      \
                .name = "framing", .kind = RS_OPT_FN, .dst = (d),              \
                .fn = rs_cli_opt_framing, .arg = "F",                          \
                .doc = "plain (default), confluent or single-object"           \
        }

/* What a command's --help says beside its options. Static strings. */
typedef struct rs_cmd_info {
        const char *name;     /* "tail" */
        const char *synopsis; /* after "usage: recstream NAME " */
        const char *about;    /* paragraphs, each line ending in \n */
        const char *env;      /* the environment it reads, beyond the common */
        const char *signals;  /* how it answers signals */
        const char *exits;    /* its exit codes */
        int config;           /* takes a pipeline file (-c) */
} rs_cmd_info_t;

enum { RS_CLI_PARSED = 0, RS_CLI_HELP = 1, RS_CLI_BAD = -1 };

/* Parses argv by opts (terminated by a NULL name); no operands are taken.
 * RS_CLI_PARSED; RS_CLI_HELP after printing --help on stdout (exit 0);
 * RS_CLI_BAD after printing a one-line reason and the usage on stderr
 * (exit 2). */
int rs_cli_parse(const rs_cmd_info_t *cmd, const rs_opt_t *opts, int argc,
                 char **argv);
/* The exit code of an rs_cli_parse result other than RS_CLI_PARSED. */
#define RS_CLI_EXIT(r) ((r) == RS_CLI_HELP ? RS_EXIT_OK : RS_EXIT_USAGE)
/* A usage error found after parsing: the one-line reason, then the usage,
 * on stderr. Returns RS_EXIT_USAGE. */
int rs_cli_usage_error(const rs_cmd_info_t *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* The whole --help of cmd into f. */
void rs_cli_help(const rs_cmd_info_t *cmd, const rs_opt_t *opts, FILE *f);

/* -X key=value librdkafka properties gathered by a command. */
typedef struct rs_cli_props {
        rs_kv_t v[64];
        size_t n;
} rs_cli_props_t;

/* The RS_OPT_FN of -X key=value: dst is an rs_cli_props_t; the argument
 * (argv's) is split in place. */
int rs_cli_opt_prop(const char *arg, void *dst, char *why, size_t why_size);
/* The RS_OPT_FN of --framing: dst is an int (rs_framing_t). */
int rs_cli_opt_framing(const char *arg, void *dst, char *why, size_t why_size);
/* The list view of p. */
rs_kv_list_t rs_cli_props_list(const rs_cli_props_t *p);

#endif
