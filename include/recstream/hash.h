/* hash.h — 64-bit hashing of short byte strings (ids) and integer keys. */
#ifndef RECSTREAM_HASH_H
#define RECSTREAM_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t rs_hash_mix(uint64_t x)
{
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL;
        x ^= x >> 33;
        return x;
}

/* Eight bytes at a time, finalised with the murmur3 mixer. Not for
 * adversarial keys across trust boundaries; ids are hashed for tables. */
static inline uint64_t rs_hash_bytes(const void *data, size_t len)
{
        const unsigned char *p = data;
        uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0x100000001b3ULL);

        while (len >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                h = (h ^ rs_hash_mix(w)) * 0x9fb21c651e98df25ULL;
                p += 8;
                len -= 8;
        }
        uint64_t t = 0;
        memcpy(&t, p, len);
        return rs_hash_mix(h ^ t ^ ((uint64_t)len << 59));
}

/* The home slot of a 32-bit key (an interned id) in mask + 1 slots. */
static inline uint32_t rs_slot32(uint32_t key, uint32_t mask)
{
        return (key * 0x9E3779B1u) & mask;
}

/* Backward-shift deletion in linear probing: after a hole at slot i, the
 * entry at j (home slot k) stays put when k lies cyclically in (i, j];
 * otherwise it moves into the hole. */
static inline int rs_probe_stays(uint32_t i, uint32_t j, uint32_t k)
{
        return i <= j ? (i < k && k <= j) : (i < k || k <= j);
}

#endif
