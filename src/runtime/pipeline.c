/* pipeline.c — the pipeline file: sections, property tables, validation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <strings.h>

#include "recstream/codec.h"
#include "recstream/hash.h"
#include "recstream/intern.h"
#include "recstream/kafka.h"
#include "recstream/log.h"
#include "recstream/pipeline.h"

typedef struct top {
        const char *name;
        const char *description;
        rs_kv_list_t kafka;
        int64_t shutdown_timeout;
        const rs_node_t *source, *stages, *sink, *items, *dlq, *topology;
        const rs_node_t *state, *http, *log, *processing;
} top_t;

static const char *const framings[] = {"plain", "confluent", "single-object",
                                       NULL};
static const char *const offset_resets[] = {"earliest", "latest", NULL};

#define TOP(f) offsetof(top_t, f)
static const rs_prop_t top_props[] = {
        {"name", RS_PROP_STRING, TOP(name), NULL, 0, -1, NULL, RS_PROP_REQUIRED,
         "Pipeline name: prefixes its consumer groups and internal topics, "
         "and is written into every UserRecs."},
        {"description", RS_PROP_STRING, TOP(description), "", 0, -1, NULL, 0,
         "Free text for people."},
        {"kafka", RS_PROP_KAFKA, TOP(kafka), NULL, 0, RS_MAX_KAFKA_PROPS, NULL,
         0,
         "librdkafka properties for every client (bootstrap.servers, "
         "security); passed through unchanged, but for those recstream "
         "sets itself (group.id, auto.offset.reset, enable.auto.commit, "
         "enable.auto.offset.store, enable.partition.eof, "
         "enable.idempotence, transactional.id), which are refused."},
        {"source", RS_PROP_NODE, TOP(source), NULL, 0, -1, NULL,
         RS_PROP_REQUIRED, "Where events come from (see source)."},
        {"stages", RS_PROP_NODE, TOP(stages), NULL, 0, RS_MAX_STAGES, NULL,
         RS_PROP_REQUIRED,
         "The processing stages, in order, each with a "
         "`type:`."},
        {"sink", RS_PROP_NODE, TOP(sink), NULL, 0, -1, NULL, RS_PROP_REQUIRED,
         "Where recommendations go (see sink)."},
        {"items", RS_PROP_NODE, TOP(items), NULL, 0, -1, NULL, 0,
         "Optional ItemMeta topic: categories, durations, embeddings, "
         "removals (see items)."},
        {"topology", RS_PROP_NODE, TOP(topology), NULL, 0, -1, NULL, 0,
         "The two sides and the topics between them (see topology)."},
        {"state", RS_PROP_NODE, TOP(state), NULL, 0, -1, NULL, 0,
         "What survives restarts and rebalances: changelog topics and the "
         "commit interval (see state)."},
        {"processing", RS_PROP_NODE, TOP(processing), NULL, 0, -1, NULL, 0,
         "How outputs, state and offsets are committed: at-least-once or "
         "in Kafka transactions (see processing)."},
        {"dlq", RS_PROP_NODE, TOP(dlq), NULL, 0, -1, NULL, 0,
         "Where records that cannot be used go, with the reason in their "
         "headers (see dlq)."},
        {"http", RS_PROP_NODE, TOP(http), NULL, 0, -1, NULL, 0,
         "The HTTP port: Prometheus metrics, health and readiness (see "
         "http)."},
        {"log", RS_PROP_NODE, TOP(log), NULL, 0, -1, NULL, 0,
         "Log level and librdkafka debug contexts (see log)."},
        {"shutdown_timeout", RS_PROP_DURATION, TOP(shutdown_timeout), "30s",
         1000, 600000, NULL, 0,
         "On SIGTERM, the whole drain (lists, deliveries, commit, leaving "
         "the group) ends within this; what is not delivered by then is not "
         "committed (exit 1) and is consumed again on restart."},
        {0},
};

#define SRC(f) offsetof(rs_source_conf_t, f)
static const rs_prop_t source_props[] = {
        {"topics", RS_PROP_STRINGS, SRC(topics), "[video.behavior]", 1,
         RS_MAX_TOPICS, NULL, 0,
         "Topics of BehaviorEvent records, keyed by user_id."},
        {"group", RS_PROP_STRING, SRC(group), NULL, 0, -1, NULL, 0,
         "Consumer group id; default `<name>.users`."},
        {"framing", RS_PROP_ENUM, SRC(framing), "plain", 0, -1, framings, 0,
         "Wire format of the records (schemas/README.md)."},
        {"schema_id", RS_PROP_INT, SRC(schema_id), "1", 0, 2147483647, NULL, 0,
         "Confluent schema id of the built-in BehaviorEvent schema."},
        {"writer_schemas", RS_PROP_NODE, SRC(writer_schemas), NULL, 0,
         RS_MAX_WRITER_SCHEMAS, NULL, 0,
         "Other BehaviorEvent versions accepted: a list of `{file, id}` "
         "(file relative to this YAML; id for Confluent framing). With plain "
         "framing the last one is the schema the topic is written with."},
        {"batch_size", RS_PROP_INT, SRC(batch_size), "2000", 1, 100000, NULL, 0,
         "Messages consumed per batch."},
        {"poll_timeout", RS_PROP_DURATION, SRC(poll_timeout), "100ms", 0, 10000,
         NULL, 0, "How long one poll waits for messages."},
        {"auto_offset_reset", RS_PROP_ENUM, SRC(auto_offset_reset), "earliest",
         0, -1, offset_resets, 0,
         "Where a group with no committed offset starts."},
        {"max_inflight_batches", RS_PROP_INT, SRC(max_inflight_batches), "64",
         1, 4096, NULL, 0,
         "Batches whose output may await delivery before polling pauses."},
        {"max_id_bytes", RS_PROP_INT, SRC(max_id_bytes), "256", 1, 65536, NULL,
         0,
         "Bytes of an id (event_id, user_id, item_id, category) at most: a "
         "record with a longer one is dead-lettered (id_too_long), so no "
         "UserRecs can outgrow the producer's message.max.bytes."},
        {"kafka", RS_PROP_KAFKA, SRC(kafka), NULL, 0, RS_MAX_KAFKA_PROPS, NULL,
         0,
         "librdkafka properties for the consumer only (e.g. "
         "queued.min.messages)."},
        {0},
};

static const char *const roles[] = {"all", "users", "items", NULL};

#define STC(f) offsetof(rs_state_conf_t, f)
static const rs_prop_t state_props[] = {
        {"changelog", RS_PROP_BOOL, STC(changelog), "true", 0, -1, NULL, 0,
         "Write each partition's state to its changelog topic at every "
         "commit and restore it when the partition is assigned, before "
         "any of its records is processed. Off: a restart or a "
         "rebalance starts the partition's users cold."},
        {"users_topic", RS_PROP_STRING, STC(users_topic), NULL, 0, -1, NULL, 0,
         "Changelog of the user side (compacted; partition = input "
         "partition; key = user id; schemas/UserState.avsc); default "
         "`<name>.users-changelog`."},
        {"items_topic", RS_PROP_STRING, STC(items_topic), NULL, 0, -1, NULL, 0,
         "Changelog of the item side; default `<name>.items-changelog`."},
        {"commit_interval", RS_PROP_DURATION, STC(commit_interval), "5s", 10,
         600000, NULL, 0,
         "How often offsets are committed: first every output is "
         "delivered, then the state of every user changed since the last "
         "commit is written (one record a user) and delivered, and only "
         "then are the offsets committed, so they never run ahead of "
         "durable state. Shorter: less replayed after a crash, more "
         "changelog records."},
        {"restore_timeout", RS_PROP_DURATION, STC(restore_timeout), "5m", 1000,
         3600000, NULL, 0,
         "A partition's restore that takes longer fails the worker (exit "
         "1): the partition then goes to another replica."},
        {"state_dir", RS_PROP_STRING, STC(state_dir), NULL, 0, -1, NULL, 0,
         "A directory of this machine (it must exist and be writable when "
         "the worker starts) for local checkpoints: one file per "
         "changelog partition owned, `<changelog topic>-<partition>.ckpt`, "
         "with the record of every key and the changelog offset it covers, "
         "written atomically. A restart on the same machine loads the file "
         "and reads only the changelog's tail; a damaged or stale file is "
         "refused (`checkpoint_corrupt`) and the changelog read in full. "
         "Needs `changelog: true`. Unset: no checkpoints."},
        {"checkpoint_interval", RS_PROP_DURATION, STC(checkpoint_interval),
         "1m", 1000, 86400000, NULL, 0,
         "How often, right after a commit, every changed partition's "
         "checkpoint is written (each holds all of its keys: the cost is "
         "the whole state's size); also on revoke and at shutdown."},
        {"transactional_id", RS_PROP_STRING, STC(transactional_id), NULL, 0, -1,
         NULL, 0,
         "With `processing.guarantee: exactly_once`, the producer's "
         "transactional.id; it must be unique per process (replicas with "
         "the same one fence each other), e.g. `${POD_NAME}`. Default: "
         "`<name>.<role>.<host>.<pid>.<start time>`, new at every start: "
         "zombies are fenced by their consumer group generation "
         "(KIP-447), not by the id."},
        {0},
};

static const char *const guarantees[] = {"at_least_once", "exactly_once", NULL};

#define PRC(f) offsetof(rs_processing_conf_t, f)
static const rs_prop_t processing_props[] = {
        {"guarantee", RS_PROP_ENUM, PRC(guarantee), "at_least_once", 0, -1,
         guarantees, 0,
         "`at_least_once`: outputs are delivered, then changed state, then "
         "offsets committed; after a crash the records since the last "
         "commit are read again. `exactly_once`: every "
         "`state.commit_interval` one Kafka transaction holds the "
         "interval's outputs (UserRecs, dead letters, deltas, neighbour "
         "lists), its changelog records and the consumed offsets of each "
         "consumer group of the process; every reader is read_committed. "
         "Needs brokers >= 2.5 (KIP-447); the dev broker runs the calls "
         "only (README *Reliability*)."},
        {0},
};

#define TPL(f) offsetof(rs_topology_conf_t, f)
static const rs_prop_t topology_props[] = {
        {"role", RS_PROP_ENUM, TPL(role), "all", 0, -1, roles, 0,
         "What this process runs: `users` consumes the input (clean, "
         "weight, user_window, pairs, score) in group `<name>.users` and "
         "produces pair deltas; `items` consumes the deltas (cooccur) in "
         "group `<name>.items` and publishes neighbour lists; `all` both, "
         "through the same topics. `run --role` overrides it."},
        {"partitions", RS_PROP_INT, TPL(partitions), "6", 1, 4096, NULL, 0,
         "Partitions of the cooc-deltas topic: items hash to them (a "
         "stable hash of the id string), and each is one instance of the "
         "item side. Every replica, replay and eval must agree on it."},
        {"deltas_topic", RS_PROP_STRING, TPL(deltas_topic), NULL, 0, -1, NULL,
         0, "Pair deltas; default `<name>.cooc-deltas`."},
        {"neighbors_topic", RS_PROP_STRING, TPL(neighbors_topic), NULL, 0, -1,
         NULL, 0,
         "Neighbour lists and popularity, compacted, keyed by item id; "
         "default `<name>.item-neighbors`."},
        {"items_group", RS_PROP_STRING, TPL(items_group), NULL, 0, -1, NULL, 0,
         "Consumer group of the item side; default `<name>.items`."},
        {"max_neighbor_items", RS_PROP_INT, TPL(max_neighbor_items), "10000000",
         1, 1e9, NULL, 0,
         "Items every replica's neighbour table holds at most (records of "
         "new items beyond it are refused and counted). An item costs 40 B "
         "+ 8 B a neighbour + its id."},
        {"settle_after", RS_PROP_DURATION, TPL(settle_after), "1s", 0, 600000,
         NULL, 0,
         "When no delta arrived for this long (wall clock), the item side "
         "publishes everything that changed at once instead of waiting "
         "for `cooccur.refresh` of event time."},
        {0},
};

#define HTP(f) offsetof(rs_http_conf_t, f)
static const rs_prop_t http_props[] = {
        {"port", RS_PROP_INT, HTP(port), "9464", 0, 65535, NULL, 0,
         "TCP port of `GET /metrics` (Prometheus text format 0.0.4), "
         "`GET /healthz` (200 while the main loop makes progress) and "
         "`GET /readyz` (200 once partitions are assigned, their state "
         "restored, the catalog and the neighbour table loaded and the "
         "worker consuming; else 503 with the reason). 0: no HTTP port. "
         "A port that cannot be bound fails the start (exit 1). The "
         "shipped pipelines write `${RECSTREAM_HTTP_PORT:-9464}`."},
        {"bind", RS_PROP_STRING, HTP(bind), "0.0.0.0", 0, -1, NULL, 0,
         "IPv4 address to listen on (127.0.0.1: this host only)."},
        {0},
};

#define LOG(f) offsetof(rs_log_conf_t, f)
static const rs_prop_t log_props[] = {
        {"level", RS_PROP_ENUM, LOG(level), "info", 0, -1, rs_log_level_names,
         0,
         "Lines above this level are not written (one key=value line per "
         "record on stderr; nothing per event at info). "
         "RECSTREAM_LOG_LEVEL, when set, wins."},
        {"kafka_debug", RS_PROP_STRING, LOG(kafka_debug), "", 0, -1, NULL, 0,
         "librdkafka `debug` contexts for every client (e.g. "
         "`cgrp,topic,fetch`, `all`); their lines are written at any "
         "level, as component=rdkafka."},
        {0},
};

#define DLQ(f) offsetof(rs_dlq_conf_t, f)
static const rs_prop_t dlq_props[] = {
        {"enabled", RS_PROP_BOOL, DLQ(enabled), "true", 0, -1, NULL, 0,
         "Produce dead letters (false: only count and log them)."},
        {"topic", RS_PROP_STRING, DLQ(topic), NULL, 0, -1, NULL, 0,
         "Dead-letter topic; default `<source topic>.dlq` for each source "
         "topic (and `<items topic>.dlq` for the catalog). A dead letter "
         "keeps the record's key and value bytes, with headers error.stage, "
         "error.reason, error.detail, source.topic, source.partition, "
         "source.offset, source.timestamp; the record's offset is committed "
         "only once its dead letter is acknowledged."},
        {0},
};

#define SNK(f) offsetof(rs_sink_conf_t, f)
static const rs_prop_t sink_props[] = {
        {"topic", RS_PROP_STRING, SNK(topic), "video.recs", 0, -1, NULL, 0,
         "Topic of UserRecs records, keyed by user_id (compacted)."},
        {"framing", RS_PROP_STRING, SNK(framing_name), NULL, 0, -1, NULL, 0,
         "plain, confluent or single-object; default the source's."},
        {"schema_id", RS_PROP_INT, SNK(schema_id), "2", 0, 2147483647, NULL, 0,
         "Confluent schema id of the built-in UserRecs schema."},
        {"flush_timeout", RS_PROP_DURATION, SNK(flush_timeout), "30s", 0,
         600000, NULL, 0,
         "On shutdown, how long to wait for outstanding deliveries."},
        {"kafka", RS_PROP_KAFKA, SNK(kafka), NULL, 0, RS_MAX_KAFKA_PROPS, NULL,
         0, "librdkafka properties for the producer only (e.g. linger.ms)."},
        {0},
};

#define ITM(f) offsetof(rs_items_conf_t, f)
static const rs_prop_t items_props[] = {
        {"topic", RS_PROP_STRING, ITM(topic), NULL, 0, -1, NULL,
         RS_PROP_REQUIRED,
         "Compacted topic of ItemMeta records keyed by item_id; every "
         "replica reads all its partitions."},
        {"framing", RS_PROP_STRING, ITM(framing_name), NULL, 0, -1, NULL, 0,
         "plain, confluent or single-object; default the source's."},
        {"schema_id", RS_PROP_INT, ITM(schema_id), "3", 0, 2147483647, NULL, 0,
         "Confluent schema id of the built-in ItemMeta schema."},
        {"embedding_dim", RS_PROP_INT, ITM(embedding_dim), "0", 0, 1024, NULL,
         0,
         "Dimension of ItemMeta embeddings to keep (0: none); used by the "
         "interest channel when it equals user_window.interest_dim."},
        {"max_items", RS_PROP_INT, ITM(max_items), "1000000", 1, 1e9, NULL, 0,
         "Items the catalog knows at most; records of new items beyond it "
         "are rejected and counted (drop_item_limit), never an item "
         "already known (a removed item stays removed). An item costs "
         "4·embedding_dim B and its id ≈ 150 B (the string table and the "
         "tables by id of every stage), and the catalog's table by item "
         "id 24 B per id of the string table."},
        {"kafka", RS_PROP_KAFKA, ITM(kafka), NULL, 0, RS_MAX_KAFKA_PROPS, NULL,
         0, "librdkafka properties for the catalog reader only."},
        {0},
};

/* The file's sections in the order of `recstream doc`: the top level
 * (key NULL, kept in top_t), then each section's table and where its
 * values are in rs_pipeline_t (rs_pipeline_reloadable compares them). */
static const struct section {
        const char *key, *title;
        const rs_prop_t *props;
        size_t offset;
} sections[] = {
        {NULL, "top level", top_props, 0},
        {"source", "source", source_props, offsetof(rs_pipeline_t, source)},
        {"sink", "sink", sink_props, offsetof(rs_pipeline_t, sink)},
        {"items", "items (optional)", items_props,
         offsetof(rs_pipeline_t, items)},
        {"topology", "topology (optional)", topology_props,
         offsetof(rs_pipeline_t, topology)},
        {"state", "state (optional)", state_props,
         offsetof(rs_pipeline_t, state)},
        {"processing", "processing (optional)", processing_props,
         offsetof(rs_pipeline_t, processing)},
        {"dlq", "dlq (optional)", dlq_props, offsetof(rs_pipeline_t, dlq)},
        {"http", "http (optional)", http_props, offsetof(rs_pipeline_t, http)},
        {"log", "log (optional)", log_props, offsetof(rs_pipeline_t, log)},
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static int ipv4_ok(const char *s)
{
        struct in_addr a;
        return inet_pton(AF_INET, s, &a) == 1;
}

/* An integer property's default, for a section that is absent. */
static int64_t int_default(const rs_prop_t *props, const char *name)
{
        for (; props->name; props++)
                if (!strcmp(props->name, name))
                        return strtoll(props->def, NULL, 10);
        return 0;
}

/* Each property of a kafka map alone: the number librdkafka refuses. */
static int check_kafka(const rs_kv_list_t *kv, const char *path, rs_diag_t *d)
{
        char errstr[512], full[256];
        int bad = 0;

        for (size_t i = 0; i < kv->n; i++) {
                const char *instead = rs_kafka_reserved(kv->v[i].key);
                snprintf(full, sizeof(full), "%s.%s", path, kv->v[i].key);
                if (instead)
                        rs_diag_error(d, kv->v[i].at, full,
                                      "%s is set by recstream: %s",
                                      kv->v[i].key, instead);
                else if (rs_kafka_conf_check(kv->v[i].key, kv->v[i].value,
                                             errstr, sizeof(errstr))) {
                        rs_diag_error(d, kv->v[i].at, full, "%s", errstr);
                        bad++;
                }
        }
        return bad;
}

/* A file named by the pipeline, at most max bytes of it. */
static char *read_file(const char *dir, const char *file, size_t max,
                       size_t *len, char *errstr, size_t errstr_size)
{
        char path[4096], size[32];
        rs_buf_t b;

        snprintf(path, sizeof(path), "%s%s%s", file[0] == '/' ? "" : dir,
                 file[0] == '/' ? "" : "/", file);
        rs_buf_init(&b);
        if (rs_buf_read_file_max(&b, path, max)) {
                if (errno == EFBIG)
                        rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                  "%s is larger than %s (the limit of "
                                  "pipeline files)",
                                  path,
                                  rs_config_size_str(max, size, sizeof(size)));
                else
                        rs_seterr(errstr, errstr_size, RS_ERR_IO,
                                  "cannot open %s: %s", path, strerror(errno));
                rs_buf_fini(&b);
                return NULL;
        }
        *len = b.len;
        return b.p;
}

typedef struct ws_raw {
        const char *file;
        int64_t id;
} ws_raw_t;

static void load_writer_schemas(rs_pipeline_t *pl, rs_diag_t *d)
{
        rs_source_conf_t *src = &pl->source;
        const rs_node_t *list = src->writer_schemas;
        static const rs_prop_t ws_props[] = {
                {"file", RS_PROP_STRING, offsetof(ws_raw_t, file), NULL, 0, -1,
                 NULL, RS_PROP_REQUIRED, "Path of the .avsc"},
                {"id", RS_PROP_INT, offsetof(ws_raw_t, id), "-1", -1,
                 2147483647, NULL, 0, "Confluent schema id"},
                {0},
        };
        char errstr[512], path[128];
        rs_intern_t *in = NULL;
        rs_codec_t *codec = NULL;

        if (!list)
                return;
        if (list->type != RS_NODE_SEQ) {
                rs_diag_error(d, list, "source.writer_schemas",
                              "expected a list of {file, id}");
                return;
        }
        src->writers =
                rs_doc_alloc(pl->doc, (list->n + 1) * sizeof(*src->writers));
        in = rs_intern_new();
        codec = in ? rs_codec_new(src->framing, in, errstr, sizeof(errstr))
                   : NULL;
        if (!src->writers || !codec) {
                rs_diag_error(d, list, "source.writer_schemas",
                              "out of memory");
                goto out;
        }
        for (size_t i = 0; i < list->n; i++) {
                rs_writer_schema_t *w = &src->writers[src->nwriters];
                ws_raw_t raw = {0};
                snprintf(path, sizeof(path), "source.writer_schemas[%zu]", i);
                if (rs_props_apply(ws_props, list->kids[i], &raw, path, pl->doc,
                                   d))
                        continue;
                w->file = raw.file;
                w->id = (int32_t)raw.id;
                if (src->framing == RS_FRAMING_CONFLUENT && w->id < 0) {
                        rs_diag_error(d, list->kids[i], path,
                                      "Confluent framing needs an id for "
                                      "every writer schema");
                        continue;
                }
                char *text = read_file(rs_doc_dir(pl->doc), w->file,
                                       rs_doc_max_bytes(pl->doc), &w->len,
                                       errstr, sizeof(errstr));
                if (!text) {
                        rs_diag_error(d, rs_node_get(list->kids[i], "file"),
                                      path, "%s", errstr);
                        continue;
                }
                w->json = rs_doc_alloc(pl->doc, w->len + 1);
                if (w->json)
                        memcpy(w->json, text, w->len);
                free(text);
                if (!w->json)
                        continue;
                if (rs_codec_add_event_writer(codec, w->json, w->len, w->id,
                                              errstr, sizeof(errstr))) {
                        rs_diag_error(d, rs_node_get(list->kids[i], "file"),
                                      path, "%s: %s", w->file, errstr);
                        continue;
                }
                src->nwriters++;
        }
out:
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
}

/* The `type:` of the i-th stage of a stages list, or "". */
static const char *type_at(const rs_node_t *list, size_t i)
{
        const rs_node_t *t = list->kids[i]->type == RS_NODE_MAP
                                     ? rs_node_get(list->kids[i], "type")
                                     : NULL;
        return t && t->type == RS_NODE_SCALAR ? t->value : "";
}

/* Every stage a stage needs (ops->needs) comes before it in the list:
 * reported at its `type:` otherwise. */
static void check_needs(const rs_node_t *list, size_t i,
                        const rs_stage_ops_t *ops, const rs_node_t *type,
                        const char *path, rs_diag_t *d)
{
        for (const char *const *need = ops->needs; need && *need; need++) {
                size_t k;
                for (k = 0; k < list->n && strcmp(type_at(list, k), *need); k++)
                        ;
                if (k < i)
                        continue;
                rs_diag_error(d, type, path,
                              k < list->n ? "%s needs the %s stage before it, "
                                            "not after"
                                          : "%s needs a %s stage before it",
                              ops->type, *need);
        }
}

static void load_stages(rs_pipeline_t *pl, const rs_node_t *list, rs_diag_t *d)
{
        char path[64];

        if (list->type != RS_NODE_SEQ || list->n == 0) {
                rs_diag_error(d, list, "stages",
                              "expected a non-empty list of stages");
                return;
        }
        pl->stages = rs_doc_alloc(pl->doc, list->n * sizeof(*pl->stages));
        if (!pl->stages)
                return;
        for (size_t i = 0; i < list->n; i++) {
                const rs_node_t *st = list->kids[i];
                const rs_node_t *type = rs_node_get(st, "type");
                const rs_stage_ops_t *ops;
                snprintf(path, sizeof(path), "stages[%zu]", i);
                if (st->type != RS_NODE_MAP || !type ||
                    type->type != RS_NODE_SCALAR) {
                        rs_diag_error(d, st, path,
                                      "a stage is a map with a `type:`");
                        continue;
                }
                if (!(ops = rs_stage_find(type->value))) {
                        rs_buf_t known;
                        rs_buf_init(&known);
                        for (size_t k = 0; rs_stage_at(k); k++)
                                rs_buf_printf(&known, "%s%s", k ? ", " : "",
                                              rs_stage_at(k)->type);
                        rs_diag_error(d, type, path,
                                      "unknown stage type '%s' (known: %s)",
                                      type->value, known.p ? known.p : "");
                        rs_buf_fini(&known);
                        continue;
                }
                snprintf(path, sizeof(path), "stages[%zu](%s)", i, ops->type);
                /* `type` is the registry's key, the stage's table the rest:
                 * a copy of the table with `type` added, stored past the
                 * stage's own struct. */
                size_t nprops = 0;
                while (ops->props[nprops].name)
                        nprops++;
                size_t type_off = (ops->conf_size + sizeof(void *) - 1) /
                                  sizeof(void *) * sizeof(void *);
                rs_prop_t *props =
                        rs_doc_alloc(pl->doc, (nprops + 2) * sizeof(*props));
                void *conf = rs_doc_alloc(pl->doc, type_off + sizeof(void *));
                if (!props || !conf)
                        continue;
                memcpy(props, ops->props, nprops * sizeof(*props));
                props[nprops] = (rs_prop_t){.name = "type",
                                            .type = RS_PROP_NODE,
                                            .offset = type_off,
                                            .min = 0,
                                            .max = -1,
                                            .doc = "stage type"};
                if (rs_props_apply(props, st, conf, path, pl->doc, d))
                        continue;
                if (ops->check && ops->check(conf, st, path, d))
                        continue;
                check_needs(list, i, ops, type, path, d);
                pl->stages[pl->nstages++] = (rs_stage_def_t){ops, conf};
        }
}

/* *name, or `<pipeline name><suffix>` when unset. */
static void default_name(rs_pipeline_t *pl, const char **name,
                         const char *suffix)
{
        size_t n;
        char *s;

        if (*name || !pl->name)
                return;
        n = strlen(pl->name) + strlen(suffix) + 1;
        if ((s = rs_doc_alloc(pl->doc, n)))
                snprintf(s, n, "%s%s", pl->name, suffix);
        *name = s;
}

/* The value of librdkafka property `key` in the producer's lists (the
 * sink's wins), or NULL. */
static const char *producer_prop(const rs_pipeline_t *pl, const char *key)
{
        const rs_kv_list_t *lists[2] = {&pl->sink.kafka, &pl->kafka};

        for (int l = 0; l < 2; l++)
                for (size_t i = lists[l]->n; i-- > 0;)
                        if (!strcmp(lists[l]->v[i].key, key))
                                return lists[l]->v[i].value;
        return NULL;
}

/* A UserRecs holds at most RS_RECS_MAX items of two ids each: with ids of
 * max_id_bytes it must fit the producer's message.max.bytes, or a list
 * could never be published. */
static void check_recs_size(const rs_pipeline_t *pl, const rs_node_t *source,
                            rs_diag_t *d)
{
        const char *mmb = producer_prop(pl, "message.max.bytes");
        unsigned long long limit = mmb ? strtoull(mmb, NULL, 10) : 1000000;
        unsigned long long id = (unsigned long long)pl->source.max_id_bytes;
        unsigned long long worst = RS_RECS_MAX * (2 * id + 40) + id + 512;

        if (worst > limit)
                rs_diag_error(
                        d, source ? rs_node_get(source, "max_id_bytes") : NULL,
                        "source.max_id_bytes",
                        "a UserRecs of %d items with ids of %llu bytes "
                        "can reach %llu bytes, more than the producer's "
                        "message.max.bytes %llu",
                        RS_RECS_MAX, id, worst, limit);
}

/* The node of state.state_dir, for errors (NULL: not in the file). */
static const rs_node_t *state_dir_at(const rs_pipeline_t *pl)
{
        return rs_node_get(rs_node_get(rs_doc_root(pl->doc), "state"),
                           "state_dir");
}

/* state.state_dir: what can be said without the machine it runs on (run
 * checks the directory itself: rs_pipeline_check_run). */
static void check_state_dir(const rs_pipeline_t *pl, rs_diag_t *d)
{
        const char *dir = pl->state.state_dir;
        const rs_node_t *at = state_dir_at(pl);

        if (!dir)
                return;
        if (!*dir)
                rs_diag_error(d, at, "state.state_dir",
                              "an empty path (leave the key out for no "
                              "checkpoints)");
        else if (strlen(dir) > RS_STATE_DIR_MAX)
                rs_diag_error(d, at, "state.state_dir",
                              "a path of %zu bytes, more than %d", strlen(dir),
                              RS_STATE_DIR_MAX);
        else if (!pl->state.changelog)
                rs_diag_error(d, at, "state.state_dir",
                              "checkpoints cover changelog offsets: "
                              "state.changelog must be true");
}

rs_err_t rs_pipeline_check_run(const rs_pipeline_t *pl, rs_diag_t *d)
{
        const char *dir = pl->state.state_dir;
        const rs_node_t *at = state_dir_at(pl);
        struct stat sb;

        if (!dir)
                return RS_OK;
        if (stat(dir, &sb)) {
                rs_diag_error(d, at, "state.state_dir", "%s: %s", dir,
                              strerror(errno));
                return RS_ERR_INVALID;
        }
        if (!S_ISDIR(sb.st_mode)) {
                rs_diag_error(d, at, "state.state_dir", "%s is not a directory",
                              dir);
                return RS_ERR_INVALID;
        }
        if (access(dir, W_OK | X_OK)) {
                rs_diag_error(d, at, "state.state_dir",
                              "%s is not writable: %s", dir, strerror(errno));
                return RS_ERR_INVALID;
        }
        return RS_OK;
}

/* exactly_once against what contradicts it (a librdkafka property
 * that would take back a guarantee the transactions rest on), each
 * reported at its value; state.transactional_id without it. The
 * properties recstream sets itself (enable.idempotence,
 * transactional.id) are refused by check_kafka whatever the guarantee. */
static void check_guarantee(const rs_pipeline_t *pl, const top_t *top,
                            rs_diag_t *d)
{
        const struct {
                const rs_kv_list_t *kv;
                const char *path;
                int producer, consumer;
        } lists[] = {
                {&pl->kafka, "kafka", 1, 1},
                {&pl->sink.kafka, "sink.kafka", 1, 0},
                {&pl->source.kafka, "source.kafka", 0, 1},
                {&pl->items.kafka, "items.kafka", 0, 1},
        };
        char full[256];

        if (pl->processing.guarantee != RS_GUARANTEE_EXACTLY_ONCE) {
                if (pl->state.transactional_id)
                        rs_diag_error(
                                d, rs_node_get(top->state, "transactional_id"),
                                "state.transactional_id",
                                "is used only with "
                                "processing.guarantee: exactly_once");
                return;
        }
        for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
                for (size_t i = 0; i < lists[l].kv->n; i++) {
                        const rs_kv_t *kv = &lists[l].kv->v[i];
                        const char *why = NULL;
                        if (lists[l].producer &&
                            (!strcmp(kv->key, "acks") ||
                             !strcmp(kv->key, "request.required.acks")) &&
                            strcasecmp(kv->value, "all") &&
                            strcmp(kv->value, "-1"))
                                why = "exactly_once needs acks=all";
                        else if (lists[l].consumer &&
                                 !strcmp(kv->key, "isolation.level") &&
                                 strcmp(kv->value, "read_committed"))
                                why = "exactly_once reads only committed "
                                      "records (isolation.level "
                                      "read_committed)";
                        if (!why)
                                continue;
                        snprintf(full, sizeof(full), "%s.%s", lists[l].path,
                                 kv->key);
                        rs_diag_error(d, kv->at, full, "%s", why);
                }
}

/* The pipeline of a document parsed when d held `before` errors (doc is
 * owned by the result, also on failure). */
static rs_pipeline_t *pipeline_build(rs_doc_t *doc, const char *file,
                                     int before, int clients, rs_diag_t *d)
{
        rs_pipeline_t *pl = doc ? calloc(1, sizeof(*pl)) : NULL;
        top_t top = {0};
        char errstr[512];
        int kbad = 0;

        if (!pl) {
                if (doc)
                        rs_diag_error(d, NULL, "", "out of memory");
                rs_doc_destroy(doc);
                return NULL;
        }
        pl->file = file;
        pl->doc = doc;
        if (!rs_doc_root(pl->doc)) {
                rs_diag_error(d, NULL, "", "the file is empty");
                goto fail;
        }
        /* The hash is published (UserRecs, logs): it is taken over the
         * text without its secret values, so it cannot be used to guess
         * a password written in the file. */
        rs_buf_t pub;
        rs_buf_init(&pub);
        if (rs_doc_public_text(pl->doc, &pub)) {
                rs_buf_fini(&pub);
                rs_diag_error(d, NULL, "", "out of memory");
                goto fail;
        }
        snprintf(
                pl->hash, sizeof(pl->hash), "%016llx",
                (unsigned long long)rs_hash_bytes(pub.p ? pub.p : "", pub.len));
        rs_buf_fini(&pub);

        if (rs_props_apply(top_props, rs_doc_root(pl->doc), &top, "", pl->doc,
                           d))
                goto fail;
        pl->name = top.name;
        pl->kafka = top.kafka;
        pl->shutdown_timeout = top.shutdown_timeout;
        rs_props_apply(dlq_props, top.dlq, &pl->dlq, "dlq", pl->doc, d);
        rs_props_apply(topology_props, top.topology, &pl->topology, "topology",
                       pl->doc, d);
        default_name(pl, &pl->topology.deltas_topic, ".cooc-deltas");
        default_name(pl, &pl->topology.neighbors_topic, ".item-neighbors");
        default_name(pl, &pl->topology.items_group, ".items");
        rs_props_apply(state_props, top.state, &pl->state, "state", pl->doc, d);
        rs_props_apply(http_props, top.http, &pl->http, "http", pl->doc, d);
        if (pl->http.bind && !ipv4_ok(pl->http.bind))
                rs_diag_error(d, rs_node_get(top.http, "bind"), "http.bind",
                              "'%s' is not an IPv4 address (such as 0.0.0.0 "
                              "or 127.0.0.1)",
                              pl->http.bind);
        rs_props_apply(log_props, top.log, &pl->log, "log", pl->doc, d);
        if (pl->log.kafka_debug && *pl->log.kafka_debug &&
            rs_kafka_conf_check("debug", pl->log.kafka_debug, errstr,
                                sizeof(errstr)))
                rs_diag_error(d, rs_node_get(top.log, "kafka_debug"),
                              "log.kafka_debug", "%s", errstr);
        default_name(pl, &pl->state.users_topic, ".users-changelog");
        default_name(pl, &pl->state.items_topic, ".items-changelog");
        check_state_dir(pl, d);
        kbad += check_kafka(&pl->kafka, "kafka", d);

        rs_props_apply(source_props, top.source, &pl->source, "source", pl->doc,
                       d);
        kbad += check_kafka(&pl->source.kafka, "source.kafka", d);
        if (!pl->source.group) {
                size_t n = strlen(pl->name) + sizeof(".users");
                char *g = rs_doc_alloc(pl->doc, n);
                if (g)
                        snprintf(g, n, "%s.users", pl->name);
                pl->source.group = g;
        }
        load_writer_schemas(pl, d);

        rs_props_apply(sink_props, top.sink, &pl->sink, "sink", pl->doc, d);
        kbad += check_kafka(&pl->sink.kafka, "sink.kafka", d);
        pl->sink.framing = pl->source.framing;
        if (pl->sink.framing_name) {
                int f = rs_framing_parse(pl->sink.framing_name);
                if (f < 0)
                        rs_diag_error(d, rs_node_get(top.sink, "framing"),
                                      "sink.framing",
                                      "'%s' is not one of: plain, "
                                      "confluent, single-object",
                                      pl->sink.framing_name);
                else
                        pl->sink.framing = f;
        }
        check_recs_size(pl, top.source, d);
        rs_props_apply(processing_props, top.processing, &pl->processing,
                       "processing", pl->doc, d);
        pl->items.framing = pl->source.framing;
        /* the catalog's bound applies without an items section too */
        pl->items.max_items = int_default(items_props, "max_items");
        if (top.items) {
                rs_props_apply(items_props, top.items, &pl->items, "items",
                               pl->doc, d);
                kbad += check_kafka(&pl->items.kafka, "items.kafka", d);
                if (pl->items.framing_name) {
                        int f = rs_framing_parse(pl->items.framing_name);
                        if (f < 0)
                                rs_diag_error(d,
                                              rs_node_get(top.items, "framing"),
                                              "items.framing",
                                              "'%s' is not one of: plain, "
                                              "confluent, single-object",
                                              pl->items.framing_name);
                        else
                                pl->items.framing = f;
                }
        }
        load_stages(pl, top.stages, d);
        check_guarantee(pl, &top, d);
        /* once each property is fine alone */
        if (clients && pl->name && !kbad)
                rs_pipeline_check_clients(pl, d);
        if (d->errors == before)
                return pl;
fail:
        rs_pipeline_destroy(pl);
        return NULL;
}

rs_pipeline_t *rs_pipeline_load(const char *path, size_t max_bytes,
                                rs_diag_t *d)
{
        int before = d->errors;
        return pipeline_build(rs_doc_load(path, max_bytes, d), path, before, 1,
                              d);
}

rs_pipeline_t *rs_pipeline_parse(const char *text, size_t len, rs_diag_t *d)
{
        int before = d->errors;
        return pipeline_build(rs_doc_parse(text, len, d), d->file, before, 0,
                              d);
}

void rs_pipeline_destroy(rs_pipeline_t *pl)
{
        if (!pl)
                return;
        rs_doc_destroy(pl->doc);
        free(pl);
}

int rs_pipeline_reloadable(const rs_pipeline_t *cur, const rs_pipeline_t *next,
                           char *why, size_t why_size)
{
        const char *key = strcmp(cur->name, next->name) ? "name"
                          : cur->shutdown_timeout != next->shutdown_timeout
                                  ? "shutdown_timeout"
                          : !rs_kv_list_equal(&cur->kafka, &next->kafka)
                                  ? "kafka"
                                  : NULL;

        if (key) {
                snprintf(why, why_size, "%s", key);
                return -1;
        }
        for (size_t i = 0; i < NSECTIONS; i++)
                if (sections[i].key &&
                    (key = rs_props_differ(
                             sections[i].props,
                             (const char *)cur + sections[i].offset,
                             (const char *)next + sections[i].offset))) {
                        snprintf(why, why_size, "%s.%s", sections[i].key, key);
                        return -1;
                }
        if (cur->nstages != next->nstages) {
                snprintf(why, why_size, "stages (%zu, now %zu)", cur->nstages,
                         next->nstages);
                return -1;
        }
        for (size_t i = 0; i < cur->nstages; i++) {
                const rs_stage_ops_t *ops = cur->stages[i].ops;
                if (ops != next->stages[i].ops) {
                        snprintf(why, why_size, "stages[%zu].type (%s, now %s)",
                                 i, ops->type, next->stages[i].ops->type);
                        return -1;
                }
                if ((key = rs_props_differ(ops->props, cur->stages[i].conf,
                                           next->stages[i].conf))) {
                        snprintf(why, why_size, "stages[%zu] (%s).%s", i,
                                 ops->type, key);
                        return -1;
                }
        }
        return 0;
}

const void *rs_pipeline_stage_conf(const rs_pipeline_t *pl, const char *type)
{
        for (size_t i = 0; i < pl->nstages; i++)
                if (!strcmp(pl->stages[i].ops->type, type))
                        return pl->stages[i].conf;
        return NULL;
}

int rs_pipeline_has_items(const rs_pipeline_t *pl)
{
        for (size_t i = 0; i < pl->nstages; i++)
                if (pl->stages[i].ops->side == RS_SIDE_ITEMS)
                        return 1;
        return 0;
}

/* The first stage of `type` in a pipeline file's root map, or NULL. */
static const rs_node_t *shipped_stage(const rs_node_t *root, const char *type)
{
        const rs_node_t *st = root ? rs_node_get(root, "stages") : NULL;

        for (size_t i = 0; st && st->type == RS_NODE_SEQ && i < st->n; i++) {
                const rs_node_t *t = st->kids[i]->type == RS_NODE_MAP
                                             ? rs_node_get(st->kids[i], "type")
                                             : NULL;
                if (t && t->type == RS_NODE_SCALAR && !strcmp(t->value, type))
                        return st->kids[i];
        }
        return NULL;
}

void rs_pipeline_doc(const rs_node_t *shipped, const char *shipped_path,
                     rs_buf_t *b)
{
        const char *name = shipped_path ? strrchr(shipped_path, '/') : NULL;

        name = name ? name + 1 : shipped_path;
        if (shipped && shipped->type != RS_NODE_MAP)
                shipped = NULL;
        rs_buf_adds(b, "# Pipeline file reference\n\nGenerated by "
                       "`recstream doc` from the property tables");
        if (shipped)
                rs_buf_printf(b,
                              " and `%s` (`recstream doc --compare %s`): "
                              "where that pipeline sets another value, the "
                              "default column says so, as `2000 (%s: 500)`",
                              shipped_path, shipped_path, name);
        rs_buf_adds(b, ".\n\n");
        rs_buf_printf(b,
                      "A pipeline file is at most 1 MiB "
                      "(`RECSTREAM_MAX_CONFIG_BYTES` sets another limit, "
                      "which also applies to the schema files it names and "
                      "to its values once `${VAR}`s are expanded), with "
                      "lists and maps nested at most %d deep, at most %d "
                      "values, lists and maps in all, and values of at most "
                      "%d KiB. Lists are bounded as the range column says. "
                      "Durations are written `250ms`, `30s`, `5m`, `2h`, "
                      "`7d` or `1w`. "
                      "Values of keys whose names hold `password`, "
                      "`secret`, `sasl.jaas` or `key` are never shown in "
                      "messages or logs.\n\n",
                      RS_CONFIG_MAX_DEPTH, RS_CONFIG_MAX_NODES,
                      RS_CONFIG_MAX_SCALAR / 1024);
        for (size_t i = 0; i < NSECTIONS; i++)
                rs_props_doc(sections[i].props, sections[i].title, NULL,
                             !shipped ? NULL
                             : sections[i].key
                                     ? rs_node_get(shipped, sections[i].key)
                                     : shipped,
                             name, b);
        for (size_t i = 0; rs_stage_at(i); i++) {
                const rs_stage_ops_t *ops = rs_stage_at(i);
                char title[128];
                snprintf(title, sizeof(title), "stage `%s`", ops->type);
                rs_props_doc(ops->props, title, ops->doc,
                             shipped_stage(shipped, ops->type), name, b);
        }
}
