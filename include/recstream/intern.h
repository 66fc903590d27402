/* intern.h — a string table: each distinct id string gets a dense uint32,
 * reference-counted and recycled.
 *
 * Ids are dense from 0: a new string takes a freed id when there is one,
 * else the next never used. Each id has a count of references, taken by
 * whoever keeps it beyond the batch it came with (a user record, a window
 * entry, an item record, a counterpart, a neighbour list, a catalog
 * entry ...). A new id has none and is *pending*, and so is one whose
 * count falls to 0: rs_intern_collect() frees every pending id whose count
 * is still 0. Ids are freed only there, never by ref/unref, so the ids of
 * the events of the batch being processed stay valid until the caller
 * collects at the batch boundary. A freed id is handed out again, for
 * another string: whoever holds an id without a reference must not keep
 * it past a collect. A table never collected keeps every string.
 *
 * The table owns copies of the strings; rs_intern_str() pointers stay
 * valid while their id is live (until the collect that frees it).
 *
 * Memory follows the live ids, not every id ever seen: per live id 11 to
 * 21 B of 8-byte slots (3/4 to 3/8 full), 20 B of per-id arrays (record,
 * count, hash, free stack) and its record, 8 B + the string + 1 rounded
 * up to 8 (a 10-byte id takes 24 B): ≈ 60 B for ids of up to 15 bytes.
 * Records
 * come from 64 KiB slabs in size classes of 8 bytes up to 256 (strings up
 * to 247 bytes); a freed record is reused by its class; longer strings are
 * malloc'd alone. Nothing goes back to the allocator before destroy: the
 * table stays at the peak of its live set. */
#ifndef RECSTREAM_INTERN_H
#define RECSTREAM_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define RS_ID_NONE UINT32_MAX

typedef struct rs_intern rs_intern_t;

/* Caller owns the result; NULL on allocation failure. */
rs_intern_t *rs_intern_new(void);
void rs_intern_destroy(rs_intern_t *in);

/* The id of s[0..len), added (pending, no references) when new.
 * RS_ID_NONE on allocation failure. */
uint32_t rs_intern_id(rs_intern_t *in, const char *s, size_t len);
/* At most this many strings in one rs_intern_ids() call. */
#define RS_INTERN_BATCH 8
/* ids[i] = rs_intern_id(in, s[i], len[i]) for i < n (n <= RS_INTERN_BATCH),
 * in order, with their memory accesses overlapped. */
void rs_intern_ids(rs_intern_t *in, size_t n, const char *const *s,
                   const size_t *len, uint32_t *ids);
/* The id of s[0..len) if present, else RS_ID_NONE. Never adds. */
uint32_t rs_intern_find(const rs_intern_t *in, const char *s, size_t len);
/* The NUL-terminated string of id (owned by the table); NULL if the id is
 * not live. */
const char *rs_intern_str(const rs_intern_t *in, uint32_t id, size_t *lenp);

/* What the inline calls below read of a table: its first member (the
 * rest is intern.c's). Every stage calls them per event or per pair, so
 * they are an array access each, not a function call. Read only through
 * them. */
typedef struct rs_intern_head {
        uint32_t bound;  /* ids ever made: every live id is below */
        uint32_t *count; /* by id: references | RS_INTERN_PENDING */
        uint64_t *hash;  /* by id, 0 when the id is free */
} rs_intern_head_t;

#define RS_INTERN_PENDING 0x80000000u /* on the pending list */
#define RS_INTERN_COUNTS  0x7fffffffu /* the count's bits */

static inline rs_intern_head_t *rs_intern_head(const rs_intern_t *in)
{
        return (rs_intern_head_t *)(void *)(uintptr_t)in;
}

/* rs_hash_bytes() of id's string (hash.h), kept with it: stable across
 * collects and replicas, unlike the id. 0 when the id is not live. */
static inline uint64_t rs_intern_hash(const rs_intern_t *in, uint32_t id)
{
        const rs_intern_head_t *h = rs_intern_head(in);
        return id < h->bound ? h->hash[id] : 0;
}

/* rs_intern_unref's slow path: id's count reached 0. */
void rs_intern_pend(rs_intern_t *in, uint32_t id);

/* A reference to a live id more / less (an increment of a dense array).
 * RS_ID_NONE is ignored; so is an unref of an id without references (a
 * ref of an id not live is lost when the id is handed out again). A count
 * saturates at 2^31 − 1 (the id is then kept for good). Neither allocates
 * but an unref reaching 0, which may grow the pending list (should that
 * fail, the id stays until destroy). */
static inline void rs_intern_ref(rs_intern_t *in, uint32_t id)
{
        rs_intern_head_t *h = rs_intern_head(in);
        if (id < h->bound &&
            (h->count[id] & RS_INTERN_COUNTS) != RS_INTERN_COUNTS)
                h->count[id]++;
}

static inline void rs_intern_unref(rs_intern_t *in, uint32_t id)
{
        rs_intern_head_t *h = rs_intern_head(in);
        uint32_t c;

        if (id >= h->bound || !((c = h->count[id]) & RS_INTERN_COUNTS) ||
            (c & RS_INTERN_COUNTS) == RS_INTERN_COUNTS)
                return;
        if (!(h->count[id] = --c)) /* 0, and not pending yet */
                rs_intern_pend(in, id);
}

/* Asks the CPU for id's hash ahead of a use. */
static inline void rs_intern_prefetch_hash(const rs_intern_t *in, uint32_t id)
{
        const rs_intern_head_t *h = rs_intern_head(in);
        if (id < h->bound)
                __builtin_prefetch(&h->hash[id]);
}

/* Asks the CPU for id's hash and count ahead of a use. */
static inline void rs_intern_prefetch(const rs_intern_t *in, uint32_t id)
{
        const rs_intern_head_t *h = rs_intern_head(in);
        if (id < h->bound) {
                __builtin_prefetch(&h->hash[id]);
                __builtin_prefetch(&h->count[id]);
        }
}
/* References to id now (0 for an id not live). */
uint32_t rs_intern_refs(const rs_intern_t *in, uint32_t id);
/* Frees every pending id whose count is 0: its string, its slot; the id
 * is handed out again. Returns how many were freed. Call between batches,
 * when nothing holds an id without a reference. */
size_t rs_intern_collect(rs_intern_t *in);

/* Every live id is below this (the peak of the live set, never less):
 * the size of tables indexed by id. */
uint32_t rs_intern_id_bound(const rs_intern_t *in);
/* Live ids now; ids freed by collects so far; bytes held, for metrics. */
uint32_t rs_intern_live(const rs_intern_t *in);
uint64_t rs_intern_freed(const rs_intern_t *in);
size_t rs_intern_bytes(const rs_intern_t *in);

#endif
