/* codec.h — Avro encoding and decoding of BehaviorEvent and UserRecs.
 *
 * The only module that sees avro-c. A codec is made for one framing (plain
 * Avro binary, Confluent wire format, or Avro single-object encoding) and
 * one string table; it owns reusable Avro values, so decoding allocates
 * nothing per record beyond what interning a new id needs. A codec is not
 * thread-safe: one per thread.
 *
 * Schema evolution: every writer schema the pipeline accepts is bound once,
 * at load time, to the reader contract (the built-in BehaviorEvent schema)
 * by field name and enum symbol: fields the reader does not know are
 * skipped, reader fields the writer lacks take their defaults, int/long/
 * float/double promote as Avro specifies, and enum symbols map by name (an
 * unknown symbol fails that record only). */
#ifndef RECSTREAM_CODEC_H
#define RECSTREAM_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/event.h"
#include "recstream/intern.h"
#include "recstream/records.h"

typedef enum rs_framing {
        RS_FRAMING_PLAIN,         /* the Avro binary record alone */
        RS_FRAMING_CONFLUENT,     /* 0x00, 4-byte big-endian schema id */
        RS_FRAMING_SINGLE_OBJECT, /* 0xC3 0x01, 8-byte LE CRC-64-AVRO */
        RS_FRAMING__COUNT
} rs_framing_t;

const char *rs_framing_name(int framing);
/* avro-c's version: the library has no run-time version call, so this is
 * what pkg-config said at build time ("unknown" without it); static. */
const char *rs_codec_avro_version(void);

/* -1 when unknown. Names: plain, confluent, single-object. */
int rs_framing_parse(const char *name);

/* The built-in schemas (the .avsc files of schemas/, embedded at build time).
 */
extern const char rs_schema_BehaviorEvent[];
extern const char rs_schema_ItemMeta[];
extern const char rs_schema_UserRecs[];
extern const char rs_schema_CoocDelta[];
extern const char rs_schema_ItemNeighbors[];
extern const char rs_schema_UserState[];
extern const char rs_schema_ItemState[];

/* The Avro Parsing Canonical Form of a schema's JSON text, and its
 * CRC-64-AVRO fingerprint. Caller frees *canonical. */
rs_err_t rs_codec_canonical_form(const char *json, size_t len, char **canonical,
                                 uint64_t *fingerprint, char *errstr,
                                 size_t errstr_size);

typedef struct rs_codec rs_codec_t;

/* `strings` is borrowed and must outlive the codec. NULL on failure. */
rs_codec_t *rs_codec_new(rs_framing_t framing, rs_intern_t *strings,
                         char *errstr, size_t errstr_size);
void rs_codec_destroy(rs_codec_t *codec);

/* Confluent schema ids of the built-in BehaviorEvent and UserRecs schemas
 * (used to frame what this codec encodes, and accepted on decode). */
void rs_codec_set_schema_ids(rs_codec_t *codec, int32_t event_id,
                             int32_t recs_id);
/* Ids (event_id, user_id, item_id, category) of more than max_id bytes
 * fail a record with reason id_too_long (default RS_ID_MAX_DEFAULT). */
void rs_codec_set_max_id(rs_codec_t *codec, size_t max_id);
/* Confluent schema id of the built-in ItemMeta schema (default 3). */
void rs_codec_set_item_schema_id(rs_codec_t *codec, int32_t item_id);
/* With `on`, rs_codec_encode_recs stamps each list with the wall clock as
 * published_ts and a new list_id, unique among this codec's lists (a
 * bijection of a per-codec random seed and a counter), whatever recs
 * holds: what the worker publishes. Off (the default) writes them as recs
 * gives them, 0 as null. */
void rs_codec_set_stamp(rs_codec_t *codec, int on);
/* The pipeline reference written into every UserRecs (copied). */
void rs_codec_set_pipeline(rs_codec_t *codec, const char *name,
                           const char *config_hash);

/* Accept BehaviorEvents written with the schema `json` (copied). With
 * Confluent framing `schema_id` is its registry id; with plain framing the
 * writer schema added last is the one records are read with. */
rs_err_t rs_codec_add_event_writer(rs_codec_t *codec, const char *json,
                                   size_t len, int32_t schema_id, char *errstr,
                                   size_t errstr_size);

/* Decode one framed BehaviorEvent into *ev, interning its ids. On failure
 * returns RS_ERR_DECODE (or RS_ERR_NOMEM) and the record alone is lost;
 * rs_codec_reason() and rs_codec_error() describe it. */
rs_err_t rs_codec_decode_event(rs_codec_t *codec, const void *buf, size_t len,
                               rs_event_t *ev);

/* A short static reason code of the last failure, for counters and dead
 * letters: framing, unknown_schema; the strict check's truncated,
 * bad_varint, bad_length, bad_enum, bad_union, bad_boolean, invalid_utf8,
 * too_deep, trailing_bytes; missing_field, bad_field, unknown_event_type,
 * empty_id, id_too_long, bad_value (a NaN or infinite double); avro (avro-c
 * refused what the check passed), encode, nomem. */
const char *rs_codec_reason(const rs_codec_t *codec);
/* A human-readable description of the last failure (owned by the codec). */
const char *rs_codec_error(const rs_codec_t *codec);

/* Encode into a buffer owned by the codec, valid until its next encode. */
rs_err_t rs_codec_encode_event(rs_codec_t *codec, const rs_event_fields_t *f,
                               const void **out, size_t *out_len);
rs_err_t rs_codec_encode_recs(rs_codec_t *codec, const rs_recs_t *recs,
                              const void **out, size_t *out_len);

/* Decode one framed ItemMeta (built-in schema) into *m, interning ids;
 * m->embedding points into the codec until its next decode. */
rs_err_t rs_codec_decode_item(rs_codec_t *codec, const void *buf, size_t len,
                              rs_item_meta_t *m);

/* Decode one framed UserRecs (built-in schema) into *recs, interning ids. */
rs_err_t rs_codec_decode_recs(rs_codec_t *codec, const void *buf, size_t len,
                              rs_recs_t *recs);

/* Internal records (records.h; schemas/CoocDelta.avsc, ItemNeighbors.avsc):
 * plain Avro whatever the framing, ids as their strings. Encoding: into
 * the codec's buffer, valid until its next encode. Decoding: ids interned
 * and checked as event ids are; a version other than RS_RECORDS_VERSION
 * fails with reason unknown_version; what is returned points into the
 * codec until its next decode of the same kind. */
rs_err_t rs_codec_encode_delta(rs_codec_t *codec, const rs_delta_t *d,
                               const void **out, size_t *out_len);
rs_err_t rs_codec_decode_delta(rs_codec_t *codec, const void *buf, size_t len,
                               const rs_delta_t **d);
rs_err_t rs_codec_encode_nb(rs_codec_t *codec, const rs_nb_rec_t *r,
                            const void **out, size_t *out_len);
rs_err_t rs_codec_decode_nb(rs_codec_t *codec, const void *buf, size_t len,
                            rs_nb_rec_t *r);

/* State records (records.h; schemas/UserState.avsc): plain Avro whose last
 * four bytes are a CRC-32 of the rest. Encoding: into the codec's buffer,
 * valid until its next encode. Decoding fails, before avro-c reads
 * anything, with reason truncated or checksum when the bytes are damaged
 * and unknown_version for another RS_USER_STATE_VERSION; s->user is left
 * RS_ID_NONE (the key names the user), its arrays point into the codec
 * until its next decode and its window ids are interned. */
rs_err_t rs_codec_encode_user_state(rs_codec_t *codec, const rs_user_state_t *s,
                                    const void **out, size_t *out_len);
rs_err_t rs_codec_decode_user_state(rs_codec_t *codec, const void *buf,
                                    size_t len, rs_user_state_t *s);
/* The same for the item side (schemas/ItemState.avsc); s->item is left
 * RS_ID_NONE (the key names it), watermark topics point into the codec
 * until its next decode. */
rs_err_t rs_codec_encode_item_state(rs_codec_t *codec, const rs_item_state_t *s,
                                    const void **out, size_t *out_len);
rs_err_t rs_codec_decode_item_state(rs_codec_t *codec, const void *buf,
                                    size_t len, rs_item_state_t *s);

/* One framed BehaviorEvent, read with its writer schema, as one flat JSON
 * object for `tail --events`: a key per field, unions as their value or
 * null, enums as their symbol — what rs_evfile reads back (.jsonl).
 * Caller frees *json. */
rs_err_t rs_codec_event_to_json(rs_codec_t *codec, const void *buf, size_t len,
                                char **json);
/* One framed UserRecs (built-in schema) as JSON: every field of the
 * record, nested records as objects, unions as their value or null.
 * Caller frees *json. */
rs_err_t rs_codec_recs_to_json(rs_codec_t *codec, const void *buf, size_t len,
                               char **json);

/* Avro object container files of BehaviorEvents, written with any schema
 * the reader contract accepts (the file's own schema is bound as above). */
typedef struct rs_ocf rs_ocf_t;

/* `strings` is borrowed. NULL with errstr on failure. */
/* Ids over max_id bytes fail their record. avro-c reads the file's blocks
 * itself, so the strict check of rs_codec_decode_event does not apply:
 * container files are for trusted backfills. */
rs_ocf_t *rs_ocf_open(const char *path, rs_intern_t *strings, size_t max_id,
                      char *errstr, size_t errstr_size);
/* The next event: RS_OK, RS_ERR_NOENT at the end, RS_ERR_DECODE for a
 * record that cannot be used (rs_ocf_error says why). */
rs_err_t rs_ocf_next(rs_ocf_t *f, rs_event_t *ev);
const char *rs_ocf_error(const rs_ocf_t *f);
/* Its static reason (as rs_codec_reason). */
const char *rs_ocf_reason(const rs_ocf_t *f);
void rs_ocf_close(rs_ocf_t *f);

#endif
