/* hset.c — an exact set of 64-bit keys (hset.h). */
#include <stdlib.h>

#include "recstream/hash.h"
#include "recstream/hset.h"

int rs_hset_init(rs_hset_t *h, size_t expect)
{
        size_t n = 1024;

        while (n < expect * 2)
                n *= 2;
        free(h->slots);
        h->slots = calloc(n, sizeof(*h->slots));
        h->mask = n - 1;
        h->count = 0;
        return h->slots ? 0 : -1;
}

void rs_hset_fini(rs_hset_t *h)
{
        free(h->slots);
        *h = (rs_hset_t){0};
}

static uint64_t *slot(uint64_t *slots, size_t mask, uint64_t key)
{
        size_t i = rs_hash_mix(key) & mask;

        while (slots[i] && slots[i] != key)
                i = (i + 1) & mask;
        return &slots[i];
}

int rs_hset_has(const rs_hset_t *h, uint64_t key)
{
        key = key ? key : 1;
        return *slot(h->slots, h->mask, key) == key;
}

int rs_hset_add(rs_hset_t *h, uint64_t key)
{
        uint64_t *s;

        key = key ? key : 1;
        if (*(s = slot(h->slots, h->mask, key)) == key)
                return 0;
        if ((h->count + 1) * 2 > h->mask + 1) {
                size_t n = (h->mask + 1) * 2;
                uint64_t *slots = calloc(n, sizeof(*slots));
                if (!slots)
                        return -1;
                for (size_t i = 0; i <= h->mask; i++)
                        if (h->slots[i])
                                *slot(slots, n - 1, h->slots[i]) = h->slots[i];
                free(h->slots);
                h->slots = slots;
                h->mask = n - 1;
                s = slot(h->slots, h->mask, key);
        }
        *s = key;
        h->count++;
        return 1;
}
