/* devbroker.c — librdkafka's mock cluster, plus an optional fixed-port
 * forwarder: librdkafka 2.0's mock brokers listen on ephemeral ports, so
 * `--port` accepts on 127.0.0.1:port and relays each connection to broker
 * 1. Clients bootstrap there; metadata then names the brokers' own
 * addresses, which are on loopback too. */
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
        for (size_t i = 0; i < ntopics; i++)
                if (rs_devbroker_create_topic(db, topics[i], partitions)) {
                        rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                                  "cannot create topic %s", topics[i]);
                        goto fail;
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
