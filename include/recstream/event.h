/* event.h — the fixed C forms of a behaviour event and a recommendation list.
 *
 * Ids are interned (intern.h) once, at decode; stages never see strings. */
#ifndef RECSTREAM_EVENT_H
#define RECSTREAM_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"
#include "recstream/intern.h"

/* In the order of the BehaviorEvent.event_type enum in
 * schemas/BehaviorEvent.avsc (the codec maps writer symbols by name). */
typedef enum rs_event_type {
        RS_EV_IMPRESSION,
        RS_EV_PLAY,
        RS_EV_CLICK,
        RS_EV_WATCH,
        RS_EV_LIKE,
        RS_EV_SHARE,
        RS_EV_COMMENT,
        RS_EV_ADD_TO_CART,
        RS_EV_PURCHASE,
        RS_EV_SKIP,
        RS_EV_DISLIKE,
        RS_EV_RATE,
        RS_EV__COUNT
} rs_event_type_t;

/* Static symbol, e.g. "add_to_cart"; "?" when out of range. */
const char *rs_event_type_name(int type);
/* The type of symbol s[0..len), or -1 when unknown. */
int rs_event_type_parse(const char *s, size_t len);

#define RS_NONE_I64 INT64_MIN /* an absent nullable long */

/* Bytes of an id at most, unless the pipeline says otherwise
 * (source.max_id_bytes). */
#define RS_ID_MAX_DEFAULT 256

/* Why a stage dropped an event (rs_event_t.drop); 0 = kept. */
typedef enum rs_drop {
        RS_DROP_NONE,
        RS_DROP_INVALID,     /* negative watch time or duration, a rate
                              * without a value or out of range */
        RS_DROP_TOO_OLD,     /* more than clean.max_age behind its
                              * partition's event time, or before 1970 */
        RS_DROP_FUTURE,      /* more than clean.max_future ahead of the
                              * wall clock or of its Kafka timestamp */
        RS_DROP_DUPLICATE,   /* event_id seen within clean.dedupe_ttl */
        RS_DROP_RATE_LIMIT,  /* the user is over clean.max_user_rate */
        RS_DROP_ZERO_WEIGHT, /* weight 0: no signal (e.g. impressions) */
        RS_DROP_REPLAYED,    /* consumed again after a restore: the
                              * user's restored state holds it already */
        RS_DROP__COUNT
} rs_drop_t;

const char *rs_drop_name(int drop);
/* The stage that drops for this reason: "clean", "weight" or "restore". */
const char *rs_drop_stage(int drop);
/* Whether a record dropped for this reason is a producer's bug that goes
 * to the dead-letter topic (invalid, too_old, future), or ordinary
 * traffic that is only counted (duplicate, rate_limit, zero_weight). */
int rs_drop_dead_letter(int drop);

/* rs_event_t.flags */
#define RS_EVF_FIRST 0x01 /* the user's first interaction with the item */

typedef struct rs_event {
        int64_t ts;          /* event time, ms since the Unix epoch */
        int64_t watch_ms;    /* ms watched, 0 when not a watch */
        int64_t duration_ms; /* RS_NONE_I64 when absent */
        double value;        /* stars of a rate event; NAN when absent */
        uint64_t event_hash; /* rs_hash_bytes(event_id), for dedupe */
        uint32_t user;       /* interned user_id */
        uint32_t item;       /* interned item_id */
        uint32_t category;   /* interned category, RS_ID_NONE when absent */
        uint8_t type;        /* rs_event_type_t */
        uint8_t drop;        /* rs_drop_t: 0 kept */
        uint8_t flags;       /* RS_EVF_* set by user_window */
        float weight;        /* signed implicit weight (weight stage) */
        uint16_t topic;      /* origin: index of the source topic (0 files) */
        int64_t ingest_ts;   /* Kafka message timestamp, RS_NONE_I64 unknown */
        int32_t partition;   /* origin, -1 when not from Kafka */
        int64_t offset;      /* origin offset (a file's line), -1 unknown */
} rs_event_t;

/* An event as strings: what files and generators give, what encoding takes.
 * Absent optional fields: NULL strings, RS_NONE_I64, NAN. */
typedef struct rs_event_fields {
        const char *event_id, *user_id, *item_id;
        int type; /* rs_event_type_t */
        int64_t ts, watch_ms, duration_ms;
        const char *category;
        double value;
        const char *device, *session_id;
} rs_event_fields_t;

/* Why an id string cannot be used, or NULL: "empty_id", "id_too_long"
 * (more than max bytes) or "invalid_utf8". The one rule for ids from every
 * input (Avro, CSV, JSON lines): an id that breaks it never reaches state. */
const char *rs_event_check_id(const char *s, size_t len, size_t max);

/* The interned form of f (event_id hashed), as decoding would give it.
 * Ids are checked first (rs_event_check_id, ids of at most max_id bytes;
 * the category may be absent or empty, then none), so a rejected event
 * interns nothing: RS_ERR_DECODE with *reason set. RS_ERR_NOMEM when
 * interning fails. */
rs_err_t rs_event_from_fields(const rs_event_fields_t *f, rs_intern_t *in,
                              size_t max_id, rs_event_t *ev,
                              const char **reason);

/* Why an item is listed: the UserRecs Reason symbols, in their order,
 * then the channels finer than them. sequence is covisit led by the
 * transition channel (the item is watched next after because_of): on the
 * wire its reason is covisit, and UserRecs' channels say sequence. */
typedef enum rs_reason {
        RS_REASON_COVISIT,
        RS_REASON_INTEREST,
        RS_REASON_TRENDING,
        RS_REASON_SEQUENCE,
        RS_REASON__COUNT
} rs_reason_t;
#define RS_REASON__WIRE RS_REASON_SEQUENCE /* symbols of the Avro enum */

/* The Avro reason of a reason: covisit for sequence. */
static inline int rs_reason_wire(int reason)
{
        return reason == RS_REASON_SEQUENCE ? RS_REASON_COVISIT : reason;
}

const char *rs_reason_name(int reason);
int rs_reason_parse(const char *s, size_t len);

#define RS_RECS_MAX 200 /* upper bound of any pipeline's top-K */

typedef struct rs_rec {
        uint32_t item;
        uint32_t because_of; /* RS_ID_NONE when null */
        double score;
        uint8_t reason; /* rs_reason_t */
} rs_rec_t;

typedef struct rs_recs {
        uint32_t user;
        int64_t generated_ts; /* event time of the newest event behind it */
        int64_t published_ts; /* wall clock ms it was published; 0: none */
        uint64_t list_id;     /* unique id of the published list; 0: none */
        uint32_t n;           /* items, in rank order (the order is the rank) */
        rs_rec_t items[RS_RECS_MAX];
} rs_recs_t;

#endif
