/* main.c — `recstream <command> [options]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
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
         "tail -b BOOTSTRAP -t TOPIC [--from-beginning] [--max N]\n"
         "                           print a topic's records as JSON lines"},
        {"replay", rs_cmd_replay,
         "replay -c PIPELINE --input EVENTS.csv [--output recs.jsonl]\n"
         "                           the stages over a file, no Kafka"},
        {"eval", rs_cmd_eval,
         "eval -c PIPELINE --input EVENTS.csv [--k 10] [--test TEST.csv]\n"
         "                           prequential or split quality, beside "
         "popularity"},
        {"demo", rs_cmd_demo,
         "demo                     broker + events + worker + output, "
         "in one process"},
        {"doc", rs_cmd_doc,
         "doc [--compare PIPELINE] the pipeline file reference (Markdown)"},
};

static void usage(FILE *f)
{
        fprintf(f, "usage: recstream <command> [options]\n\ncommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %s\n", commands[i].help);
        fprintf(f, "\nEvery command takes --help. Logs go to stderr as "
                   "key=value lines\n(RECSTREAM_LOG_LEVEL=debug|info|"
                   "notice|warning|err); secret values never appear.\n"
                   "Pipeline files (-c) are read up to "
                   "RECSTREAM_MAX_CONFIG_BYTES bytes (default\n1048576, "
                   "1 MiB); a larger one is an error (exit 2).\n");
}

int main(int argc, char **argv)
{
        const char *lvl = getenv("RECSTREAM_LOG_LEVEL");

        rs_vec_init();
        if (lvl && rs_log_level_parse(lvl) >= 0)
                rs_log_set_level(rs_log_level_parse(lvl));
        if (argc < 2) {
                usage(stderr);
                return RS_EXIT_USAGE;
        }
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
            !strcmp(argv[1], "help")) {
                usage(stdout);
                return RS_EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (!strcmp(argv[1], commands[i].name))
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "recstream: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return RS_EXIT_USAGE;
}
