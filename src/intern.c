/* intern.c — open-addressing string table with dense uint32 ids.
 *
 * Strings live in an append-only chain of arena blocks (NUL-terminated);
 * `offs[id]` points at them, `hashes[id]` caches the hash so growing the
 * slot array never re-hashes a string. Slots hold id+1 (0 = empty). */
#include <stdlib.h>
#include <string.h>

#include "recstream/hash.h"
#include "recstream/intern.h"

#define BLOCK_SIZE (1u << 20)

typedef struct block {
        struct block *next;
        size_t used, size;
        char data[];
} block_t;

struct rs_intern {
        uint32_t *slots; /* id + 1, 0 = empty */
        uint32_t mask;   /* slot count - 1 */
        uint32_t count;  /* ids handed out */
        uint32_t cap;    /* capacity of strs/lens/hashes */
        const char **strs;
        uint32_t *lens;
        uint64_t *hashes;
        block_t *blocks;
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
        return in;
}

void rs_intern_destroy(rs_intern_t *in)
{
        if (!in)
                return;
        for (block_t *b = in->blocks, *next; b; b = next) {
                next = b->next;
                free(b);
        }
        free(in->slots);
        free(in->strs);
        free(in->lens);
        free(in->hashes);
        free(in);
}

static uint32_t *find_slot(const rs_intern_t *in, const char *s, size_t len,
                           uint64_t h)
{
        for (uint32_t i = (uint32_t)h & in->mask;; i = (i + 1) & in->mask) {
                uint32_t v = in->slots[i];
                if (!v)
                        return &in->slots[i];
                v--;
                if (in->hashes[v] == h && in->lens[v] == len &&
                    !memcmp(in->strs[v], s, len))
                        return &in->slots[i];
        }
}

uint32_t rs_intern_find(const rs_intern_t *in, const char *s, size_t len)
{
        uint32_t v = *find_slot(in, s, len, rs_hash_bytes(s, len));
        return v ? v - 1 : RS_ID_NONE;
}

static int grow_slots(rs_intern_t *in)
{
        uint32_t mask = in->mask * 2 + 1;
        uint32_t *slots = calloc((size_t)mask + 1, sizeof(*slots));

        if (!slots)
                return -1;
        for (uint32_t id = 0; id < in->count; id++) {
                uint32_t i = (uint32_t)in->hashes[id] & mask;
                while (slots[i])
                        i = (i + 1) & mask;
                slots[i] = id + 1;
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
        uint32_t *lens = realloc(in->lens, cap * sizeof(*lens));
        if (!lens)
                return -1;
        in->lens = lens;
        uint64_t *hashes = realloc(in->hashes, cap * sizeof(*hashes));
        if (!hashes)
                return -1;
        in->hashes = hashes;
        in->cap = cap;
        return 0;
}

static char *arena_copy(rs_intern_t *in, const char *s, size_t len)
{
        block_t *b = in->blocks;

        if (!b || b->size - b->used < len + 1) {
                size_t size = len + 1 > BLOCK_SIZE ? len + 1 : BLOCK_SIZE;
                b = malloc(sizeof(*b) + size);
                if (!b)
                        return NULL;
                b->used = 0;
                b->size = size;
                b->next = in->blocks;
                in->blocks = b;
                in->bytes += sizeof(*b) + size;
        }
        char *dst = b->data + b->used;
        memcpy(dst, s, len);
        dst[len] = '\0';
        b->used += len + 1;
        return dst;
}

uint32_t rs_intern_id(rs_intern_t *in, const char *s, size_t len)
{
        uint64_t h = rs_hash_bytes(s, len);
        uint32_t *slot = find_slot(in, s, len, h);

        if (*slot)
                return *slot - 1;
        if (len > UINT32_MAX || in->count == RS_ID_NONE - 1)
                return RS_ID_NONE;
        /* Keep the load factor at most 1/2, so probing always ends. */
        if ((uint64_t)(in->count + 1) * 2 > in->mask) {
                if (grow_slots(in))
                        return RS_ID_NONE;
                slot = find_slot(in, s, len, h);
        }
        if (in->count == in->cap && grow_ids(in))
                return RS_ID_NONE;
        char *copy = arena_copy(in, s, len);
        if (!copy)
                return RS_ID_NONE;

        uint32_t id = in->count++;
        in->strs[id] = copy;
        in->lens[id] = (uint32_t)len;
        in->hashes[id] = h;
        *slot = id + 1;
        return id;
}

const char *rs_intern_str(const rs_intern_t *in, uint32_t id, size_t *lenp)
{
        if (id >= in->count)
                return NULL;
        if (lenp)
                *lenp = in->lens[id];
        return in->strs[id];
}

uint32_t rs_intern_count(const rs_intern_t *in)
{
        return in->count;
}

size_t rs_intern_bytes(const rs_intern_t *in)
{
        return in->bytes + ((size_t)in->mask + 1) * sizeof(*in->slots) +
               (size_t)in->cap * (sizeof(char *) + 4 + 8);
}
