/* baselines.c — eval's reference models (baselines.h): popularity,
 * last-item successor, co-visitation over the user's recent items. Items
 * and users get dense indices in the order first seen, through a map from
 * their string hashes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/baselines.h"
#include "recstream/buf.h"

/* An item's counterparts, by count descending (Misra-Gries), with an
 * index from counterpart to position: linear probing over at least twice
 * cap slots, each position + 1 (0 empty). */
typedef struct entry {
        uint32_t item, n;
} entry_t;

typedef struct counts {
        entry_t *e;
        uint16_t *slot;
        uint32_t len, cap, mask;
} counts_t;

/* Dense indices of 64-bit keys: slots hold index + 1, 0 empty. */
typedef struct idmap {
        uint32_t *slots;
        size_t mask;
        uint64_t *keys; /* by index */
        size_t n, cap;
} idmap_t;

struct rs_base {
        rs_base_conf_t conf;
        idmap_t items, users;
        /* by item index */
        double *g;        /* forward-decayed popularity */
        uint32_t *pos;    /* positive events */
        double *norm;     /* 1 / √(pos + 1) */
        uint8_t *in_top;  /* in top[] */
        counts_t *succ;   /* successors */
        counts_t *cov;    /* co-visits */
        size_t items_cap; /* of the arrays above */
        uint32_t top[RS_BASE_POP_TOP];
        size_t ntop;
        int64_t t0;
        /* by user index: recent ring of conf.recent item indices */
        uint32_t *ring;
        uint32_t *ulen;  /* items in the ring */
        uint32_t *uhead; /* slot of the newest */
        uint32_t **tl;   /* the items touched, in order */
        uint32_t *tn, *tcap;
        size_t users_cap;
        /* lists' touched items, by item index: stamp == epoch for those
         * of stamped_user's first stamped_n */
        uint32_t *stamp;
        uint32_t epoch, stamped_user, stamped_n;
        /* covisit's scratch, by item index: the candidates' scores (0
         * for none) and the candidates */
        double *score;
        uint32_t *cand;
        size_t ncand_cap;
        size_t bytes;
};

static const char *const names[RS_BASE__COUNT] = {"pop", "successor",
                                                  "covisit"};
static const char *const keys[RS_BASE__COUNT] = {"pop", "succ", "covisit"};

const char *rs_base_model_name(int model)
{
        return model >= 0 && model < RS_BASE__COUNT ? names[model] : "?";
}

const char *rs_base_model_key(int model)
{
        return model >= 0 && model < RS_BASE__COUNT ? keys[model] : "?";
}

int rs_base_model_parse(const char *name, size_t len)
{
        for (int m = 0; m < RS_BASE__COUNT; m++)
                if ((strlen(names[m]) == len && !memcmp(name, names[m], len)) ||
                    (strlen(keys[m]) == len && !memcmp(name, keys[m], len)))
                        return m;
        return -1;
}

rs_base_conf_t rs_base_conf_default(void)
{
        return (rs_base_conf_t){.models = (1u << RS_BASE__COUNT) - 1,
                                .pop_half_life = 30LL * 86400000,
                                .max_counts = 200,
                                .recent = 10,
                                .covisit_neighbors = 50};
}

/*
 * The index map.
 */

static size_t home(uint64_t key, size_t mask)
{
        return (size_t)rs_hash_mix(key) & mask;
}

/* key's index, added when new (*added 1); UINT32_MAX when out of memory. */
static uint32_t idmap_get(idmap_t *m, uint64_t key, int *added)
{
        size_t i;

        *added = 0;
        if (m->slots)
                for (i = home(key, m->mask); m->slots[i]; i = (i + 1) & m->mask)
                        if (m->keys[m->slots[i] - 1] == key)
                                return m->slots[i] - 1;
        if (m->n >= UINT32_MAX - 1)
                return UINT32_MAX;
        if (!m->slots || (m->n + 1) * 2 > m->mask + 1) {
                size_t n = m->slots ? (m->mask + 1) * 2 : 1024;
                uint32_t *slots = calloc(n, sizeof(*slots));
                if (!slots)
                        return UINT32_MAX;
                for (size_t x = 0; x < m->n; x++) {
                        for (i = home(m->keys[x], n - 1); slots[i];
                             i = (i + 1) & (n - 1))
                                ;
                        slots[i] = (uint32_t)x + 1;
                }
                free(m->slots);
                m->slots = slots;
                m->mask = n - 1;
        }
        if (rs_grow_zeroed((void **)&m->keys, &m->cap, m->n, sizeof(*m->keys)))
                return UINT32_MAX;
        for (i = home(key, m->mask); m->slots[i]; i = (i + 1) & m->mask)
                ;
        m->keys[m->n] = key;
        m->slots[i] = (uint32_t)++m->n;
        *added = 1;
        return (uint32_t)(m->n - 1);
}

static uint32_t idmap_find(const idmap_t *m, uint64_t key)
{
        if (m->slots)
                for (size_t i = home(key, m->mask); m->slots[i];
                     i = (i + 1) & m->mask)
                        if (m->keys[m->slots[i] - 1] == key)
                                return m->slots[i] - 1;
        return UINT32_MAX;
}

static void idmap_fini(idmap_t *m)
{
        free(m->slots);
        free(m->keys);
}

/*
 * Bounded counts (Misra-Gries).
 */

/* The slot of item in c: where it is, or the empty one it would take. */
static uint16_t *counts_slot(const counts_t *c, uint32_t item)
{
        uint32_t i = rs_slot32(item, c->mask);

        while (c->slot[i] && c->e[c->slot[i] - 1].item != item)
                i = (i + 1) & c->mask;
        return &c->slot[i];
}

/* The index anew, over ≥ 2·cap slots (c unchanged when out of memory). */
static int counts_index(rs_base_t *b, counts_t *c, uint32_t cap)
{
        uint32_t n = 8;

        while (n < 2 * cap)
                n *= 2;
        if (n != c->mask + 1 || !c->slot) {
                uint16_t *slot = realloc(c->slot, n * sizeof(*slot));
                if (!slot)
                        return -1;
                b->bytes += (n - (c->slot ? c->mask + 1 : 0)) * sizeof(*slot);
                c->slot = slot;
                c->mask = n - 1;
        }
        memset(c->slot, 0, n * sizeof(*c->slot));
        for (uint32_t i = 0; i < c->len; i++)
                *counts_slot(c, c->e[i].item) = (uint16_t)(i + 1);
        return 0;
}

/* One more of `item` in c, at most `max` counterparts kept: a new one
 * when c is full makes every count one less instead (those reaching 0
 * leave), so a count is at most (all counted) / (max + 1) below its true
 * value and never above. Space-saving (the newcomer takes the lowest
 * count + 1) floods short lists with newcomers where counterparts are
 * many and flat: on ml-100k, 100 kept, covisit HR@10 0.086 against 0.160
 * exact; Misra-Gries 0.133 with 100, 0.160 with 200. Decrementing keeps
 * the order, so the zeros are the tail. */
static int counts_add(rs_base_t *b, counts_t *c, uint32_t item, size_t max)
{
        uint16_t *s = c->slot ? counts_slot(c, item) : NULL;
        uint32_t i;

        if (s && *s) {
                i = *s - 1u;
        } else if (c->len < max) {
                if (c->len == c->cap) {
                        uint32_t cap = c->cap ? c->cap * 2 : 4;
                        if (cap > max)
                                cap = (uint32_t)max;
                        if (rs_resize((void **)&c->e, cap, sizeof(*c->e)) ||
                            counts_index(b, c, cap))
                                return -1;
                        b->bytes += (cap - c->cap) * sizeof(*c->e);
                        c->cap = cap;
                        s = counts_slot(c, item);
                }
                i = c->len++;
                c->e[i] = (entry_t){item, 0};
                *s = (uint16_t)(i + 1);
        } else { /* Misra-Gries: all one less */
                uint32_t keep = 0;
                for (uint32_t x = 0; x < c->len; x++)
                        if (--c->e[x].n)
                                keep = x + 1;
                if (keep < c->len) {
                        c->len = keep;
                        return counts_index(b, c, c->cap); /* no alloc */
                }
                return 0;
        }
        /* up past the lower counts; each entry passed moves down one, its
         * slot found by the position it holds (unique, unlike items while
         * the entries shift) */
        entry_t x = {item, c->e[i].n + 1};
        for (; i > 0 && c->e[i - 1].n < x.n; i--) {
                uint32_t k = rs_slot32(c->e[i - 1].item, c->mask);
                while (c->slot[k] != i)
                        k = (k + 1) & c->mask;
                c->slot[k] = (uint16_t)(i + 1);
                c->e[i] = c->e[i - 1];
        }
        c->e[i] = x;
        *s = (uint16_t)(i + 1);
        return 0;
}

/*
 * Learning.
 */

/* Arrays by item or user index, grown together. */
typedef struct array {
        void **arr;
        size_t size; /* of an element */
} array_t;

/* Grows each of arrays[0..n) from cap elements (zeroed) to one capacity
 * holding idx, into *grown; the bytes of an index in all of them into
 * *per, -1 when out of memory (those grown stay grown). */
static int grow_all(const array_t *arrays, size_t n, size_t cap, size_t idx,
                    size_t *grown, size_t *per)
{
        *per = 0;
        for (size_t a = 0; a < n; a++) {
                *grown = cap;
                if (rs_grow_zeroed(arrays[a].arr, grown, idx, arrays[a].size))
                        return -1;
                *per += arrays[a].size;
        }
        return 0;
}

static int grow_items(rs_base_t *b, size_t idx)
{
        const array_t arrays[] = {
                {(void **)&b->g, sizeof(*b->g)},
                {(void **)&b->pos, sizeof(*b->pos)},
                {(void **)&b->in_top, sizeof(*b->in_top)},
                {(void **)&b->succ, sizeof(*b->succ)},
                {(void **)&b->cov, sizeof(*b->cov)},
                {(void **)&b->score, sizeof(*b->score)},
                {(void **)&b->stamp, sizeof(*b->stamp)},
                {(void **)&b->norm, sizeof(*b->norm)},
        };
        size_t cap = b->items_cap, c, per;

        if (idx < cap)
                return 0;
        if (grow_all(arrays, sizeof(arrays) / sizeof(*arrays), cap, idx, &c,
                     &per))
                return -1;
        for (size_t i = cap; i < c; i++)
                b->norm[i] = 1;
        b->bytes += (c - cap) * per;
        b->items_cap = c;
        return 0;
}

static int grow_users(rs_base_t *b, size_t idx)
{
        const array_t arrays[] = {
                {(void **)&b->ulen, sizeof(*b->ulen)},
                {(void **)&b->uhead, sizeof(*b->uhead)},
                {(void **)&b->tl, sizeof(*b->tl)},
                {(void **)&b->tn, sizeof(*b->tn)},
                {(void **)&b->tcap, sizeof(*b->tcap)},
        };
        size_t cap = b->users_cap, c, per;

        if (idx < cap)
                return 0;
        if (grow_all(arrays, sizeof(arrays) / sizeof(*arrays), cap, idx, &c,
                     &per) ||
            rs_resize((void **)&b->ring, c * b->conf.recent, sizeof(*b->ring)))
                return -1;
        b->bytes += (c - cap) * (per + b->conf.recent * sizeof(*b->ring));
        b->users_cap = c;
        return 0;
}

/* Today's popularity of eval (issue 4): forward-decayed counts, whose
 * order is the decayed counts' at any common time. Counts only grow, so
 * an item enters the top when it passes the last one, then only moves
 * up. */
static void pop_add(rs_base_t *b, uint32_t item, int64_t ts)
{
        size_t i;

        if (b->t0 == INT64_MIN)
                b->t0 = ts;
        double x = (double)(ts - b->t0) / (double)b->conf.pop_half_life;
        if (x > 900) { /* rebase before doubles overflow */
                double f = exp2(-x);
                for (size_t j = 0; j < b->items.n && j < b->items_cap; j++)
                        b->g[j] *= f;
                b->t0 = ts;
                x = 0;
        }
        b->g[item] += exp2(x);
        if (b->in_top[item]) {
                for (i = 0; b->top[i] != item; i++)
                        ;
        } else if (b->ntop < RS_BASE_POP_TOP) {
                i = b->ntop++;
        } else if (b->g[item] > b->g[b->top[RS_BASE_POP_TOP - 1]]) {
                b->in_top[b->top[RS_BASE_POP_TOP - 1]] = 0;
                i = RS_BASE_POP_TOP - 1;
        } else {
                return;
        }
        b->in_top[item] = 1;
        for (; i > 0 && b->g[b->top[i - 1]] < b->g[item]; i--)
                b->top[i] = b->top[i - 1];
        b->top[i] = item;
}

int rs_base_learn(rs_base_t *b, uint64_t user, uint64_t item, int64_t ts,
                  unsigned flags)
{
        const rs_base_conf_t *c = &b->conf;
        int added;
        uint32_t it = idmap_get(&b->items, item, &added), u;

        if (it == UINT32_MAX || grow_items(b, it))
                return -1;
        if ((flags & RS_BASE_POPULAR) && (c->models & 1u << RS_BASE_POP))
                pop_add(b, it, ts);
        if (flags & RS_BASE_POSITIVE)
                b->norm[it] = 1 / sqrt((double)++b->pos[it] + 1);
        if (!(flags & RS_BASE_FIRST) ||
            !(c->models & (1u << RS_BASE_SUCC | 1u << RS_BASE_COVISIT)))
                return 0;
        if ((u = idmap_get(&b->users, user, &added)) == UINT32_MAX ||
            grow_users(b, u))
                return -1;
        if (b->tn[u] == b->tcap[u]) {
                uint32_t cap = b->tcap[u] ? b->tcap[u] * 2 : 8;
                if (cap < b->tcap[u] ||
                    rs_resize((void **)&b->tl[u], cap, sizeof(**b->tl)))
                        return -1;
                b->bytes += (cap - b->tcap[u]) * sizeof(**b->tl);
                b->tcap[u] = cap;
        }
        b->tl[u][b->tn[u]++] = it;
        uint32_t *ring = b->ring + (size_t)u * c->recent;
        uint32_t len = b->ulen[u], head = b->uhead[u];
        if (len && (c->models & 1u << RS_BASE_SUCC) && ring[head] != it &&
            counts_add(b, &b->succ[ring[head]], it, c->max_counts))
                return -1;
        if (c->models & 1u << RS_BASE_COVISIT)
                for (uint32_t k = 0; k < len; k++)
                        if (ring[k] != it &&
                            (counts_add(b, &b->cov[ring[k]], it,
                                        c->max_counts) ||
                             counts_add(b, &b->cov[it], ring[k],
                                        c->max_counts)))
                                return -1;
        head = len ? (uint32_t)((head + 1) % c->recent) : 0;
        ring[head] = it;
        b->uhead[u] = head;
        if (len < c->recent)
                b->ulen[u] = len + 1;
        return 0;
}

/*
 * Lists.
 */

/* Whether user (index u, UINT32_MAX when the models keep no users)
 * touched item: by the stamps when they are u's, else by the caller's
 * set. */
static int touched_by(const rs_base_t *b, const rs_hset_t *touched,
                      uint64_t user, uint32_t u, uint32_t item)
{
        if (u != UINT32_MAX && u == b->stamped_user)
                return b->stamp[item] == b->epoch;
        return rs_hset_has(touched, rs_base_pair(user, b->items.keys[item]));
}

/* Stamps u's touched items, unless they are stamped already: one pass
 * over them per target, instead of a hash look-up per item listed. Users
 * of more than RS_BASE_STAMP_MAX items are looked up. */
#define RS_BASE_STAMP_MAX 4096
static void stamp_user(rs_base_t *b, uint32_t u)
{
        if (u == b->stamped_user && b->tn[u] == b->stamped_n)
                return;
        b->stamped_user = UINT32_MAX;
        if (b->tn[u] > RS_BASE_STAMP_MAX)
                return;
        if (++b->epoch == 0) { /* wrapped: no stamp may look current */
                memset(b->stamp, 0, b->items_cap * sizeof(*b->stamp));
                b->epoch = 1;
        }
        for (uint32_t i = 0; i < b->tn[u]; i++)
                b->stamp[b->tl[u][i]] = b->epoch;
        b->stamped_user = u;
        b->stamped_n = b->tn[u];
}

/* covisit: scores the candidates into b->score, their set in b->cand. */
static int covisit(rs_base_t *b, uint32_t u, size_t *ncand)
{
        const rs_base_conf_t *c = &b->conf;
        const uint32_t *ring = b->ring + (size_t)u * c->recent;
        uint32_t len = b->ulen[u];
        size_t n = 0;

        for (uint32_t r = 0; r < len; r++) {
                /* newest first */
                uint32_t j = ring[(b->uhead[u] + c->recent - r) % c->recent];
                const counts_t *cj = &b->cov[j];
                double w = 1.0 / (r + 1) * b->norm[j];
                for (size_t x = 0; x < cj->len && x < c->covisit_neighbors;
                     x++) {
                        uint32_t cand = cj->e[x].item;
                        if (b->score[cand] == 0) { /* every term > 0 */
                                if (n == b->ncand_cap &&
                                    rs_grow_zeroed((void **)&b->cand,
                                                   &b->ncand_cap, n,
                                                   sizeof(*b->cand)))
                                        return -1;
                                b->cand[n++] = cand;
                        }
                        b->score[cand] += w * cj->e[x].n * b->norm[cand];
                }
        }
        *ncand = n;
        return 0;
}

/* Better: a higher score, then the item first seen. */
static int better(const double *score, uint32_t x, uint32_t y)
{
        return score[x] > score[y] || (score[x] == score[y] && x < y);
}

int rs_base_list(rs_base_t *b, rs_base_model_t m, uint64_t user,
                 const rs_hset_t *touched, uint64_t *out, size_t k)
{
        const rs_base_conf_t *c = &b->conf;
        size_t n = 0;
        uint32_t u;

        if ((int)m < 0 || (int)m >= RS_BASE__COUNT ||
            !(c->models & 1u << (int)m))
                return 0;
        if ((u = idmap_find(&b->users, user)) != UINT32_MAX)
                stamp_user(b, u);
        if (m == RS_BASE_POP) {
                for (size_t i = 0; i < b->ntop && n < k; i++)
                        if (!touched_by(b, touched, user, u, b->top[i]))
                                out[n++] = b->items.keys[b->top[i]];
                return (int)n;
        }
        if (u == UINT32_MAX || !b->ulen[u])
                return 0;
        if (m == RS_BASE_SUCC) {
                const uint32_t *ring = b->ring + (size_t)u * c->recent;
                const counts_t *s = &b->succ[ring[b->uhead[u]]];
                for (size_t i = 0; i < s->len && n < k; i++)
                        if (!touched_by(b, touched, user, u, s->e[i].item))
                                out[n++] = b->items.keys[s->e[i].item];
                return (int)n;
        }
        size_t ncand;
        uint32_t best[256]; /* k ≤ 200 (RS_RECS_MAX) */
        if (k > sizeof(best) / sizeof(*best))
                k = sizeof(best) / sizeof(*best);
        if (covisit(b, u, &ncand))
                return -1;
        for (size_t x = 0; x < ncand; x++) {
                uint32_t cand = b->cand[x];
                if (n == k && !better(b->score, cand, best[n - 1]))
                        continue;
                if (touched_by(b, touched, user, u, cand))
                        continue;
                size_t i = n < k ? n++ : n - 1;
                for (; i > 0 && better(b->score, cand, best[i - 1]); i--)
                        best[i] = best[i - 1];
                best[i] = cand;
        }
        for (size_t i = 0; i < n; i++)
                out[i] = b->items.keys[best[i]];
        for (size_t x = 0; x < ncand; x++)
                b->score[b->cand[x]] = 0;
        return (int)n;
}

/*
 * Life cycle.
 */

rs_base_t *rs_base_new(const rs_base_conf_t *conf)
{
        rs_base_t *b = calloc(1, sizeof(*b));

        if (!b)
                return NULL;
        b->conf = *conf;
        if (b->conf.max_counts < 1)
                b->conf.max_counts = 1;
        if (b->conf.max_counts > RS_BASE_MAX_COUNTS)
                b->conf.max_counts = RS_BASE_MAX_COUNTS;
        if (b->conf.recent < 1)
                b->conf.recent = 1;
        if (b->conf.pop_half_life < 1)
                b->conf.pop_half_life = 1;
        b->t0 = INT64_MIN;
        b->stamped_user = UINT32_MAX;
        b->bytes = sizeof(*b);
        return b;
}

void rs_base_destroy(rs_base_t *b)
{
        if (!b)
                return;
        for (size_t i = 0; i < b->items.n && i < b->items_cap; i++) {
                free(b->succ[i].e);
                free(b->succ[i].slot);
                free(b->cov[i].e);
                free(b->cov[i].slot);
        }
        idmap_fini(&b->items);
        idmap_fini(&b->users);
        free(b->g);
        free(b->pos);
        free(b->norm);
        free(b->in_top);
        free(b->succ);
        free(b->cov);
        free(b->score);
        free(b->cand);
        free(b->ring);
        for (size_t u = 0; u < b->users.n && u < b->users_cap; u++)
                free(b->tl[u]);
        free(b->tl);
        free(b->tn);
        free(b->tcap);
        free(b->stamp);
        free(b->ulen);
        free(b->uhead);
        free(b);
}

size_t rs_base_bytes(const rs_base_t *b)
{
        return b->bytes +
               (b->items.mask + 1 + b->users.mask + 1) * sizeof(uint32_t) +
               (b->items.cap + b->users.cap) * sizeof(uint64_t) +
               b->ncand_cap * sizeof(*b->cand);
}
