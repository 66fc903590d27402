/* records.h — what the two sides of the topology exchange (DESIGN §3),
 * in process form: pair deltas from the user side to the item side
 * (schemas/CoocDelta.avsc) and neighbour records from the item side to
 * every replica's neighbour table (schemas/ItemNeighbors.avsc).
 *
 * Ids are interned (process-local); the codec turns them into the original
 * strings on the wire, and back. Ownership: a record's arrays belong to
 * whoever filled it (rs_delta_* below for deltas; the codec's buffers, valid
 * until its next decode, for decoded records). */
#ifndef RECSTREAM_RECORDS_H
#define RECSTREAM_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/err.h"

/* An ItemMeta record (schemas/ItemMeta.avsc) of the catalog topic. */
typedef struct rs_item_meta {
        uint32_t item;
        uint32_t category;   /* RS_ID_NONE when absent */
        int64_t duration_ms; /* RS_NONE_I64 when absent */
        int removed;
        const float *embedding; /* NULL when absent */
        size_t dim;
        int64_t updated_ts;
} rs_item_meta_t;

/* The versions this build writes; readers skip (and count) others. */
#define RS_RECORDS_VERSION 2 /* ItemNeighbors: 2 adds each neighbour's seq */
#define RS_DELTA_VERSION                                                       \
        3 /* CoocDelta: 2 names each update's event,                           \
           * 3 marks transitions (directed) */

/* rs_delta_upd_t.other for what is not a pair. */
#define RS_DELTA_MARGINAL   UINT32_MAX       /* N(item) += w */
#define RS_DELTA_POPULARITY (UINT32_MAX - 1) /* popularity(item) += w */

typedef struct rs_delta_upd {
        uint32_t item;  /* hashes to the delta's partition */
        uint32_t other; /* C(item, other) += w, or RS_DELTA_* */
        int64_t ts;     /* event time of the addition, ms */
        float w;
        int32_t src;    /* the source of its event (index), -1: none */
        int64_t offset; /* ... and its offset there */
        int directed;   /* a pair update that is also a transition
                         * item -> other: D(item, other) += w as well */
} rs_delta_upd_t;

/* An input partition's offsets behind a delta. */
typedef struct rs_delta_src {
        const char *topic; /* borrowed: a source topic name */
        int32_t partition;
        int64_t first_offset, last_offset;
} rs_delta_src_t;

/* An item's category as its events said (RS_ID_NONE: none). */
typedef struct rs_delta_cat {
        uint32_t item, category;
} rs_delta_cat_t;

typedef struct rs_delta {
        int32_t partition; /* of <pipeline>.cooc-deltas */
        rs_delta_upd_t *upd;
        size_t n, cap;
        rs_delta_cat_t *cats;
        size_t ncats, cats_cap;
        rs_delta_src_t *src;
        size_t nsrc, src_cap;
} rs_delta_t;

/* Appends; RS_ERR_NOMEM. */
rs_err_t rs_delta_add(rs_delta_t *d, uint32_t item, uint32_t other, int64_t ts,
                      float w);
rs_err_t rs_delta_add_category(rs_delta_t *d, uint32_t item, uint32_t category);
/* Extends the offsets of (topic, partition) to include offset; its
 * index into d->src in *index (may be NULL). */
rs_err_t rs_delta_add_source(rs_delta_t *d, const char *topic,
                             int32_t partition, int64_t offset, int32_t *index);
/* Empties d, keeping its arrays. */
void rs_delta_reset(rs_delta_t *d);
void rs_delta_fini(rs_delta_t *d);

/* The cooc-deltas partition that owns an item: a stable hash of its id
 * string (the same in every process and release), mod `partitions`. */
int32_t rs_delta_partition(const char *id, size_t len, int32_t partitions);

/* A neighbour of an item and its similarity; seq is the part of sim the
 * transition channel gave (cooccur.transition_weight, 0 without), so a
 * reader can tell "watched together" from "watched next". */
typedef struct rs_neighbor {
        uint32_t item;
        float sim, seq;
} rs_neighbor_t;

typedef struct rs_trend {
        uint32_t item;
        double popularity; /* log2 of the forward-decayed popularity */
} rs_trend_t;

enum { RS_NB_ITEM, RS_NB_PARTITION };

/* log2 popularity of an item with none. */
#define RS_NO_POPULARITY (-1e300)

/* One record of <pipeline>.item-neighbors. An item record with deleted set
 * is a tombstone: the item is gone from the item side. */
typedef struct rs_nb_rec {
        int kind;          /* RS_NB_ITEM or RS_NB_PARTITION */
        uint32_t item;     /* kind item */
        int32_t partition; /* kind partition */
        int deleted;       /* kind item: a tombstone */
        uint32_t category; /* RS_ID_NONE when none */
        double popularity; /* log2, RS_NO_POPULARITY when none */
        const rs_neighbor_t *nb;
        size_t nnb;
        const rs_trend_t *trend; /* kind partition, best first */
        size_t ntrend;
        double total;       /* kind partition: log2 Σ N */
        int64_t updated_ts; /* event time it was computed at */
} rs_nb_rec_t;

/* The Kafka key of a partition record: 0xFF 'p' and the partition number
 * (no item id is invalid UTF-8, so no item has it). Writes at most 16
 * bytes; returns the length. */
size_t rs_nb_partition_key(int32_t partition, char key[16]);

/*
 * State that survives (DESIGN §3, issue 11): what the changelog topics
 * carry of each key, in process form (schemas/UserState.avsc).
 */

/* The formats this build writes of state records; another is never
 * read (UserState 2 added the event ids). */
#define RS_USER_STATE_VERSION 2
#define RS_ITEM_STATE_VERSION 2 /* 2: counterparts carry D (directed) */

/* Event ids (their 64-bit hashes) of a user's newest events kept with its
 * state: a producer's duplicate of one of them is still recognised after
 * a restart or a move to another replica. */
#define RS_USER_EIDS 8

/* One event in a user's window (user_window.h). */
typedef struct rs_win_entry {
        int64_t ts;
        uint32_t item;
        float w;
} rs_win_entry_t;

/* A user's state, owned by its input partition: what each user-side stage
 * keeps of the user (rs_stage_ops_t.save fills its part, load reads it).
 * Arrays are borrowed from whoever filled the record. */
typedef struct rs_user_state {
        uint32_t user;
        int32_t partition; /* the input partition that owns the user */
        int64_t offset;    /* of the user's newest event applied there */
        /* user_window */
        int64_t last_ts;
        uint32_t touched;
        const rs_win_entry_t *window; /* oldest first */
        size_t nwindow;
        const uint64_t *seen; /* item string hashes, oldest first */
        size_t nseen;
        int64_t interest_ts; /* INT64_MIN: no interest yet */
        const float *interest;
        size_t dim;
        const uint64_t *event_ids; /* newest events' id hashes, oldest
                                    * first, at most RS_USER_EIDS */
        size_t nevent_ids;
        /* clean: the user's rate bucket (rate_ts INT64_MIN: none) */
        int64_t rate_ts;
        float rate_debt;
        /* score: the last list published (hash 0: none) and whether a
         * newer one waits for its refresh */
        uint64_t list_hash;
        int64_t last_pub;
        int pending;
} rs_user_state_t;

/* Empties s (no stage's part); user and partition as given. */
void rs_user_state_init(rs_user_state_t *s, uint32_t user, int32_t partition);

/* A counterpart of an item: its count c (and the bound of its error) and
 * its directed count d (transitions item -> counterpart) as of time t, in
 * seconds since the epoch. */
typedef struct rs_cp_state {
        uint32_t item;
        float c, err, d;
        uint32_t t;
} rs_cp_state_t;

/* What a cooc-deltas partition has applied of an input partition: every
 * update of an event at or below `offset` (schemas/ItemState.avsc). */
typedef struct rs_watermark {
        const char *topic; /* borrowed */
        int32_t partition;
        int64_t offset;
} rs_watermark_t;

enum { RS_ISTATE_ITEM, RS_ISTATE_PARTITION };

/* An item's state in one partition of the item side, or (kind partition)
 * that partition's own: the pair total, its clock, its watermarks.
 * Arrays borrowed from whoever filled it. */
typedef struct rs_item_state {
        int kind;
        int32_t partition; /* of <pipeline>.cooc-deltas */
        /* kind item */
        uint32_t item;
        int own;           /* it hashes to this partition */
        uint32_t category; /* RS_ID_NONE: none */
        float n;           /* marginal as of t_n (seconds) */
        uint32_t t_n;
        double lp; /* log2 popularity, RS_NO_POPULARITY */
        const rs_cp_state_t *cp;
        size_t ncp;
        const rs_neighbor_t *nb; /* the list last published */
        size_t nnb;
        int64_t nb_at; /* when (INT64_MIN: never) */
        uint32_t nb_oldest;
        float moved, mass;
        int pending; /* waits to be published */
        int deleted; /* kind item: evicted (a tombstone; nothing else) */
        /* kind partition */
        float total;
        uint32_t t_total;
        int64_t now;
        const rs_watermark_t *wm;
        size_t nwm;
} rs_item_state_t;

#endif
