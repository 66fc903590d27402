/* pipeline.h — a validated pipeline definition, loaded from YAML.
 *
 * rs_pipeline_load() checks everything a run needs before a single record
 * is consumed: every key and value, every librdkafka property (at its own
 * line and column; those recstream sets itself are refused), the whole
 * configuration of every Kafka client as librdkafka builds it, every
 * writer schema file, every stage's settings. */
#ifndef RECSTREAM_PIPELINE_H
#define RECSTREAM_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/config.h"
#include "recstream/stage.h"

enum { RS_OFFSET_EARLIEST, RS_OFFSET_LATEST };

/* Lengths of the pipeline's lists (property table bounds, docs/pipeline.md). */
#define RS_MAX_TOPICS         256 /* source.topics */
#define RS_MAX_STAGES         64  /* stages */
#define RS_MAX_WRITER_SCHEMAS 64  /* source.writer_schemas */
#define RS_MAX_KAFKA_PROPS                                                     \
        256 /* keys of each kafka: map (librdkafka                             \
               2.0 has about 170 properties) */

typedef struct rs_writer_schema {
        const char *file; /* as written in the YAML */
        char *json;       /* the file's text (owned by the pipeline doc) */
        size_t len;
        int32_t id; /* Confluent id, -1 when none */
} rs_writer_schema_t;

typedef struct rs_source_conf {
        rs_strings_t topics;
        const char *group;
        int framing; /* rs_framing_t */
        int64_t schema_id;
        const rs_node_t *writer_schemas;
        int64_t batch_size;
        int64_t poll_timeout; /* ms */
        int auto_offset_reset;
        int64_t max_inflight_batches;
        int64_t max_id_bytes; /* longer ids are dead letters */
        rs_kv_list_t kafka;   /* consumer-only librdkafka properties */
        /* derived */
        rs_writer_schema_t *writers;
        size_t nwriters;
} rs_source_conf_t;

typedef struct rs_sink_conf {
        const char *topic;
        const char *framing_name; /* NULL: the source's framing */
        int framing;              /* rs_framing_t, resolved */
        int64_t schema_id;
        int64_t flush_timeout; /* ms, on shutdown */
        rs_kv_list_t kafka;    /* producer-only librdkafka properties */
} rs_sink_conf_t;

typedef struct rs_items_conf {
        const char *topic;        /* NULL: no ItemMeta topic */
        const char *framing_name; /* NULL: the source's framing */
        int framing;              /* rs_framing_t, resolved */
        int64_t schema_id;
        int64_t embedding_dim;
        int64_t max_items;
        rs_kv_list_t kafka;
} rs_items_conf_t;

enum { RS_ROLE_ALL, RS_ROLE_USERS, RS_ROLE_ITEMS };

/* The two sides and the topics between them (DESIGN §3). */
typedef struct rs_topology_conf {
        int role;                    /* RS_ROLE_* */
        int64_t partitions;          /* of the cooc-deltas topic */
        const char *deltas_topic;    /* default <name>.cooc-deltas */
        const char *neighbors_topic; /* default <name>.item-neighbors */
        const char *items_group;     /* default <name>.items */
        int64_t max_neighbor_items;  /* the neighbour table's bound */
        int64_t settle_after;        /* ms without deltas before a settle */
} rs_topology_conf_t;

/* State that survives (DESIGN §3, issue 11). A state_dir leaves room in
 * a path for its files' names. */
#define RS_STATE_DIR_MAX 3800
typedef struct rs_state_conf {
        int changelog;               /* write and restore changelogs */
        const char *users_topic;     /* default <name>.users-changelog */
        const char *items_topic;     /* default <name>.items-changelog */
        int64_t commit_interval;     /* ms between commits */
        int64_t restore_timeout;     /* ms a partition's restore may take */
        const char *state_dir;       /* local checkpoints; NULL: none */
        int64_t checkpoint_interval; /* ms between checkpoints */
        /* exactly_once: the producer's transactional.id (NULL: derived
         * per process by the worker) */
        const char *transactional_id;
} rs_state_conf_t;

enum { RS_GUARANTEE_AT_LEAST_ONCE, RS_GUARANTEE_EXACTLY_ONCE };

/* How outputs, state and offsets are committed (README *Reliability*). */
typedef struct rs_processing_conf {
        int guarantee; /* RS_GUARANTEE_* */
} rs_processing_conf_t;

typedef struct rs_dlq_conf {
        int enabled;
        const char *topic; /* NULL: `<source topic>.dlq` for each topic */
} rs_dlq_conf_t;

/* The HTTP port: metrics, health, readiness (README "Operating"). */
typedef struct rs_http_conf {
        int64_t port;     /* 0: no HTTP port */
        const char *bind; /* address to listen on */
} rs_http_conf_t;

/* The process's log channel (set by `run` from the file). */
typedef struct rs_log_conf {
        int level;               /* syslog level, RS_LOG_* */
        const char *kafka_debug; /* librdkafka `debug` contexts, "" none */
} rs_log_conf_t;

typedef struct rs_stage_def {
        const rs_stage_ops_t *ops;
        void *conf; /* ops->conf_size bytes, owned by the pipeline */
} rs_stage_def_t;

typedef struct rs_pipeline {
        rs_doc_t *doc;
        const char *file;
        const char *name;
        char hash[17];      /* hex of the file text's 64-bit hash */
        rs_kv_list_t kafka; /* librdkafka properties of every client */
        rs_source_conf_t source;
        rs_sink_conf_t sink;
        rs_items_conf_t items;
        rs_dlq_conf_t dlq;
        rs_topology_conf_t topology;
        rs_state_conf_t state;
        rs_http_conf_t http;
        rs_log_conf_t log;
        rs_processing_conf_t processing;
        int64_t shutdown_timeout; /* ms: the whole drain on SIGTERM */
        rs_stage_def_t *stages;
        size_t nstages;
} rs_pipeline_t;

/* Loads and validates `path`, and the files it names, reading at most
 * max_bytes of each (0: RS_CONFIG_MAX_BYTES). NULL with every error in d.
 * Caller owns. */
rs_pipeline_t *rs_pipeline_load(const char *path, size_t max_bytes,
                                rs_diag_t *d);
/* The same from YAML text (writer schema files relative to "."), but
 * without rs_pipeline_check_clients; errors name d->file, which must
 * outlive the pipeline. Caller owns. */
rs_pipeline_t *rs_pipeline_parse(const char *text, size_t len, rs_diag_t *d);
/* Errors into d for each Kafka client `run` makes, whatever the role (the
 * input's and the deltas' consumers, the producer, the catalog, neighbour
 * and changelog readers, the admin client), whose configuration librdkafka
 * refuses when it makes the client (rs_kafka_check): at the value of the
 * property its message names, when the file sets one, else at the kafka
 * map. rs_pipeline_load runs it once every property is valid alone. */
void rs_pipeline_check_clients(const rs_pipeline_t *pl, rs_diag_t *d);
void rs_pipeline_destroy(rs_pipeline_t *pl);
/* What only the machine a worker runs on can say (state.state_dir is a
 * writable directory), reported into d at the key: RS_ERR_INVALID. */
rs_err_t rs_pipeline_check_run(const rs_pipeline_t *pl, rs_diag_t *d);

/* Whether next differs from cur only in settings a live reload may change
 * (RS_PROP_RELOAD: weights, scoring, diversity, refresh): 0, or -1 with
 * the first key that needs a restart (e.g. "source.topics") in why. */
int rs_pipeline_reloadable(const rs_pipeline_t *cur, const rs_pipeline_t *next,
                           char *why, size_t why_size);

/* The conf of the pipeline's first stage of `type`, or NULL. */
const void *rs_pipeline_stage_conf(const rs_pipeline_t *pl, const char *type);
/* Whether the pipeline has an item side (a cooccur stage). */
int rs_pipeline_has_items(const rs_pipeline_t *pl);

/* Markdown reference of every section and stage, for `recstream doc`,
 * appended to b. `shipped` (may be NULL) is the root of the pipeline file
 * at `shipped_path` to compare with: the values it sets other than the
 * defaults are noted. Borrows both. */
void rs_pipeline_doc(const rs_node_t *shipped, const char *shipped_path,
                     rs_buf_t *b);

#endif
