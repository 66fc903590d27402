/* clients.c — the librdkafka configuration of every client `run` makes,
 * checked as librdkafka builds it (rs_pipeline_check_clients). */
#include <stdio.h>
#include <string.h>

#include "recstream/kafka.h"
#include "recstream/pipeline.h"

/* A client's whole librdkafka configuration, as rs_kafka_check builds
 * it: `own` is the `section.kafka` map (NULL: common only). An error is
 * reported at the value of the property it names, when the file sets
 * one, else at the kafka map (own's, else the common one), once. */
typedef struct client_check {
        int on; /* whether run makes this client */
        rs_kafka_client_t kind;
        const char *name;    /* for people: "the producer" */
        const char *section; /* of own: "sink"; NULL: none */
        const rs_kv_list_t *own;
        const char *group;
        int from_latest;
} client_check_t;

/* Of the properties msg names (librdkafka quotes them `so`), the first
 * that recstream sets itself, with why the file cannot change it, into
 * why: "" when none. */
static void explain_reserved(const char *msg, char *why, size_t size)
{
        const char *p = msg;
        char name[128];

        why[0] = '\0';
        while ((p = strchr(p, '`'))) {
                const char *end = strchr(p + 1, '`');
                if (!end)
                        return;
                size_t n = (size_t)(end - p - 1);
                p = end + 1;
                if (n >= sizeof(name))
                        continue;
                memcpy(name, end - n, n);
                name[n] = '\0';
                const char *instead = rs_kafka_reserved(name);
                if (instead) {
                        snprintf(why, size, "; %s is set by recstream: %s",
                                 name, instead);
                        return;
                }
        }
}

/* Errors already reported, as "path: message". */
#define MAX_SEEN 8
#define SEEN_LEN 800

static void check_client(const rs_pipeline_t *pl, const client_check_t *c,
                         char seen[][SEEN_LEN], size_t *nseen, rs_diag_t *d)
{
        const rs_node_t *root = rs_doc_root(pl->doc);
        const rs_node_t *own_map =
                c->section ? rs_node_get(rs_node_get(root, c->section), "kafka")
                           : NULL;
        const rs_node_t *at_node = own_map;
        const rs_kv_t *at = NULL;
        char errstr[512], path[256], why[256], key[SEEN_LEN];

        if (rs_kafka_check(c->kind, &pl->kafka, c->own, c->group,
                           c->from_latest, &at, errstr,
                           sizeof(errstr)) == RS_OK)
                return;
        if (at) {
                int mine =
                        c->own && at >= c->own->v && at < c->own->v + c->own->n;
                snprintf(path, sizeof(path), "%s%skafka.%s",
                         mine ? c->section : "", mine ? "." : "", at->key);
                at_node = at->at;
        } else if (own_map) {
                snprintf(path, sizeof(path), "%s.kafka", c->section);
        } else {
                snprintf(path, sizeof(path), "kafka");
                at_node = rs_node_get(root, "kafka");
        }
        /* the same mistake in a shared map fails several clients alike */
        snprintf(key, sizeof(key), "%s: %s", path, errstr);
        for (size_t i = 0; i < *nseen; i++)
                if (!strcmp(seen[i], key))
                        return;
        if (*nseen < MAX_SEEN)
                snprintf(seen[(*nseen)++], sizeof(seen[0]), "%s", key);
        explain_reserved(errstr, why, sizeof(why));
        rs_diag_error(d, at_node, path, "%s (%s)%s", errstr, c->name, why);
}

void rs_pipeline_check_clients(const rs_pipeline_t *pl, rs_diag_t *d)
{
        int items = rs_pipeline_has_items(pl);
        int window = rs_pipeline_stage_conf(pl, "user_window") != NULL;
        const client_check_t clients[] = {
                {1, RS_KAFKA_SOURCE, "the consumer of the input", "source",
                 &pl->source.kafka, pl->source.group,
                 pl->source.auto_offset_reset == RS_OFFSET_LATEST},
                {1, RS_KAFKA_SINK, "the producer", "sink", &pl->sink.kafka,
                 NULL, 0},
                {items, RS_KAFKA_SOURCE, "the consumer of the deltas", "source",
                 &pl->source.kafka, pl->topology.items_group, 0},
                {pl->items.topic != NULL, RS_KAFKA_READER,
                 "the reader of the catalog", "items", &pl->items.kafka, NULL,
                 0},
                {rs_pipeline_stage_conf(pl, "cooccur") != NULL, RS_KAFKA_READER,
                 "the reader of the neighbour lists", NULL, NULL, NULL, 0},
                {pl->state.changelog && (window || items), RS_KAFKA_RESTORE,
                 "the reader of a changelog", NULL, NULL, NULL, 0},
                {items || (pl->state.changelog && window), RS_KAFKA_ADMIN,
                 "the admin client", NULL, NULL, NULL, 0},
        };
        char seen[MAX_SEEN][SEEN_LEN];
        size_t nseen = 0;

        for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++)
                if (clients[i].on)
                        check_client(pl, &clients[i], seen, &nseen, d);
}
