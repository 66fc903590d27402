/* devbroker.c — `recstream dev-broker`. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "recstream/devbroker.h"
#include "recstream/log.h"

static const rs_cmd_info_t devbroker_cmd = {
        .name = "dev-broker",
        .synopsis = "[--brokers N] [--partitions P] [--port PORT]"
                    "\n       [--topic NAME[:PARTITIONS]]...",
        .about =
                "Runs librdkafka's mock cluster on 127.0.0.1 until "
                "SIGINT/SIGTERM and prints\nits bootstrap address on "
                "stdout. --topic (repeatable) creates topics with P\n"
                "partitions or its own (default what pipelines/video.yaml "
                "needs:\nvideo.behavior, video.recs, "
                "video.users-changelog, and video.cooc-deltas,\n"
                "video.item-neighbors and video.items-changelog with 6, "
                "its\ntopology.partitions: the mock answers no "
                "CreateTopics); others are\nauto-created with P.\n\n"
                "Fault injection: each line on stdin is one command, answered "
                "on\n"
                "stdout with one line, `ok` or `error: WHY`, once it took "
                "effect.\n"
                "BROKER is an id from 1 to N, or all:\n"
                "  down BROKER             disconnect it, refuse connections "
                "(its\n"
                "                          partitions keep it as leader)\n"
                "  up BROKER               accept connections again\n"
                "  rtt BROKER MS           delay each of its responses MS ms "
                "(0: "
                "none)\n"
                "  errors APIKEY COUNT ERR [ID [MS]]  the next COUNT APIKEY "
                "requests\n"
                "                          (any client; to any broker, or to "
                "broker ID)\n"
                "                          fail with ERR, answered MS ms late "
                "(ID only)\n"
                "  pending APIKEY ID       answers `ok N`: broker ID's errors "
                "left\n"
                "  clear APIKEY            drop the cluster's errors left for "
                "APIKEY\n"
                "  leader TOPIC PARTITION BROKER   move a leader (-1: none)\n"
                "  coordinator group|transaction KEY BROKER   pin a "
                "coordinator\n"
                "APIKEY: Produce, Fetch, ListOffsets, Metadata, OffsetCommit,\n"
                "OffsetFetch, FindCoordinator, JoinGroup, Heartbeat, "
                "LeaveGroup,\n"
                "SyncGroup, ApiVersions, InitProducerId, or a number. ERR: a\n"
                "librdkafka error name (rd_kafka_err2name: "
                "NOT_LEADER_FOR_PARTITION\n"
                "alias NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, _TRANSPORT "
                "drops\n"
                "the connection, ...) or its number. Example:\n"
                "  errors Produce 5 NOT_LEADER_OR_FOLLOWER\n"
                "At the end of stdin (closed, /dev/null, or a background "
                "job's\n"
                "terminal) the broker goes on without commands.\n",
        .signals = "SIGINT, SIGTERM  stop the cluster, exit 0\n"
                   "SIGHUP           logged and ignored",
        .exits = "0  stopped by a signal\n"
                 "1  the cluster could not start (e.g. PORT is taken)\n"
                 "2  usage error",
};

typedef struct topics {
        const char *v[32];
        size_t n;
        int own; /* a --topic was given: the defaults are dropped */
} topics_t;

static int opt_topic(const char *arg, void *dst, char *why, size_t why_size)
{
        topics_t *t = dst;

        if (!t->own++)
                t->n = 0;
        if (t->n == sizeof(t->v) / sizeof(t->v[0])) {
                snprintf(why, why_size, "more than %zu topics",
                         sizeof(t->v) / sizeof(t->v[0]));
                return -1;
        }
        t->v[t->n++] = arg;
        return 0;
}

/* Commands read from stdin, one a line. */
typedef struct control {
        char line[512]; /* as long as rs_devbroker_command takes */
        size_t len;
        int skipping; /* the rest of an overlong line */
        int open;     /* stdin is still read */
} control_t;

static void answer(rs_devbroker_t *db, const char *line)
{
        char out[512];

        if (rs_devbroker_command(db, line, out, sizeof(out))) {
                printf("error: %s\n", out);
                rs_log(RS_LOG_WARNING,
                       "component=dev-broker event=command_failed "
                       "command=\"%s\" reason=\"%s\"",
                       line, out);
        } else {
                printf(*out ? "ok %s\n" : "ok\n", out);
                rs_log(RS_LOG_NOTICE,
                       "component=dev-broker event=command command=\"%s\"",
                       line);
        }
        fflush(stdout);
}

/* Reads what stdin has and answers each whole line. */
static void control_read(control_t *ctl, rs_devbroker_t *db)
{
        char buf[512];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) { /* end of input, or EIO: a background job's tty */
                ctl->open = 0;
                return;
        }
        for (ssize_t i = 0; i < n; i++) {
                if (buf[i] != '\n') {
                        if (ctl->len < sizeof(ctl->line) - 1)
                                ctl->line[ctl->len++] = buf[i];
                        else
                                ctl->skipping = 1;
                        continue;
                }
                ctl->line[ctl->len] = '\0';
                if (ctl->skipping) {
                        printf("error: command longer than %zu bytes\n",
                               sizeof(ctl->line) - 1);
                        fflush(stdout);
                } else {
                        answer(db, ctl->line);
                }
                ctl->len = 0;
                ctl->skipping = 0;
        }
}

int rs_cmd_devbroker(int argc, char **argv)
{
        /* what pipelines/video.yaml needs, its internal topics with
         * topology.partitions (6) partitions */
        topics_t topics = {.v = {"video.behavior", "video.recs",
                                 "video.users-changelog", "video.cooc-deltas:6",
                                 "video.item-neighbors:6",
                                 "video.items-changelog:6"},
                           .n = 6};
        int64_t brokers = 1, partitions = 4, port = 0;
        const rs_opt_t opts[] = {
                {.name = "brokers",
                 .kind = RS_OPT_INT,
                 .dst = &brokers,
                 .arg = "N",
                 .min = 1,
                 .max = 16,
                 .doc = "brokers in the cluster, 1 to 16 (default 1)"},
                {.name = "partitions",
                 .kind = RS_OPT_INT,
                 .dst = &partitions,
                 .arg = "P",
                 .min = 1,
                 .max = 1000,
                 .doc = "partitions of created topics, 1 to 1000 (default "
                        "4)"},
                {.name = "port",
                 .kind = RS_OPT_INT,
                 .dst = &port,
                 .arg = "PORT",
                 .min = 0,
                 .max = 65535,
                 .doc = "the first broker's port (default 0: any free one)"},
                {.name = "topic",
                 .kind = RS_OPT_FN,
                 .dst = &topics,
                 .fn = opt_topic,
                 .arg = "NAME[:PARTITIONS]",
                 .doc = "a topic to create (repeatable)"},
                {.name = NULL}};
        char errstr[512];
        rs_devbroker_t *db;
        int r = rs_cli_parse(&devbroker_cmd, opts, argc, argv);

        if (r)
                return RS_CLI_EXIT(r);
        rs_cli_on_signals();
        db = rs_devbroker_new((int)brokers, (int)partitions, (int)port,
                              topics.v, topics.n, errstr, sizeof(errstr));
        if (!db) {
                fprintf(stderr, "recstream: dev-broker: %s\n", errstr);
                return RS_EXIT_FAIL;
        }
        printf("%s\n", rs_devbroker_bootstrap(db));
        fflush(stdout);
        /* A background job reading its terminal gets EIO, not stopped. */
        signal(SIGTTIN, SIG_IGN);
        control_t ctl = {.open = 1};
        while (!rs_cli_stop) {
                struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
                int n = poll(&pfd, ctl.open ? 1 : 0, 100);
                if (n > 0 && (pfd.revents & POLLNVAL))
                        ctl.open = 0; /* stdin closed */
                else if (n > 0)
                        control_read(&ctl, db);
                rs_cli_signals_poll("dev-broker");
        }
        rs_devbroker_destroy(db);
        return RS_EXIT_OK;
}
