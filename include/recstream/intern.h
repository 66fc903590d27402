/* intern.h — a string table: each distinct id string gets a dense uint32.
 *
 * Ids are handed out in first-seen order from 0. The table owns copies of
 * the strings; pointers from rs_intern_str() stay valid until destroy. */
#ifndef RECSTREAM_INTERN_H
#define RECSTREAM_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define RS_ID_NONE UINT32_MAX

typedef struct rs_intern rs_intern_t;

/* Caller owns the result; NULL on allocation failure. */
rs_intern_t *rs_intern_new(void);
void rs_intern_destroy(rs_intern_t *in);

/* The id of s[0..len), added when new. RS_ID_NONE on allocation failure. */
uint32_t rs_intern_id(rs_intern_t *in, const char *s, size_t len);
/* At most this many strings in one rs_intern_ids() call. */
#define RS_INTERN_BATCH 8
/* ids[i] = rs_intern_id(in, s[i], len[i]) for i < n (n <= RS_INTERN_BATCH),
 * in order, with their memory accesses overlapped. */
void rs_intern_ids(rs_intern_t *in, size_t n, const char *const *s,
                   const size_t *len, uint32_t *ids);
/* The id of s[0..len) if present, else RS_ID_NONE. Never adds. */
uint32_t rs_intern_find(const rs_intern_t *in, const char *s, size_t len);
/* The NUL-terminated string of id (owned by the table); NULL if unknown. */
const char *rs_intern_str(const rs_intern_t *in, uint32_t id, size_t *lenp);
uint32_t rs_intern_count(const rs_intern_t *in);
/* Bytes held by the table, for metrics. */
size_t rs_intern_bytes(const rs_intern_t *in);

#endif
