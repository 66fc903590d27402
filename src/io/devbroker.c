/* devbroker.c — librdkafka's mock cluster, plus an optional fixed-port
 * forwarder: librdkafka 2.0's mock brokers listen on ephemeral ports, so
 * `--port` accepts on 127.0.0.1:port and relays each connection to broker
 * 1. Clients bootstrap there; metadata then names the brokers' own
 * addresses, which are on loopback too. rs_devbroker_command drives the
 * mock's fault injection. */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "recstream/devbroker.h"
#include "recstream/err.h"

#define MAX_CONNS 64

struct rs_devbroker {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        int brokers, partitions;
        char bootstrap[512];
        /* forwarder */
        int listen_fd, wake[2];
        struct sockaddr_in target;
        pthread_t thread;
        int running;
};

static int connect_target(const struct sockaddr_in *sin)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin))) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Copies what is readable on `from` to `to`; -1 when either side closed. */
static int relay(int from, int to)
{
        char buf[65536];
        ssize_t n = read(from, buf, sizeof(buf));

        if (n <= 0)
                return -1;
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t)(n - off));
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                off += w;
        }
        return 0;
}

static void *forwarder(void *arg)
{
        rs_devbroker_t *db = arg;
        struct pollfd fds[2 + 2 * MAX_CONNS];
        int pairs[MAX_CONNS][2];
        int npairs = 0;

        for (;;) {
                int n = 0;
                fds[n++] = (struct pollfd){db->wake[0], POLLIN, 0};
                fds[n++] = (struct pollfd){db->listen_fd, POLLIN, 0};
                for (int i = 0; i < npairs; i++) {
                        fds[n++] = (struct pollfd){pairs[i][0], POLLIN, 0};
                        fds[n++] = (struct pollfd){pairs[i][1], POLLIN, 0};
                }
                if (poll(fds, (nfds_t)n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (fds[0].revents)
                        break;
                for (int i = npairs - 1; i >= 0; i--) {
                        short a = fds[2 + 2 * i].revents;
                        short b = fds[3 + 2 * i].revents;
                        if ((a && relay(pairs[i][0], pairs[i][1])) ||
                            (b && relay(pairs[i][1], pairs[i][0]))) {
                                close(pairs[i][0]);
                                close(pairs[i][1]);
                                pairs[i][0] = pairs[npairs - 1][0];
                                pairs[i][1] = pairs[npairs - 1][1];
                                npairs--;
                        }
                }
                if (fds[1].revents & POLLIN) {
                        int c = accept(db->listen_fd, NULL, NULL);
                        if (c < 0)
                                continue;
                        int t = npairs < MAX_CONNS ? connect_target(&db->target)
                                                   : -1;
                        if (t < 0) {
                                close(c);
                                continue;
                        }
                        pairs[npairs][0] = c;
                        pairs[npairs][1] = t;
                        npairs++;
                }
        }
        for (int i = 0; i < npairs; i++) {
                close(pairs[i][0]);
                close(pairs[i][1]);
        }
        return NULL;
}

static int start_forwarder(rs_devbroker_t *db, int port, char *errstr,
                           size_t errstr_size)
{
        const char *boot = rd_kafka_mock_cluster_bootstraps(db->mc);
        char host[256];
        int tport, one = 1;
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

        /* The first bootstrap entry, "host:port". */
        if (sscanf(boot, "%255[^:]:%d", host, &tport) != 2)
                return rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                                 "unexpected mock bootstrap '%s'", boot);
        db->target = (struct sockaddr_in){.sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)tport)};
        inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1",
                  &db->target.sin_addr);

        db->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (db->listen_fd < 0 ||
            setsockopt(db->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
                       sizeof(one)) ||
            bind(db->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) ||
            listen(db->listen_fd, 64))
                return rs_seterr(errstr, errstr_size, RS_ERR_IO,
                                 "cannot listen on 127.0.0.1:%d: %s", port,
                                 strerror(errno));
        if (pipe(db->wake))
                return rs_seterr(errstr, errstr_size, RS_ERR_IO, "pipe: %s",
                                 strerror(errno));
        if (pthread_create(&db->thread, NULL, forwarder, db))
                return rs_seterr(errstr, errstr_size, RS_ERR_IO,
                                 "cannot start the forwarder");
        db->running = 1;
        snprintf(db->bootstrap, sizeof(db->bootstrap), "127.0.0.1:%d", port);
        return RS_OK;
}

rs_devbroker_t *rs_devbroker_new(int brokers, int partitions, int port,
                                 const char *const *topics, size_t ntopics,
                                 char *errstr, size_t errstr_size)
{
        rs_devbroker_t *db = calloc(1, sizeof(*db));
        rd_kafka_conf_t *conf;

        if (!db) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        db->listen_fd = db->wake[0] = db->wake[1] = -1;
        db->brokers = brokers;
        db->partitions = partitions;
        /* The mock cluster needs a client instance for its bookkeeping. */
        conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        if (!(db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
                                    errstr_size))) {
                rd_kafka_conf_destroy(conf);
                goto fail;
        }
        if (!(db->mc = rd_kafka_mock_cluster_new(db->rk, brokers))) {
                rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                          "cannot start the mock cluster");
                goto fail;
        }
        snprintf(db->bootstrap, sizeof(db->bootstrap), "%s",
                 rd_kafka_mock_cluster_bootstraps(db->mc));
        for (size_t i = 0; i < ntopics; i++) {
                /* NAME or NAME:PARTITIONS */
                char name[256];
                const char *colon = strrchr(topics[i], ':');
                int n = partitions;
                size_t len =
                        colon ? (size_t)(colon - topics[i]) : strlen(topics[i]);
                if (colon && (n = atoi(colon + 1)) <= 0)
                        n = -1;
                if (len >= sizeof(name) || n < 0) {
                        rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                  "bad topic '%s' (NAME or NAME:PARTITIONS)",
                                  topics[i]);
                        goto fail;
                }
                memcpy(name, topics[i], len);
                name[len] = '\0';
                if (rs_devbroker_create_topic(db, name, n)) {
                        rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                                  "cannot create topic %s", name);
                        goto fail;
                }
        }
        if (port > 0 && start_forwarder(db, port, errstr, errstr_size))
                goto fail;
        return db;
fail:
        rs_devbroker_destroy(db);
        return NULL;
}

void rs_devbroker_destroy(rs_devbroker_t *db)
{
        if (!db)
                return;
        if (db->running) {
                if (write(db->wake[1], "x", 1) < 0) {
                        /* the thread also ends when the pipe closes */
                }
                pthread_join(db->thread, NULL);
        }
        if (db->listen_fd >= 0)
                close(db->listen_fd);
        if (db->wake[0] >= 0) {
                close(db->wake[0]);
                close(db->wake[1]);
        }
        if (db->mc)
                rd_kafka_mock_cluster_destroy(db->mc);
        if (db->rk)
                rd_kafka_destroy(db->rk);
        free(db);
}

const char *rs_devbroker_bootstrap(const rs_devbroker_t *db)
{
        return db->bootstrap;
}

int rs_devbroker_create_topic(rs_devbroker_t *db, const char *topic,
                              int partitions)
{
        if (partitions <= 0)
                partitions = db->partitions > 0 ? db->partitions : 4;
        return rd_kafka_mock_topic_create(db->mc, topic, partitions,
                                          db->brokers < 3 ? db->brokers : 3)
                       ? -1
                       : 0;
}

/*
 * Fault injection (rs_devbroker_command).
 */

#define MAX_WORDS 6

/* The Kafka requests whose faults matter to a client, by protocol key. */
static const struct api_key {
        const char *name;
        int16_t key;
} api_keys[] = {
        {"Produce", 0},          {"Fetch", 1},
        {"ListOffsets", 2},      {"Metadata", 3},
        {"OffsetCommit", 8},     {"OffsetFetch", 9},
        {"FindCoordinator", 10}, {"JoinGroup", 11},
        {"Heartbeat", 12},       {"LeaveGroup", 13},
        {"SyncGroup", 14},       {"ApiVersions", 18},
        {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
        {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
        {"TxnOffsetCommit", 28}, {NULL, 0},
};

/* Kafka's names for errors that librdkafka 2.0 knows by older ones. */
static const struct err_alias {
        const char *name, *is;
} err_aliases[] = {
        {"NOT_LEADER_OR_FOLLOWER", "NOT_LEADER_FOR_PARTITION"},
        {"UNKNOWN_TOPIC_OR_PARTITION", "UNKNOWN_TOPIC_OR_PART"},
        {NULL, NULL},
};

/* A whole decimal number within [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *v)
{
        char *end;

        errno = 0;
        *v = strtol(s, &end, 10);
        return end == s || *end || errno || *v < lo || *v > hi ? -1 : 0;
}

static int parse_api_key(const char *s, int16_t *key)
{
        long v;

        for (const struct api_key *a = api_keys; a->name; a++)
                if (!strcasecmp(s, a->name)) {
                        *key = a->key;
                        return 0;
                }
        if (parse_long(s, 0, INT16_MAX, &v))
                return -1;
        *key = (int16_t)v;
        return 0;
}

static int parse_err(const char *s, rd_kafka_resp_err_t *err)
{
        const struct rd_kafka_err_desc *descs;
        size_t n;
        long v;

        for (const struct err_alias *a = err_aliases; a->name; a++)
                if (!strcasecmp(s, a->name))
                        s = a->is;
        rd_kafka_get_err_descs(&descs, &n);
        for (size_t i = 0; i < n; i++)
                if (descs[i].name && descs[i].code &&
                    !strcasecmp(s, descs[i].name)) {
                        *err = descs[i].code;
                        return 0;
                }
        if (parse_long(s, RD_KAFKA_RESP_ERR__BEGIN + 1,
                       RD_KAFKA_RESP_ERR_END_ALL - 1, &v) ||
            !v)
                return -1;
        *err = (rd_kafka_resp_err_t)v;
        return 0;
}

/* A broker id of the cluster, or -1 for `all`. */
static int parse_broker(const rs_devbroker_t *db, const char *s, int32_t *id)
{
        long v;

        if (!strcasecmp(s, "all")) {
                *id = -1;
                return 0;
        }
        if (parse_long(s, 1, db->brokers, &v))
                return -1;
        *id = (int32_t)v;
        return 0;
}

rs_err_t rs_devbroker_command(rs_devbroker_t *db, const char *line, char *out,
                              size_t out_size)
{
        if (out_size)
                out[0] = '\0';
        char buf[512], *save = NULL, *w[MAX_WORDS + 1];
        int n = 0;
        int32_t id = -1;
        int16_t key;
        long v, cnt;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR, kerr;

        if (strlen(line) >= sizeof(buf))
                return rs_seterr(out, out_size, RS_ERR_INVALID,
                                 "command longer than %zu bytes",
                                 sizeof(buf) - 1);
        snprintf(buf, sizeof(buf), "%s", line);
        for (char *t = strtok_r(buf, " \t\r\n", &save); t && n <= MAX_WORDS;
             t = strtok_r(NULL, " \t\r\n", &save))
                w[n++] = t;
        if (n == 0)
                return rs_seterr(out, out_size, RS_ERR_INVALID,
                                 "empty command");
        if (n > MAX_WORDS)
                goto usage;

        if (!strcmp(w[0], "down") || !strcmp(w[0], "up")) {
                if (n != 2)
                        goto usage;
                if (parse_broker(db, w[1], &id))
                        goto bad_broker;
                err = w[0][0] == 'd' ? rd_kafka_mock_broker_set_down(db->mc, id)
                                     : rd_kafka_mock_broker_set_up(db->mc, id);
        } else if (!strcmp(w[0], "rtt")) {
                if (n != 3)
                        goto usage;
                if (parse_broker(db, w[1], &id))
                        goto bad_broker;
                if (parse_long(w[2], 0, 3600000, &v))
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "rtt: '%s' is not a number of "
                                         "milliseconds from 0 to 3600000",
                                         w[2]);
                err = rd_kafka_mock_broker_set_rtt(db->mc, id, (int)v);
        } else if (!strcmp(w[0], "errors")) {
                rd_kafka_resp_err_t errs[1000];
                long rtt = 0;
                if (n < 4 || n > 6)
                        goto usage;
                if (n >= 5 && (parse_broker(db, w[4], &id) || id < 0))
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "errors: no broker '%s' (1 to %d)",
                                         w[4], db->brokers);
                if (n == 6 && parse_long(w[5], 0, 3600000, &rtt))
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "errors: '%s' is not a number of "
                                         "milliseconds from 0 to 3600000",
                                         w[5]);
                if (parse_api_key(w[1], &key))
                        goto bad_key;
                if (parse_long(w[2], 1, 1000, &cnt))
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "errors: '%s' is not a count from 1 "
                                         "to 1000",
                                         w[2]);
                if (parse_err(w[3], &kerr))
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "errors: unknown error '%s' (a name "
                                         "as rd_kafka_err2name spells it, "
                                         "or its number)",
                                         w[3]);
                for (long i = 0; i < cnt; i++)
                        errs[i] = kerr;
                if (n == 4)
                        rd_kafka_mock_push_request_errors_array(
                                db->mc, key, (size_t)cnt, errs);
                for (long i = 0; n >= 5 && i < cnt && !err; i++)
                        err = rd_kafka_mock_broker_push_request_error_rtts(
                                db->mc, id, key, 1, kerr, (int)rtt);
        } else if (!strcmp(w[0], "pending")) {
                size_t left = 0;
                if (n != 3)
                        goto usage;
                if (parse_api_key(w[1], &key))
                        goto bad_key;
                if (parse_broker(db, w[2], &id) || id < 0)
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "pending: no broker '%s' (1 to %d)",
                                         w[2], db->brokers);
                err = rd_kafka_mock_broker_error_stack_cnt(db->mc, id, key,
                                                           &left);
                if (!err)
                        snprintf(out, out_size, "%zu", left);
        } else if (!strcmp(w[0], "clear")) {
                if (n != 2)
                        goto usage;
                if (parse_api_key(w[1], &key))
                        goto bad_key;
                rd_kafka_mock_clear_request_errors(db->mc, key);
        } else if (!strcmp(w[0], "leader")) {
                if (n != 4)
                        goto usage;
                if (parse_long(w[2], 0, INT32_MAX, &v))
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "leader: '%s' is not a partition",
                                         w[2]);
                if (!strcmp(w[3], "-1"))
                        id = -1; /* leaderless */
                else if (parse_broker(db, w[3], &id) || id < 0)
                        goto bad_broker;
                err = rd_kafka_mock_partition_set_leader(db->mc, w[1],
                                                         (int32_t)v, id);
        } else if (!strcmp(w[0], "coordinator")) {
                if (n != 4)
                        goto usage;
                if (strcmp(w[1], "group") && strcmp(w[1], "transaction"))
                        return rs_seterr(out, out_size, RS_ERR_INVALID,
                                         "coordinator: 'group' or "
                                         "'transaction', not '%s'",
                                         w[1]);
                if (parse_broker(db, w[3], &id) || id < 0)
                        goto bad_broker;
                err = rd_kafka_mock_coordinator_set(db->mc, w[1], w[2], id);
        } else {
                return rs_seterr(out, out_size, RS_ERR_INVALID,
                                 "unknown command '%s' (down, up, rtt, "
                                 "errors, pending, clear, leader, "
                                 "coordinator)",
                                 w[0]);
        }
        if (err)
                return rs_seterr(out, out_size, RS_ERR_KAFKA, "%s: %s", w[0],
                                 rd_kafka_err2str(err));
        return RS_OK;
usage:
        return rs_seterr(out, out_size, RS_ERR_INVALID,
                         "%s: wrong number of arguments", w[0]);
bad_broker:
        return rs_seterr(out, out_size, RS_ERR_INVALID,
                         "%s: no broker '%s' (1 to %d, or all)", w[0],
                         n > 3 ? w[3] : w[1], db->brokers);
bad_key:
        return rs_seterr(out, out_size, RS_ERR_INVALID,
                         "%s: unknown request '%s' (Produce, Fetch, "
                         "ListOffsets, Metadata, OffsetCommit, OffsetFetch, "
                         "FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, "
                         "SyncGroup, ApiVersions, InitProducerId, "
                         "AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, "
                         "TxnOffsetCommit, or a number)",
                         w[0], w[1]);
}
