/* devbroker.c — `recstream dev-broker`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/cli.h"
#include "recstream/devbroker.h"

static const char usage[] =
        "usage: recstream dev-broker [--brokers N] [--partitions P] "
        "[--port PORT] [--topic NAME]...\n"
        "Runs librdkafka's mock cluster on 127.0.0.1 until SIGINT/SIGTERM\n"
        "(SIGHUP is logged and ignored) and prints its bootstrap address on\n"
        "stdout. --topic (repeatable) creates topics with P partitions\n"
        "(default video.behavior and video.recs); others are auto-created\n"
        "with 4.\n";

int rs_cmd_devbroker(int argc, char **argv)
{
        static const struct option opts[] = {
                {"brokers", 1, NULL, 'n'}, {"partitions", 1, NULL, 'p'},
                {"port", 1, NULL, 'P'},    {"topic", 1, NULL, 't'},
                {"help", 0, NULL, 'h'},    {NULL, 0, NULL, 0}};
        const char *topics[32] = {"video.behavior", "video.recs"};
        size_t ntopics = 2;
        int brokers = 1, partitions = 4, port = 0, own_topics = 0, c;
        char errstr[512];
        rs_devbroker_t *db;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'n': brokers = atoi(optarg); break;
                case 'p': partitions = atoi(optarg); break;
                case 'P': port = atoi(optarg); break;
                case 't':
                        if (!own_topics++)
                                ntopics = 0;
                        if (ntopics < 32)
                                topics[ntopics++] = optarg;
                        break;
                case 'h': fputs(usage, stdout); return RS_EXIT_OK;
                default: fputs(usage, stderr); return RS_EXIT_USAGE;
                }
        }
        if (optind != argc || brokers < 1 || brokers > 16 || partitions < 1 ||
            partitions > 1000 || port < 0 || port > 65535) {
                fputs(usage, stderr);
                return RS_EXIT_USAGE;
        }
        rs_cli_on_signals();
        db = rs_devbroker_new(brokers, partitions, port, topics, ntopics,
                              errstr, sizeof(errstr));
        if (!db) {
                fprintf(stderr, "recstream: dev-broker: %s\n", errstr);
                return RS_EXIT_FAIL;
        }
        printf("%s\n", rs_devbroker_bootstrap(db));
        fflush(stdout);
        while (!rs_cli_stop) {
                struct timespec tick = {0, 100 * 1000 * 1000};
                nanosleep(&tick, NULL);
                rs_cli_signals_poll("dev-broker");
        }
        rs_devbroker_destroy(db);
        return RS_EXIT_OK;
}
