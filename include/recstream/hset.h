/* hset.h — an exact set of 64-bit keys: open addressing, at most half
 * full, growing with its content (so emptying it costs what it held, not
 * what it might hold). Dedupe hashes, (user, item) pairs. */
#ifndef RECSTREAM_HSET_H
#define RECSTREAM_HSET_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/hash.h"

typedef struct rs_hset {
        uint64_t *slots; /* 0 empty; key 0 is stored as 1 */
        size_t mask, count;
} rs_hset_t;

/* Empties h (also a zeroed or previously used one), with room for about
 * `expect` keys. -1 when out of memory. */
int rs_hset_init(rs_hset_t *h, size_t expect);
void rs_hset_fini(rs_hset_t *h);
int rs_hset_has(const rs_hset_t *h, uint64_t key);
/* Asks the CPU for key's home slot ahead of a lookup. */
static inline void rs_hset_prefetch(const rs_hset_t *h, uint64_t key)
{
        key = key ? key : 1;
        __builtin_prefetch(&h->slots[rs_hash_mix(key) & h->mask]);
}
/* 1 when key was added, 0 when it was there, -1 when out of memory. */
int rs_hset_add(rs_hset_t *h, uint64_t key);

#endif
