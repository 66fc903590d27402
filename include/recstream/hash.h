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

#endif
