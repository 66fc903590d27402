/* intern.h — a string table: each distinct id string gets a dense uint32,
 * reference-counted and recycled.
 *
 * Ids are handed out from 0, the lowest never used first, then freed ones
 * again. Each id has a count of references, taken by whoever keeps it
 * beyond the batch it came with (a user record, a window entry, an item
 * record, a counterpart, a neighbour list, a catalog entry ...). A new id
 * has none and is *pending*, and so is one whose count falls to 0:
 * rs_intern_collect() frees every pending id whose count is still 0. Ids
 * are freed only there, never by ref/unref, so the ids of the events of
 * the batch being processed stay valid until the caller collects at the
 * batch boundary. A freed id is handed out again, for another string:
 * whoever holds an id without a reference must not keep it past a collect.
 * A table that is never collected keeps every string, as a plain table.
 *
 * The table owns copies of the strings; rs_intern_str() pointers stay
 * valid while their id is live (until the collect that frees it).
 *
 * Memory follows the live ids, not every id ever seen: per live id about
 * 16 B of slots (at most 3/4 full), 16 B of per-id arrays (record, count,
 * hash) and its record, 8 B + the string + 1 rounded up to 8 (a 10-byte id
 * takes 24 B): ≈ 56 B for ids of up to 15 bytes. Records come from 64 KiB
 * slabs in size classes of 8 bytes up to 256 (strings up to 247 bytes),
 * freed records are reused by their class; longer strings are malloc'd
 * alone. Nothing is returned to the allocator before destroy: the table
 * stays at the peak of its live set. */
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
/* rs_hash_bytes() of id's string (hash.h), kept with it: stable across
 * collects and replicas, unlike the id. 0 when the id is not live. */
uint64_t rs_intern_hash(const rs_intern_t *in, uint32_t id);

/* A reference to a live id more / less (an increment of a dense array).
 * RS_ID_NONE is ignored; so is an unref of an id without references (a
 * ref of an id not live is lost when the id is handed out again). A count
 * saturates at 2^31 − 1 (the id is then kept for good).
 * Neither allocates but an unref reaching 0, which may grow the pending
 * list (should that fail, the id stays until destroy). */
void rs_intern_ref(rs_intern_t *in, uint32_t id);
void rs_intern_unref(rs_intern_t *in, uint32_t id);
/* Asks the CPU for id's hash and count ahead of a use. */
void rs_intern_prefetch(const rs_intern_t *in, uint32_t id);
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
