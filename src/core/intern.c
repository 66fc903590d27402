/* intern.c — open-addressing string table with dense, reference-counted,
 * recycled uint32 ids.
 *
 * A lookup costs one slot and, on a match, one record: a slot holds 32
 * bits of the string's hash (its tag, which also picks its home slot) and
 * where its record is, so a probe rejects on the tag without touching
 * anything else; a record holds the id and the length in front of the
 * NUL-terminated string. Slots are at most 3/4 full; a freed id's slot is
 * removed by backward-shift deletion, so probe chains stay intact without
 * tombstones.
 *
 * Records live in 64 KiB slabs, each carved into records of one size
 * class (8-byte steps up to CLASS_MAX); a freed record goes on its class's
 * free list (linked through its first word) and is reused first. A record
 * longer than CLASS_MAX is malloc'd alone. A record reference is 32 bits:
 * slab << OFF_BITS | offset / 8, or LARGE | index into `large` for the
 * malloc'd ones.
 *
 * Per id, dense arrays: the record reference + 1 (0: the id is free), the
 * reference count with the PENDING bit (the id is on the pending list)
 * and the string's 64-bit hash. Apart, so that the counts, which every
 * window entry and counterpart touches, stay 4 bytes an id (a 16-byte
 * entry for all three measured 10% slower ingest). Freed ids go on a
 * stack and are handed out before new ones. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/hash.h"
#include "recstream/intern.h"

#define SLAB_BITS 16
#define SLAB_SIZE (1u << SLAB_BITS)
#define GRAIN     8u
#define OFF_BITS  (SLAB_BITS - 3) /* offsets in grains */
#define OFF_MASK  ((1u << OFF_BITS) - 1)
#define LARGE     0x80000000u
#define MAX_SLABS (LARGE >> OFF_BITS)
#define CLASS_MAX 256u /* bytes of the largest slab record */
#define NCLASS    (CLASS_MAX / GRAIN + 1)

#define PENDING    RS_INTERN_PENDING
#define COUNT_MASK RS_INTERN_COUNTS

typedef struct rec {
        uint32_t id, len; /* a free record: id is the next free ref + 1 */
        char str[];       /* len bytes and a NUL */
} rec_t;

typedef struct slot {
        uint32_t tag; /* the hash's high 32 bits */
        uint32_t ref; /* record reference + 1, 0 = empty */
} slot_t;

typedef struct sclass {
        uint32_t free; /* first free record's ref + 1, 0 none */
        uint32_t next; /* carving: ref of the next unused record */
        uint32_t end;  /* ... and of the end of its slab */
} sclass_t;

struct rs_intern {
        rs_intern_head_t h; /* bound, count, hash: first, for intern.h */
        slot_t *slots;
        uint32_t mask;  /* slot count - 1 */
        uint32_t live;  /* ids live now */
        uint32_t cap;   /* capacity of the per-id arrays */
        uint32_t *recs; /* by id: record reference + 1, 0 = free */
        uint32_t *free_ids, nfree;
        uint32_t *pending, npending, pending_cap;
        char **slabs;
        uint32_t nslabs, slabs_cap;
        sclass_t cls[NCLASS];
        rec_t **large; /* a free entry holds the next free index + 1 */
        uint32_t nlarge, large_cap, large_free;
        uint64_t freed;
        size_t bytes; /* slabs and large records */
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
        for (uint32_t b = 0; b < in->nslabs; b++)
                free(in->slabs[b]);
        for (uint32_t id = 0; id < in->h.bound; id++)
                if (in->recs[id] && (in->recs[id] - 1) & LARGE)
                        free(in->large[(in->recs[id] - 1) & ~LARGE]);
        free(in->slabs);
        free(in->large);
        free(in->slots);
        free(in->recs);
        free(in->h.count);
        free(in->h.hash);
        free(in->free_ids);
        free(in->pending);
        free(in);
}

static rec_t *rec_at(const rs_intern_t *in, uint32_t ref)
{
        if (ref & LARGE)
                return in->large[ref & ~LARGE];
        return (rec_t *)(in->slabs[ref >> OFF_BITS] +
                         (size_t)(ref & OFF_MASK) * GRAIN);
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
        const slot_t *sl =
                find_slot(in, s, len, (uint32_t)(rs_hash_bytes(s, len) >> 32));
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

/* Room for one more id in the per-id arrays (the free stack, at most
 * every id, grows with them). */
static int grow_ids(rs_intern_t *in)
{
        uint32_t cap = in->cap ? in->cap * 2 : 1024;
        void *p;

        if (in->cap > UINT32_MAX / 2)
                return -1;
        if (!(p = realloc(in->recs, (size_t)cap * sizeof(*in->recs))))
                return -1;
        in->recs = p;
        if (!(p = realloc(in->h.count, (size_t)cap * sizeof(*in->h.count))))
                return -1;
        in->h.count = p;
        if (!(p = realloc(in->h.hash, (size_t)cap * sizeof(*in->h.hash))))
                return -1;
        in->h.hash = p;
        if (!(p = realloc(in->free_ids, (size_t)cap * sizeof(*in->free_ids))))
                return -1;
        in->free_ids = p;
        in->cap = cap;
        return 0;
}

static int push_pending(rs_intern_t *in, uint32_t id)
{
        if (in->npending == in->pending_cap) {
                uint32_t cap = in->pending_cap ? in->pending_cap * 2 : 1024;
                uint32_t *p;
                if (in->pending_cap > UINT32_MAX / 2 ||
                    !(p = realloc(in->pending, (size_t)cap * sizeof(*p))))
                        return -1;
                in->pending = p;
                in->pending_cap = cap;
        }
        in->pending[in->npending++] = id;
        in->h.count[id] |= PENDING;
        return 0;
}

/* A record of `size` bytes (a multiple of GRAIN, at most CLASS_MAX) from
 * its class: a free one, or carved from the class's slab; its reference,
 * or -1. */
static int64_t slab_alloc(rs_intern_t *in, size_t size)
{
        sclass_t *c = &in->cls[size / GRAIN];
        uint32_t ref;

        if (c->free) {
                ref = c->free - 1;
                c->free = rec_at(in, ref)->id;
                return ref;
        }
        if (c->next == c->end) {
                char *b;
                if (in->nslabs == MAX_SLABS)
                        return -1;
                if (in->nslabs == in->slabs_cap) {
                        uint32_t cap = in->slabs_cap ? in->slabs_cap * 2 : 16;
                        char **bs = realloc(in->slabs, cap * sizeof(*bs));
                        if (!bs)
                                return -1;
                        in->slabs = bs;
                        in->slabs_cap = cap;
                }
                if (!(b = malloc(SLAB_SIZE)))
                        return -1;
                in->slabs[in->nslabs] = b;
                in->bytes += SLAB_SIZE;
                c->next = in->nslabs++ << OFF_BITS;
                /* whole records only: the tail of the slab is left */
                c->end = c->next + (uint32_t)(SLAB_SIZE / size * size / GRAIN);
        }
        ref = c->next;
        c->next += (uint32_t)(size / GRAIN);
        return ref;
}

/* A record of `size` bytes malloc'd alone; its reference, or -1. */
static int64_t large_alloc(rs_intern_t *in, size_t size)
{
        rec_t *r;
        uint32_t i;

        if (!in->large_free && in->nlarge == in->large_cap) {
                uint32_t cap = in->large_cap ? in->large_cap * 2 : 16;
                rec_t **l;
                if (in->large_cap >= (LARGE >> 1) ||
                    !(l = realloc(in->large, cap * sizeof(*l))))
                        return -1;
                in->large = l;
                in->large_cap = cap;
        }
        if (!(r = malloc(size)))
                return -1;
        if (in->large_free) {
                i = in->large_free - 1;
                in->large_free = (uint32_t)(uintptr_t)in->large[i];
        } else {
                i = in->nlarge++;
        }
        in->large[i] = r;
        in->bytes += size;
        return (int64_t)(LARGE | i);
}

static size_t rec_size(size_t len)
{
        return (offsetof(rec_t, str) + len + 1 + GRAIN - 1) &
               ~(size_t)(GRAIN - 1);
}

static void rec_free(rs_intern_t *in, uint32_t ref)
{
        rec_t *r = rec_at(in, ref);

        if (ref & LARGE) {
                uint32_t i = ref & ~LARGE;
                in->bytes -= rec_size(r->len);
                free(r);
                in->large[i] = (rec_t *)(uintptr_t)in->large_free;
                in->large_free = i + 1;
                return;
        }
        sclass_t *c = &in->cls[rec_size(r->len) / GRAIN];
        r->id = c->free;
        c->free = ref + 1;
}

static uint32_t intern_hashed(rs_intern_t *in, const char *s, size_t len,
                              uint64_t h)
{
        const uint32_t tag = (uint32_t)(h >> 32);
        slot_t *sl = find_slot(in, s, len, tag);
        size_t size = rec_size(len);
        int64_t ref;
        uint32_t id;

        if (sl->ref)
                return rec_at(in, sl->ref - 1)->id;
        if (len > UINT32_MAX - 16 || (!in->nfree && in->h.bound == RS_ID_NONE))
                return RS_ID_NONE;
        /* At most 3/4 full, so probing always ends and stays short. */
        if ((uint64_t)(in->live + 1) * 4 > ((uint64_t)in->mask + 1) * 3) {
                if (grow_slots(in))
                        return RS_ID_NONE;
                sl = find_slot(in, s, len, tag);
        }
        if (!in->nfree && in->h.bound == in->cap && grow_ids(in))
                return RS_ID_NONE;
        id = in->nfree ? in->free_ids[in->nfree - 1] : in->h.bound;
        in->h.count[id] = 0;
        if (push_pending(in, id))
                return RS_ID_NONE;
        ref = size <= CLASS_MAX ? slab_alloc(in, size) : large_alloc(in, size);
        if (ref < 0) {
                in->npending--;
                return RS_ID_NONE;
        }
        if (in->nfree)
                in->nfree--;
        else
                in->h.bound++;
        rec_t *r = rec_at(in, (uint32_t)ref);
        r->id = id;
        r->len = (uint32_t)len;
        memcpy(r->str, s, len);
        r->str[len] = '\0';
        in->recs[id] = (uint32_t)ref + 1;
        in->h.hash[id] = h;
        in->live++;
        sl->tag = tag;
        sl->ref = (uint32_t)ref + 1;
        return id;
}

uint32_t rs_intern_id(rs_intern_t *in, const char *s, size_t len)
{
        return intern_hashed(in, s, len, rs_hash_bytes(s, len));
}

void rs_intern_ids(rs_intern_t *in, size_t n, const char *const *s,
                   const size_t *len, uint32_t *ids)
{
        uint64_t h[RS_INTERN_BATCH];

        /* Each lookup is a slot and a record, likely both cache misses:
         * fetch all home slots, then the records they name, then look up
         * in order, so the misses overlap instead of queueing. */
        for (size_t i = 0; i < n; i++) {
                h[i] = rs_hash_bytes(s[i], len[i]);
                __builtin_prefetch(
                        &in->slots[(uint32_t)(h[i] >> 32) & in->mask]);
        }
        for (size_t i = 0; i < n; i++) {
                const uint32_t tag = (uint32_t)(h[i] >> 32);
                const slot_t *sl = &in->slots[tag & in->mask];
                if (sl->ref && sl->tag == tag)
                        __builtin_prefetch(rec_at(in, sl->ref - 1));
        }
        for (size_t i = 0; i < n; i++)
                ids[i] = intern_hashed(in, s[i], len[i], h[i]);
}

static int live(const rs_intern_t *in, uint32_t id)
{
        return id < in->h.bound && in->recs[id];
}

const char *rs_intern_str(const rs_intern_t *in, uint32_t id, size_t *lenp)
{
        const rec_t *r;

        if (!live(in, id))
                return NULL;
        r = rec_at(in, in->recs[id] - 1);
        if (lenp)
                *lenp = r->len;
        return r->str;
}

void rs_intern_pend(rs_intern_t *in, uint32_t id)
{
        push_pending(in, id); /* should it fail: kept until destroy */
}

uint32_t rs_intern_refs(const rs_intern_t *in, uint32_t id)
{
        return live(in, id) ? in->h.count[id] & COUNT_MASK : 0;
}

/* Frees id: its slot (backward-shift deletion), its record, the id. */
static void id_free(rs_intern_t *in, uint32_t id)
{
        const uint32_t ref = in->recs[id];
        uint32_t i = (uint32_t)(in->h.hash[id] >> 32) & in->mask, j;

        while (in->slots[i].ref != ref)
                i = (i + 1) & in->mask;
        for (j = i;;) {
                in->slots[i].ref = 0;
                for (;;) {
                        j = (j + 1) & in->mask;
                        if (!in->slots[j].ref)
                                goto slot_gone;
                        if (!rs_probe_stays(i, j, in->slots[j].tag & in->mask))
                                break;
                }
                in->slots[i] = in->slots[j];
                i = j;
        }
slot_gone:
        rec_free(in, ref - 1);
        in->recs[id] = 0;
        in->h.hash[id] = 0;
        in->h.count[id] = 0;
        in->free_ids[in->nfree++] = id;
        in->live--;
        in->freed++;
}

size_t rs_intern_collect(rs_intern_t *in)
{
        size_t n = 0;

        for (uint32_t k = 0; k < in->npending; k++) {
                uint32_t id = in->pending[k];
                if ((in->h.count[id] &= COUNT_MASK))
                        continue; /* referenced again since */
                id_free(in, id);
                n++;
        }
        in->npending = 0;
        return n;
}

uint32_t rs_intern_id_bound(const rs_intern_t *in)
{
        return in->h.bound;
}

uint32_t rs_intern_live(const rs_intern_t *in)
{
        return in->live;
}

uint64_t rs_intern_freed(const rs_intern_t *in)
{
        return in->freed;
}

size_t rs_intern_bytes(const rs_intern_t *in)
{
        return in->bytes + ((size_t)in->mask + 1) * sizeof(*in->slots) +
               (size_t)in->cap * (sizeof(*in->recs) + sizeof(*in->h.count) +
                                  sizeof(*in->h.hash) + sizeof(*in->free_ids)) +
               (size_t)in->pending_cap * sizeof(*in->pending) +
               (size_t)in->slabs_cap * sizeof(char *) +
               (size_t)in->large_cap * sizeof(rec_t *);
}
