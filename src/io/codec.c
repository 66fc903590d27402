/* codec.c — Avro BehaviorEvent/UserRecs codec on avro-c's generic values.
 *
 * Why not avro-c's resolver: in avro-c 1.11 avro_resolved_writer_new()
 * rejects a reader field that the writer lacks (it does not apply
 * defaults), and it maps enums by index instead of by symbol. So each
 * writer schema is read with its own generic class (avro_value_read, the
 * fast path) and bound once to the reader contract below by name. */
#include <avro.h>
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "recstream/buf.h"
#include "recstream/clock.h"
#include "recstream/codec.h"
#include "avro_strict.h"
#include "recstream/hash.h"
#include "recstream/records.h"

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

#ifndef RS_AVRO_VERSION
#define RS_AVRO_VERSION "unknown"
#endif

const char *rs_codec_avro_version(void)
{
        return RS_AVRO_VERSION;
}

/* avro-c allocates a string's or array's claimed length before it checks
 * that the buffer holds it. The strict check (avro_strict.h) refuses such
 * records before avro-c sees them; behind it, as a second line, a single
 * allocation beyond this cap is refused and that read alone fails.
 * avro-c's allocator is process-wide: installed once. */
#define AVRO_ALLOC_CAP (64u << 20)

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
        size_t cap = AVRO_ALLOC_CAP;

        (void)ud;
        (void)osize;
        if (nsize == 0) {
                free(ptr);
                return NULL;
        }
        return nsize > cap ? NULL : realloc(ptr, nsize);
}

static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

static void install_allocator(void)
{
        avro_set_allocator(capped_alloc, NULL);
}

enum kind { K_STRING, K_LONG, K_DOUBLE, K_ENUM };

/* The reader contract: BehaviorEvent fields the stages use. */
enum {
        EF_EVENT_ID,
        EF_USER_ID,
        EF_ITEM_ID,
        EF_EVENT_TYPE,
        EF_TS,
        EF_WATCH_MS,
        EF_DURATION_MS,
        EF_CATEGORY,
        EF_VALUE,
        EF__COUNT
};

static const struct {
        const char *name;
        enum kind kind;
        int required;
} contract[EF__COUNT] = {
        [EF_EVENT_ID] = {"event_id", K_STRING, 1},
        [EF_USER_ID] = {"user_id", K_STRING, 1},
        [EF_ITEM_ID] = {"item_id", K_STRING, 1},
        [EF_EVENT_TYPE] = {"event_type", K_ENUM, 1},
        [EF_TS] = {"ts", K_LONG, 1},
        [EF_WATCH_MS] = {"watch_ms", K_LONG, 0},
        [EF_DURATION_MS] = {"duration_ms", K_LONG, 0},
        [EF_CATEGORY] = {"category", K_STRING, 0},
        [EF_VALUE] = {"value", K_DOUBLE, 0},
};

typedef struct field {
        int idx;          /* field index in the writer record, -1 absent */
        int null_branch;  /* union branch of null, -1 if none */
        int branch;       /* union branch holding the value, -1 not a union */
        avro_type_t type; /* writer type of the value */
} field_t;

/* A schema with its reusable generic value, its CRC-64-AVRO fingerprint
 * and Confluent id (-1 when none). UserRecs and ItemMeta are read and
 * written with their built-in schemas only. */
typedef struct fixed {
        avro_schema_t schema;
        avro_value_iface_t *iface;
        avro_value_t value;
        uint64_t fp;
        int32_t id;
        rs_avro_prog_t *prog; /* its strict check (avro_strict.h) */
} fixed_t;

/* A BehaviorEvent writer schema bound to the reader contract. */
typedef struct binding {
        fixed_t fx;
        field_t f[EF__COUNT];
        int8_t *enum_map; /* writer event_type symbol -> rs type or -1 */
        int enum_n;
} binding_t;

struct rs_codec {
        rs_framing_t framing;
        rs_intern_t *strings; /* borrowed */
        binding_t *bindings;  /* [0] is the built-in BehaviorEvent */
        size_t nbindings;
        size_t plain; /* binding plain framing reads with */
        avro_reader_t reader;

        fixed_t recs, item, delta, nbrec, ustate, istate;
        rs_cp_state_t *dec_cp; /* the last decoded ItemState's arrays */
        rs_neighbor_t *dec_inb;
        rs_watermark_t *dec_wm;
        size_t dec_cp_cap, dec_inb_cap, dec_wm_cap;
        rs_win_entry_t *dec_win; /* the last decoded UserState's arrays */
        uint64_t dec_eids[RS_USER_EIDS];
        uint64_t *dec_seen;
        float *dec_interest;
        size_t dec_win_cap, dec_seen_cap, dec_interest_cap;
        rs_delta_t dec_delta; /* the last decoded delta */
        rs_neighbor_t *dec_nb;
        size_t dec_nb_cap;
        rs_trend_t *dec_trend;
        size_t dec_trend_cap;
        /* encode: the index of each id in the record's id list */
        uint32_t *idx_key, *idx_val;
        uint32_t idx_mask, idx_n;
        float *emb; /* the last decoded ItemMeta embedding */
        size_t emb_cap;

        avro_writer_t writer;
        char *out;
        size_t out_size;

        size_t max_id;     /* bytes of an id at most */
        int stamp;         /* rs_codec_set_stamp */
        unsigned char *v1; /* a plain earlier UserRecs, made current */
        size_t v1_size;
        uint64_t list_seed, list_seq;
        char pipeline[128];
        char config_hash[40];
        const char *reason;
        char err[256];
};

static const char *const framing_names[RS_FRAMING__COUNT] = {
        "plain",
        "confluent",
        "single-object",
};

const char *rs_framing_name(int framing)
{
        return framing >= 0 && framing < RS_FRAMING__COUNT
                       ? framing_names[framing]
                       : "?";
}

int rs_framing_parse(const char *name)
{
        for (int i = 0; i < RS_FRAMING__COUNT; i++)
                if (!strcmp(name, framing_names[i]))
                        return i;
        return -1;
}

static rs_err_t fail(rs_codec_t *codec, rs_err_t err, const char *reason,
                     const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static rs_err_t fail(rs_codec_t *codec, rs_err_t err, const char *reason,
                     const char *fmt, ...)
{
        va_list ap;

        codec->reason = reason;
        va_start(ap, fmt);
        vsnprintf(codec->err, sizeof(codec->err), fmt, ap);
        va_end(ap);
        return err;
}

/*
 * Parsing Canonical Form and CRC-64-AVRO (Avro specification, "Schema
 * Fingerprints"); avro-c 1.11 has neither.
 */

static uint64_t crc64_avro(const void *data, size_t len)
{
        const unsigned char *p = data;
        uint64_t fp = CRC64_AVRO_EMPTY;

        for (size_t i = 0; i < len; i++) {
                fp ^= p[i];
                for (int j = 0; j < 8; j++)
                        fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        }
        return fp;
}

static void full_name(rs_buf_t *b, avro_schema_t s)
{
        const char *ns = avro_schema_namespace(s);

        rs_buf_adds(b, "\"");
        if (ns && *ns) {
                rs_buf_adds(b, ns);
                rs_buf_adds(b, ".");
        }
        rs_buf_adds(b, avro_schema_name(s));
        rs_buf_adds(b, "\"");
}

static void canonical(rs_buf_t *b, avro_schema_t s)
{
        size_t i, n;

        switch (avro_typeof(s)) {
        case AVRO_STRING: rs_buf_adds(b, "\"string\""); break;
        case AVRO_BYTES: rs_buf_adds(b, "\"bytes\""); break;
        case AVRO_INT32: rs_buf_adds(b, "\"int\""); break;
        case AVRO_INT64: rs_buf_adds(b, "\"long\""); break;
        case AVRO_FLOAT: rs_buf_adds(b, "\"float\""); break;
        case AVRO_DOUBLE: rs_buf_adds(b, "\"double\""); break;
        case AVRO_BOOLEAN: rs_buf_adds(b, "\"boolean\""); break;
        case AVRO_NULL: rs_buf_adds(b, "\"null\""); break;
        case AVRO_LINK: full_name(b, avro_schema_link_target(s)); break;
        case AVRO_RECORD:
                rs_buf_adds(b, "{\"name\":");
                full_name(b, s);
                rs_buf_adds(b, ",\"type\":\"record\",\"fields\":[");
                n = avro_schema_record_size(s);
                for (i = 0; i < n; i++) {
                        rs_buf_printf(
                                b, "%s{\"name\":\"%s\",\"type\":", i ? "," : "",
                                avro_schema_record_field_name(s, (int)i));
                        canonical(b, avro_schema_record_field_get_by_index(
                                             s, (int)i));
                        rs_buf_adds(b, "}");
                }
                rs_buf_adds(b, "]}");
                break;
        case AVRO_ENUM:
                rs_buf_adds(b, "{\"name\":");
                full_name(b, s);
                rs_buf_adds(b, ",\"type\":\"enum\",\"symbols\":[");
                n = (size_t)avro_schema_enum_number_of_symbols(s);
                for (i = 0; i < n; i++)
                        rs_buf_printf(b, "%s\"%s\"", i ? "," : "",
                                      avro_schema_enum_get(s, (int)i));
                rs_buf_adds(b, "]}");
                break;
        case AVRO_FIXED:
                rs_buf_adds(b, "{\"name\":");
                full_name(b, s);
                rs_buf_printf(b, ",\"type\":\"fixed\",\"size\":%lld}",
                              (long long)avro_schema_fixed_size(s));
                break;
        case AVRO_ARRAY:
                rs_buf_adds(b, "{\"type\":\"array\",\"items\":");
                canonical(b, avro_schema_array_items(s));
                rs_buf_adds(b, "}");
                break;
        case AVRO_MAP:
                rs_buf_adds(b, "{\"type\":\"map\",\"values\":");
                canonical(b, avro_schema_map_values(s));
                rs_buf_adds(b, "}");
                break;
        case AVRO_UNION:
                rs_buf_adds(b, "[");
                n = avro_schema_union_size(s);
                for (i = 0; i < n; i++) {
                        if (i)
                                rs_buf_adds(b, ",");
                        canonical(b, avro_schema_union_branch(s, (int)i));
                }
                rs_buf_adds(b, "]");
                break;
        default: rs_buf_adds(b, "\"?\""); break;
        }
}

static rs_err_t parse_schema(const char *json, size_t len, avro_schema_t *s,
                             char *errstr, size_t errstr_size)
{
        if (avro_schema_from_json_length(json, len, s))
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "invalid Avro schema: %s", avro_strerror());
        return RS_OK;
}

static uint64_t schema_fingerprint(avro_schema_t s, char **canon)
{
        rs_buf_t b;
        uint64_t fp;

        rs_buf_init(&b);
        canonical(&b, s);
        fp = crc64_avro(b.p, b.len);
        if (canon)
                *canon = b.p;
        else
                rs_buf_fini(&b);
        return fp;
}

rs_err_t rs_codec_canonical_form(const char *json, size_t len, char **canon,
                                 uint64_t *fingerprint, char *errstr,
                                 size_t errstr_size)
{
        avro_schema_t s;
        rs_err_t err = parse_schema(json, len, &s, errstr, errstr_size);

        if (err)
                return err;
        *fingerprint = schema_fingerprint(s, canon);
        avro_schema_decref(s);
        return canon && !*canon ? RS_ERR_NOMEM : RS_OK;
}

/*
 * Binding writer schemas to the reader contract.
 */

static int kind_accepts(enum kind kind, avro_type_t t)
{
        switch (kind) {
        case K_STRING: return t == AVRO_STRING || t == AVRO_BYTES;
        case K_LONG: return t == AVRO_INT32 || t == AVRO_INT64;
        case K_DOUBLE:
                return t == AVRO_INT32 || t == AVRO_INT64 || t == AVRO_FLOAT ||
                       t == AVRO_DOUBLE;
        case K_ENUM: return t == AVRO_ENUM || t == AVRO_STRING;
        }
        return 0;
}

static avro_schema_t deref(avro_schema_t s)
{
        while (avro_typeof(s) == AVRO_LINK)
                s = avro_schema_link_target(s);
        return s;
}

/* A reusable generic value of schema s; *iface NULL on failure. */
static rs_err_t new_value(avro_schema_t s, avro_value_iface_t **iface,
                          avro_value_t *value, char *errstr, size_t errstr_size)
{
        *iface = avro_generic_class_from_schema(s);
        if (!*iface || avro_generic_value_new(*iface, value)) {
                if (*iface)
                        avro_value_iface_decref(*iface);
                *iface = NULL;
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "cannot create Avro value: %s",
                                 avro_strerror());
        }
        return RS_OK;
}

static void fixed_fini(fixed_t *f)
{
        if (f->iface) {
                avro_value_decref(&f->value);
                avro_value_iface_decref(f->iface);
        }
        rs_avro_prog_destroy(f->prog);
        if (f->schema)
                avro_schema_decref(f->schema);
}

static void binding_fini(binding_t *b)
{
        fixed_fini(&b->fx);
        free(b->enum_map);
}

static rs_err_t bind_field(binding_t *b, int ef, char *errstr,
                           size_t errstr_size)
{
        field_t *f = &b->f[ef];
        avro_schema_t fs, vs = NULL;
        const char *name = contract[ef].name;

        f->idx = avro_schema_record_field_get_index(b->fx.schema, name);
        f->null_branch = f->branch = -1;
        if (f->idx < 0)
                return contract[ef].required
                               ? rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                           "writer schema lacks required "
                                           "field '%s'",
                                           name)
                               : RS_OK;

        fs = deref(avro_schema_record_field_get_by_index(b->fx.schema, f->idx));
        if (avro_typeof(fs) == AVRO_UNION) {
                size_t n = avro_schema_union_size(fs);
                for (size_t i = 0; i < n; i++) {
                        avro_schema_t br =
                                deref(avro_schema_union_branch(fs, (int)i));
                        if (avro_typeof(br) == AVRO_NULL)
                                f->null_branch = (int)i;
                        else if (f->branch < 0 &&
                                 kind_accepts(contract[ef].kind,
                                              avro_typeof(br))) {
                                f->branch = (int)i;
                                vs = br;
                        }
                }
        } else if (kind_accepts(contract[ef].kind, avro_typeof(fs))) {
                vs = fs;
        }
        if (!vs)
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "writer field '%s' has type %s, which "
                                 "cannot be read as the reader's",
                                 name, avro_schema_type_name(fs));
        f->type = avro_typeof(vs);

        if (contract[ef].kind == K_ENUM && f->type == AVRO_ENUM) {
                int n = avro_schema_enum_number_of_symbols(vs);
                b->enum_map = malloc((size_t)n + 1);
                if (!b->enum_map)
                        return RS_ERR_NOMEM;
                b->enum_n = n;
                for (int i = 0; i < n; i++) {
                        const char *sym = avro_schema_enum_get(vs, i);
                        b->enum_map[i] =
                                (int8_t)rs_event_type_parse(sym, strlen(sym));
                }
        }
        return RS_OK;
}

static rs_err_t fixed_init(fixed_t *f, const char *json, size_t len, int32_t id,
                           char *errstr, size_t errstr_size)
{
        rs_err_t err = parse_schema(json, len, &f->schema, errstr, errstr_size);
        if (err)
                return err;
        f->id = id;
        f->fp = schema_fingerprint(f->schema, NULL);
        if (!(f->prog = rs_avro_prog_new(f->schema)))
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "out of memory");
        return new_value(f->schema, &f->iface, &f->value, errstr, errstr_size);
}

static rs_err_t binding_init(binding_t *b, const char *json, size_t len,
                             int32_t id, char *errstr, size_t errstr_size)
{
        rs_err_t err;

        memset(b, 0, sizeof(*b));
        if ((err = fixed_init(&b->fx, json, len, id, errstr, errstr_size)))
                return err;
        if (!is_avro_record(b->fx.schema) ||
            strcmp(avro_schema_name(b->fx.schema), "BehaviorEvent"))
                return rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                                 "writer schema is not a record named "
                                 "BehaviorEvent");
        for (int ef = 0; ef < EF__COUNT; ef++)
                if ((err = bind_field(b, ef, errstr, errstr_size)))
                        return err;
        return RS_OK;
}

rs_codec_t *rs_codec_new(rs_framing_t framing, rs_intern_t *strings,
                         char *errstr, size_t errstr_size)
{
        rs_codec_t *codec = calloc(1, sizeof(*codec));

        if (!codec) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        pthread_once(&alloc_once, install_allocator);
        codec->framing = framing;
        codec->strings = strings;
        codec->reader = avro_reader_memory("", 0);
        codec->out_size = 4096;
        codec->out = malloc(codec->out_size);
        codec->writer = codec->out
                                ? avro_writer_memory(codec->out,
                                                     (int64_t)codec->out_size)
                                : NULL;
        if (!codec->reader || !codec->writer) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                goto fail;
        }
        if (rs_codec_add_event_writer(codec, rs_schema_BehaviorEvent,
                                      strlen(rs_schema_BehaviorEvent), 1,
                                      errstr, errstr_size))
                goto fail;
        if (fixed_init(&codec->delta, rs_schema_CoocDelta,
                       strlen(rs_schema_CoocDelta), -1, errstr, errstr_size) ||
            fixed_init(&codec->nbrec, rs_schema_ItemNeighbors,
                       strlen(rs_schema_ItemNeighbors), -1, errstr,
                       errstr_size) ||
            fixed_init(&codec->ustate, rs_schema_UserState,
                       strlen(rs_schema_UserState), -1, errstr, errstr_size) ||
            fixed_init(&codec->istate, rs_schema_ItemState,
                       strlen(rs_schema_ItemState), -1, errstr, errstr_size))
                goto fail;
        if (fixed_init(&codec->recs, rs_schema_UserRecs,
                       strlen(rs_schema_UserRecs), 2, errstr, errstr_size) ||
            fixed_init(&codec->item, rs_schema_ItemMeta,
                       strlen(rs_schema_ItemMeta), 3, errstr, errstr_size))
                goto fail;
        codec->max_id = RS_ID_MAX_DEFAULT;
        strcpy(codec->pipeline, "unnamed");
        strcpy(codec->config_hash, "0");
        return codec;
fail:
        rs_codec_destroy(codec);
        return NULL;
}

void rs_codec_destroy(rs_codec_t *codec)
{
        if (!codec)
                return;
        for (size_t i = 0; i < codec->nbindings; i++)
                binding_fini(&codec->bindings[i]);
        free(codec->bindings);
        fixed_fini(&codec->recs);
        fixed_fini(&codec->delta);
        fixed_fini(&codec->nbrec);
        fixed_fini(&codec->ustate);
        fixed_fini(&codec->istate);
        free(codec->dec_cp);
        free(codec->dec_inb);
        free(codec->dec_wm);
        free(codec->dec_win);
        free(codec->dec_seen);
        free(codec->dec_interest);
        rs_delta_fini(&codec->dec_delta);
        free(codec->dec_nb);
        free(codec->dec_trend);
        free(codec->idx_key);
        free(codec->idx_val);
        fixed_fini(&codec->item);
        free(codec->emb);
        if (codec->reader)
                avro_reader_free(codec->reader);
        if (codec->writer)
                avro_writer_free(codec->writer);
        free(codec->v1);
        free(codec->out);
        free(codec);
}

void rs_codec_set_schema_ids(rs_codec_t *codec, int32_t event_id,
                             int32_t recs_id)
{
        codec->bindings[0].fx.id = event_id;
        codec->recs.id = recs_id;
}

void rs_codec_set_max_id(rs_codec_t *codec, size_t max_id)
{
        codec->max_id = max_id;
}

void rs_codec_set_item_schema_id(rs_codec_t *codec, int32_t item_id)
{
        codec->item.id = item_id;
}

void rs_codec_set_stamp(rs_codec_t *codec, int on)
{
        codec->stamp = on;
        if (on && !codec->list_seed)
                codec->list_seed = rs_hash_mix((uint64_t)rs_wall_ms() ^
                                               (uint64_t)getpid() << 40 ^
                                               (uint64_t)(uintptr_t)codec) |
                                   1;
}

void rs_codec_set_pipeline(rs_codec_t *codec, const char *name,
                           const char *config_hash)
{
        snprintf(codec->pipeline, sizeof(codec->pipeline), "%s", name);
        snprintf(codec->config_hash, sizeof(codec->config_hash), "%s",
                 config_hash);
}

rs_err_t rs_codec_add_event_writer(rs_codec_t *codec, const char *json,
                                   size_t len, int32_t schema_id, char *errstr,
                                   size_t errstr_size)
{
        binding_t *bs =
                realloc(codec->bindings, (codec->nbindings + 1) * sizeof(*bs));
        rs_err_t err;

        if (!bs)
                return rs_seterr(errstr, errstr_size, RS_ERR_NOMEM,
                                 "out of memory");
        codec->bindings = bs;
        err = binding_init(&bs[codec->nbindings], json, len, schema_id, errstr,
                           errstr_size);
        if (err) {
                binding_fini(&bs[codec->nbindings]);
                return err;
        }
        codec->plain = codec->nbindings++;
        return RS_OK;
}

const char *rs_codec_reason(const rs_codec_t *codec)
{
        return codec->reason ? codec->reason : "none";
}

const char *rs_codec_error(const rs_codec_t *codec)
{
        return codec->err;
}

/*
 * Framing.
 */

static uint32_t be32(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | p[3];
}

static uint64_t le64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

/* Strips the framing of buf. For events (fx NULL) *b is the binding to
 * read with; for a fixed-schema type the header must name that schema. */
static rs_err_t unframe(rs_codec_t *codec, const unsigned char **buf,
                        size_t *len, const fixed_t *fx, binding_t **b)
{
        const unsigned char *p = *buf;
        size_t i;

        *b = NULL;
        switch (codec->framing) {
        case RS_FRAMING_PLAIN:
                if (!fx)
                        *b = &codec->bindings[codec->plain];
                return RS_OK;
        case RS_FRAMING_CONFLUENT: {
                if (*len < 5 || p[0] != 0)
                        return fail(codec, RS_ERR_DECODE, "framing",
                                    "not Confluent-framed (%zu bytes, first "
                                    "byte 0x%02x)",
                                    *len, *len ? p[0] : 0);
                int32_t id = (int32_t)be32(p + 1);
                *buf += 5;
                *len -= 5;
                if (fx) {
                        if (id == fx->id)
                                return RS_OK;
                } else {
                        for (i = 0; i < codec->nbindings; i++)
                                if (codec->bindings[i].fx.id == id) {
                                        *b = &codec->bindings[i];
                                        return RS_OK;
                                }
                }
                return fail(codec, RS_ERR_DECODE, "unknown_schema",
                            "unknown Confluent schema id %d", id);
        }
        case RS_FRAMING_SINGLE_OBJECT: {
                if (*len < 10 || p[0] != 0xC3 || p[1] != 0x01)
                        return fail(codec, RS_ERR_DECODE, "framing",
                                    "not Avro single-object encoded (%zu "
                                    "bytes)",
                                    *len);
                uint64_t fp = le64(p + 2);
                *buf += 10;
                *len -= 10;
                if (fx) {
                        if (fp == fx->fp)
                                return RS_OK;
                } else {
                        for (i = 0; i < codec->nbindings; i++)
                                if (codec->bindings[i].fx.fp == fp) {
                                        *b = &codec->bindings[i];
                                        return RS_OK;
                                }
                }
                return fail(codec, RS_ERR_DECODE, "unknown_schema",
                            "unknown schema fingerprint %016llx",
                            (unsigned long long)fp);
        }
        default: break;
        }
        return fail(codec, RS_ERR_DECODE, "framing", "bad framing");
}

/* Reads one record of fx's schema from p[0..len) into fx's value: the
 * strict check first (it allocates nothing and rejects what avro-c would
 * misread or over-allocate), then avro-c's read of a record known to be
 * sound. */
static rs_err_t read_value(rs_codec_t *codec, fixed_t *fx,
                           const unsigned char *p, size_t len)
{
        const char *reason;
        int rc;

        if (rs_avro_check(fx->prog, p, len, &reason, codec->err,
                          sizeof(codec->err))) {
                codec->reason = reason;
                return RS_ERR_DECODE;
        }
        avro_reader_memory_set_source(codec->reader, (const char *)p,
                                      (int64_t)len);
        rc = avro_value_read(codec->reader, &fx->value);
        if (rc)
                return fail(codec, RS_ERR_DECODE, "avro", "%s",
                            avro_strerror());
        return RS_OK;
}

/*
 * Decoding events.
 */

/* 0: present in *v; 1: absent or null; -1: an unexpected union branch. */
static int get_field(const binding_t *b, int ef, avro_value_t *v)
{
        const field_t *f = &b->f[ef];
        avro_value_t u;
        int d;

        if (f->idx < 0)
                return 1;
        avro_value_get_by_index(&b->fx.value, (size_t)f->idx, v, NULL);
        if (f->branch < 0)
                return 0;
        u = *v;
        if (avro_value_get_discriminant(&u, &d))
                return -1;
        if (d == f->null_branch)
                return 1;
        if (d != f->branch)
                return -1;
        return avro_value_get_current_branch(&u, v) ? -1 : 0;
}

static int get_str(const field_t *f, avro_value_t *v, const char **s,
                   size_t *len)
{
        const void *p;
        if (f->type == AVRO_BYTES) {
                if (avro_value_get_bytes(v, &p, len))
                        return -1;
                *s = p;
                return 0;
        }
        if (avro_value_get_string(v, s, len))
                return -1;
        (*len)--; /* avro-c counts the NUL */
        return 0;
}

static int get_long(const field_t *f, avro_value_t *v, int64_t *out)
{
        int32_t i;
        if (f->type == AVRO_INT64)
                return avro_value_get_long(v, out);
        if (avro_value_get_int(v, &i))
                return -1;
        *out = i;
        return 0;
}

static int get_double(const field_t *f, avro_value_t *v, double *out)
{
        float x;
        int64_t l;
        switch (f->type) {
        case AVRO_DOUBLE: return avro_value_get_double(v, out);
        case AVRO_FLOAT:
                if (avro_value_get_float(v, &x))
                        return -1;
                *out = x;
                return 0;
        default:
                if (get_long(f, v, &l))
                        return -1;
                *out = (double)l;
                return 0;
        }
}

static rs_err_t field_fail(rs_codec_t *codec, int ef, int rc)
{
        if (rc > 0)
                return fail(codec, RS_ERR_DECODE, "missing_field",
                            "required field '%s' is null", contract[ef].name);
        return fail(codec, RS_ERR_DECODE, "bad_field",
                    "field '%s' cannot be read", contract[ef].name);
}

static rs_err_t get_type(rs_codec_t *codec, const binding_t *b, uint8_t *type)
{
        const field_t *f = &b->f[EF_EVENT_TYPE];
        avro_value_t v;
        int rc = get_field(b, EF_EVENT_TYPE, &v), t = -1;

        if (rc)
                return field_fail(codec, EF_EVENT_TYPE, rc);
        if (f->type == AVRO_ENUM) {
                int sym;
                if (avro_value_get_enum(&v, &sym))
                        return field_fail(codec, EF_EVENT_TYPE, -1);
                t = sym >= 0 && sym < b->enum_n ? b->enum_map[sym] : -1;
                if (t < 0)
                        return fail(codec, RS_ERR_DECODE, "unknown_event_type",
                                    "event_type symbol %d is unknown here",
                                    sym);
        } else {
                const char *s;
                size_t len;
                if (get_str(f, &v, &s, &len))
                        return field_fail(codec, EF_EVENT_TYPE, -1);
                t = rs_event_type_parse(s, len);
                if (t < 0)
                        return fail(codec, RS_ERR_DECODE, "unknown_event_type",
                                    "unknown event_type '%.*s'",
                                    (int)(len > 64 ? 64 : len), s);
        }
        *type = (uint8_t)t;
        return RS_OK;
}

static rs_err_t get_long_field(rs_codec_t *codec, const binding_t *b, int ef,
                               int64_t *out, int64_t absent)
{
        avro_value_t v;
        int rc = get_field(b, ef, &v);

        if (rc > 0 && !contract[ef].required) {
                *out = absent;
                return RS_OK;
        }
        if (rc || get_long(&b->f[ef], &v, out))
                return field_fail(codec, ef, rc ? rc : -1);
        return RS_OK;
}

/* The failure of an id that rs_event_check_id() rejects. */
static rs_err_t id_fail(rs_codec_t *codec, int ef, const char *reason,
                        size_t len)
{
        return fail(codec, RS_ERR_DECODE, reason, "%s: %s (%zu bytes)",
                    contract[ef].name, reason, len);
}

/* The ids of the user, the item and the category (RS_ID_NONE when
 * absent or empty). Every string is checked before any is interned, so a
 * record with a bad id interns nothing; then they are interned in one
 * rs_intern_ids() call, so their cache misses overlap. */
static rs_err_t intern_ids(rs_codec_t *codec, const binding_t *b,
                           rs_event_t *ev)
{
        static const int fields[] = {EF_USER_ID, EF_ITEM_ID, EF_CATEGORY};
        uint32_t *out[] = {&ev->user, &ev->item, &ev->category}, ids[3];
        const char *s[3], *why;
        size_t len[3], n = 0, at[3];

        ev->category = RS_ID_NONE;
        for (size_t i = 0; i < 3; i++) {
                int ef = fields[i];
                avro_value_t v;
                int rc = get_field(b, ef, &v);
                if (rc > 0 && !contract[ef].required)
                        continue;
                if (rc || get_str(&b->f[ef], &v, &s[n], &len[n]))
                        return field_fail(codec, ef, rc ? rc : -1);
                if (ef == EF_CATEGORY && len[n] == 0)
                        continue;
                if ((why = rs_event_check_id(s[n], len[n], codec->max_id)))
                        return id_fail(codec, ef, why, len[n]);
                at[n++] = i;
        }
        rs_intern_ids(codec->strings, n, s, len, ids);
        for (size_t i = 0; i < n; i++) {
                if (ids[i] == RS_ID_NONE)
                        return fail(codec, RS_ERR_NOMEM, "nomem",
                                    "cannot intern '%s'",
                                    contract[fields[at[i]]].name);
                *out[at[i]] = ids[i];
        }
        return RS_OK;
}

/* The contract's fields of the record just read into b->fx.value. Every
 * field is read and checked before the ids are interned. */
static rs_err_t extract_event(rs_codec_t *codec, const binding_t *b,
                              rs_event_t *ev)
{
        avro_value_t v;
        const char *s, *why;
        size_t slen;
        rs_err_t err;
        int rc;

        if ((rc = get_field(b, EF_EVENT_ID, &v)) ||
            get_str(&b->f[EF_EVENT_ID], &v, &s, &slen))
                return field_fail(codec, EF_EVENT_ID, rc ? rc : -1);
        if ((why = rs_event_check_id(s, slen, codec->max_id)))
                return id_fail(codec, EF_EVENT_ID, why, slen);
        ev->event_hash = rs_hash_bytes(s, slen);

        if ((err = get_type(codec, b, &ev->type)) ||
            (err = get_long_field(codec, b, EF_TS, &ev->ts, 0)) ||
            (err = get_long_field(codec, b, EF_WATCH_MS, &ev->watch_ms, 0)) ||
            (err = get_long_field(codec, b, EF_DURATION_MS, &ev->duration_ms,
                                  RS_NONE_I64)))
                return err;

        rc = get_field(b, EF_VALUE, &v);
        if (rc > 0)
                ev->value = NAN;
        else if (rc || get_double(&b->f[EF_VALUE], &v, &ev->value))
                return field_fail(codec, EF_VALUE, rc ? rc : -1);
        else if (!isfinite(ev->value))
                return fail(codec, RS_ERR_DECODE, "bad_value",
                            "value is %g, not a finite number", ev->value);
        if ((err = intern_ids(codec, b, ev)))
                return err;

        ev->drop = 0;
        ev->flags = 0;
        ev->weight = 0;
        ev->ingest_ts = RS_NONE_I64;
        ev->partition = -1;
        ev->offset = -1;
        return RS_OK;
}

/* Strips the framing and reads the event into its writer's value. */
static rs_err_t read_event(rs_codec_t *codec, const void *buf, size_t len,
                           binding_t **b)
{
        const unsigned char *p = buf;
        rs_err_t err = unframe(codec, &p, &len, NULL, b);

        return err ? err : read_value(codec, &(*b)->fx, p, len);
}

rs_err_t rs_codec_decode_event(rs_codec_t *codec, const void *buf, size_t len,
                               rs_event_t *ev)
{
        binding_t *b;
        rs_err_t err = read_event(codec, buf, len, &b);

        return err ? err : extract_event(codec, b, ev);
}

/*
 * Avro object container files of BehaviorEvents (replay input).
 */

struct rs_ocf {
        avro_file_reader_t reader;
        rs_codec_t *codec; /* its plain binding is the file's schema */
};

rs_ocf_t *rs_ocf_open(const char *path, rs_intern_t *strings, size_t max_id,
                      char *errstr, size_t errstr_size)
{
        rs_ocf_t *f = calloc(1, sizeof(*f));
        avro_schema_t ws;
        rs_buf_t json;

        if (!f) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        if (avro_file_reader(path, &f->reader)) {
                rs_seterr(errstr, errstr_size, RS_ERR_IO, "%s: %s", path,
                          avro_strerror());
                f->reader = NULL;
                goto fail;
        }
        if (!(f->codec = rs_codec_new(RS_FRAMING_PLAIN, strings, errstr,
                                      errstr_size)))
                goto fail;
        f->codec->max_id = max_id;
        /* The file's writer schema, bound like any other writer's. */
        ws = avro_file_reader_get_writer_schema(f->reader);
        rs_buf_init(&json);
        for (size_t size = 4096;; size *= 2) {
                avro_writer_t w;
                if (rs_buf_reserve(&json, size))
                        break;
                w = avro_writer_memory(json.p, (int64_t)size);
                int rc = avro_schema_to_json(ws, w);
                json.len = rc ? 0 : (size_t)avro_writer_tell(w);
                avro_writer_free(w);
                if (!rc)
                        break;
        }
        avro_schema_decref(ws);
        rs_err_t err =
                json.len ? rs_codec_add_event_writer(f->codec, json.p, json.len,
                                                     -1, errstr, errstr_size)
                         : RS_ERR_NOMEM;
        rs_buf_fini(&json);
        if (err)
                goto fail;
        return f;
fail:
        rs_ocf_close(f);
        return NULL;
}

rs_err_t rs_ocf_next(rs_ocf_t *f, rs_event_t *ev)
{
        rs_codec_t *codec = f->codec;
        binding_t *b = &codec->bindings[codec->plain];
        int rc = avro_file_reader_read_value(f->reader, &b->fx.value);

        if (rc == EOF)
                return RS_ERR_NOENT;
        if (rc)
                return fail(codec, RS_ERR_DECODE, "avro", "%s",
                            avro_strerror());
        return extract_event(codec, b, ev);
}

const char *rs_ocf_reason(const rs_ocf_t *f)
{
        return rs_codec_reason(f->codec);
}

const char *rs_ocf_error(const rs_ocf_t *f)
{
        return rs_codec_error(f->codec);
}

void rs_ocf_close(rs_ocf_t *f)
{
        if (!f)
                return;
        if (f->reader)
                avro_file_reader_close(f->reader);
        rs_codec_destroy(f->codec);
        free(f);
}

/* An Avro value as plain JSON into b: records as objects, arrays as
 * arrays, maps as objects, unions as their current branch's value (not
 * Avro's {"type": value} form), enums as their symbol, bytes and fixed as
 * strings of their bytes. `depth` bounds recursive schemas. */
static void value_json(const avro_value_t *cv, rs_buf_t *b, int depth)
{
        avro_value_t *v = (avro_value_t *)cv, br, f;
        const char *s = NULL, *name;
        const void *bytes = NULL;
        size_t len = 0, n = 0;
        int32_t i32 = 0;
        int64_t i64 = 0;
        double d = 0;
        float fl = 0;
        int sym = 0;

        if (depth > 32) {
                rs_buf_adds(b, "null");
                return;
        }
        switch (avro_value_get_type(v)) {
        case AVRO_RECORD:
        case AVRO_MAP:
                avro_value_get_size(v, &n);
                rs_buf_adds(b, "{");
                for (size_t i = 0; i < n; i++) {
                        name = NULL;
                        if (avro_value_get_by_index(v, i, &f, &name) || !name)
                                continue;
                        rs_buf_adds(b, i ? "," : "");
                        rs_buf_json_str(b, name, strlen(name));
                        rs_buf_adds(b, ":");
                        value_json(&f, b, depth + 1);
                }
                rs_buf_adds(b, "}");
                return;
        case AVRO_ARRAY:
                avro_value_get_size(v, &n);
                rs_buf_adds(b, "[");
                for (size_t i = 0; i < n; i++) {
                        if (avro_value_get_by_index(v, i, &f, NULL))
                                continue;
                        rs_buf_adds(b, i ? "," : "");
                        value_json(&f, b, depth + 1);
                }
                rs_buf_adds(b, "]");
                return;
        case AVRO_UNION:
                if (avro_value_get_current_branch(v, &br))
                        rs_buf_adds(b, "null");
                else
                        value_json(&br, b, depth + 1);
                return;
        case AVRO_NULL: rs_buf_adds(b, "null"); return;
        case AVRO_BOOLEAN:
                avro_value_get_boolean(v, &sym);
                rs_buf_adds(b, sym ? "true" : "false");
                return;
        case AVRO_INT32:
                avro_value_get_int(v, &i32);
                rs_buf_printf(b, "%d", (int)i32);
                return;
        case AVRO_INT64:
                avro_value_get_long(v, &i64);
                rs_buf_printf(b, "%lld", (long long)i64);
                return;
        case AVRO_FLOAT:
                avro_value_get_float(v, &fl);
                d = fl;
                goto dbl;
        case AVRO_DOUBLE:
                avro_value_get_double(v, &d);
        dbl:
                if (isfinite(d)) {
                        /* the shortest of 15 or 17 digits that reads back */
                        char num[32];
                        snprintf(num, sizeof(num), "%.15g", d);
                        if (strtod(num, NULL) != d)
                                snprintf(num, sizeof(num), "%.17g", d);
                        rs_buf_adds(b, num);
                } else {
                        rs_buf_adds(b, "null"); /* JSON has no NaN */
                }
                return;
        case AVRO_STRING:
                avro_value_get_string(v, &s, &len);
                rs_buf_json_str(b, s, len ? len - 1 : 0);
                return;
        case AVRO_BYTES:
                avro_value_get_bytes(v, &bytes, &len);
                rs_buf_json_str(b, bytes, len);
                return;
        case AVRO_FIXED:
                avro_value_get_fixed(v, &bytes, &len);
                rs_buf_json_str(b, bytes, len);
                return;
        case AVRO_ENUM:
                avro_value_get_enum(v, &sym);
                s = avro_schema_enum_get(avro_value_get_schema(v), sym);
                rs_buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
                return;
        default: rs_buf_adds(b, "null"); return;
        }
}

static rs_err_t to_json(rs_codec_t *codec, const avro_value_t *v, char **json)
{
        rs_buf_t out;

        rs_buf_init(&out);
        value_json(v, &out, 0);
        if (out.oom || !out.p) {
                rs_buf_fini(&out);
                return fail(codec, RS_ERR_NOMEM, "nomem", "out of memory");
        }
        *json = out.p;
        return RS_OK;
}

rs_err_t rs_codec_event_to_json(rs_codec_t *codec, const void *buf, size_t len,
                                char **json)
{
        binding_t *b;
        rs_err_t err = read_event(codec, buf, len, &b);

        /* BehaviorEvent's fields are all scalars or ["null", X] unions:
         * one flat object, the shape `replay` and `eval` read. */
        return err ? err : to_json(codec, &b->fx.value, json);
}

static rs_err_t read_recs(rs_codec_t *codec, const unsigned char *p,
                          size_t len);

rs_err_t rs_codec_recs_to_json(rs_codec_t *codec, const void *buf, size_t len,
                               char **json)
{
        const unsigned char *p = buf;
        binding_t *unused;
        rs_err_t err;

        if ((err = unframe(codec, &p, &len, &codec->recs, &unused)) ||
            (err = read_recs(codec, p, len)))
                return err;
        return to_json(codec, &codec->recs.value, json);
}

/*
 * Encoding.
 */

static rs_err_t set_string(avro_value_t *rec, const char *name, const char *s,
                           size_t len)
{
        avro_value_t f;
        if (avro_value_get_by_name(rec, name, &f, NULL) ||
            avro_value_set_string_len(&f, s, len + 1))
                return RS_ERR_ENCODE;
        return RS_OK;
}

/* Sets a ["null", X] union: branch 0 when absent, else branch 1 in *br. */
static int set_nullable(avro_value_t *rec, const char *name, int present,
                        avro_value_t *br)
{
        avro_value_t f;
        if (avro_value_get_by_name(rec, name, &f, NULL) ||
            avro_value_set_branch(&f, present ? 1 : 0, br))
                return -1;
        return present ? 0 : avro_value_set_null(br);
}

static rs_err_t frame_write(rs_codec_t *codec, rs_framing_t framing,
                            avro_value_t *value, int32_t id, uint64_t fp,
                            const void **out, size_t *out_len)
{
        size_t hdr = framing == RS_FRAMING_CONFLUENT       ? 5
                     : framing == RS_FRAMING_SINGLE_OBJECT ? 10
                                                           : 0;
        size_t need;

        if (avro_value_sizeof(value, &need))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        if (need + hdr > codec->out_size) {
                size_t size = (need + hdr) * 2;
                char *p = realloc(codec->out, size);
                if (!p)
                        return fail(codec, RS_ERR_NOMEM, "nomem",
                                    "out of memory");
                codec->out = p;
                codec->out_size = size;
        }
        unsigned char *o = (unsigned char *)codec->out;
        if (framing == RS_FRAMING_CONFLUENT) {
                uint32_t u = (uint32_t)id;
                o[0] = 0;
                o[1] = (unsigned char)(u >> 24);
                o[2] = (unsigned char)(u >> 16);
                o[3] = (unsigned char)(u >> 8);
                o[4] = (unsigned char)u;
        } else if (framing == RS_FRAMING_SINGLE_OBJECT) {
                o[0] = 0xC3;
                o[1] = 0x01;
                for (int i = 0; i < 8; i++)
                        o[2 + i] = (unsigned char)(fp >> (8 * i));
        }
        avro_writer_memory_set_dest(codec->writer, codec->out + hdr,
                                    (int64_t)need);
        if (avro_value_write(codec->writer, value))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        *out = codec->out;
        *out_len = hdr + need;
        return RS_OK;
}

static rs_err_t frame_and_write(rs_codec_t *codec, avro_value_t *value,
                                int32_t id, uint64_t fp, const void **out,
                                size_t *out_len)
{
        return frame_write(codec, codec->framing, value, id, fp, out, out_len);
}

/* Internal records are plain Avro whatever the pipeline's framing. */
static rs_err_t frame_plain(rs_codec_t *codec, avro_value_t *value,
                            const void **out, size_t *out_len)
{
        return frame_write(codec, RS_FRAMING_PLAIN, value, -1, 0, out, out_len);
}

rs_err_t rs_codec_encode_event(rs_codec_t *codec, const rs_event_fields_t *e,
                               const void **out, size_t *out_len)
{
        binding_t *b = &codec->bindings[0];
        avro_value_t *rec = &b->fx.value, f, br;
        int bad = 0;

        avro_value_reset(rec);
        if (!e->event_id || !e->user_id || !e->item_id || e->type < 0 ||
            e->type >= RS_EV__COUNT)
                return fail(codec, RS_ERR_ENCODE, "encode",
                            "event lacks a required field");
        bad |= set_string(rec, "event_id", e->event_id, strlen(e->event_id));
        bad |= set_string(rec, "user_id", e->user_id, strlen(e->user_id));
        bad |= set_string(rec, "item_id", e->item_id, strlen(e->item_id));
        bad |= avro_value_get_by_name(rec, "event_type", &f, NULL) ||
               avro_value_set_enum(&f, e->type);
        bad |= avro_value_get_by_name(rec, "ts", &f, NULL) ||
               avro_value_set_long(&f, e->ts);
        bad |= avro_value_get_by_name(rec, "watch_ms", &f, NULL) ||
               avro_value_set_long(&f, e->watch_ms);
        int has = e->duration_ms != RS_NONE_I64;
        bad |= set_nullable(rec, "duration_ms", has, &br) ||
               (has && avro_value_set_long(&br, e->duration_ms));
        has = !isnan(e->value);
        bad |= set_nullable(rec, "value", has, &br) ||
               (has && avro_value_set_double(&br, e->value));

        const struct {
                const char *name, *s;
        } opt[] = {{"category", e->category},
                   {"device", e->device},
                   {"session_id", e->session_id}};
        for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
                bad |= set_nullable(rec, opt[i].name, opt[i].s != NULL, &br) ||
                       (opt[i].s &&
                        avro_value_set_string_len(&br, opt[i].s,
                                                  strlen(opt[i].s) + 1));
        if (bad)
                return fail(codec, RS_ERR_ENCODE, "encode",
                            "cannot set event fields: %s", avro_strerror());
        return frame_and_write(codec, rec, b->fx.id, b->fx.fp, out, out_len);
}

static rs_err_t set_id(rs_codec_t *codec, avro_value_t *rec, const char *name,
                       uint32_t id)
{
        size_t len;
        const char *s = rs_intern_str(codec->strings, id, &len);

        if (!s)
                return fail(codec, RS_ERR_ENCODE, "encode", "%s: unknown id %u",
                            name, id);
        return set_string(rec, name, s, len);
}

rs_err_t rs_codec_encode_recs(rs_codec_t *codec, const rs_recs_t *recs,
                              const void **out, size_t *out_len)
{
        avro_value_t *rec = &codec->recs.value, f, items, pl, channels;
        rs_err_t err;

        avro_value_reset(rec);
        if ((err = set_id(codec, rec, "user_id", recs->user)))
                return err;
        if (avro_value_get_by_name(rec, "generated_ts", &f, NULL) ||
            avro_value_set_long(&f, recs->generated_ts) ||
            avro_value_get_by_name(rec, "pipeline", &pl, NULL) ||
            set_string(&pl, "name", codec->pipeline, strlen(codec->pipeline)) ||
            set_string(&pl, "config_hash", codec->config_hash,
                       strlen(codec->config_hash)) ||
            avro_value_get_by_name(rec, "items", &items, NULL) ||
            set_nullable(rec, "channels", 1, &channels))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());

        for (uint32_t i = 0; i < recs->n && i < RS_RECS_MAX; i++) {
                const rs_rec_t *r = &recs->items[i];
                const char *channel = rs_reason_name(r->reason);
                avro_value_t it, br;
                if (avro_value_append(&items, &it, NULL) ||
                    avro_value_append(&channels, &br, NULL) ||
                    avro_value_set_string_len(&br, channel,
                                              strlen(channel) + 1))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
                if ((err = set_id(codec, &it, "item_id", r->item)))
                        return err;
                int has = r->because_of != RS_ID_NONE;
                if (avro_value_get_by_name(&it, "score", &f, NULL) ||
                    avro_value_set_double(&f, r->score) ||
                    avro_value_get_by_name(&it, "reason", &f, NULL) ||
                    avro_value_set_enum(&f, rs_reason_wire(r->reason)) ||
                    set_nullable(&it, "because_of", has, &br))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
                if (has) {
                        size_t len;
                        const char *s = rs_intern_str(codec->strings,
                                                      r->because_of, &len);
                        if (!s || avro_value_set_string_len(&br, s, len + 1))
                                return fail(codec, RS_ERR_ENCODE, "encode",
                                            "because_of: bad id");
                }
        }
        int64_t published = codec->stamp ? rs_wall_ms() : recs->published_ts;
        uint64_t list_id = codec->stamp ? 0 : recs->list_id;
        while (codec->stamp && !list_id) /* 0 once in 2^64: the next */
                list_id = rs_hash_mix(codec->list_seed + ++codec->list_seq);
        avro_value_t br;
        char hex[17];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)list_id);
        if (set_nullable(rec, "published_ts", published != 0, &br) ||
            (published && avro_value_set_long(&br, published)) ||
            set_nullable(rec, "list_id", list_id != 0, &br) ||
            (list_id && avro_value_set_string_len(&br, hex, 17)))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        return frame_and_write(codec, rec, codec->recs.id, codec->recs.fp, out,
                               out_len);
}

static rs_err_t intern_value(rs_codec_t *codec, avro_value_t *v, uint32_t *id)
{
        const char *s, *why;
        size_t len;

        if (avro_value_get_string(v, &s, &len))
                return fail(codec, RS_ERR_DECODE, "bad_field", "%s",
                            avro_strerror());
        if ((why = rs_event_check_id(s, len - 1, codec->max_id)))
                return fail(codec, RS_ERR_DECODE, why, "an id: %s (%zu bytes)",
                            why, len - 1);
        *id = rs_intern_id(codec->strings, s, len - 1);
        return *id == RS_ID_NONE
                       ? fail(codec, RS_ERR_NOMEM, "nomem", "cannot intern id")
                       : RS_OK;
}

static int nullable(avro_value_t *rec, const char *name, avro_value_t *v);

/* Fields each version of UserRecs added at its end, each a ["null", X]
 * union: an earlier version's bytes followed by one 0 byte (branch null)
 * per field added since are the current encoding of that record. */
static const size_t recs_added[] = {
        1, /* since version 2: channels (version 3) */
        3, /* since version 1: published_ts, list_id (2), channels */
};
#define RECS_ADDED_MAX 3

/* Reads one UserRecs after its framing. Plain framing carries no schema:
 * a record that does not read as the current version is read as each
 * earlier one (what a worker of a previous release publishes during a
 * rolling upgrade). */
static rs_err_t read_recs(rs_codec_t *codec, const unsigned char *p, size_t len)
{
        rs_err_t err = read_value(codec, &codec->recs, p, len);

        if (err != RS_ERR_DECODE || codec->framing != RS_FRAMING_PLAIN)
                return err;
        if (len + RECS_ADDED_MAX > codec->v1_size) {
                unsigned char *q = realloc(codec->v1, len + RECS_ADDED_MAX);
                if (!q)
                        return fail(codec, RS_ERR_NOMEM, "nomem",
                                    "out of memory");
                codec->v1 = q;
                codec->v1_size = len + RECS_ADDED_MAX;
        }
        memcpy(codec->v1, p, len);
        memset(codec->v1 + len, 0, RECS_ADDED_MAX);
        char why[sizeof(codec->err)];
        const char *reason = codec->reason;
        memcpy(why, codec->err, sizeof(why));
        for (size_t i = 0; i < sizeof(recs_added) / sizeof(*recs_added); i++)
                if (!read_value(codec, &codec->recs, codec->v1,
                                len + recs_added[i]))
                        return RS_OK;
        codec->reason = reason; /* the current version's reading error */
        memcpy(codec->err, why, sizeof(why));
        return err;
}

rs_err_t rs_codec_decode_recs(rs_codec_t *codec, const void *buf, size_t len,
                              rs_recs_t *recs)
{
        const unsigned char *p = buf;
        avro_value_t *rec = &codec->recs.value, f, items;
        binding_t *unused;
        size_t n = 0;
        rs_err_t err;

        if ((err = unframe(codec, &p, &len, &codec->recs, &unused)) ||
            (err = read_recs(codec, p, len)))
                return err;
        avro_value_get_by_name(rec, "user_id", &f, NULL);
        if ((err = intern_value(codec, &f, &recs->user)))
                return err;
        avro_value_get_by_name(rec, "generated_ts", &f, NULL);
        avro_value_get_long(&f, &recs->generated_ts);
        recs->published_ts = 0;
        recs->list_id = 0;
        if (!nullable(rec, "published_ts", &f))
                avro_value_get_long(&f, &recs->published_ts);
        if (!nullable(rec, "list_id", &f)) {
                const char *s;
                size_t slen = 0;
                /* another writer's id that is not 16 hex digits (strtoull
                 * alone takes a sign, spaces, 0x): none */
                if (!avro_value_get_string(&f, &s, &slen) && slen == 17 &&
                    strspn(s, "0123456789abcdefABCDEF") == 16)
                        recs->list_id = strtoull(s, NULL, 16);
        }
        avro_value_get_by_name(rec, "items", &items, NULL);
        avro_value_get_size(&items, &n);
        if (n > RS_RECS_MAX)
                return fail(codec, RS_ERR_DECODE, "bad_field",
                            "%zu items, more than %d", n, RS_RECS_MAX);
        recs->n = (uint32_t)n;
        for (size_t i = 0; i < n; i++) {
                rs_rec_t *r = &recs->items[i];
                avro_value_t it, br;
                int sym = 0, d = 0;
                avro_value_get_by_index(&items, i, &it, NULL);
                avro_value_get_by_name(&it, "item_id", &f, NULL);
                if ((err = intern_value(codec, &f, &r->item)))
                        return err;
                avro_value_get_by_name(&it, "score", &f, NULL);
                avro_value_get_double(&f, &r->score);
                avro_value_get_by_name(&it, "reason", &f, NULL);
                avro_value_get_enum(&f, &sym);
                if (sym < 0 || sym >= RS_REASON__WIRE)
                        return fail(codec, RS_ERR_DECODE, "bad_field",
                                    "reason symbol %d is unknown", sym);
                r->reason = (uint8_t)sym;
                avro_value_get_by_name(&it, "because_of", &f, NULL);
                avro_value_get_discriminant(&f, &d);
                r->because_of = RS_ID_NONE;
                if (d == 1) {
                        avro_value_get_current_branch(&f, &br);
                        if ((err = intern_value(codec, &br, &r->because_of)))
                                return err;
                }
        }
        /* version 3: the finer channel; a name not known, or a covisit
         * channel of another reason, leaves the reason as it is */
        size_t nch = 0;
        if (!nullable(rec, "channels", &f))
                avro_value_get_size(&f, &nch);
        for (size_t i = 0; i < nch && i < n; i++) {
                avro_value_t el;
                const char *s;
                size_t slen;
                int ch;
                if (!avro_value_get_by_index(&f, i, &el, NULL) &&
                    !avro_value_get_string(&el, &s, &slen) && slen &&
                    (ch = rs_reason_parse(s, slen - 1)) >= 0 &&
                    rs_reason_wire(ch) == recs->items[i].reason)
                        recs->items[i].reason = (uint8_t)ch;
        }
        return RS_OK;
}

/* The value of a ["null", X] union field: 0 present in *v, 1 null. */
static int nullable(avro_value_t *rec, const char *name, avro_value_t *v)
{
        avro_value_t u;
        int d;

        if (avro_value_get_by_name(rec, name, &u, NULL) ||
            avro_value_get_discriminant(&u, &d) || d != 1 ||
            avro_value_get_current_branch(&u, v))
                return 1;
        return 0;
}

rs_err_t rs_codec_decode_item(rs_codec_t *codec, const void *buf, size_t len,
                              rs_item_meta_t *m)
{
        const unsigned char *p = buf;
        avro_value_t *rec = &codec->item.value, f;
        binding_t *unused;
        rs_err_t err;
        int sym = 0;

        if ((err = unframe(codec, &p, &len, &codec->item, &unused)) ||
            (err = read_value(codec, &codec->item, p, len)))
                return err;
        memset(m, 0, sizeof(*m));
        avro_value_get_by_name(rec, "item_id", &f, NULL);
        if ((err = intern_value(codec, &f, &m->item)))
                return err;
        m->category = RS_ID_NONE;
        if (!nullable(rec, "category", &f) &&
            (err = intern_value(codec, &f, &m->category)))
                return err;
        m->duration_ms = RS_NONE_I64;
        if (!nullable(rec, "duration_ms", &f))
                avro_value_get_long(&f, &m->duration_ms);
        if (!nullable(rec, "embedding", &f)) {
                size_t n = 0;
                avro_value_get_size(&f, &n);
                if (n > codec->emb_cap) {
                        float *e = realloc(codec->emb, n * sizeof(*e));
                        if (!e)
                                return fail(codec, RS_ERR_NOMEM, "nomem",
                                            "out of memory");
                        codec->emb = e;
                        codec->emb_cap = n;
                }
                for (size_t i = 0; i < n; i++) {
                        avro_value_t el;
                        avro_value_get_by_index(&f, i, &el, NULL);
                        avro_value_get_float(&el, &codec->emb[i]);
                }
                m->embedding = codec->emb;
                m->dim = n;
        }
        avro_value_get_by_name(rec, "status", &f, NULL);
        avro_value_get_enum(&f, &sym);
        if (sym < 0 || sym > 1) /* ItemStatus: active, removed */
                return fail(codec, RS_ERR_DECODE, "bad_field",
                            "status symbol %d is unknown", sym);
        m->removed = sym == 1;
        avro_value_get_by_name(rec, "updated_ts", &f, NULL);
        avro_value_get_long(&f, &m->updated_ts);
        return RS_OK;
}

/*
 * Internal records (records.h): pair deltas and neighbour records. Plain
 * Avro binary of the built-in schemas, whose first field is `version`: a
 * reader looks at it before anything else and skips a version it does not
 * know (unknown_version), so replicas of two releases can share a topic.
 */

/* The index of id in the record being encoded, added to `ids` when new;
 * -1 when out of memory. */
static int64_t idx_of(rs_codec_t *codec, avro_value_t *ids, uint32_t id)
{
        if ((codec->idx_n + 1) * 2 > codec->idx_mask + 1u) {
                uint32_t mask = codec->idx_mask ? codec->idx_mask * 2 + 1 : 255;
                uint32_t *k = malloc(((size_t)mask + 1) * sizeof(*k));
                uint32_t *v = malloc(((size_t)mask + 1) * sizeof(*v));
                if (!k || !v) {
                        free(k);
                        free(v);
                        return -1;
                }
                memset(k, 0xff, ((size_t)mask + 1) * sizeof(*k));
                for (uint32_t i = 0; codec->idx_key && i <= codec->idx_mask;
                     i++) {
                        if (codec->idx_key[i] == RS_ID_NONE)
                                continue;
                        uint32_t s = rs_slot32(codec->idx_key[i], mask);
                        while (k[s] != RS_ID_NONE)
                                s = (s + 1) & mask;
                        k[s] = codec->idx_key[i];
                        v[s] = codec->idx_val[i];
                }
                free(codec->idx_key);
                free(codec->idx_val);
                codec->idx_key = k;
                codec->idx_val = v;
                codec->idx_mask = mask;
        }
        uint32_t s = rs_slot32(id, codec->idx_mask);
        while (codec->idx_key[s] != RS_ID_NONE && codec->idx_key[s] != id)
                s = (s + 1) & codec->idx_mask;
        if (codec->idx_key[s] == id)
                return codec->idx_val[s];
        size_t len;
        const char *str = rs_intern_str(codec->strings, id, &len);
        avro_value_t el;
        if (!str || avro_value_append(ids, &el, NULL) ||
            avro_value_set_string_len(&el, str, len + 1))
                return -1;
        codec->idx_key[s] = id;
        codec->idx_val[s] = codec->idx_n;
        return codec->idx_n++;
}

static void idx_reset(rs_codec_t *codec)
{
        if (codec->idx_key)
                memset(codec->idx_key, 0xff,
                       ((size_t)codec->idx_mask + 1) * sizeof(*codec->idx_key));
        codec->idx_n = 0;
}

static int set_i64(avro_value_t *rec, const char *name, int64_t v)
{
        avro_value_t f;
        return avro_value_get_by_name(rec, name, &f, NULL) ||
               avro_value_set_long(&f, v);
}

static int set_i32(avro_value_t *rec, const char *name, int32_t v)
{
        avro_value_t f;
        return avro_value_get_by_name(rec, name, &f, NULL) ||
               avro_value_set_int(&f, v);
}

static int set_bool(avro_value_t *rec, const char *name, int v)
{
        avro_value_t f;
        return avro_value_get_by_name(rec, name, &f, NULL) ||
               avro_value_set_boolean(&f, v != 0);
}

static int get_bool(avro_value_t *rec, const char *name)
{
        avro_value_t f;
        int v = 0;

        if (!avro_value_get_by_name(rec, name, &f, NULL))
                avro_value_get_boolean(&f, &v);
        return v;
}

rs_err_t rs_codec_encode_delta(rs_codec_t *codec, const rs_delta_t *d,
                               const void **out, size_t *out_len)
{
        avro_value_t *rec = &codec->delta.value, f, ids, cats, upd, srcs;
        uint32_t *cat_of = NULL;
        rs_err_t err = RS_OK;

        avro_value_reset(rec);
        idx_reset(codec);
        if (avro_value_get_by_name(rec, "version", &f, NULL) ||
            avro_value_set_int(&f, RS_DELTA_VERSION) ||
            set_string(rec, "pipeline", codec->pipeline,
                       strlen(codec->pipeline)) ||
            avro_value_get_by_name(rec, "partition", &f, NULL) ||
            avro_value_set_int(&f, d->partition) ||
            avro_value_get_by_name(rec, "ids", &ids, NULL) ||
            avro_value_get_by_name(rec, "categories", &cats, NULL) ||
            avro_value_get_by_name(rec, "updates", &upd, NULL) ||
            avro_value_get_by_name(rec, "sources", &srcs, NULL))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        for (size_t i = 0; i < d->nsrc; i++) {
                const rs_delta_src_t *s = &d->src[i];
                avro_value_t el, x;
                if (avro_value_append(&srcs, &el, NULL) ||
                    set_string(&el, "topic", s->topic, strlen(s->topic)) ||
                    avro_value_get_by_name(&el, "partition", &x, NULL) ||
                    avro_value_set_int(&x, s->partition) ||
                    avro_value_get_by_name(&el, "first_offset", &x, NULL) ||
                    avro_value_set_long(&x, s->first_offset) ||
                    avro_value_get_by_name(&el, "last_offset", &x, NULL) ||
                    avro_value_set_long(&x, s->last_offset))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
        }
        for (size_t i = 0; i < d->n; i++) {
                const rs_delta_upd_t *u = &d->upd[i];
                int64_t a = idx_of(codec, &ids, u->item), b;
                avro_value_t el, x;
                b = u->other == RS_DELTA_MARGINAL ? -1
                    : u->other == RS_DELTA_POPULARITY
                            ? -2
                            : idx_of(codec, &ids, u->other);
                if (a < 0 || (b < 0 && u->other < RS_DELTA_POPULARITY))
                        return fail(codec, RS_ERR_ENCODE, "encode",
                                    "an update names an unknown id");
                if (avro_value_append(&upd, &el, NULL) ||
                    avro_value_get_by_name(&el, "item", &x, NULL) ||
                    avro_value_set_int(&x, (int32_t)a) ||
                    avro_value_get_by_name(&el, "other", &x, NULL) ||
                    avro_value_set_int(&x, (int32_t)b) ||
                    avro_value_get_by_name(&el, "ts", &x, NULL) ||
                    avro_value_set_long(&x, u->ts) ||
                    avro_value_get_by_name(&el, "w", &x, NULL) ||
                    avro_value_set_float(&x, u->w) ||
                    set_i32(&el, "source", u->src) ||
                    set_i64(&el, "offset_delta",
                            u->src >= 0
                                    ? u->offset - d->src[u->src].first_offset
                                    : 0) ||
                    set_bool(&el, "directed",
                             u->directed && u->other < RS_DELTA_POPULARITY))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
        }
        /* one category per id, "" for none; those named by d->cats */
        for (size_t i = 0; i < d->ncats; i++)
                if (idx_of(codec, &ids, d->cats[i].item) < 0)
                        return fail(codec, RS_ERR_ENCODE, "encode",
                                    "a category names an unknown id");
        if (codec->idx_n && !(cat_of = malloc(codec->idx_n * sizeof(*cat_of))))
                return fail(codec, RS_ERR_NOMEM, "nomem", "out of memory");
        for (uint32_t i = 0; i < codec->idx_n; i++)
                cat_of[i] = RS_ID_NONE;
        for (size_t i = 0; i < d->ncats; i++)
                cat_of[idx_of(codec, &ids, d->cats[i].item)] =
                        d->cats[i].category;
        for (uint32_t i = 0; i < codec->idx_n && !err; i++) {
                avro_value_t el;
                size_t len = 0;
                const char *c = cat_of[i] == RS_ID_NONE
                                        ? ""
                                        : rs_intern_str(codec->strings,
                                                        cat_of[i], &len);
                if (!c || avro_value_append(&cats, &el, NULL) ||
                    avro_value_set_string_len(&el, c, len + 1))
                        err = fail(codec, RS_ERR_ENCODE, "encode",
                                   "categories: %s", avro_strerror());
        }
        free(cat_of);
        if (err)
                return err;
        return frame_plain(codec, rec, out, out_len);
}

/* The version varint that starts an internal record; -1 when unreadable. */
static int64_t leading_version(const unsigned char *p, size_t len)
{
        uint64_t v = 0;

        for (size_t i = 0; i < len && i < 5; i++) {
                v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
                if (!(p[i] & 0x80))
                        return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
        }
        return -1;
}

static rs_err_t read_internal(rs_codec_t *codec, fixed_t *fx, const void *buf,
                              size_t len, int version)
{
        int64_t v = leading_version(buf, len);

        if (v != version)
                return fail(codec, RS_ERR_DECODE, "unknown_version",
                            "record version %lld, this build reads %d",
                            (long long)v, version);
        return read_value(codec, fx, buf, len);
}

static int64_t get_i64(avro_value_t *rec, const char *name)
{
        avro_value_t f;
        int64_t v = 0;
        int32_t i = 0;

        if (avro_value_get_by_name(rec, name, &f, NULL))
                return 0;
        if (avro_value_get_type(&f) == AVRO_INT32) {
                avro_value_get_int(&f, &i);
                return i;
        }
        avro_value_get_long(&f, &v);
        return v;
}

rs_err_t rs_codec_decode_delta(rs_codec_t *codec, const void *buf, size_t len,
                               const rs_delta_t **out)
{
        avro_value_t *rec = &codec->delta.value, ids, cats, upd, srcs;
        rs_delta_t *d = &codec->dec_delta;
        size_t nids = 0, ncats = 0, n = 0, nsrc = 0;
        uint32_t *id_of = NULL;
        rs_err_t err;

        rs_delta_reset(d);
        if ((err = read_internal(codec, &codec->delta, buf, len,
                                 RS_DELTA_VERSION)))
                return err;
        avro_value_get_by_name(rec, "ids", &ids, NULL);
        avro_value_get_by_name(rec, "categories", &cats, NULL);
        avro_value_get_by_name(rec, "updates", &upd, NULL);
        avro_value_get_by_name(rec, "sources", &srcs, NULL);
        avro_value_get_size(&ids, &nids);
        avro_value_get_size(&cats, &ncats);
        avro_value_get_size(&upd, &n);
        avro_value_get_size(&srcs, &nsrc);
        d->partition = (int32_t)get_i64(rec, "partition");
        if (ncats != nids)
                return fail(codec, RS_ERR_DECODE, "bad_field",
                            "%zu categories for %zu ids", ncats, nids);
        if (nids && !(id_of = malloc(nids * sizeof(*id_of))))
                return fail(codec, RS_ERR_NOMEM, "nomem", "out of memory");
        for (size_t i = 0; i < nids; i++) {
                avro_value_t el, c;
                const char *s;
                size_t clen;
                avro_value_get_by_index(&ids, i, &el, NULL);
                if ((err = intern_value(codec, &el, &id_of[i])))
                        goto out;
                avro_value_get_by_index(&cats, i, &c, NULL);
                if (avro_value_get_string(&c, &s, &clen) || clen <= 1)
                        continue;
                uint32_t cat;
                if ((err = intern_value(codec, &c, &cat)) ||
                    (err = rs_delta_add_category(d, id_of[i], cat)))
                        goto out;
        }
        for (size_t i = 0; i < nsrc; i++) {
                avro_value_t el, t;
                const char *topic;
                size_t tlen;
                avro_value_get_by_index(&srcs, i, &el, NULL);
                avro_value_get_by_name(&el, "topic", &t, NULL);
                avro_value_get_string(&t, &topic, &tlen);
                int32_t part = (int32_t)get_i64(&el, "partition");
                int64_t first = get_i64(&el, "first_offset"),
                        last = get_i64(&el, "last_offset");
                if (first > last || first < 0) {
                        err = fail(codec, RS_ERR_DECODE, "bad_field",
                                   "source %zu: offsets %lld..%lld", i,
                                   (long long)first, (long long)last);
                        goto out;
                }
                if ((err = rs_delta_add_source(d, topic, part, first, NULL)) ||
                    (err = rs_delta_add_source(d, topic, part, last, NULL)))
                        goto out;
        }
        if (d->nsrc != nsrc) {
                err = fail(codec, RS_ERR_DECODE, "bad_field",
                           "a source is named twice");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                avro_value_t el, w;
                float wf = 0;
                avro_value_get_by_index(&upd, i, &el, NULL);
                int64_t a = get_i64(&el, "item"), b = get_i64(&el, "other");
                if (a < 0 || (size_t)a >= nids || b < -2 ||
                    (b >= 0 && (size_t)b >= nids)) {
                        err = fail(codec, RS_ERR_DECODE, "bad_field",
                                   "update %zu names id %lld/%lld of %zu", i,
                                   (long long)a, (long long)b, nids);
                        goto out;
                }
                avro_value_get_by_name(&el, "w", &w, NULL);
                avro_value_get_float(&w, &wf);
                if (!isfinite(wf)) {
                        err = fail(codec, RS_ERR_DECODE, "bad_value",
                                   "update %zu: weight %g", i, wf);
                        goto out;
                }
                int64_t src = get_i64(&el, "source"),
                        off = get_i64(&el, "offset_delta");
                if (src < -1 || src >= (int64_t)nsrc ||
                    (src >= 0 &&
                     (off < 0 || off > d->src[src].last_offset -
                                                 d->src[src].first_offset))) {
                        err = fail(codec, RS_ERR_DECODE, "bad_field",
                                   "update %zu: source %lld, offset +%lld", i,
                                   (long long)src, (long long)off);
                        goto out;
                }
                if ((err = rs_delta_add(d, id_of[a],
                                        b == -1   ? RS_DELTA_MARGINAL
                                        : b == -2 ? RS_DELTA_POPULARITY
                                                  : id_of[b],
                                        get_i64(&el, "ts"), wf)))
                        goto out;
                if (src >= 0) {
                        d->upd[d->n - 1].src = (int32_t)src;
                        d->upd[d->n - 1].offset =
                                d->src[src].first_offset + off;
                }
                /* only a pair is a transition */
                d->upd[d->n - 1].directed = b >= 0 && get_bool(&el, "directed");
        }
        *out = d;
out:
        free(id_of);
        return err;
}

rs_err_t rs_codec_encode_nb(rs_codec_t *codec, const rs_nb_rec_t *r,
                            const void **out, size_t *out_len)
{
        avro_value_t *rec = &codec->nbrec.value, f, br, arr;
        char part[16];

        avro_value_reset(rec);
        snprintf(part, sizeof(part), "%d", (int)r->partition);
        if (avro_value_get_by_name(rec, "version", &f, NULL) ||
            avro_value_set_int(&f, RS_RECORDS_VERSION) ||
            avro_value_get_by_name(rec, "kind", &f, NULL) ||
            avro_value_set_enum(&f, r->kind == RS_NB_PARTITION) ||
            (r->kind == RS_NB_PARTITION
                     ? set_string(rec, "id", part, strlen(part))
                     : set_id(codec, rec, "id", r->item)) ||
            set_nullable(rec, "category", r->category != RS_ID_NONE, &br))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        if (r->category != RS_ID_NONE) {
                size_t len;
                const char *c =
                        rs_intern_str(codec->strings, r->category, &len);
                if (!c || avro_value_set_string_len(&br, c, len + 1))
                        return fail(codec, RS_ERR_ENCODE, "encode",
                                    "category: bad id");
        }
        if (avro_value_get_by_name(rec, "popularity", &f, NULL) ||
            avro_value_set_double(&f, r->popularity) ||
            avro_value_get_by_name(rec, "total", &f, NULL) ||
            avro_value_set_double(&f, r->total) ||
            avro_value_get_by_name(rec, "updated_ts", &f, NULL) ||
            avro_value_set_long(&f, r->updated_ts) ||
            avro_value_get_by_name(rec, "neighbors", &arr, NULL))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        for (size_t i = 0; i < r->nnb; i++) {
                avro_value_t el, x;
                rs_err_t err;
                if (avro_value_append(&arr, &el, NULL))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
                if ((err = set_id(codec, &el, "item_id", r->nb[i].item)))
                        return err;
                if (avro_value_get_by_name(&el, "sim", &x, NULL) ||
                    avro_value_set_float(&x, r->nb[i].sim) ||
                    avro_value_get_by_name(&el, "seq", &x, NULL) ||
                    avro_value_set_float(&x, r->nb[i].seq))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
        }
        if (avro_value_get_by_name(rec, "trending", &arr, NULL))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        for (size_t i = 0; i < r->ntrend; i++) {
                avro_value_t el, x;
                rs_err_t err;
                if (avro_value_append(&arr, &el, NULL))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
                if ((err = set_id(codec, &el, "item_id", r->trend[i].item)))
                        return err;
                if (avro_value_get_by_name(&el, "popularity", &x, NULL) ||
                    avro_value_set_double(&x, r->trend[i].popularity))
                        return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                                    avro_strerror());
        }
        return frame_plain(codec, rec, out, out_len);
}

rs_err_t rs_codec_decode_nb(rs_codec_t *codec, const void *buf, size_t len,
                            rs_nb_rec_t *r)
{
        avro_value_t *rec = &codec->nbrec.value, f, arr;
        size_t n = 0;
        int kind = 0;
        rs_err_t err;

        memset(r, 0, sizeof(*r));
        r->category = RS_ID_NONE;
        if ((err = read_internal(codec, &codec->nbrec, buf, len,
                                 RS_RECORDS_VERSION)))
                return err;
        avro_value_get_by_name(rec, "kind", &f, NULL);
        avro_value_get_enum(&f, &kind);
        r->kind = kind ? RS_NB_PARTITION : RS_NB_ITEM;
        avro_value_get_by_name(rec, "id", &f, NULL);
        if (r->kind == RS_NB_PARTITION) {
                const char *s;
                size_t slen;
                char *end;
                avro_value_get_string(&f, &s, &slen);
                long p = strtol(s, &end, 10);
                if (*end || p < 0 || p > INT32_MAX)
                        return fail(codec, RS_ERR_DECODE, "bad_field",
                                    "partition '%.20s'", s);
                r->partition = (int32_t)p;
        } else if ((err = intern_value(codec, &f, &r->item))) {
                return err;
        }
        if (!nullable(rec, "category", &f) &&
            (err = intern_value(codec, &f, &r->category)))
                return err;
        avro_value_get_by_name(rec, "popularity", &f, NULL);
        avro_value_get_double(&f, &r->popularity);
        avro_value_get_by_name(rec, "total", &f, NULL);
        avro_value_get_double(&f, &r->total);
        r->updated_ts = get_i64(rec, "updated_ts");
        avro_value_get_by_name(rec, "neighbors", &arr, NULL);
        avro_value_get_size(&arr, &n);
        if (n > codec->dec_nb_cap) {
                rs_neighbor_t *nb = realloc(codec->dec_nb, n * sizeof(*nb));
                if (!nb)
                        return fail(codec, RS_ERR_NOMEM, "nomem",
                                    "out of memory");
                codec->dec_nb = nb;
                codec->dec_nb_cap = n;
        }
        for (size_t i = 0; i < n; i++) {
                avro_value_t el, x;
                avro_value_get_by_index(&arr, i, &el, NULL);
                avro_value_get_by_name(&el, "item_id", &x, NULL);
                if ((err = intern_value(codec, &x, &codec->dec_nb[i].item)))
                        return err;
                avro_value_get_by_name(&el, "sim", &x, NULL);
                avro_value_get_float(&x, &codec->dec_nb[i].sim);
                avro_value_get_by_name(&el, "seq", &x, NULL);
                avro_value_get_float(&x, &codec->dec_nb[i].seq);
        }
        r->nb = codec->dec_nb;
        r->nnb = n;
        avro_value_get_by_name(rec, "trending", &arr, NULL);
        avro_value_get_size(&arr, &n);
        if (n > codec->dec_trend_cap) {
                rs_trend_t *t = realloc(codec->dec_trend, n * sizeof(*t));
                if (!t)
                        return fail(codec, RS_ERR_NOMEM, "nomem",
                                    "out of memory");
                codec->dec_trend = t;
                codec->dec_trend_cap = n;
        }
        for (size_t i = 0; i < n; i++) {
                avro_value_t el, x;
                avro_value_get_by_index(&arr, i, &el, NULL);
                avro_value_get_by_name(&el, "item_id", &x, NULL);
                if ((err = intern_value(codec, &x, &codec->dec_trend[i].item)))
                        return err;
                avro_value_get_by_name(&el, "popularity", &x, NULL);
                avro_value_get_double(&x, &codec->dec_trend[i].popularity);
        }
        r->trend = codec->dec_trend;
        r->ntrend = n;
        return RS_OK;
}

/*
 * State records (schemas/UserState.avsc): plain Avro ending in a CRC-32
 * of every byte before it, so a damaged record is refused before avro-c
 * reads it.
 */

/* zlib's CRC-32 (IEEE 802.3, as Python's zlib.crc32). */
static uint32_t crc32_ieee(const unsigned char *p, size_t len)
{
        return (uint32_t)crc32_z(0, p, len);
}

#define CRC_BYTES 4

/* Writes the record with a zero checksum, then the CRC of the rest over
 * it: a fixed is its bytes, last in the record. */
static rs_err_t frame_checksummed(rs_codec_t *codec, avro_value_t *rec,
                                  const void **out, size_t *out_len)
{
        avro_value_t f;
        static const unsigned char zero[CRC_BYTES];
        rs_err_t err;

        if (avro_value_get_by_name(rec, "checksum", &f, NULL) ||
            avro_value_set_fixed(&f, (void *)zero, CRC_BYTES))
                return fail(codec, RS_ERR_ENCODE, "encode", "%s",
                            avro_strerror());
        if ((err = frame_plain(codec, rec, out, out_len)))
                return err;
        unsigned char *p = (unsigned char *)codec->out;
        uint32_t crc = crc32_ieee(p, *out_len - CRC_BYTES);
        for (int i = 0; i < CRC_BYTES; i++)
                p[*out_len - CRC_BYTES + (size_t)i] =
                        (unsigned char)(crc >> (8 * i));
        return RS_OK;
}

static rs_err_t read_checksummed(rs_codec_t *codec, fixed_t *fx, int version,
                                 const void *buf, size_t len)
{
        const unsigned char *p = buf;
        int64_t v = leading_version(p, len);
        uint32_t crc = 0;

        if (len <= CRC_BYTES)
                return fail(codec, RS_ERR_DECODE, "truncated",
                            "a state record of %zu bytes", len);
        for (int i = 0; i < CRC_BYTES; i++)
                crc |= (uint32_t)p[len - CRC_BYTES + (size_t)i] << (8 * i);
        if (crc != crc32_ieee(p, len - CRC_BYTES))
                return fail(codec, RS_ERR_DECODE, "checksum",
                            "the checksum does not match (%zu bytes)", len);
        if (v != version)
                return fail(codec, RS_ERR_DECODE, "unknown_version",
                            "state version %lld, this build reads %d",
                            (long long)v, version);
        return read_value(codec, fx, buf, len);
}

rs_err_t rs_codec_encode_user_state(rs_codec_t *codec, const rs_user_state_t *s,
                                    const void **out, size_t *out_len)
{
        avro_value_t *rec = &codec->ustate.value, f, arr, el, x;
        rs_err_t err;

        avro_value_reset(rec);
        if (set_i32(rec, "version", RS_USER_STATE_VERSION) ||
            set_i32(rec, "partition", s->partition) ||
            set_i64(rec, "offset", s->offset) ||
            set_i64(rec, "last_ts", s->last_ts) ||
            set_i32(rec, "touched", (int32_t)s->touched) ||
            set_i64(rec, "interest_ts", s->interest_ts) ||
            set_i64(rec, "rate_ts", s->rate_ts) ||
            avro_value_get_by_name(rec, "rate_debt", &f, NULL) ||
            avro_value_set_float(&f, s->rate_debt) ||
            set_i64(rec, "list_hash", (int64_t)s->list_hash) ||
            set_i64(rec, "last_pub", s->last_pub) ||
            avro_value_get_by_name(rec, "pending", &f, NULL) ||
            avro_value_set_boolean(&f, s->pending != 0) ||
            avro_value_get_by_name(rec, "window", &arr, NULL))
                goto avro_fail;
        for (size_t i = 0; i < s->nwindow; i++) {
                if (avro_value_append(&arr, &el, NULL))
                        goto avro_fail;
                if ((err = set_id(codec, &el, "item_id", s->window[i].item)))
                        return err;
                if (set_i64(&el, "ts", s->window[i].ts) ||
                    avro_value_get_by_name(&el, "w", &x, NULL) ||
                    avro_value_set_float(&x, s->window[i].w))
                        goto avro_fail;
        }
        if (avro_value_get_by_name(rec, "seen", &arr, NULL))
                goto avro_fail;
        for (size_t i = 0; i < s->nseen; i++)
                if (avro_value_append(&arr, &el, NULL) ||
                    avro_value_set_long(&el, (int64_t)s->seen[i]))
                        goto avro_fail;
        if (avro_value_get_by_name(rec, "interest", &arr, NULL))
                goto avro_fail;
        for (size_t i = 0; i < s->dim; i++)
                if (avro_value_append(&arr, &el, NULL) ||
                    avro_value_set_float(&el, s->interest[i]))
                        goto avro_fail;
        if (avro_value_get_by_name(rec, "event_ids", &arr, NULL))
                goto avro_fail;
        for (size_t i = 0; i < s->nevent_ids; i++)
                if (avro_value_append(&arr, &el, NULL) ||
                    avro_value_set_long(&el, (int64_t)s->event_ids[i]))
                        goto avro_fail;
        return frame_checksummed(codec, rec, out, out_len);
avro_fail:
        return fail(codec, RS_ERR_ENCODE, "encode", "%s", avro_strerror());
}

/* Room for n items of `size` in *p (of *cap); -1 when out of memory. */
static int room(void **p, size_t *cap, size_t n, size_t size)
{
        if (n <= *cap)
                return 0;
        void *q = realloc(*p, n * size);
        if (!q)
                return -1;
        *p = q;
        *cap = n;
        return 0;
}

rs_err_t rs_codec_decode_user_state(rs_codec_t *codec, const void *buf,
                                    size_t len, rs_user_state_t *s)
{
        avro_value_t *rec = &codec->ustate.value, f, win, seen, interest, ids;
        size_t nw = 0, ns = 0, ni = 0, nid = 0;
        int32_t i32 = 0;
        int b = 0;
        rs_err_t err;

        if ((err = read_checksummed(codec, &codec->ustate,
                                    RS_USER_STATE_VERSION, buf, len)))
                return err;
        rs_user_state_init(s, RS_ID_NONE, (int32_t)get_i64(rec, "partition"));
        s->offset = get_i64(rec, "offset");
        s->last_ts = get_i64(rec, "last_ts");
        avro_value_get_by_name(rec, "touched", &f, NULL);
        avro_value_get_int(&f, &i32);
        s->touched = (uint32_t)i32;
        s->interest_ts = get_i64(rec, "interest_ts");
        s->rate_ts = get_i64(rec, "rate_ts");
        avro_value_get_by_name(rec, "rate_debt", &f, NULL);
        avro_value_get_float(&f, &s->rate_debt);
        s->list_hash = (uint64_t)get_i64(rec, "list_hash");
        s->last_pub = get_i64(rec, "last_pub");
        avro_value_get_by_name(rec, "pending", &f, NULL);
        avro_value_get_boolean(&f, &b);
        s->pending = b;
        avro_value_get_by_name(rec, "window", &win, NULL);
        avro_value_get_by_name(rec, "seen", &seen, NULL);
        avro_value_get_by_name(rec, "interest", &interest, NULL);
        avro_value_get_size(&win, &nw);
        avro_value_get_size(&seen, &ns);
        avro_value_get_size(&interest, &ni);
        if (room((void **)&codec->dec_win, &codec->dec_win_cap, nw,
                 sizeof(*codec->dec_win)) ||
            room((void **)&codec->dec_seen, &codec->dec_seen_cap, ns,
                 sizeof(*codec->dec_seen)) ||
            room((void **)&codec->dec_interest, &codec->dec_interest_cap, ni,
                 sizeof(*codec->dec_interest)))
                return fail(codec, RS_ERR_NOMEM, "nomem", "out of memory");
        for (size_t i = 0; i < nw; i++) {
                avro_value_t el, x;
                rs_win_entry_t *e = &codec->dec_win[i];
                avro_value_get_by_index(&win, i, &el, NULL);
                avro_value_get_by_name(&el, "item_id", &x, NULL);
                if ((err = intern_value(codec, &x, &e->item)))
                        return err;
                e->ts = get_i64(&el, "ts");
                avro_value_get_by_name(&el, "w", &x, NULL);
                avro_value_get_float(&x, &e->w);
        }
        for (size_t i = 0; i < ns; i++) {
                avro_value_t el;
                int64_t h = 0;
                avro_value_get_by_index(&seen, i, &el, NULL);
                avro_value_get_long(&el, &h);
                codec->dec_seen[i] = (uint64_t)h;
        }
        for (size_t i = 0; i < ni; i++) {
                avro_value_t el;
                avro_value_get_by_index(&interest, i, &el, NULL);
                avro_value_get_float(&el, &codec->dec_interest[i]);
        }
        s->window = codec->dec_win;
        s->nwindow = nw;
        s->seen = codec->dec_seen;
        s->nseen = ns;
        s->interest = codec->dec_interest;
        s->dim = ni;
        /* the newest RS_USER_EIDS, whatever the writer kept */
        avro_value_get_by_name(rec, "event_ids", &ids, NULL);
        avro_value_get_size(&ids, &nid);
        size_t skip = nid > RS_USER_EIDS ? nid - RS_USER_EIDS : 0;
        for (size_t i = skip; i < nid; i++) {
                avro_value_t el;
                int64_t h = 0;
                avro_value_get_by_index(&ids, i, &el, NULL);
                avro_value_get_long(&el, &h);
                codec->dec_eids[i - skip] = (uint64_t)h;
        }
        s->event_ids = codec->dec_eids;
        s->nevent_ids = nid - skip;
        return RS_OK;
}

static int set_f32(avro_value_t *rec, const char *name, float v)
{
        avro_value_t f;
        return avro_value_get_by_name(rec, name, &f, NULL) ||
               avro_value_set_float(&f, v);
}

static float get_f32(avro_value_t *rec, const char *name)
{
        avro_value_t f;
        float v = 0;

        if (!avro_value_get_by_name(rec, name, &f, NULL))
                avro_value_get_float(&f, &v);
        return v;
}

rs_err_t rs_codec_encode_item_state(rs_codec_t *codec, const rs_item_state_t *s,
                                    const void **out, size_t *out_len)
{
        avro_value_t *rec = &codec->istate.value, f, br, arr, el, x;
        rs_err_t err;

        avro_value_reset(rec);
        if (set_i32(rec, "version", RS_ITEM_STATE_VERSION) ||
            set_i32(rec, "partition", s->partition) ||
            avro_value_get_by_name(rec, "kind", &f, NULL) ||
            avro_value_set_enum(&f, s->kind == RS_ISTATE_PARTITION) ||
            set_bool(rec, "own", s->own) ||
            set_nullable(rec, "category", s->category != RS_ID_NONE, &br))
                goto avro_fail;
        if (s->category != RS_ID_NONE) {
                size_t len;
                const char *c =
                        rs_intern_str(codec->strings, s->category, &len);
                if (!c || avro_value_set_string_len(&br, c, len + 1))
                        return fail(codec, RS_ERR_ENCODE, "encode",
                                    "category: bad id");
        }
        if (set_f32(rec, "n", s->n) || set_i64(rec, "t_n", s->t_n) ||
            avro_value_get_by_name(rec, "popularity", &f, NULL) ||
            avro_value_set_double(&f, s->lp) ||
            set_i64(rec, "nb_at", s->nb_at) ||
            set_i64(rec, "nb_oldest", s->nb_oldest) ||
            set_f32(rec, "moved", s->moved) || set_f32(rec, "mass", s->mass) ||
            set_bool(rec, "pending", s->pending) ||
            set_f32(rec, "total", s->total) ||
            set_i64(rec, "t_total", s->t_total) ||
            set_i64(rec, "now", s->now) ||
            avro_value_get_by_name(rec, "counterparts", &arr, NULL))
                goto avro_fail;
        for (size_t i = 0; i < s->ncp; i++) {
                if (avro_value_append(&arr, &el, NULL))
                        goto avro_fail;
                if ((err = set_id(codec, &el, "item_id", s->cp[i].item)))
                        return err;
                if (set_f32(&el, "c", s->cp[i].c) ||
                    set_f32(&el, "err", s->cp[i].err) ||
                    set_f32(&el, "d", s->cp[i].d) ||
                    set_i64(&el, "t", s->cp[i].t))
                        goto avro_fail;
        }
        if (avro_value_get_by_name(rec, "neighbors", &arr, NULL))
                goto avro_fail;
        for (size_t i = 0; i < s->nnb; i++) {
                if (avro_value_append(&arr, &el, NULL))
                        goto avro_fail;
                if ((err = set_id(codec, &el, "item_id", s->nb[i].item)))
                        return err;
                if (avro_value_get_by_name(&el, "sim", &x, NULL) ||
                    avro_value_set_float(&x, s->nb[i].sim))
                        goto avro_fail;
        }
        if (avro_value_get_by_name(rec, "watermarks", &arr, NULL))
                goto avro_fail;
        for (size_t i = 0; i < s->nwm; i++)
                if (avro_value_append(&arr, &el, NULL) ||
                    set_string(&el, "topic", s->wm[i].topic,
                               strlen(s->wm[i].topic)) ||
                    set_i32(&el, "partition", s->wm[i].partition) ||
                    set_i64(&el, "offset", s->wm[i].offset))
                        goto avro_fail;
        return frame_checksummed(codec, rec, out, out_len);
avro_fail:
        return fail(codec, RS_ERR_ENCODE, "encode", "%s", avro_strerror());
}

rs_err_t rs_codec_decode_item_state(rs_codec_t *codec, const void *buf,
                                    size_t len, rs_item_state_t *s)
{
        avro_value_t *rec = &codec->istate.value, f, cps, nbs, wms;
        size_t ncp = 0, nnb = 0, nwm = 0;
        int kind = 0;
        rs_err_t err;

        if ((err = read_checksummed(codec, &codec->istate,
                                    RS_ITEM_STATE_VERSION, buf, len)))
                return err;
        memset(s, 0, sizeof(*s));
        s->item = RS_ID_NONE;
        s->category = RS_ID_NONE;
        avro_value_get_by_name(rec, "kind", &f, NULL);
        avro_value_get_enum(&f, &kind);
        s->kind = kind ? RS_ISTATE_PARTITION : RS_ISTATE_ITEM;
        s->partition = (int32_t)get_i64(rec, "partition");
        s->own = get_bool(rec, "own");
        if (!nullable(rec, "category", &f) &&
            (err = intern_value(codec, &f, &s->category)))
                return err;
        s->n = get_f32(rec, "n");
        s->t_n = (uint32_t)get_i64(rec, "t_n");
        avro_value_get_by_name(rec, "popularity", &f, NULL);
        avro_value_get_double(&f, &s->lp);
        s->nb_at = get_i64(rec, "nb_at");
        s->nb_oldest = (uint32_t)get_i64(rec, "nb_oldest");
        s->moved = get_f32(rec, "moved");
        s->mass = get_f32(rec, "mass");
        s->pending = get_bool(rec, "pending");
        s->total = get_f32(rec, "total");
        s->t_total = (uint32_t)get_i64(rec, "t_total");
        s->now = get_i64(rec, "now");
        avro_value_get_by_name(rec, "counterparts", &cps, NULL);
        avro_value_get_by_name(rec, "neighbors", &nbs, NULL);
        avro_value_get_by_name(rec, "watermarks", &wms, NULL);
        avro_value_get_size(&cps, &ncp);
        avro_value_get_size(&nbs, &nnb);
        avro_value_get_size(&wms, &nwm);
        if (room((void **)&codec->dec_cp, &codec->dec_cp_cap, ncp,
                 sizeof(*codec->dec_cp)) ||
            room((void **)&codec->dec_inb, &codec->dec_inb_cap, nnb,
                 sizeof(*codec->dec_inb)) ||
            room((void **)&codec->dec_wm, &codec->dec_wm_cap, nwm,
                 sizeof(*codec->dec_wm)))
                return fail(codec, RS_ERR_NOMEM, "nomem", "out of memory");
        for (size_t i = 0; i < ncp; i++) {
                avro_value_t el, x;
                rs_cp_state_t *c = &codec->dec_cp[i];
                avro_value_get_by_index(&cps, i, &el, NULL);
                avro_value_get_by_name(&el, "item_id", &x, NULL);
                if ((err = intern_value(codec, &x, &c->item)))
                        return err;
                c->c = get_f32(&el, "c");
                c->err = get_f32(&el, "err");
                c->d = get_f32(&el, "d");
                if (!(c->d >= 0 && c->d <= FLT_MAX))
                        c->d = 0; /* not a count */
                c->t = (uint32_t)get_i64(&el, "t");
        }
        for (size_t i = 0; i < nnb; i++) {
                avro_value_t el, x;
                avro_value_get_by_index(&nbs, i, &el, NULL);
                avro_value_get_by_name(&el, "item_id", &x, NULL);
                if ((err = intern_value(codec, &x, &codec->dec_inb[i].item)))
                        return err;
                codec->dec_inb[i].sim = get_f32(&el, "sim");
                /* not kept: a list is published as refreshed, seq anew */
                codec->dec_inb[i].seq = 0;
        }
        for (size_t i = 0; i < nwm; i++) {
                avro_value_t el, x;
                const char *t = "";
                size_t tl = 0;
                avro_value_get_by_index(&wms, i, &el, NULL);
                avro_value_get_by_name(&el, "topic", &x, NULL);
                avro_value_get_string(&x, &t, &tl);
                codec->dec_wm[i].topic = t; /* in the codec's value */
                codec->dec_wm[i].partition = (int32_t)get_i64(&el, "partition");
                codec->dec_wm[i].offset = get_i64(&el, "offset");
        }
        s->cp = codec->dec_cp;
        s->ncp = ncp;
        s->nb = codec->dec_inb;
        s->nnb = nnb;
        s->wm = codec->dec_wm;
        s->nwm = nwm;
        return RS_OK;
}
