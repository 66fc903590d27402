/* rng.h — what the generator's two worlds share (gen.c, world.c): the
 * xorshift64* stream and the category names. */
#ifndef RECSTREAM_IO_RNG_H
#define RECSTREAM_IO_RNG_H

#include <stdint.h>

static inline uint64_t rs_rng_next(uint64_t *s)
{
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). */
static inline uint32_t rs_rng_below(uint64_t *s, uint32_t n)
{
        return (uint32_t)((rs_rng_next(s) >> 32) * n >> 32);
}

/* Uniform in [0, 1). */
static inline double rs_rng_unit(uint64_t *s)
{
        return (double)(rs_rng_next(s) >> 11) / 9007199254740992.0;
}

extern const char *const rs_gen_category_names[16];

#endif
