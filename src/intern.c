/* intern.c — open-addressing string table with dense uint32 ids.
 *
 * A lookup costs one slot and, on a match, one record: a slot holds 32
 * bits of the string's hash (its tag, which also picks its home slot) and
 * where its record is, so a probe rejects on the tag without touching
 * anything else; a record holds the id and the length in front of the
 * NUL-terminated string. Records are appended to 1 MiB arena blocks (a
 * longer string gets a block of its own) and never move: a record's
 * reference is block << 20 | offset. strs[id] points at the strings for
 * rs_intern_str(). Slots are at most 3/4 full. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/hash.h"
#include "recstream/intern.h"

#define BLOCK_BITS 20
#define BLOCK_SIZE (1u << BLOCK_BITS)
#define MAX_BLOCKS 4095u /* ref + 1 fits in 32 bits */

typedef struct rec {
        uint32_t id, len;
        char str[]; /* len bytes and a NUL */
} rec_t;

typedef struct slot {
        uint32_t tag; /* the hash's high 32 bits */
        uint32_t ref; /* record reference + 1, 0 = empty */
} slot_t;

struct rs_intern {
        slot_t *slots;
        uint32_t mask;  /* slot count - 1 */
        uint32_t count; /* ids handed out */
        uint32_t cap;   /* capacity of strs */
        const char **strs;
        char **blocks;
        uint32_t nblocks, blocks_cap;
        size_t used; /* bytes used in the last block */
        size_t bytes;
};

rs_intern_t *rs_intern_new(void)
{
        rs_intern_t *in = calloc(1, sizeof(*in));

        if (!in)
                return NULL;
        in->mask = 1023;
        in->slots = calloc(in->mask + 1, sizeof(*in->slots));
        if (!in->slots) {
                free(in);
                return NULL;
        }
        in->used = BLOCK_SIZE; /* no block yet */
        return in;
}

void rs_intern_destroy(rs_intern_t *in)
{
        if (!in)
                return;
        for (uint32_t b = 0; b < in->nblocks; b++)
                free(in->blocks[b]);
        free(in->blocks);
        free(in->slots);
        free(in->strs);
        free(in);
}

static const rec_t *rec_at(const rs_intern_t *in, uint32_t ref)
{
        return (const rec_t *)(in->blocks[ref >> BLOCK_BITS] +
                               (ref & (BLOCK_SIZE - 1)));
}

static uint32_t tag_of(const char *s, size_t len)
{
        return (uint32_t)(rs_hash_bytes(s, len) >> 32);
}

static slot_t *find_slot(const rs_intern_t *in, const char *s, size_t len,
                         uint32_t tag)
{
        for (uint32_t i = tag & in->mask;; i = (i + 1) & in->mask) {
                slot_t *sl = &in->slots[i];
                if (!sl->ref)
                        return sl;
                if (sl->tag == tag) {
                        const rec_t *r = rec_at(in, sl->ref - 1);
                        if (r->len == len && !memcmp(r->str, s, len))
                                return sl;
                }
        }
}

uint32_t rs_intern_find(const rs_intern_t *in, const char *s, size_t len)
{
        const slot_t *sl = find_slot(in, s, len, tag_of(s, len));
        return sl->ref ? rec_at(in, sl->ref - 1)->id : RS_ID_NONE;
}

static int grow_slots(rs_intern_t *in)
{
        uint32_t mask = in->mask * 2 + 1;
        slot_t *slots = calloc((size_t)mask + 1, sizeof(*slots));

        if (!slots)
                return -1;
        for (uint32_t s = 0; s <= in->mask; s++) {
                if (!in->slots[s].ref)
                        continue;
                uint32_t i = in->slots[s].tag & mask;
                while (slots[i].ref)
                        i = (i + 1) & mask;
                slots[i] = in->slots[s];
        }
        free(in->slots);
        in->slots = slots;
        in->mask = mask;
        return 0;
}

static int grow_ids(rs_intern_t *in)
{
        uint32_t cap = in->cap ? in->cap * 2 : 1024;
        const char **strs = realloc(in->strs, cap * sizeof(*strs));

        if (!strs)
                return -1;
        in->strs = strs;
        in->cap = cap;
        return 0;
}

/* Appends the record of (id, s[0..len)); its reference, or -1. */
static int64_t arena_add(rs_intern_t *in, uint32_t id, const char *s,
                         size_t len)
{
        size_t need = (offsetof(rec_t, str) + len + 1 + 3) & ~(size_t)3;

        if (BLOCK_SIZE - in->used < need) {
                size_t size = need > BLOCK_SIZE ? need : BLOCK_SIZE;
                char *b;
                if (in->nblocks == MAX_BLOCKS)
                        return -1;
                if (in->nblocks == in->blocks_cap) {
                        uint32_t cap = in->blocks_cap ? in->blocks_cap * 2 : 16;
                        char **bs = realloc(in->blocks, cap * sizeof(*bs));
                        if (!bs)
                                return -1;
                        in->blocks = bs;
                        in->blocks_cap = cap;
                }
                if (!(b = malloc(size)))
                        return -1;
                in->blocks[in->nblocks++] = b;
                in->bytes += size;
                in->used = 0;
        }
        uint32_t off = (uint32_t)in->used;
        rec_t *r = (rec_t *)(in->blocks[in->nblocks - 1] + off);
        r->id = id;
        r->len = (uint32_t)len;
        memcpy(r->str, s, len);
        r->str[len] = '\0';
        /* an oversized block (its record at offset 0) is full at once */
        in->used = need < BLOCK_SIZE - in->used ? in->used + need : BLOCK_SIZE;
        return (int64_t)((in->nblocks - 1) << BLOCK_BITS | off);
}

static uint32_t intern_tagged(rs_intern_t *in, const char *s, size_t len,
                              uint32_t tag)
{
        slot_t *sl = find_slot(in, s, len, tag);

        if (sl->ref)
                return rec_at(in, sl->ref - 1)->id;
        if (len > UINT32_MAX - 16 || in->count == RS_ID_NONE - 1)
                return RS_ID_NONE;
        /* At most 3/4 full, so probing always ends and stays short. */
        if ((uint64_t)(in->count + 1) * 4 > ((uint64_t)in->mask + 1) * 3) {
                if (grow_slots(in))
                        return RS_ID_NONE;
                sl = find_slot(in, s, len, tag);
        }
        if (in->count == in->cap && grow_ids(in))
                return RS_ID_NONE;
        int64_t ref = arena_add(in, in->count, s, len);
        if (ref < 0)
                return RS_ID_NONE;

        uint32_t id = in->count++;
        in->strs[id] = rec_at(in, (uint32_t)ref)->str;
        sl->tag = tag;
        sl->ref = (uint32_t)ref + 1;
        return id;
}

uint32_t rs_intern_id(rs_intern_t *in, const char *s, size_t len)
{
        return intern_tagged(in, s, len, tag_of(s, len));
}

void rs_intern_ids(rs_intern_t *in, size_t n, const char *const *s,
                   const size_t *len, uint32_t *ids)
{
        uint32_t tag[RS_INTERN_BATCH];

        /* Each lookup is a slot and a record, likely both cache misses:
         * fetch all home slots, then the records they name, then look up
         * in order, so the misses overlap instead of queueing. */
        for (size_t i = 0; i < n; i++) {
                tag[i] = tag_of(s[i], len[i]);
                __builtin_prefetch(&in->slots[tag[i] & in->mask]);
        }
        for (size_t i = 0; i < n; i++) {
                const slot_t *sl = &in->slots[tag[i] & in->mask];
                if (sl->ref && sl->tag == tag[i])
                        __builtin_prefetch(rec_at(in, sl->ref - 1));
        }
        for (size_t i = 0; i < n; i++)
                ids[i] = intern_tagged(in, s[i], len[i], tag[i]);
}

const char *rs_intern_str(const rs_intern_t *in, uint32_t id, size_t *lenp)
{
        if (id >= in->count)
                return NULL;
        if (lenp)
                *lenp = ((const rec_t *)(in->strs[id] - offsetof(rec_t, str)))
                                ->len;
        return in->strs[id];
}

uint32_t rs_intern_count(const rs_intern_t *in)
{
        return in->count;
}

size_t rs_intern_bytes(const rs_intern_t *in)
{
        return in->bytes + ((size_t)in->mask + 1) * sizeof(*in->slots) +
               (size_t)in->cap * sizeof(char *) +
               (size_t)in->blocks_cap * sizeof(char *);
}
