/* kafka.c — high-level consumer with ticketed offset storing, idempotent
 * producer, and a plain assign-all reader for tools. */
#include <ctype.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "recstream/clock.h"
#include "recstream/kafka.h"
#include "recstream/log.h"

rs_err_t rs_kafka_conf_check(const char *key, const char *value, char *errstr,
                             size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_res_t res =
                rd_kafka_conf_set(conf, key, value, errstr, errstr_size);

        rd_kafka_conf_destroy(conf);
        if (res != RD_KAFKA_CONF_OK && rs_config_is_secret(key))
                rs_config_redact(errstr, errstr_size, value);
        return res == RD_KAFKA_CONF_OK ? RS_OK : RS_ERR_INVALID;
}

const char *rs_kafka_version(void)
{
        return rd_kafka_version_str();
}

/*
 * Secrets: each client keeps copies of its secret property values (see
 * rs_config_is_secret) and scrubs them from every librdkafka log line,
 * error and errstr. librdkafka redacts only what it deems sensitive; a
 * failing ssl.key.location, say, is logged with its path.
 *
 * Every client struct starts with its client_t (below), and is the opaque
 * of its rd_kafka_t, so the callbacks find them through rd_kafka_opaque().
 */
typedef struct secrets {
        char **v;
        size_t n;
} secrets_t;

static int secrets_add(secrets_t *sec, const rs_kv_list_t *kv)
{
        for (size_t i = 0; kv && i < kv->n; i++) {
                if (!rs_config_is_secret(kv->v[i].key) || !*kv->v[i].value)
                        continue;
                char **v = realloc(sec->v, (sec->n + 1) * sizeof(*v));
                if (!v)
                        return -1;
                sec->v = v;
                if (!(sec->v[sec->n] = strdup(kv->v[i].value)))
                        return -1;
                sec->n++;
        }
        return 0;
}

static void secrets_fini(secrets_t *sec)
{
        for (size_t i = 0; i < sec->n; i++)
                free(sec->v[i]);
        free(sec->v);
        sec->v = NULL;
        sec->n = 0;
}

/* msg as it may be shown: itself, or a scrubbed copy in buf. */
static const char *scrubbed(const secrets_t *sec, const char *msg, char *buf,
                            size_t size)
{
        if (!sec || !sec->n || !msg)
                return msg;
        snprintf(buf, size, "%s", msg);
        for (size_t i = 0; i < sec->n; i++)
                rs_config_redact(buf, size, sec->v[i]);
        return buf;
}

static void scrub(const secrets_t *sec, char *errstr, size_t errstr_size)
{
        for (size_t i = 0; sec && errstr && i < sec->n; i++)
                rs_config_redact(errstr, errstr_size, sec->v[i]);
}

/* What a client's callbacks know of it: the first member of every client
 * struct. */
typedef struct client {
        secrets_t secrets;
        const char *name; /* source, sink or reader, in log lines */
        /* a transactional producer's last transaction error, as
         * librdkafka logged it (fac TXNERR) */
        char txn_error[512];
} client_t;

/* librdkafka `debug` contexts of every client (rs_kafka_set_debug). */
static char kafka_debug[256];

void rs_kafka_set_debug(const char *contexts)
{
        snprintf(kafka_debug, sizeof(kafka_debug), "%s",
                 contexts ? contexts : "");
}

/* librdkafka's logs, from its log queue or its threads. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
        client_t *cl = rd_kafka_opaque(rk);
        char line[2048];

        char q[2048];

        if (cl && !strcmp(fac, "TXNERR"))
                snprintf(cl->txn_error, sizeof(cl->txn_error), "%s",
                         scrubbed(&cl->secrets, buf, line, sizeof(line)));
        /* debug contexts asked for (log.kafka_debug) show at any level */
        if (level > rs_log_level && !(level >= RS_LOG_DEBUG && kafka_debug[0]))
                return;
        rs_log_write(level, "component=rdkafka fac=%s msg=\"%s\"", fac,
                     rs_log_quote(scrubbed(cl ? &cl->secrets : NULL, buf, line,
                                           sizeof(line)),
                                  q, sizeof(q)));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        const client_t *cl = opaque;
        char line[1024];

        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char fatal[512];
                rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
                scrub(&cl->secrets, fatal, sizeof(fatal));
                rs_log(RS_LOG_ERR,
                       "component=kafka event=fatal client=%s reason=\"%s\"",
                       cl->name, fatal);
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                /* The one line to look for when the cluster is away: the
                 * transport errors before it are per connection. */
                rs_log(RS_LOG_ERR,
                       "component=kafka event=brokers_down client=%s "
                       "reason=\"%s\" msg=\"no broker reachable; retrying: "
                       "output waits and nothing is committed meanwhile\"",
                       cl->name,
                       scrubbed(&cl->secrets, reason, line, sizeof(line)));
                return;
        }
        /* Transient (a broker down, transport): librdkafka retries. */
        char q[1024];
        rs_log(RS_LOG_WARNING,
               "component=kafka event=error client=%s err=%s reason=\"%s\"",
               cl->name, rd_kafka_err2name(err),
               rs_log_quote(scrubbed(&cl->secrets, reason, line, sizeof(line)),
                            q, sizeof(q)));
}

/* The longest pause between attempts to reach a broker that went away
 * (librdkafka's default is 10 s, the Java client's 1 s): after a 4 s
 * outage the consumer reached its coordinator again only when the
 * session (10 s) had timed out, and the group re-delivered what it had
 * not committed. */
#define RECONNECT_MAX_MS "1000"

typedef struct setting {
        const char *key, *value;
} setting_t;

/* The properties recstream sets itself, after the pipeline's lists, and
 * what to write instead: the `forced` settings of the clients below name
 * only these, and a pipeline that sets one is refused (rs_kafka_reserved),
 * never silently overridden. */
static const setting_t reserved[] = {
        {"group.id", "use source.group (and topology.items_group for the "
                     "item side)"},
        {"enable.auto.commit",
         "it commits once the state the offsets cover is durable: use "
         "state.commit_interval"},
        {"enable.auto.offset.store",
         "it stores an offset once every output before it is delivered"},
        {"enable.partition.eof", "it finds the ends of partitions itself"},
        {"auto.offset.reset", "use source.auto_offset_reset"},
        {"enable.idempotence", "the producer is always idempotent"},
        {"transactional.id", "use processing.guarantee: exactly_once (and "
                             "state.transactional_id to choose the id)"},
        {NULL, NULL},
};

const char *rs_kafka_reserved(const char *key)
{
        /* librdkafka takes topic properties with this prefix too */
        if (!strncmp(key, "topic.", 6))
                key += 6;
        for (const setting_t *r = reserved; r->key; r++)
                if (!strcmp(r->key, key))
                        return r->value;
        return NULL;
}

static int set_all(rd_kafka_conf_t *conf, const setting_t *s, char *errstr,
                   size_t errstr_size)
{
        for (; s && s->key; s++)
                if (rd_kafka_conf_set(conf, s->key, s->value, errstr,
                                      errstr_size) != RD_KAFKA_CONF_OK)
                        return -1;
        return 0;
}

/* defaults, then the pipeline's common and client lists, then the
 * client's own settings (`after`), then what recstream's guarantees
 * depend on (`forced`: keys of `reserved` only). The secrets of the lists
 * go to sec; errstr never shows them. */
static rd_kafka_conf_t *make_conf(const setting_t *defaults,
                                  const rs_kv_list_t *common,
                                  const rs_kv_list_t *own,
                                  const setting_t *after,
                                  const setting_t *forced, secrets_t *sec,
                                  char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const rs_kv_list_t *lists[2] = {common, own};

        if (secrets_add(sec, common) || secrets_add(sec, own)) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        for (const setting_t *s = forced; s && s->key; s++)
                if (!rs_kafka_reserved(s->key)) {
                        rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                  "internal: recstream sets %s, which is "
                                  "not in its table of reserved properties",
                                  s->key);
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }

        if (set_all(conf, defaults, errstr, errstr_size))
                goto fail;
        for (int l = 0; l < 2; l++)
                for (size_t i = 0; lists[l] && i < lists[l]->n; i++)
                        if (rd_kafka_conf_set(conf, lists[l]->v[i].key,
                                              lists[l]->v[i].value, errstr,
                                              errstr_size) != RD_KAFKA_CONF_OK)
                                goto fail;
        if (kafka_debug[0] &&
            rd_kafka_conf_set(conf, "debug", kafka_debug, errstr,
                              errstr_size) != RD_KAFKA_CONF_OK)
                goto fail;
        if (set_all(conf, after, errstr, errstr_size) ||
            set_all(conf, forced, errstr, errstr_size))
                goto fail;
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        return conf;
fail:
        scrub(sec, errstr, errstr_size);
        rd_kafka_conf_destroy(conf);
        return NULL;
}

/*
 * Each kind of client's configuration: for its constructor, and for
 * rs_kafka_check.
 */

/* The group consumer of rs_source_new. */
static rd_kafka_conf_t *source_conf(const rs_kv_list_t *common,
                                    const rs_kv_list_t *own, const char *group,
                                    int from_latest, secrets_t *sec,
                                    char *errstr, size_t errstr_size)
{
        static const setting_t defaults[] = {
                /* Prefetch deep: see DESIGN "Measured costs". */
                {"queued.min.messages", "1000000"},
                {"reconnect.backoff.max.ms", RECONNECT_MAX_MS},
                /* consumer lag per partition for /metrics (0: none) */
                {"statistics.interval.ms", "5000"},
                {NULL, NULL},
        };
        const setting_t forced[] = {
                {"group.id", group},
                {"enable.auto.offset.store", "false"},
                /* committed by the worker, after the state they cover is
                 * durable (DESIGN §3) */
                {"enable.auto.commit", "false"},
                {"enable.partition.eof", "false"},
                {"auto.offset.reset", from_latest ? "latest" : "earliest"},
                {NULL, NULL},
        };

        return make_conf(defaults, common, own, NULL, forced, sec, errstr,
                         errstr_size);
}

/* The idempotent producer of rs_sink_new; transactional with txn_id
 * (NULL: idempotent only). */
static rd_kafka_conf_t *sink_conf(const rs_kv_list_t *common,
                                  const rs_kv_list_t *own, const char *txn_id,
                                  int txn_timeout_ms, secrets_t *sec,
                                  char *errstr, size_t errstr_size)
{
        char txn_timeout[16];
        snprintf(txn_timeout, sizeof(txn_timeout), "%d", txn_timeout_ms);
        const setting_t defaults[] = {
                {"linger.ms", "5"},
                {"reconnect.backoff.max.ms", RECONNECT_MAX_MS},
                /* (a NULL key ends the list: the transactional ones last) */
                {txn_id ? "transaction.timeout.ms" : NULL, txn_timeout},
                {NULL, NULL},
        };
        const setting_t forced[] = {
                {"enable.idempotence", "true"},
                {txn_id ? "transactional.id" : NULL, txn_id},
                {NULL, NULL},
        };

        return make_conf(defaults, common, own, NULL, forced, sec, errstr,
                         errstr_size);
}

/* The plain consumer of rs_reader_new; `restore`: of rs_reader_new_idle,
 * which reads a changelog to its end and stops, with no long polls
 * holding the connection (the end offsets of the next partition wait
 * behind them). */
static rd_kafka_conf_t *reader_conf(const rs_kv_list_t *common,
                                    const rs_kv_list_t *own, int restore,
                                    secrets_t *sec, char *errstr,
                                    size_t errstr_size)
{
        static const setting_t quick[] = {
                {"fetch.wait.max.ms", "10"},
                {NULL, NULL},
        };
        static const setting_t forced[] = {
                {"group.id", "recstream-reader"},
                {"enable.auto.commit", "false"},
                {"enable.partition.eof", "false"},
                {NULL, NULL},
        };

        return make_conf(NULL, common, own, restore ? quick : NULL, forced, sec,
                         errstr, errstr_size);
}

/* The short-lived producer of admin requests and metadata. */
static rd_kafka_conf_t *admin_conf(const rs_kv_list_t *common, secrets_t *sec,
                                   char *errstr, size_t errstr_size)
{
        return make_conf(NULL, common, NULL, NULL, NULL, sec, errstr,
                         errstr_size);
}

/*
 * The check of a client's whole configuration (validate).
 */

/* The value of `key` as the client gets it (own over common), or NULL. */
static const char *lists_get(const rs_kv_list_t *common,
                             const rs_kv_list_t *own, const char *key)
{
        const rs_kv_list_t *lists[2] = {own, common};

        for (int l = 0; l < 2; l++)
                for (size_t i = lists[l] ? lists[l]->n : 0; i-- > 0;)
                        if (!strcmp(lists[l]->v[i].key, key))
                                return lists[l]->v[i].value;
        return NULL;
}

/* Where `key` occurs in msg as a whole property name, or -1. */
static long find_name(const char *msg, const char *key)
{
        size_t n = strlen(key);

        for (const char *p = msg; n && (p = strstr(p, key)); p++) {
                int before = p > msg && (isalnum((unsigned char)p[-1]) ||
                                         p[-1] == '.' || p[-1] == '_');
                int after = isalnum((unsigned char)p[n]) || p[n] == '_' ||
                            (p[n] == '.' && isalnum((unsigned char)p[n + 1]));
                if (!before && !after)
                        return p - msg;
        }
        return -1;
}

/* The entry of own or common whose key msg names first (own's when both
 * set it), or NULL. */
static const rs_kv_t *named(const char *msg, const rs_kv_list_t *common,
                            const rs_kv_list_t *own)
{
        const rs_kv_list_t *lists[2] = {own, common};
        const rs_kv_t *best = NULL;
        long at = -1;

        for (int l = 0; l < 2; l++)
                for (size_t i = 0; lists[l] && i < lists[l]->n; i++) {
                        long p = find_name(msg, lists[l]->v[i].key);
                        if (p >= 0 && (at < 0 || p < at)) {
                                at = p;
                                best = &lists[l]->v[i];
                        }
                }
        return best;
}

/* The first of keys a and b that own or common sets, or NULL. */
static const char *either_set(const rs_kv_list_t *common,
                              const rs_kv_list_t *own, const char *a,
                              const char *b)
{
        return lists_get(common, own, a)   ? a
               : lists_get(common, own, b) ? b
                                           : NULL;
}

/* A client certificate needs its private key, and the key its
 * certificate: librdkafka checks the pair only once it has read both
 * files, and not at all when the key is missing. */
static int tls_pair(const rs_kv_list_t *common, const rs_kv_list_t *own,
                    char *errstr, size_t errstr_size)
{
        const char *proto = lists_get(common, own, "security.protocol");
        const char *cert = either_set(common, own, "ssl.certificate.location",
                                      "ssl.certificate.pem");
        const char *key =
                either_set(common, own, "ssl.key.location", "ssl.key.pem");

        if (!proto ||
            (strcasecmp(proto, "ssl") && strcasecmp(proto, "sasl_ssl")))
                return 0;
        if (cert && !key) {
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "%s is set without ssl.key.location (or "
                          "ssl.key.pem): the client certificate cannot be "
                          "used without its private key",
                          cert);
                return -1;
        }
        if (key && !cert) {
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "%s is set without ssl.certificate.location (or "
                          "ssl.certificate.pem): a private key is of no use "
                          "without its certificate",
                          key);
                return -1;
        }
        return 0;
}

/* The files librdkafka reads when it makes a client. One that is not on
 * this machine (validate in CI, the secrets mounted only where it runs)
 * is left out of the check, with its partner for the certificate and key
 * (librdkafka checks them together). */
static void skip_absent_files(rd_kafka_conf_t *conf, const rs_kv_list_t *common,
                              const rs_kv_list_t *own)
{
        static const char *const files[] = {
                "ssl.ca.location",          "ssl.crl.location",
                "ssl.keystore.location",    "ssl.engine.location",
                "ssl.certificate.location", "ssl.key.location",
        };
        int pair_absent = 0;

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                const char *path = lists_get(common, own, files[i]);
                if (!path || !*path || !strcmp(path, "probe") ||
                    !access(path, R_OK))
                        continue;
                if (i >= 4)
                        pair_absent = 1;
                else
                        rd_kafka_conf_set(conf, files[i], NULL, NULL, 0);
        }
        if (pair_absent) {
                rd_kafka_conf_set(conf, files[4], NULL, NULL, 0);
                rd_kafka_conf_set(conf, files[5], NULL, NULL, 0);
        }
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
        (void)rk;
        (void)level;
        (void)fac;
        (void)buf;
}

rs_err_t rs_kafka_check(rs_kafka_client_t kind, const rs_kv_list_t *common,
                        const rs_kv_list_t *own, const char *group,
                        int from_latest, const rs_kv_t **at, char *errstr,
                        size_t errstr_size)
{
        secrets_t sec = {0};
        rd_kafka_conf_t *conf = NULL;
        rd_kafka_t *rk;
        rs_err_t rc = RS_ERR_INVALID;

        *at = NULL;
        if (tls_pair(common, own, errstr, errstr_size))
                goto out;
        switch (kind) {
        case RS_KAFKA_SOURCE:
                conf = source_conf(common, own, group ? group : "", from_latest,
                                   &sec, errstr, errstr_size);
                break;
        case RS_KAFKA_SINK:
                conf = sink_conf(common, own, NULL, 0, &sec, errstr,
                                 errstr_size);
                break;
        case RS_KAFKA_READER:
        case RS_KAFKA_RESTORE:
                conf = reader_conf(common, own, kind == RS_KAFKA_RESTORE, &sec,
                                   errstr, errstr_size);
                break;
        case RS_KAFKA_ADMIN:
                conf = admin_conf(common, &sec, errstr, errstr_size);
                break;
        }
        if (!conf)
                goto out;
        /* Nothing to connect to (rd_kafka_new makes its threads, which
         * would reach for the brokers at once), nor a mock cluster to
         * listen; nothing said from librdkafka's threads. */
        rd_kafka_conf_set(conf, "bootstrap.servers", NULL, NULL, 0);
        rd_kafka_conf_set(conf, "test.mock.num.brokers", "0", NULL, 0);
        /* nor a command to start: with GSSAPI librdkafka runs
         * sasl.kerberos.kinit.cmd at once (this skips its template
         * check too) */
        rd_kafka_conf_set(conf, "sasl.kerberos.min.time.before.relogin", "0",
                          NULL, 0);
        skip_absent_files(conf, common, own);
        rd_kafka_conf_set_log_cb(conf, quiet_log);
        rd_kafka_conf_set_error_cb(conf, NULL);
        rk = rd_kafka_new(kind == RS_KAFKA_SOURCE || kind == RS_KAFKA_READER ||
                                          kind == RS_KAFKA_RESTORE
                                  ? RD_KAFKA_CONSUMER
                                  : RD_KAFKA_PRODUCER,
                          conf, errstr, errstr_size);
        if (!rk) {
                scrub(&sec, errstr, errstr_size);
                rd_kafka_conf_destroy(conf);
                goto out;
        }
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        rc = RS_OK;
out:
        if (rc)
                *at = named(errstr, common, own);
        secrets_fini(&sec);
        return rc;
}

/*
 * Source.
 */

typedef struct slot {
        int pending; /* outputs in flight + 1 while the batch is processed */
        rd_kafka_topic_partition_list_t *offsets; /* next offset to read */
        rd_kafka_message_t **msgs;
        size_t nmsgs;
} slot_t;

struct rs_source {
        client_t cl; /* first: the opaque of rk */
        rd_kafka_t *rk;
        rd_kafka_queue_t *queue;
        slot_t *ring;
        size_t cap;
        uint64_t head, tail; /* oldest unstored ticket, next ticket */
        size_t batch_max;
        rs_drain_fn *drain;
        void *opaque;
        int assigned;
        void (*revoked)(void *opaque, const char *topic, int32_t partition);
        void (*assigned_cb)(void *opaque, const char *topic, int32_t partition);
        /* exactly_once: the positions processed since the last
         * transaction (rs_sink_txn_send_offsets); NULL otherwise */
        rd_kafka_topic_partition_list_t *txn;
        int txn_lost; /* partitions lost with positions in it */
        char group[256];
        /* commit results come on commitq, one per commit sent, in order;
         * one answered after its rs_source_commit stopped waiting is read
         * (and logged) by the next call or the close */
        rd_kafka_queue_t *commitq;
        uint64_t commits_sent, commits_read;
        uint64_t rebalances[2]; /* assignments, revocations */
        rs_lag_t *lag;          /* from the last statistics */
        size_t nlag, lag_cap;
};

/*
 * Consumer lag from librdkafka's statistics JSON (statistics.interval.ms):
 * topics.<name>.partitions.<id>.consumer_lag of the partitions this
 * member wants (desired), read by a targeted scan, not a parser: the
 * statistics are librdkafka's own well-formed JSON.
 */

/* Past one JSON value at p (object, array, string, literal). */
static const char *json_skip(const char *p)
{
        int depth = 0;

        do {
                while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' ||
                       *p == ',' || *p == ':')
                        p++;
                if (*p == '"') {
                        for (p++; *p && *p != '"'; p++)
                                if (*p == '\\' && p[1])
                                        p++;
                        if (*p)
                                p++;
                } else if (*p == '{' || *p == '[') {
                        depth++, p++;
                } else if (*p == '}' || *p == ']') {
                        depth--, p++;
                } else {
                        while (*p && !strchr(",}] \n\t\r", *p))
                                p++;
                }
        } while (*p && depth > 0);
        return p;
}

/* Calls fn for each member of the object at p with its key (a pointer
 * past the opening quote; keys here hold no escapes) and value. */
static void json_members(const char *p,
                         void (*fn)(void *arg, const char *key, size_t klen,
                                    const char *val),
                         void *arg)
{
        while (*p == ' ' || *p == '\n')
                p++;
        if (*p++ != '{')
                return;
        for (;;) {
                while (*p && *p != '"' && *p != '}')
                        p++;
                if (*p != '"')
                        return;
                const char *key = ++p;
                while (*p && *p != '"')
                        p++;
                size_t klen = (size_t)(p - key);
                const char *val = p + 1;
                while (*val == ' ' || *val == ':')
                        val++;
                fn(arg, key, klen, val);
                p = json_skip(val);
        }
}

typedef struct lag_scan {
        rs_source_t *src;
        const char *topic;
        size_t tlen;
        const char *want; /* the member looked for, or NULL */
        const char *found;
        int64_t lag;
        int desired;
} lag_scan_t;

static void find_member(void *arg, const char *key, size_t klen,
                        const char *val)
{
        lag_scan_t *ls = arg;
        if (!ls->found && strlen(ls->want) == klen &&
            !memcmp(key, ls->want, klen))
                ls->found = val;
}

static const char *json_get(const char *obj, const char *key)
{
        lag_scan_t ls = {.want = key};
        json_members(obj, find_member, &ls);
        return ls.found;
}

static void partition_lag(void *arg, const char *key, size_t klen,
                          const char *val)
{
        lag_scan_t *ls = arg;
        rs_source_t *src = ls->src;
        const char *lag = json_get(val, "consumer_lag");
        const char *desired = json_get(val, "desired");
        long part = strtol(key, NULL, 10);

        (void)klen;
        if (part < 0 || !lag || !desired || strncmp(desired, "true", 4))
                return;
        if (src->nlag == src->lag_cap) {
                size_t cap = src->lag_cap ? src->lag_cap * 2 : 16;
                rs_lag_t *l = realloc(src->lag, cap * sizeof(*l));
                if (!l)
                        return;
                src->lag = l;
                src->lag_cap = cap;
        }
        rs_lag_t *e = &src->lag[src->nlag++];
        snprintf(e->topic, sizeof(e->topic), "%.*s", (int)ls->tlen, ls->topic);
        e->partition = (int32_t)part;
        e->lag = strtoll(lag, NULL, 10);
}

static void topic_lag(void *arg, const char *key, size_t klen, const char *val)
{
        lag_scan_t *ls = arg;
        const char *parts = json_get(val, "partitions");

        ls->topic = key;
        ls->tlen = klen;
        if (parts)
                json_members(parts, partition_lag, ls);
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
        rs_source_t *src = opaque;
        lag_scan_t ls = {.src = src};
        const char *topics = json_get(json, "topics");

        (void)rk;
        (void)len;
        src->nlag = 0;
        if (topics)
                json_members(topics, topic_lag, &ls);
        return 0; /* librdkafka frees json */
}

size_t rs_source_lag(const rs_source_t *src, const rs_lag_t **lag)
{
        *lag = src->lag;
        return src->nlag;
}

uint64_t rs_source_rebalances(const rs_source_t *src, int revoked)
{
        return src->rebalances[revoked ? 1 : 0];
}

const char *rs_source_group(const rs_source_t *src)
{
        return src->group;
}

/* "topic:0,topic:1,..." of a partition list, cut to fit. */
static void part_list(const rd_kafka_topic_partition_list_t *parts, char *out,
                      size_t size)
{
        size_t off = 0;

        out[0] = '\0';
        for (int i = 0; i < parts->cnt && off < size; i++) {
                int k = snprintf(out + off, size - off, "%s%s:%d", i ? "," : "",
                                 parts->elems[i].topic,
                                 (int)parts->elems[i].partition);
                if (k < 0 || (size_t)k >= size - off) {
                        if (size > 4)
                                memcpy(out + size - 4, "...", 4);
                        break;
                }
                off += (size_t)k;
        }
        if (!parts->cnt)
                snprintf(out, size, "-");
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        rs_source_t *src = opaque;
        int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

        char list[512];

        part_list(parts, list, sizeof(list));
        src->rebalances[err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? 0 : 1]++;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (coop)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, parts);
                src->assigned = coop ? src->assigned + parts->cnt : parts->cnt;
                rs_log(RS_LOG_INFO,
                       "component=source event=assigned group=%s "
                       "partitions=%d total=%d protocol=%s list=%s",
                       src->group, parts->cnt, src->assigned,
                       coop ? "cooperative" : "eager", list);
                /* paused before anything is fetched, until restored */
                if (src->assigned_cb && !error && !aerr) {
                        rd_kafka_pause_partitions(rk, parts);
                        for (int i = 0; i < parts->cnt; i++)
                                src->assigned_cb(src->opaque,
                                                 parts->elems[i].topic,
                                                 parts->elems[i].partition);
                }
        } else {
                /* Deliver what depends on the revoked records, store and
                 * commit their offsets, then let them go. */
                int lost = rd_kafka_assignment_lost(rk);
                if (!lost) {
                        int ms = src->drain ? src->drain(src->opaque) : 10000;
                        if (ms > 0)
                                rs_source_commit(src, ms);
                }
                for (int i = 0; src->revoked && i < parts->cnt; i++)
                        src->revoked(src->opaque, parts->elems[i].topic,
                                     parts->elems[i].partition);
                /* never sent for a partition this member gave up: it
                 * would overwrite its new owner's offsets */
                for (int i = 0; src->txn && i < parts->cnt; i++)
                        if (rd_kafka_topic_partition_list_del(
                                    src->txn, parts->elems[i].topic,
                                    parts->elems[i].partition) &&
                            lost)
                                src->txn_lost++;
                if (coop)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        aerr = rd_kafka_assign(rk, NULL);
                src->assigned = coop ? src->assigned - parts->cnt : 0;
                rs_log(lost ? RS_LOG_WARNING : RS_LOG_INFO,
                       "component=source event=revoked group=%s "
                       "partitions=%d total=%d list=%s reason=%s",
                       src->group, parts->cnt, src->assigned, list,
                       lost ? "assignment_lost" : "rebalance");
        }
        if (error) {
                rs_log(RS_LOG_ERR,
                       "component=source event=assign_failed "
                       "reason=\"%s\"",
                       rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (aerr) {
                rs_log(RS_LOG_ERR,
                       "component=source event=assign_failed "
                       "reason=\"%s\"",
                       rd_kafka_err2str(aerr));
        }
}

rs_source_t *rs_source_new(const rs_kv_list_t *common,
                           const rs_consumer_conf_t *conf, rs_drain_fn *drain,
                           void *opaque, char *errstr, size_t errstr_size)
{
        rs_source_t *src = calloc(1, sizeof(*src));
        rd_kafka_conf_t *kconf = NULL;
        rd_kafka_topic_partition_list_t *topics = NULL;
        rd_kafka_resp_err_t err;

        if (!src)
                goto nomem;
        src->cap = conf->max_inflight;
        src->batch_max = conf->batch_size;
        src->drain = drain;
        src->opaque = opaque;
        src->revoked = conf->revoked;
        src->assigned_cb = conf->assigned;
        if (conf->transactional &&
            !(src->txn = rd_kafka_topic_partition_list_new(8)))
                goto nomem;
        snprintf(src->group, sizeof(src->group), "%s", conf->group);
        src->ring = calloc(src->cap, sizeof(*src->ring));
        if (!src->ring)
                goto nomem;
        for (size_t i = 0; i < src->cap; i++)
                if (!(src->ring[i].msgs = malloc(src->batch_max *
                                                 sizeof(*src->ring[i].msgs))))
                        goto nomem;

        if (!(kconf = source_conf(common, conf->kafka, conf->group,
                                  conf->from_latest, &src->cl.secrets, errstr,
                                  errstr_size)))
                goto fail;
        src->cl.name = "source";
        rd_kafka_conf_set_opaque(kconf, src);
        rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
        rd_kafka_conf_set_stats_cb(kconf, stats_cb);
        if (!(src->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr,
                                     errstr_size))) {
                scrub(&src->cl.secrets, errstr, errstr_size);
                goto fail;
        }
        kconf = NULL; /* owned by rk now */
        rd_kafka_set_log_queue(src->rk, NULL);
        rd_kafka_poll_set_consumer(src->rk);
        src->queue = rd_kafka_queue_get_consumer(src->rk);
        src->commitq = rd_kafka_queue_new(src->rk);

        topics = rd_kafka_topic_partition_list_new((int)conf->topics->n);
        for (size_t i = 0; i < conf->topics->n; i++)
                rd_kafka_topic_partition_list_add(topics, conf->topics->v[i],
                                                  RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(src->rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err) {
                rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                          "cannot subscribe: %s", rd_kafka_err2str(err));
                goto fail;
        }
        return src;
nomem:
        rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
fail:
        if (kconf)
                rd_kafka_conf_destroy(kconf);
        rs_source_destroy(src);
        return NULL;
}

static void slot_clear(slot_t *s)
{
        for (size_t i = 0; i < s->nmsgs; i++)
                rd_kafka_message_destroy(s->msgs[i]);
        s->nmsgs = 0;
        if (s->offsets)
                rd_kafka_topic_partition_list_destroy(s->offsets);
        s->offsets = NULL;
}

static void source_free(rs_source_t *src)
{
        for (size_t i = 0; src->ring && i < src->cap; i++)
                free(src->ring[i].msgs);
        free(src->ring);
        free(src->lag);
        if (src->txn)
                rd_kafka_topic_partition_list_destroy(src->txn);
        secrets_fini(&src->cl.secrets);
        free(src);
}

/* A consumer's rd_kafka_destroy, in a thread of its own: with the group
 * coordinator away it waits for the group to terminate, up to
 * session.timeout.ms (45 s by default), whatever the flags. */
typedef struct reaper {
        pthread_mutex_t mu;
        pthread_cond_t cv; /* CLOCK_MONOTONIC */
        int done, abandoned;
        rs_source_t *src;
        int flags;
} reaper_t;

static atomic_int reaping; /* destroys left to finish in the background */

int rs_kafka_background(void)
{
        return atomic_load(&reaping);
}

static void *reap(void *arg)
{
        reaper_t *rp = arg;
        int abandoned;

        rd_kafka_destroy_flags(rp->src->rk, rp->flags);
        pthread_mutex_lock(&rp->mu);
        rp->done = 1;
        abandoned = rp->abandoned;
        pthread_cond_signal(&rp->cv);
        pthread_mutex_unlock(&rp->mu);
        if (abandoned) { /* the closer went on: the rest is ours to free */
                source_free(rp->src);
                pthread_cond_destroy(&rp->cv);
                pthread_mutex_destroy(&rp->mu);
                free(rp);
                atomic_fetch_sub(&reaping, 1);
        }
        return NULL;
}

/* Destroys src->rk by `until` (monotonic ms): 0. Else -1: the destroy
 * goes on in its thread, which frees src when it ends (the caller must
 * not touch src again; a process that exits meanwhile loses nothing: the
 * consumer had nothing left to commit, or could not). */
static int destroy_by(rs_source_t *src, int flags, int64_t until)
{
        reaper_t *rp = calloc(1, sizeof(*rp));
        pthread_condattr_t ca;
        pthread_t t;
        int done;

        src->drain = NULL; /* no callback may reach the caller now */
        if (!rp)
                goto inline_destroy;
        pthread_mutex_init(&rp->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&rp->cv, &ca);
        pthread_condattr_destroy(&ca);
        rp->src = src;
        rp->flags = flags;
        if (pthread_create(&t, NULL, reap, rp)) {
                pthread_cond_destroy(&rp->cv);
                pthread_mutex_destroy(&rp->mu);
                free(rp);
                goto inline_destroy;
        }
        pthread_detach(t);
        pthread_mutex_lock(&rp->mu);
        while (!rp->done && rs_mono_ms() < until) {
                int64_t at = until;
                struct timespec ts = {(time_t)(at / 1000),
                                      (long)(at % 1000) * 1000000};
                pthread_cond_timedwait(&rp->cv, &rp->mu, &ts);
        }
        done = rp->done;
        rp->abandoned = !done;
        if (!done)
                atomic_fetch_add(&reaping, 1);
        pthread_mutex_unlock(&rp->mu);
        if (!done) {
                rs_log(RS_LOG_WARNING,
                       "component=source event=destroy_timeout "
                       "msg=\"librdkafka still waits for the group "
                       "coordinator: left to finish in the background\"");
                return -1;
        }
        pthread_cond_destroy(&rp->cv);
        pthread_mutex_destroy(&rp->mu);
        free(rp);
        return 0;
inline_destroy:
        rd_kafka_destroy_flags(src->rk, flags);
        return 0;
}

static void commit_late(rs_source_t *src, int64_t until);

rs_err_t rs_source_close(rs_source_t *src, int timeout_ms)
{
        rs_err_t rc = RS_OK;

        if (!src)
                return RS_OK;
        /* librdkafka's close and destroy wait until the application has
         * released every message it holds: first let go of the batches
         * whose offsets were never stored (a batch that failed). */
        for (size_t i = 0; src->ring && i < src->cap; i++)
                slot_clear(&src->ring[i]);
        if (src->rk) {
                int flags = 0;
                int64_t until = rs_mono_ms() + timeout_ms;
                if (src->queue)
                        rd_kafka_queue_destroy(src->queue);
                /* Leave the group (auto-commit commits what is stored),
                 * serving the close's events, at most timeout_ms: with
                 * brokers away the close would wait for them. */
                rd_kafka_queue_t *q = rd_kafka_queue_new(src->rk);
                rd_kafka_error_t *error =
                        rd_kafka_consumer_close_queue(src->rk, q);
                if (error) {
                        rs_log(RS_LOG_WARNING,
                               "component=source event=close_failed "
                               "reason=\"%s\"",
                               rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                } else {
                        while (!rd_kafka_consumer_closed(src->rk) &&
                               rs_mono_ms() < until) {
                                rd_kafka_event_t *ev =
                                        rd_kafka_queue_poll(q, 100);
                                /* the close's revoke comes as an event */
                                if (ev && rd_kafka_event_type(ev) ==
                                                  RD_KAFKA_EVENT_REBALANCE)
                                        rebalance_cb(
                                                src->rk,
                                                rd_kafka_event_error(ev),
                                                rd_kafka_event_topic_partition_list(
                                                        ev),
                                                src);
                                if (ev)
                                        rd_kafka_event_destroy(ev);
                        }
                }
                rd_kafka_queue_destroy(q);
                /* after the close: its revoke commits too */
                if (src->commitq) {
                        commit_late(src, rs_mono_ms());
                        rd_kafka_queue_destroy(src->commitq);
                        src->commitq = NULL;
                }
                if (!rd_kafka_consumer_closed(src->rk)) {
                        rs_log(RS_LOG_WARNING,
                               "component=source event=close_timeout "
                               "timeout_ms=%d msg=\"the group was not left "
                               "in time: it reassigns the partitions after "
                               "session.timeout.ms\"",
                               timeout_ms);
                        flags = RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE;
                        rc = RS_ERR_TIMEOUT;
                }
                if (destroy_by(src, flags, until))
                        return RS_ERR_TIMEOUT; /* src is the reaper's */
        }
        source_free(src);
        return rc;
}

void rs_source_destroy(rs_source_t *src)
{
        rs_source_close(src, 10000);
}

long rs_source_poll(rs_source_t *src, rs_msg_t *msgs, size_t max,
                    int timeout_ms, uint64_t *ticket)
{
        slot_t *s;
        ssize_t n;
        size_t out = 0;

        if (src->tail - src->head >= src->cap)
                return 0;
        s = &src->ring[src->tail % src->cap];
        if (max > src->batch_max)
                max = src->batch_max;
        /* rd_kafka_consume_batch_queue waits until the batch is full or the
         * timeout passes, so a batch of 2,000 at 10,000 events/s would hold
         * its first event 200 ms. Take what is there; wait only for the
         * first message when there is none, then take what came with it. */
        n = rd_kafka_consume_batch_queue(src->queue, 0, s->msgs, max);
        if (n == 0 && timeout_ms > 0) {
                rd_kafka_message_t *m =
                        rd_kafka_consumer_poll(src->rk, timeout_ms);
                if (m) {
                        s->msgs[0] = m;
                        n = rd_kafka_consume_batch_queue(src->queue, 0,
                                                         s->msgs + 1, max - 1);
                        n = n < 0 ? 1 : n + 1;
                }
        }
        if (n < 0) {
                rs_log(RS_LOG_ERR,
                       "component=source event=poll_failed "
                       "reason=\"%s\"",
                       rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        if (n == 0)
                return 0;
        s->nmsgs = (size_t)n;
        s->offsets = rd_kafka_topic_partition_list_new(8);
        s->pending = 1;

        rd_kafka_topic_partition_t *last = NULL;
        for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *m = s->msgs[i];
                const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
                if (m->err) {
                        char why[512];
                        rs_log(RS_LOG_WARNING,
                               "component=source event=consume_error "
                               "topic=%s partition=%d reason=\"%s\"",
                               topic, (int)m->partition,
                               scrubbed(&src->cl.secrets,
                                        rd_kafka_message_errstr(m), why,
                                        sizeof(why)));
                        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                                slot_clear(s);
                                return -1;
                        }
                        continue;
                }
                if (!last || last->partition != m->partition ||
                    strcmp(last->topic, topic)) {
                        last = rd_kafka_topic_partition_list_find(
                                s->offsets, topic, m->partition);
                        if (!last)
                                last = rd_kafka_topic_partition_list_add(
                                        s->offsets, topic, m->partition);
                }
                last->offset = m->offset + 1;
                rd_kafka_timestamp_type_t tstype;
                msgs[out++] = (rs_msg_t){
                        .key = m->key,
                        .key_len = m->key_len,
                        .value = m->payload,
                        .len = m->len,
                        .topic = topic,
                        .partition = m->partition,
                        .offset = m->offset,
                        .timestamp = rd_kafka_message_timestamp(m, &tstype),
                };
        }
        if (out == 0) { /* only errors: nothing to process or store */
                slot_clear(s);
                return 0;
        }
        *ticket = src->tail++;
        return (long)out;
}

void rs_source_hold(rs_source_t *src, uint64_t ticket)
{
        src->ring[ticket % src->cap].pending++;
}

void rs_source_release(rs_source_t *src, uint64_t ticket)
{
        src->ring[ticket % src->cap].pending--;
        /* Store in ticket order: an offset is stored only when every record
         * before it, on every partition, has its output delivered. */
        while (src->head < src->tail) {
                slot_t *s = &src->ring[src->head % src->cap];
                if (s->pending > 0)
                        break;
                if (s->offsets && s->offsets->cnt) {
                        rd_kafka_resp_err_t err =
                                rd_kafka_offsets_store(src->rk, s->offsets);
                        if (err)
                                rs_log(RS_LOG_DEBUG,
                                       "component=source event=store_skipped "
                                       "reason=\"%s\"",
                                       rd_kafka_err2str(err));
                }
                slot_clear(s);
                src->head++;
        }
}

void rs_source_done(rs_source_t *src, uint64_t ticket)
{
        slot_t *s = &src->ring[ticket % src->cap];

        /* exactly_once: processed is what the transaction commits, its
         * outputs in it (commit_transaction delivers them first) */
        for (int i = 0; src->txn && s->offsets && i < s->offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *o = &s->offsets->elems[i];
                rd_kafka_topic_partition_t *t =
                        rd_kafka_topic_partition_list_find(src->txn, o->topic,
                                                           o->partition);
                if (!t)
                        t = rd_kafka_topic_partition_list_add(
                                src->txn, o->topic, o->partition);
                t->offset = o->offset;
        }

        for (size_t i = 0; i < s->nmsgs; i++)
                rd_kafka_message_destroy(s->msgs[i]);
        s->nmsgs = 0;
        rs_source_release(src, ticket);
}

size_t rs_source_inflight(const rs_source_t *src)
{
        return (size_t)(src->tail - src->head);
}

void rs_source_resume(rs_source_t *src, const char *topic, int32_t partition)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);

        rd_kafka_topic_partition_list_add(l, topic, partition);
        rd_kafka_resume_partitions(src->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
}

int rs_source_assigned(const rs_source_t *src)
{
        return src->assigned;
}

/* Commit errors that a later attempt may not meet: the coordinator
 * moving or loading, a request lost. Not a rebalance in progress: it
 * cannot pass while this thread waits here instead of serving it (a
 * broker accepts the current generation's commits while the group
 * prepares to rebalance; librdkafka's mock refuses them), and what is
 * not committed is read again by the next owner and skipped by offset
 * against the state the changelog holds. */
static int commit_transient(rd_kafka_resp_err_t err)
{
        switch (err) {
        case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
        case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__WAIT_COORD: return 1;
        default: return 0;
        }
}

/* Commit errors that say the group moved on: this generation's offsets
 * cannot be committed any more. */
static int commit_refused(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
               err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
               err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
}

/* A commit that failed or was refused, logged. attempt 0: a late answer,
 * read after the rs_source_commit that sent it had stopped waiting (and
 * logged a timeout). */
static void commit_log(rd_kafka_resp_err_t err, int attempt)
{
        char when[32] = "late=true";

        if (!err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        if (attempt)
                snprintf(when, sizeof(when), "attempt=%d", attempt);
        if (commit_refused(err))
                rs_log(RS_LOG_NOTICE,
                       "component=source event=commit_refused reason=\"%s\" "
                       "%s msg=\"the group is rebalancing: the records since "
                       "the last commit are read again by the next owner\"",
                       rd_kafka_err2str(err), when);
        else
                rs_log(RS_LOG_WARNING,
                       "component=source event=commit_failed %s reason=\"%s\"",
                       when, rd_kafka_err2str(err));
}

/* Reads commit results until the one of commit number want (counted from
 * 1) or until passes: that one is returned; those before it are late and
 * logged as they are read. _TIMED_OUT when it did not come in time. */
static rd_kafka_resp_err_t commit_results(rs_source_t *src, uint64_t want,
                                          int64_t until)
{
        while (src->commits_read < want) {
                int64_t left = until - rs_mono_ms();
                rd_kafka_event_t *ev = rd_kafka_queue_poll(
                        src->commitq, left <= 0    ? 0
                                      : left > 100 ? 100
                                                   : (int)left);
                if (!ev) {
                        if (left <= 0)
                                break;
                        continue;
                }
                rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
                rd_kafka_event_destroy(ev);
                if (++src->commits_read == want)
                        return err;
                commit_log(err, 0);
        }
        return RD_KAFKA_RESP_ERR__TIMED_OUT;
}

/* Reads and logs the late answers of earlier commits: those already
 * there, and those that come before until. */
static void commit_late(rs_source_t *src, int64_t until)
{
        commit_results(src, src->commits_sent + 1, until);
}

rs_err_t rs_source_commit(rs_source_t *src, int timeout_ms)
{
        int64_t until = rs_mono_ms() + timeout_ms;
        rd_kafka_resp_err_t err;
        int attempts = 0;

        commit_late(src, rs_mono_ms());
        /* Asynchronous, so that brokers away cannot hold it longer; a
         * transient failure is tried again while there is time. */
        do {
                if (attempts++) /* back off, reading what comes late */
                        commit_late(src, rs_mono_ms() + 200);
                err = rd_kafka_commit_queue(src->rk, NULL, src->commitq, NULL,
                                            NULL);
                if (!err)
                        err = commit_results(src, ++src->commits_sent, until);
                commit_log(err, attempts);
        } while (err && commit_transient(err) && rs_mono_ms() + 200 < until);
        /* Refused is not a failure of what the worker guarantees: its
         * state is durable up to these records, and the partitions' next
         * owner reads them again and skips them by offset. */
        if (commit_refused(err))
                return RS_OK;
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                return err == RD_KAFKA_RESP_ERR__TIMED_OUT ? RS_ERR_TIMEOUT
                                                           : RS_ERR_KAFKA;
        return RS_OK;
}

/*
 * Sink.
 */

#define MAX_TOPICS 64

struct rs_sink {
        client_t cl; /* first: the opaque of rk */
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt[MAX_TOPICS];
        int ntopics;
        size_t max_message;
        const volatile sig_atomic_t *stop;
        rs_delivery_fn *dr;
        void *opaque;
        /* stall watch (rs_sink_poll) */
        uint64_t delivered, seen; /* successful reports: all, at last look */
        int64_t progress_ms;      /* then, or when nothing was outstanding */
        int stalled;
};

/* Output waiting this long with nothing delivered is logged. */
#define STALL_MS 10000

/* Errors after which the same record would fail again however often it
 * is retried: the broker refuses it. Everything else that reaches a
 * delivery report is librdkafka giving up in time (brokers away). */
static int permanent(rd_kafka_resp_err_t err)
{
        switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION: return 1;
        default: return 0;
        }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        rs_sink_t *sink = opaque;

        (void)rk;
        if (!m->err)
                sink->delivered++;
        if (sink->dr)
                sink->dr(sink->opaque, m->_private,
                         !m->err             ? RS_OK
                         : permanent(m->err) ? RS_ERR_KAFKA
                                             : RS_ERR_TIMEOUT,
                         m->err ? rd_kafka_err2str(m->err) : NULL, m->partition,
                         m->offset);
}

/* The producer; transactional with txn_id (NULL: idempotent only). */
static rs_sink_t *sink_create(const rs_kv_list_t *common, const char *topic,
                              const rs_kv_list_t *own, const char *txn_id,
                              int txn_timeout_ms, rs_delivery_fn *dr,
                              void *opaque, char *errstr, size_t errstr_size)
{
        rs_sink_t *sink = calloc(1, sizeof(*sink));
        rd_kafka_conf_t *kconf;
        char value[32];
        size_t vlen = sizeof(value);

        if (!sink) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        sink->dr = dr;
        sink->opaque = opaque;
        sink->progress_ms = rs_mono_ms();
        if (!(kconf = sink_conf(common, own, txn_id, txn_timeout_ms,
                                &sink->cl.secrets, errstr, errstr_size)))
                goto fail;
        sink->max_message = 1000000;
        if (rd_kafka_conf_get(kconf, "message.max.bytes", value, &vlen) ==
            RD_KAFKA_CONF_OK)
                sink->max_message = (size_t)strtoull(value, NULL, 10);
        sink->cl.name = "sink";
        rd_kafka_conf_set_opaque(kconf, sink);
        rd_kafka_conf_set_dr_msg_cb(kconf, dr_msg_cb);
        if (!(sink->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr,
                                      errstr_size))) {
                scrub(&sink->cl.secrets, errstr, errstr_size);
                rd_kafka_conf_destroy(kconf);
                goto fail;
        }
        rd_kafka_set_log_queue(sink->rk, NULL);
        if (rs_sink_add_topic(sink, topic, errstr, errstr_size) < 0)
                goto fail;
        return sink;
fail:
        rs_sink_destroy(sink);
        return NULL;
}

rs_sink_t *rs_sink_new(const rs_kv_list_t *common, const char *topic,
                       const rs_kv_list_t *own, rs_delivery_fn *dr,
                       void *opaque, char *errstr, size_t errstr_size)
{
        return sink_create(common, topic, own, NULL, 0, dr, opaque, errstr,
                           errstr_size);
}

rs_sink_t *rs_sink_new_transactional(const rs_kv_list_t *common,
                                     const char *topic, const rs_kv_list_t *own,
                                     const char *txn_id, int txn_timeout_ms,
                                     rs_delivery_fn *dr, void *opaque,
                                     char *errstr, size_t errstr_size)
{
        return sink_create(common, topic, own, txn_id, txn_timeout_ms, dr,
                           opaque, errstr, errstr_size);
}

/* What a failed transactional call leaves, and why (into errstr). */
static rs_txn_fail_t txn_fail(const rs_sink_t *sink, rd_kafka_error_t *error,
                              const char *call, char *errstr,
                              size_t errstr_size)
{
        rs_txn_fail_t kind;

        if (!error)
                return RS_TXN_OK;
        kind = rd_kafka_error_is_fatal(error)             ? RS_TXN_FATAL
               : rd_kafka_error_txn_requires_abort(error) ? RS_TXN_ABORTABLE
               : rd_kafka_error_is_retriable(error)       ? RS_TXN_RETRIABLE
                                                          : RS_TXN_FATAL;
        rs_seterr(errstr, errstr_size, RS_ERR_KAFKA, "%s: %s (%s)", call,
                  rd_kafka_error_string(error), rd_kafka_error_name(error));
        scrub(&sink->cl.secrets, errstr, errstr_size);
        rd_kafka_error_destroy(error);
        return kind;
}

rs_txn_fail_t rs_sink_txn_init(rs_sink_t *sink, int timeout_ms, char *errstr,
                               size_t errstr_size)
{
        return txn_fail(sink, rd_kafka_init_transactions(sink->rk, timeout_ms),
                        "init_transactions", errstr, errstr_size);
}

rs_txn_fail_t rs_sink_txn_begin(rs_sink_t *sink, char *errstr,
                                size_t errstr_size)
{
        return txn_fail(sink, rd_kafka_begin_transaction(sink->rk),
                        "begin_transaction", errstr, errstr_size);
}

rs_txn_fail_t rs_sink_txn_send_offsets(rs_sink_t *sink, rs_source_t *src,
                                       int timeout_ms, char *errstr,
                                       size_t errstr_size)
{
        rd_kafka_consumer_group_metadata_t *cgmd;
        rd_kafka_error_t *error;

        if (!src->txn || !src->txn->cnt)
                return RS_TXN_OK;
        /* the group's generation now: a member the group has moved on
         * from is refused (KIP-447) */
        if (!(cgmd = rd_kafka_consumer_group_metadata(src->rk))) {
                rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                          "send_offsets_to_transaction: no group metadata "
                          "for %s",
                          src->group);
                return RS_TXN_FATAL;
        }
        error = rd_kafka_send_offsets_to_transaction(sink->rk, src->txn, cgmd,
                                                     timeout_ms);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        return txn_fail(sink, error, "send_offsets_to_transaction", errstr,
                        errstr_size);
}

void rs_source_txn_committed(rs_source_t *src)
{
        /* emptied in place, from the end (nothing to move): a list made
         * anew could fail, and a NULL txn reads as at-least-once */
        while (src && src->txn && src->txn->cnt)
                rd_kafka_topic_partition_list_del_by_idx(src->txn,
                                                         src->txn->cnt - 1);
}

const char *rs_sink_txn_error(const rs_sink_t *sink)
{
        return sink->cl.txn_error;
}

int rs_source_txn_lost(const rs_source_t *src)
{
        return src ? src->txn_lost : 0;
}

int rs_source_txn_pending(const rs_source_t *src)
{
        return src && src->txn ? src->txn->cnt : 0;
}

rs_txn_fail_t rs_sink_txn_commit(rs_sink_t *sink, int timeout_ms, char *errstr,
                                 size_t errstr_size)
{
        return txn_fail(sink, rd_kafka_commit_transaction(sink->rk, timeout_ms),
                        "commit_transaction", errstr, errstr_size);
}

rs_txn_fail_t rs_sink_txn_abort(rs_sink_t *sink, int timeout_ms, char *errstr,
                                size_t errstr_size)
{
        return txn_fail(sink, rd_kafka_abort_transaction(sink->rk, timeout_ms),
                        "abort_transaction", errstr, errstr_size);
}

int rs_sink_add_topic(rs_sink_t *sink, const char *name, char *errstr,
                      size_t errstr_size)
{
        if (sink->ntopics == MAX_TOPICS) {
                rs_seterr(errstr, errstr_size, RS_ERR_FULL,
                          "more than %d output topics", MAX_TOPICS);
                return -1;
        }
        if (!(sink->rkt[sink->ntopics] =
                      rd_kafka_topic_new(sink->rk, name, NULL))) {
                rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                          "cannot create topic handle %s: %s", name,
                          rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        return sink->ntopics++;
}

void rs_sink_destroy(rs_sink_t *sink)
{
        if (!sink)
                return;
        for (int i = 0; i < sink->ntopics; i++)
                rd_kafka_topic_destroy(sink->rkt[i]);
        if (sink->rk) {
                /* Whatever is still queued was given up by the caller
                 * (rs_sink_flush timed out): do not wait for it here. */
                rd_kafka_purge(sink->rk, RD_KAFKA_PURGE_F_QUEUE |
                                                 RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(sink->rk, 0);
                rd_kafka_destroy(sink->rk);
        }
        secrets_fini(&sink->cl.secrets);
        free(sink);
}

rs_err_t rs_sink_produce(rs_sink_t *sink, int topic, int32_t partition,
                         const void *key, size_t key_len, const void *value,
                         size_t len, const rs_header_t *headers,
                         size_t nheaders, void *msg_opaque)
{
        for (;;) {
                rd_kafka_headers_t *hdrs = NULL;
                if (nheaders) {
                        hdrs = rd_kafka_headers_new(nheaders);
                        for (size_t i = 0; i < nheaders; i++)
                                rd_kafka_header_add(hdrs, headers[i].name, -1,
                                                    headers[i].value,
                                                    (ssize_t)headers[i].len);
                }
                rd_kafka_resp_err_t err = rd_kafka_producev(
                        sink->rk, RD_KAFKA_V_RKT(sink->rkt[topic]),
                        RD_KAFKA_V_PARTITION(partition < 0
                                                     ? RD_KAFKA_PARTITION_UA
                                                     : partition),
                        RD_KAFKA_V_KEY(key, key_len),
                        RD_KAFKA_V_VALUE((void *)value, len),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(msg_opaque),
                        RD_KAFKA_V_END);
                if (!err)
                        return RS_OK; /* hdrs are owned by the message */
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                        return RS_ERR_INVALID;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rs_log(RS_LOG_ERR,
                               "component=sink event=produce_failed "
                               "topic=%s reason=\"%s\"",
                               rd_kafka_topic_name(sink->rkt[topic]),
                               rd_kafka_err2str(err));
                        return RS_ERR_KAFKA;
                }
                if (sink->stop && *sink->stop)
                        return RS_ERR_TIMEOUT; /* brokers away, asked to stop */
                rd_kafka_poll(sink->rk, 50);   /* serve deliveries, retry */
        }
}

void rs_sink_set_stop(rs_sink_t *sink, const volatile sig_atomic_t *stop)
{
        sink->stop = stop;
}

/* Says once when output has waited STALL_MS with nothing delivered (a
 * leader of the output unreachable: librdkafka retries until
 * message.timeout.ms), and when deliveries resume. */
static void watch_stall(rs_sink_t *sink)
{
        int64_t now = rs_mono_ms();
        int outstanding = rd_kafka_outq_len(sink->rk);

        if (sink->delivered != sink->seen || outstanding == 0) {
                if (sink->stalled && sink->delivered != sink->seen)
                        rs_log(RS_LOG_NOTICE,
                               "component=sink event=delivery_resumed "
                               "stalled_ms=%lld outstanding=%d",
                               (long long)(now - sink->progress_ms),
                               outstanding);
                sink->stalled = 0;
                sink->seen = sink->delivered;
                sink->progress_ms = now;
        } else if (!sink->stalled && now - sink->progress_ms >= STALL_MS) {
                sink->stalled = 1;
                rs_log(RS_LOG_ERR,
                       "component=sink event=delivery_stalled "
                       "outstanding=%d stalled_ms=%lld msg=\"nothing "
                       "delivered: retrying until message.timeout.ms; "
                       "nothing is committed meanwhile\"",
                       outstanding, (long long)(now - sink->progress_ms));
        }
}

void rs_sink_poll(rs_sink_t *sink, int timeout_ms)
{
        rd_kafka_poll(sink->rk, timeout_ms);
        watch_stall(sink);
}

rs_err_t rs_sink_flush(rs_sink_t *sink, int timeout_ms)
{
        return rd_kafka_flush(sink->rk, timeout_ms) ? RS_ERR_TIMEOUT : RS_OK;
}

int rs_sink_outstanding(rs_sink_t *sink)
{
        return rd_kafka_outq_len(sink->rk);
}

void rs_sink_purge(rs_sink_t *sink)
{
        rd_kafka_purge(sink->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(sink->rk, 0);
}

size_t rs_sink_max_message(const rs_sink_t *sink)
{
        return sink->max_message;
}

/*
 * Admin.
 */

/* A short-lived producer handle for admin requests and metadata. */
static rd_kafka_t *admin_new(const rs_kv_list_t *common, client_t *cl,
                             char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *kconf =
                admin_conf(common, &cl->secrets, errstr, errstr_size);
        rd_kafka_t *rk;

        if (!kconf)
                return NULL;
        cl->name = "admin";
        rd_kafka_conf_set_opaque(kconf, cl);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr,
                                errstr_size))) {
                scrub(&cl->secrets, errstr, errstr_size);
                rd_kafka_conf_destroy(kconf);
                return NULL;
        }
        rd_kafka_set_log_queue(rk, NULL);
        return rk;
}

/* An existing topic's partitions (metadata) and cleanup.policy
 * (DescribeConfigs) against what it should have: a difference is logged. */
static void check_existing(rd_kafka_t *rk, rd_kafka_queue_t *q,
                           const rs_topic_spec_t *spec, int timeout_ms)
{
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, spec->name, NULL);
        const struct rd_kafka_metadata *md = NULL;

        if (rkt &&
            rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && !md->topics[0].err &&
            md->topics[0].partition_cnt != spec->partitions)
                rs_log(RS_LOG_WARNING,
                       "component=admin event=topic_differs topic=%s "
                       "key=partitions want=%d got=%d",
                       spec->name, spec->partitions,
                       md->topics[0].partition_cnt);
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);

        rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(
                RD_KAFKA_RESOURCE_TOPIC, spec->name);
        rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(
                rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
        rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
        rd_kafka_DescribeConfigs(rk, &res, 1, opt, q);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_ConfigResource_destroy(res);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        const rd_kafka_DescribeConfigs_result_t *dr =
                ev ? rd_kafka_event_DescribeConfigs_result(ev) : NULL;
        size_t nres = 0, nconf = 0;
        const rd_kafka_ConfigResource_t **rs =
                dr && !rd_kafka_event_error(ev)
                        ? rd_kafka_DescribeConfigs_result_resources(dr, &nres)
                        : NULL;
        const rd_kafka_ConfigEntry_t **ce =
                nres == 1 && !rd_kafka_ConfigResource_error(rs[0])
                        ? rd_kafka_ConfigResource_configs(rs[0], &nconf)
                        : NULL;
        if (!ce)
                rs_log(RS_LOG_NOTICE,
                       "component=admin event=describe_configs_unsupported "
                       "topic=%s reason=\"%s\" msg=\"its cleanup.policy "
                       "is not checked\"",
                       spec->name,
                       ev && rd_kafka_event_error(ev)
                               ? rd_kafka_event_error_string(ev)
                       : nres == 1 ? rd_kafka_ConfigResource_error_string(rs[0])
                                   : "no answer");
        for (size_t i = 0; i < nconf; i++) {
                const char *k = rd_kafka_ConfigEntry_name(ce[i]);
                const char *v = rd_kafka_ConfigEntry_value(ce[i]);
                if (!k || strcmp(k, "cleanup.policy"))
                        continue;
                int compact = v && strstr(v, "compact");
                if (compact != spec->compact)
                        rs_log(RS_LOG_WARNING,
                               "component=admin event=topic_differs topic=%s "
                               "key=cleanup.policy want=%s got=%s",
                               spec->name, spec->compact ? "compact" : "delete",
                               v ? v : "");
        }
        if (ev)
                rd_kafka_event_destroy(ev);
}

void rs_kafka_create_topics(const rs_kv_list_t *common,
                            const rs_topic_spec_t *specs, size_t n,
                            int timeout_ms)
{
        client_t cl = {0};
        char errstr[512];
        rd_kafka_t *rk = admin_new(common, &cl, errstr, sizeof(errstr));
        rd_kafka_NewTopic_t **nt = calloc(n, sizeof(*nt));
        rd_kafka_queue_t *q = rk ? rd_kafka_queue_new(rk) : NULL;
        rd_kafka_event_t *ev = NULL;

        if (!rk || !nt || !q) {
                rs_log(RS_LOG_WARNING,
                       "component=admin event=create_topics_failed "
                       "reason=\"%s\"",
                       rk ? "out of memory" : errstr);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                nt[i] = rd_kafka_NewTopic_new(specs[i].name,
                                              specs[i].partitions, -1, NULL, 0);
                if (nt[i] && specs[i].compact)
                        rd_kafka_NewTopic_set_config(nt[i], "cleanup.policy",
                                                     "compact");
        }
        rd_kafka_AdminOptions_t *opt =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
        rd_kafka_CreateTopics(rk, nt, n, opt, q);
        rd_kafka_AdminOptions_destroy(opt);
        ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        const rd_kafka_CreateTopics_result_t *res =
                ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
        if (!res || rd_kafka_event_error(ev)) {
                /* the dev broker answers no CreateTopics: what a metadata
                 * request auto-creates, or what `dev-broker` made, stands */
                rs_log(RS_LOG_NOTICE,
                       "component=admin event=create_topics_unsupported "
                       "reason=\"%s\" msg=\"the broker did not create "
                       "topics: they must exist (dev-broker makes the "
                       "shipped pipelines')\"",
                       ev ? rd_kafka_event_error_string(ev) : "timed out");
                goto out;
        }
        size_t nres;
        const rd_kafka_topic_result_t **tr =
                rd_kafka_CreateTopics_result_topics(res, &nres);
        for (size_t i = 0; i < nres; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                const char *name = rd_kafka_topic_result_name(tr[i]);
                if (!e)
                        rs_log(RS_LOG_INFO,
                               "component=admin event=topic_created topic=%s",
                               name);
                else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                        rs_log(RS_LOG_WARNING,
                               "component=admin event=topic_not_created "
                               "topic=%s reason=\"%s\"",
                               name, rd_kafka_topic_result_error_string(tr[i]));
                for (size_t k = 0;
                     e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && k < n; k++)
                        if (!strcmp(specs[k].name, name))
                                check_existing(rk, q, &specs[k], timeout_ms);
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        for (size_t i = 0; nt && i < n; i++)
                if (nt[i])
                        rd_kafka_NewTopic_destroy(nt[i]);
        free(nt);
        if (q)
                rd_kafka_queue_destroy(q);
        if (rk)
                rd_kafka_destroy(rk);
        secrets_fini(&cl.secrets);
}

rs_err_t rs_kafka_partitions(const rs_kv_list_t *common, const char *topic,
                             int timeout_ms, int *partitions, char *errstr,
                             size_t errstr_size)
{
        client_t cl = {0};
        rd_kafka_t *rk = admin_new(common, &cl, errstr, errstr_size);
        rs_err_t rc = RS_ERR_NOENT;

        *partitions = 0;
        if (!rk) {
                secrets_fini(&cl.secrets);
                return RS_ERR_KAFKA;
        }
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int64_t until = rs_mono_ms() + timeout_ms;
        while (rc && rs_mono_ms() < until) {
                const struct rd_kafka_metadata *md = NULL;
                if (rd_kafka_metadata(rk, 0, rkt, &md, 1000) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR) {
                        if (md->topic_cnt == 1 && !md->topics[0].err &&
                            md->topics[0].partition_cnt > 0) {
                                *partitions = md->topics[0].partition_cnt;
                                rc = RS_OK;
                        }
                        rd_kafka_metadata_destroy(md);
                }
                if (rc)
                        rd_kafka_poll(rk, 100);
        }
        if (rc)
                rs_seterr(errstr, errstr_size, rc,
                          "topic %s not found within %d ms", topic, timeout_ms);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        secrets_fini(&cl.secrets);
        return rc;
}

/*
 * Reader.
 */

struct rs_reader {
        client_t cl; /* first: the opaque of rk */
        rd_kafka_t *rk;
        rd_kafka_message_t *last;
        rs_msg_t msg;
        int64_t *end, *pos; /* by partition: high watermark at start, next */
        int parts;
        int committed; /* read_committed: partition EOFs move pos */
        char *topic;
};

/* Whether the list sets key to value (the last setting counts). */
static int kv_is(const rs_kv_list_t *kv, const char *key, const char *value)
{
        for (size_t i = kv ? kv->n : 0; i-- > 0;)
                if (!strcmp(kv->v[i].key, key))
                        return !strcmp(kv->v[i].value, value);
        return 0;
}

/* A reader's client, and the partitions of topic (waiting up to wait_ms
 * for it to exist), nothing assigned yet. */
static rs_reader_t *reader_open(const rs_kv_list_t *common,
                                const rs_kv_list_t *own, int restore,
                                const char *topic, int wait_ms, char *errstr,
                                size_t errstr_size)
{
        rs_reader_t *rd = calloc(1, sizeof(*rd));
        rd_kafka_conf_t *kconf;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = NULL;
        int parts = 0;

        if (!rd)
                return NULL;
        if (!(kconf = reader_conf(common, own, restore, &rd->cl.secrets, errstr,
                                  errstr_size)))
                goto fail;
        rd->cl.name = "reader";
        /* read_committed asked for (exactly_once): a partition's last
         * offsets may be transaction markers, never handed out as
         * messages, so where it has been read to comes from the
         * partition EOF, which lies past them */
        if ((kv_is(common, "isolation.level", "read_committed") ||
             kv_is(own, "isolation.level", "read_committed")) &&
            rd_kafka_conf_set(kconf, "enable.partition.eof", "true", errstr,
                              errstr_size) == RD_KAFKA_CONF_OK)
                rd->committed = 1;
        rd_kafka_conf_set_opaque(kconf, rd);
        if (!(rd->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, errstr,
                                    errstr_size))) {
                scrub(&rd->cl.secrets, errstr, errstr_size);
                rd_kafka_conf_destroy(kconf);
                goto fail;
        }
        rd_kafka_set_log_queue(rd->rk, NULL);
        rd_kafka_poll_set_consumer(rd->rk);
        rkt = rd_kafka_topic_new(rd->rk, topic, NULL);
        /* The topic may not exist yet: wait for it a while. */
        for (int tries = 0; tries <= wait_ms / 1000 && parts == 0; tries++) {
                if (rd_kafka_metadata(rd->rk, 0, rkt, &md, 1000) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR) {
                        if (md->topic_cnt == 1 && !md->topics[0].err)
                                parts = md->topics[0].partition_cnt;
                        rd_kafka_metadata_destroy(md);
                }
                if (!parts)
                        rd_kafka_poll(rd->rk, 100);
        }
        rd_kafka_topic_destroy(rkt);
        if (!parts) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOENT,
                          "topic %s not found within %d ms", topic, wait_ms);
                goto fail;
        }
        rd->parts = parts;
        rd->end = calloc((size_t)parts, sizeof(*rd->end));
        rd->pos = calloc((size_t)parts, sizeof(*rd->pos));
        if (!rd->end || !rd->pos || !(rd->topic = strdup(topic)))
                goto fail;
        return rd;
fail:
        rs_reader_destroy(rd);
        return NULL;
}

/* Where partition p starts and, from its beginning, ends now. */
static rs_err_t reader_bounds(rs_reader_t *rd, int p, int from_beginning,
                              char *errstr, size_t errstr_size)
{
        int64_t lo = 0, hi = 0;

        if (rd_kafka_query_watermark_offsets(rd->rk, rd->topic, p, &lo, &hi,
                                             5000))
                return rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                                 "cannot read the end of %s[%d]", rd->topic, p);
        rd->end[p] = from_beginning ? hi : 0;
        rd->pos[p] = lo;
        return RS_OK;
}

rs_reader_t *rs_reader_new(const rs_kv_list_t *common, const rs_kv_list_t *own,
                           const char *topic, int from_beginning, int wait_ms,
                           char *errstr, size_t errstr_size)
{
        rs_reader_t *rd = reader_open(common, own, 0, topic, wait_ms, errstr,
                                      errstr_size);

        if (!rd)
                return NULL;
        for (int p = 0; p < rd->parts; p++)
                if (reader_bounds(rd, p, from_beginning, errstr, errstr_size))
                        goto fail;
        rd_kafka_topic_partition_list_t *list =
                rd_kafka_topic_partition_list_new(rd->parts);
        for (int p = 0; p < rd->parts; p++)
                rd_kafka_topic_partition_list_add(list, topic, p)->offset =
                        from_beginning ? RD_KAFKA_OFFSET_BEGINNING
                                       : RD_KAFKA_OFFSET_END;
        rd_kafka_resp_err_t err = rd_kafka_assign(rd->rk, list);
        rd_kafka_topic_partition_list_destroy(list);
        if (err) {
                rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                          "cannot assign %s: %s", topic, rd_kafka_err2str(err));
                goto fail;
        }
        return rd;
fail:
        rs_reader_destroy(rd);
        return NULL;
}

rs_reader_t *rs_reader_new_idle(const rs_kv_list_t *common,
                                const rs_kv_list_t *own, const char *topic,
                                int wait_ms, char *errstr, size_t errstr_size)
{
        return reader_open(common, own, 1, topic, wait_ms, errstr, errstr_size);
}

int rs_reader_partitions(const rs_reader_t *rd)
{
        return rd->parts;
}

rs_err_t rs_reader_bounds(rs_reader_t *rd, int32_t partition, int64_t *lo,
                          int64_t *hi, char *errstr, size_t errstr_size)
{
        if (partition < 0 || partition >= rd->parts)
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "%s has no partition %d", rd->topic,
                                 (int)partition);
        if (rd_kafka_query_watermark_offsets(rd->rk, rd->topic, partition, lo,
                                             hi, 5000))
                return rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                                 "cannot read the bounds of %s[%d]", rd->topic,
                                 (int)partition);
        return RS_OK;
}

rs_err_t rs_reader_reset(rs_reader_t *rd, int32_t partition, int64_t offset,
                         int64_t *end, char *errstr, size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *list;
        rd_kafka_resp_err_t err;

        if (partition < 0 || partition >= rd->parts)
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "%s has no partition %d", rd->topic,
                                 (int)partition);
        if (rd->last) {
                rd_kafka_message_destroy(rd->last);
                rd->last = NULL;
        }
        memset(rd->end, 0, (size_t)rd->parts * sizeof(*rd->end));
        memset(rd->pos, 0, (size_t)rd->parts * sizeof(*rd->pos));
        if (reader_bounds(rd, partition, 1, errstr, errstr_size))
                return RS_ERR_KAFKA;
        int64_t from = RD_KAFKA_OFFSET_BEGINNING;
        if (offset >= 0 && offset > rd->pos[partition])
                rd->pos[partition] = from = offset;
        if (end)
                *end = rd->end[partition];
        list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, rd->topic, partition)->offset =
                from;
        err = rd_kafka_assign(rd->rk, list);
        rd_kafka_topic_partition_list_destroy(list);
        if (err)
                return rs_seterr(errstr, errstr_size, RS_ERR_KAFKA,
                                 "cannot assign %s[%d]: %s", rd->topic,
                                 (int)partition, rd_kafka_err2str(err));
        return RS_OK;
}

void rs_reader_destroy(rs_reader_t *rd)
{
        if (!rd)
                return;
        if (rd->last)
                rd_kafka_message_destroy(rd->last);
        if (rd->rk) {
                rd_kafka_consumer_close(rd->rk);
                rd_kafka_destroy(rd->rk);
        }
        free(rd->end);
        free(rd->pos);
        free(rd->topic);
        secrets_fini(&rd->cl.secrets);
        free(rd);
}

int rs_reader_header(const rs_reader_t *rd, size_t idx, const char **name,
                     const void **value, size_t *size)
{
        rd_kafka_headers_t *hdrs = NULL;

        if (!rd->last || rd_kafka_message_headers(rd->last, &hdrs) || !hdrs ||
            rd_kafka_header_get_all(hdrs, idx, name, value, size))
                return -1;
        return 0;
}

int rs_reader_caught_up(const rs_reader_t *rd)
{
        for (int p = 0; p < rd->parts; p++)
                if (rd->pos[p] < rd->end[p])
                        return 0;
        return 1;
}

const rs_msg_t *rs_reader_next(rs_reader_t *rd, int timeout_ms)
{
        rd_kafka_message_t *m;

        if (rd->last) {
                rd_kafka_message_destroy(rd->last);
                rd->last = NULL;
        }
        m = rd_kafka_consumer_poll(rd->rk, timeout_ms);
        if (!m)
                return NULL;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && rd->committed) {
                if (m->partition >= 0 && m->partition < rd->parts &&
                    m->offset > rd->pos[m->partition])
                        rd->pos[m->partition] = m->offset;
                rd_kafka_message_destroy(m);
                return NULL;
        }
        if (m->err) {
                char why[512];
                rs_log(RS_LOG_WARNING,
                       "component=reader event=error "
                       "reason=\"%s\"",
                       scrubbed(&rd->cl.secrets, rd_kafka_message_errstr(m),
                                why, sizeof(why)));
                rd_kafka_message_destroy(m);
                return NULL;
        }
        rd->last = m;
        if (m->partition >= 0 && m->partition < rd->parts)
                rd->pos[m->partition] = m->offset + 1;
        rd_kafka_timestamp_type_t tstype;
        rd->msg = (rs_msg_t){
                .key = m->key,
                .key_len = m->key_len,
                .value = m->payload,
                .len = m->len,
                .topic = rd_kafka_topic_name(m->rkt),
                .partition = m->partition,
                .offset = m->offset,
                .timestamp = rd_kafka_message_timestamp(m, &tstype),
        };
        return &rd->msg;
}
