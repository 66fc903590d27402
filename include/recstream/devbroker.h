/* devbroker.h — an embedded Kafka-protocol broker on loopback: librdkafka's
 * mock cluster, for development, demos and tests. Not for production: it
 * keeps only the newest ~100,000 messages / 5 MiB per partition and does
 * not model transactions. */
#ifndef RECSTREAM_DEVBROKER_H
#define RECSTREAM_DEVBROKER_H

#include <stddef.h>

typedef struct rs_devbroker rs_devbroker_t;

/* `brokers` mock brokers; `topics` are created with `partitions`
 * partitions (others are auto-created with the mock's default). With
 * port > 0 the bootstrap address is 127.0.0.1:port, forwarded to the first
 * broker. Caller owns; NULL on failure with errstr. */
rs_devbroker_t *rs_devbroker_new(int brokers, int partitions, int port,
                                 const char *const *topics, size_t ntopics,
                                 char *errstr, size_t errstr_size);
void rs_devbroker_destroy(rs_devbroker_t *db);
/* "host:port,..." for bootstrap.servers; owned by db. */
const char *rs_devbroker_bootstrap(const rs_devbroker_t *db);
/* Creates `topic` with `partitions` partitions (0: the broker's default). */
int rs_devbroker_create_topic(rs_devbroker_t *db, const char *topic,
                              int partitions);

#endif
