/* devbroker.h — an embedded Kafka-protocol broker on loopback: librdkafka's
 * mock cluster, for development, demos and tests. Not for production: it
 * keeps only the newest ~100,000 messages / 5 MiB per partition and does
 * not model transactions. */
#ifndef RECSTREAM_DEVBROKER_H
#define RECSTREAM_DEVBROKER_H

#include <stddef.h>

#include "recstream/err.h"

typedef struct rs_devbroker rs_devbroker_t;

/* `brokers` mock brokers; `topics` (each NAME or NAME:PARTITIONS) are
 * created with `partitions` partitions unless they say (others are
 * auto-created with the mock's default). With
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

/* Fault injection: applies one command line (no newline needed) to the
 * cluster, at once (a broker taken down has closed its connections when
 * this returns). BROKER is an id from 1 to the broker count, or `all`:
 *
 *   down BROKER                  disconnect, refuse connections (its
 *                                partitions keep it as their leader)
 *   up BROKER                    accept connections again
 *   rtt BROKER MS                delay every response MS ms (0: none)
 *   errors APIKEY COUNT ERR [ID] the next COUNT requests of APIKEY fail
 *                                with ERR: from any client, to any broker
 *                                or to broker ID only
 *   pending APIKEY ID            how many of broker ID's errors are left
 *   clear APIKEY                 drop the cluster's errors left for APIKEY
 *   leader TOPIC PARTITION ID    move a partition's leader (-1: none)
 *   coordinator group|transaction KEY ID   pin a coordinator
 *
 * APIKEY is a Kafka request name (Produce, Fetch, ListOffsets, Metadata,
 * OffsetCommit, OffsetFetch, FindCoordinator, JoinGroup, Heartbeat,
 * LeaveGroup, SyncGroup, ApiVersions, InitProducerId) or its number; ERR
 * is a librdkafka error name as rd_kafka_err2name spells it (any case:
 * NOT_LEADER_FOR_PARTITION, alias NOT_LEADER_OR_FOLLOWER;
 * REQUEST_TIMED_OUT; _TRANSPORT closes the connection) or its number.
 * RS_OK with out holding the answer's value ("" but for pending: the
 * count); RS_ERR_INVALID for a malformed command, RS_ERR_KAFKA when the
 * cluster refuses it, with out saying why. The line is borrowed. */
rs_err_t rs_devbroker_command(rs_devbroker_t *db, const char *line, char *out,
                              size_t out_size);

#endif
