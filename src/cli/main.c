/* main.c — `recstream <command> [options]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "recstream/config.h"
#include "recstream/log.h"
#include "recstream/vec.h"

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *help;
} commands[] = {
        {"run", rs_cmd_run, "run -c PIPELINE          the worker"},
        {"validate", rs_cmd_validate,
         "validate -c PIPELINE     check a pipeline file"},
        {"dev-broker", rs_cmd_devbroker,
         "dev-broker [--brokers N] [--partitions P] [--port PORT]\n"
         "                           an embedded Kafka broker on loopback"},
        {"produce", rs_cmd_produce,
         "produce -b BOOTSTRAP -t TOPIC (--input FILE.csv | --generate N)\n"
         "                           write BehaviorEvents to a topic"},
        {"tail", rs_cmd_tail,
         "tail -b BOOTSTRAP -t TOPIC [--from-beginning] [-e] [--max N]\n"
         "                           print a topic's records as JSON lines"},
        {"replay", rs_cmd_replay,
         "replay -c PIPELINE --input EVENTS [--output recs.jsonl]\n"
         "                           the stages over a file, no Kafka"},
        {"eval", rs_cmd_eval,
         "eval -c PIPELINE --input EVENTS [--k 10] [--test TEST.csv]\n"
         "                           prequential or split quality, beside "
         "baselines"},
        {"demo", rs_cmd_demo,
         "demo                     broker + events + worker + output, "
         "in one process"},
        {"doc", rs_cmd_doc,
         "doc [--compare PIPELINE] the pipeline file reference (Markdown)"},
        {"version", rs_cmd_version,
         "version                  versions of recstream and its libraries "
         "(--version)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
        fprintf(f, "usage: recstream <command> [options]\n"
                   "       recstream --version | --help | help COMMAND\n"
                   "\ncommands:\n");
        for (size_t i = 0; i < NCOMMANDS; i++)
                fprintf(f, "  %s\n", commands[i].help);
        fprintf(f, "\n`recstream COMMAND --help` lists every option of "
                   "COMMAND, the environment\nit reads, its signals and "
                   "exit codes. Logs go to stderr as key=value lines\n"
                   "(RECSTREAM_LOG_LEVEL=debug|info|notice|warning|err); "
                   "secret values never\nappear. Pipeline files (-c) are "
                   "read up to RECSTREAM_MAX_CONFIG_BYTES bytes\n(default "
                   "1048576, 1 MiB). Exit codes: 0 ok, 1 runtime failure, 2 "
                   "usage or\nconfiguration error.\n");
}

static int find(const char *name)
{
        for (size_t i = 0; i < NCOMMANDS; i++)
                if (!strcmp(name, commands[i].name))
                        return (int)i;
        return -1;
}

/* The command nearest to a misspelt one (at most 2 edits), or NULL. */
static const char *nearest(const char *name)
{
        const char *best = NULL;
        int best_d = 3;

        for (size_t i = 0; i < NCOMMANDS; i++) {
                int d = rs_edit_distance(name, commands[i].name);
                if (d < best_d) {
                        best_d = d;
                        best = commands[i].name;
                }
        }
        return best_d <= 2 && 2 * best_d < (int)strlen(name) ? best : NULL;
}

int main(int argc, char **argv)
{
        const char *lvl = getenv("RECSTREAM_LOG_LEVEL");
        const char *near;
        int i;

        rs_vec_init();
        if (lvl && rs_log_level_parse(lvl) >= 0)
                rs_log_set_level(rs_log_level_parse(lvl));
        if (argc < 2) {
                usage(stderr);
                return RS_EXIT_USAGE;
        }
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
            (!strcmp(argv[1], "help") && argc == 2)) {
                usage(stdout);
                return RS_EXIT_OK;
        }
        if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
                return rs_cmd_version(1, argv + 1);
        if (!strcmp(argv[1], "help") && argc == 3 && (i = find(argv[2])) >= 0) {
                char *args[] = {argv[2], "--help", NULL};
                return commands[i].fn(2, args);
        }
        if (!strcmp(argv[1], "help") && argc != 3) {
                fprintf(stderr, "recstream: help takes one command\n\n");
                usage(stderr);
                return RS_EXIT_USAGE;
        }
        if (!strcmp(argv[1], "help"))
                argv++; /* help NOSUCH: the message below names it */
        else if ((i = find(argv[1])) >= 0)
                return commands[i].fn(argc - 1, argv + 1);
        if (argv[1][0] == '-')
                fprintf(stderr, "recstream: unknown option '%s'", argv[1]);
        else
                fprintf(stderr, "recstream: unknown command '%s'", argv[1]);
        if ((near = nearest(argv[1])))
                fprintf(stderr, " (did you mean '%s'?)", near);
        fprintf(stderr, "\n\n");
        usage(stderr);
        return RS_EXIT_USAGE;
}
