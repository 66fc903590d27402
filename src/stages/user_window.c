/* user_window.c — per-user windows in one record per user (the interest
 * vector and the ring are inline; the ring grows to max_events as the
 * user's history does), a bounded seen set per user (a FIFO, searched
 * directly while it is short, then with a linear-probing index with
 * backward-shift deletion), and an LRU list through user ids.
 *
 * A user record holds a reference to its user id and each ring entry one
 * to its item id (intern.h), so neither is recycled while held. A seen
 * set holds the items' 64-bit string hashes instead, and no references:
 * it may outlive the items' ids, and a recycled id can never make another
 * item look seen. Two items of one user with the same hash hide each
 * other from that user alone: with n seen items the chance is about
 * n²/2^65 (1000 items: 3·10^-14). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/hash.h"
#include "recstream/stage.h"
#include "recstream/user_window.h"
#include "recstream/vec.h"

typedef struct uwin_conf {
        int64_t max_events, horizon, half_life, max_users, max_seen;
        int64_t interest_dim;
        double position_exponent;
} uwin_conf_t;

#define UC(f) offsetof(uwin_conf_t, f)
static const rs_prop_t props[] = {
        {"max_events", RS_PROP_INT, UC(max_events), "50", 1, 10000, NULL, 0,
         "Events kept per user (the newest)."},
        {"horizon", RS_PROP_DURATION, UC(horizon), "7d", 1000,
         RS_DURATION_MAX_MS, NULL, 0,
         "Events older than this (event time) leave the window."},
        {"half_life", RS_PROP_DURATION, UC(half_life), "1d", 1000,
         RS_DURATION_MAX_MS, NULL, 0,
         "Half-life of an event's weight in the user's affinity."},
        {"max_users", RS_PROP_INT, UC(max_users), "1000000", 1, 1e9, NULL, 0,
         "Users held; the least recently active beyond it are evicted, "
         "with the score stage's state of them (counted). A user costs "
         "168 B (64 of them the id hashes of its 8 newest events, kept "
         "for dedupe across restarts) + 4·interest_dim B + 16 B per "
         "window entry (the ring doubles from 4 up to max_events) + its "
         "seen set (max_seen), and its id ≈ 150 B (the string table and "
         "the tables by id of every stage): with video.yaml's settings "
         "≈ 580 B for a user with 2 events, ≈ 1.8 KB with a full window "
         "of 50."},
        {"max_seen", RS_PROP_INT, UC(max_seen), "1000", 1, 1e6, NULL, 0,
         "Items remembered per user as seen (never recommended back), as "
         "64-bit string hashes: 8 B an item (the FIFO doubles from 8 up "
         "to max_seen) and, beyond 64 items, an index of 16 to 32 B an "
         "item: at most 24 KB per user at 1000."},
        {"interest_dim", RS_PROP_INT, UC(interest_dim), "0", 0, 1024, NULL, 0,
         "Dimension of the dense interest vector (0: none): Σ w·embedding "
         "of the user's items, decayed by half_life; embeddings are hashed "
         "categories."},
        {"position_exponent", RS_PROP_DOUBLE, UC(position_exponent), "0", 0, 8,
         NULL, RS_PROP_RELOAD,
         "Recency by position as well as by age: the k-th newest event of "
         "the window (k = 1 for the last one) weighs 1/k^position_exponent "
         "in the user's affinity (0: age only; 1: the 1/rank of a "
         "co-visitation model)."},
        {0},
};

typedef struct seen {
        uint64_t *set;  /* item hashes (0 stored as 1), 0 empty; mask + 1 */
        uint64_t *fifo; /* insertion order, cap entries */
        uint64_t bits;  /* unindexed: a bit per key (its top 6), or'ed */
        uint32_t mask, cap, head, count;
} seen_t;

/* Seen sets up to this many items have no index: the FIFO is searched. */
#define SEEN_SCAN 64

/* A user record: this header, interest_dim floats, then the ring of `cap`
 * entries (ring_of), which grows until max_events and only then wraps. */
typedef struct user {
        uint32_t prev, next; /* LRU, by user id */
        uint32_t head, n;    /* ring: oldest at head */
        uint32_t cap;        /* ring entries allocated */
        uint32_t touched;
        int64_t last_ts;
        int64_t interest_ts; /* time the interest vector is decayed to */
        int64_t offset;      /* of the newest event applied, in part */
        int32_t part;        /* the input partition that owns the user */
        seen_t seen;
        /* id hashes of the newest events (ring, oldest at eid_head) */
        uint64_t eids[RS_USER_EIDS];
        uint8_t neids, eid_head;
} user_t;

#define MAX_HOOKS 4

struct rs_uwin {
        const uwin_conf_t *conf;
        const rs_catalog_t *catalog;
        rs_intern_t *strings;
        float *emb;     /* scratch embedding, interest_dim */
        user_t **users; /* by user id */
        size_t cap;     /* of users */
        size_t count, bytes;
        uint64_t evictions;
        uint32_t lru_head, lru_tail; /* most / least recent */
        struct {
                rs_uwin_evict_fn fn;
                void *opaque;
        } hooks[MAX_HOOKS];
        size_t nhooks;
        rs_uwin_add_fn on_add; /* one listener: the pairs stage */
        void *on_add_opaque;
        int32_t evicted_part; /* of the user being evicted, else -1 */
        /* what the last save filled in (max_events, max_seen) */
        rs_win_entry_t *save_win;
        uint64_t *save_seen;
        uint64_t save_eids[RS_USER_EIDS];
        /* rank_w[r - 1] = r^-rank_pe for ranks r up to max_events: the
         * position weights of rs_uwin_affinity, built again when a reload
         * changes position_exponent */
        double *rank_w;
        double rank_pe;
};

/*
 * Seen sets.
 */

/* An item's key in seen sets: its string's hash, never 0. */
static uint64_t seen_key(const rs_uwin_t *win, uint32_t item)
{
        uint64_t h = rs_intern_hash(win->strings, item);
        return h ? h : 1;
}

/* The home slot of a key (hashes are mixed already). */
static uint32_t seen_home(uint64_t key, uint32_t mask)
{
        return (uint32_t)(key ^ key >> 32) & mask;
}

static uint64_t *seen_slot(const seen_t *s, uint64_t key)
{
        uint32_t i = seen_home(key, s->mask);
        while (s->set[i] && s->set[i] != key)
                i = (i + 1) & s->mask;
        return &s->set[i];
}

static uint64_t seen_bit(uint64_t key)
{
        return 1ULL << (key >> 58);
}

static int seen_has(const seen_t *s, uint64_t key)
{
        if (s->set)
                return *seen_slot(s, key) != 0;
        /* unindexed: a short FIFO that is linear (head 0) until full,
         * searched only when the key's bit is set (most keys looked up
         * are not there; a forgotten key's bit stays, which costs a
         * search, never a wrong answer) */
        if (!(s->bits & seen_bit(key)))
                return 0;
        for (uint32_t k = 0; k < s->count; k++)
                if (s->fifo[k] == key)
                        return 1;
        return 0;
}

static void seen_del(seen_t *s, uint64_t key)
{
        if (!s->set)
                return; /* the FIFO slot is all there is */
        uint64_t *slot = seen_slot(s, key);
        uint32_t i = (uint32_t)(slot - s->set), j = i;

        if (!*slot)
                return;
        /* backward-shift deletion keeps probe chains intact */
        for (;;) {
                s->set[i] = 0;
                for (;;) {
                        j = (j + 1) & s->mask;
                        if (!s->set[j])
                                return;
                        if (rs_probe_stays(i, j, seen_home(s->set[j], s->mask)))
                                continue;
                        break;
                }
                s->set[i] = s->set[j];
                i = j;
        }
}

static int seen_grow(seen_t *s, uint32_t max)
{
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        if (cap > max)
                cap = max;
        uint32_t slots = 16;
        while (slots < cap * 2)
                slots *= 2;
        uint64_t *set = cap > SEEN_SCAN ? calloc(slots, sizeof(*set)) : NULL;
        uint64_t *fifo = malloc(cap * sizeof(*fifo));
        if ((cap > SEEN_SCAN && !set) || !fifo) {
                free(set);
                free(fifo);
                return -1;
        }
        /* re-insert in FIFO order, oldest first, into a linear fifo */
        for (uint32_t k = 0; k < s->count; k++)
                fifo[k] = s->fifo[(s->head + k) % s->cap];
        free(s->fifo);
        free(s->set);
        s->set = set;
        s->fifo = fifo;
        s->mask = slots - 1;
        s->cap = cap;
        s->head = 0;
        for (uint32_t k = 0; set && k < s->count; k++)
                *seen_slot(s, fifo[k]) = fifo[k];
        return 0;
}

static size_t seen_bytes(const seen_t *s)
{
        return (s->cap + (s->set ? s->mask + 1 : 0)) * sizeof(uint64_t);
}

/* Adds key; forgets the oldest when the set is at max. */
static int seen_add(seen_t *s, uint64_t key, uint32_t max)
{
        if (s->count == s->cap && s->cap < max && seen_grow(s, max))
                return -1;
        if (s->count == s->cap) {
                seen_del(s, s->fifo[s->head]);
                s->head = (s->head + 1) % s->cap;
                s->count--;
        }
        s->fifo[(s->head + s->count) % s->cap] = key;
        s->count++;
        s->bits |= seen_bit(key);
        if (s->set)
                *seen_slot(s, key) = key;
        return 0;
}

/*
 * Users and the LRU list.
 */

static void lru_unlink(rs_uwin_t *win, user_t *u)
{
        if (u->prev != RS_ID_NONE)
                win->users[u->prev]->next = u->next;
        else
                win->lru_head = u->next;
        if (u->next != RS_ID_NONE)
                win->users[u->next]->prev = u->prev;
        else
                win->lru_tail = u->prev;
}

static void lru_push(rs_uwin_t *win, uint32_t id, user_t *u)
{
        u->prev = RS_ID_NONE;
        u->next = win->lru_head;
        if (win->lru_head != RS_ID_NONE)
                win->users[win->lru_head]->prev = id;
        win->lru_head = id;
        if (win->lru_tail == RS_ID_NONE)
                win->lru_tail = id;
}

/* Bytes of the interest vector, kept a multiple of the ring's alignment. */
static size_t interest_bytes(const rs_uwin_t *win)
{
        return ((size_t)win->conf->interest_dim * sizeof(float) + 7) & ~7u;
}

/* Bytes of a user record whose ring holds cap entries. */
static size_t user_size(const rs_uwin_t *win, uint32_t cap)
{
        return sizeof(user_t) + interest_bytes(win) +
               (size_t)cap * sizeof(rs_win_entry_t);
}

static float *interest_of(const rs_uwin_t *win, const user_t *u)
{
        (void)win;
        return (float *)(u + 1);
}

static rs_win_entry_t *ring_of(const rs_uwin_t *win, const user_t *u)
{
        return (rs_win_entry_t *)((char *)(u + 1) + interest_bytes(win));
}

/* The first ring: a few entries, doubled as the history grows. */
#define RING_FIRST 4

/* Frees id's record and releases what it held. */
static void user_free(rs_uwin_t *win, uint32_t id)
{
        user_t *u = win->users[id];
        const rs_win_entry_t *ring = ring_of(win, u);

        for (uint32_t j = 0; j < u->n; j++)
                rs_intern_unref(win->strings,
                                ring[(u->head + j) % u->cap].item);
        rs_intern_unref(win->strings, id);
        win->bytes -= user_size(win, u->cap) + seen_bytes(&u->seen);
        free(u->seen.set);
        free(u->seen.fifo);
        free(u);
        win->users[id] = NULL;
        win->count--;
}

static user_t *user_get(rs_uwin_t *win, uint32_t id)
{
        user_t *u;

        if (rs_grow_zeroed((void **)&win->users, &win->cap, id,
                           sizeof(*win->users)))
                return NULL;
        if ((u = win->users[id])) {
                lru_unlink(win, u);
                lru_push(win, id, u);
                return u;
        }
        if (win->count >= (size_t)win->conf->max_users) {
                uint32_t victim = win->lru_tail;
                win->evicted_part = win->users[victim]->part;
                lru_unlink(win, win->users[victim]);
                user_free(win, victim);
                win->evictions++;
                for (size_t k = 0; k < win->nhooks; k++)
                        win->hooks[k].fn(win->hooks[k].opaque, victim);
                win->evicted_part = -1;
        }
        uint32_t cap = win->conf->max_events < RING_FIRST
                               ? (uint32_t)win->conf->max_events
                               : RING_FIRST;
        if (!(u = calloc(1, user_size(win, cap))))
                return NULL;
        u->cap = cap;
        u->last_ts = INT64_MIN;
        u->interest_ts = INT64_MIN;
        u->offset = -1;
        u->part = -1;
        rs_intern_ref(win->strings, id);
        win->users[id] = u;
        win->count++;
        win->bytes += user_size(win, cap);
        lru_push(win, id, u);
        return u;
}

static const user_t *user_find(const rs_uwin_t *win, uint32_t id)
{
        return id < win->cap ? win->users[id] : NULL;
}

/*
 * Stage.
 */

static void uwin_destroy(void *st)
{
        rs_uwin_t *win = st;

        if (!win)
                return;
        for (size_t i = 0; i < win->cap; i++)
                if (win->users[i])
                        user_free(win, (uint32_t)i);
        free(win->users);
        free(win->emb);
        free(win->save_win);
        free(win->save_seen);
        free(win->rank_w);
        free(win);
}

static void *uwin_create(const void *conf, rs_stage_env_t *env, char *errstr,
                         size_t errstr_size)
{
        const uwin_conf_t *c = conf;
        rs_uwin_t *win = calloc(1, sizeof(*win));

        if (!win ||
            !(win->emb = calloc((size_t)c->interest_dim + 1, sizeof(float))) ||
            !(win->save_win =
                      malloc((size_t)c->max_events * sizeof(*win->save_win))) ||
            !(win->save_seen =
                      malloc((size_t)c->max_seen * sizeof(*win->save_seen))) ||
            !(win->rank_w =
                      malloc((size_t)c->max_events * sizeof(*win->rank_w)))) {
                uwin_destroy(win);
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        win->conf = c;
        win->catalog = env->catalog;
        win->strings = env->strings;
        win->lru_head = win->lru_tail = RS_ID_NONE;
        win->evicted_part = -1;
        win->rank_pe = -1;      /* built at the first use */
        env->user_window = win; /* for the stages after it */
        return win;
}

/* v ← v·2^(−Δt/half_life) + w·embedding(item): sscal, then saxpy. */
static void interest_add(rs_uwin_t *win, user_t *u, const rs_event_t *e)
{
        const size_t d = (size_t)win->conf->interest_dim;
        float *v = interest_of(win, u);

        if (u->interest_ts == INT64_MIN) {
                u->interest_ts = e->ts;
        } else if (e->ts > u->interest_ts) {
                rs_vec_scale(v, d,
                             (float)exp2(-(double)(e->ts - u->interest_ts) /
                                         (double)win->conf->half_life));
                u->interest_ts = e->ts;
        }
        rs_vec_axpy(v,
                    rs_catalog_item_embedding(win->catalog, e->item,
                                              e->category, win->emb, d),
                    d, e->weight);
}

static void eid_add(user_t *u, uint64_t h)
{
        if (u->neids < RS_USER_EIDS)
                u->eids[(u->eid_head + u->neids++) % RS_USER_EIDS] = h;
        else {
                u->eids[u->eid_head] = h;
                u->eid_head = (uint8_t)((u->eid_head + 1) % RS_USER_EIDS);
        }
}

static rs_err_t uwin_process(void *st, rs_event_t *ev, size_t n,
                             const rs_emit_t *out)
{
        rs_uwin_t *win = st;
        const uwin_conf_t *c = win->conf;

        (void)out;
        for (size_t i = 0; i < n; i++) {
                rs_event_t *e = &ev[i];
                const user_t *ahead;
                user_t *u;
                /* users ahead: where their state and their item's hash
                 * are, then the state */
                if (i + 8 < n) {
                        if (ev[i + 8].user < win->cap)
                                __builtin_prefetch(&win->users[ev[i + 8].user]);
                        rs_intern_prefetch(win->strings, ev[i + 8].item);
                }
                if (i + 4 < n && (ahead = user_find(win, ev[i + 4].user))) {
                        __builtin_prefetch(ahead);
                        __builtin_prefetch(&ring_of(
                                win,
                                ahead)[(ahead->head + ahead->n) % ahead->cap]);
                        if (ahead->seen.set)
                                __builtin_prefetch(&ahead->seen.set[seen_home(
                                        seen_key(win, ev[i + 4].item),
                                        ahead->seen.mask)]);
                }
                if (e->drop)
                        continue;
                if (!(u = user_get(win, e->user)))
                        return RS_ERR_NOMEM;
                const uint64_t key = seen_key(win, e->item);
                if (!seen_has(&u->seen, key)) {
                        size_t before = seen_bytes(&u->seen);
                        if (seen_add(&u->seen, key, (uint32_t)c->max_seen))
                                return RS_ERR_NOMEM;
                        win->bytes += seen_bytes(&u->seen) - before;
                        u->touched++;
                        e->flags |= RS_EVF_FIRST;
                }
                /* what e teaches, from the window as it was before it */
                if (win->on_add) {
                        rs_err_t err = win->on_add(win->on_add_opaque, e);
                        if (err)
                                return err;
                }
                /* the ring: grow, or drop the oldest at max_events */
                if (u->n == u->cap && u->cap < (uint32_t)c->max_events) {
                        /* not wrapped yet (head 0): a longer record */
                        uint32_t cap = u->cap * 2;
                        if (cap > (uint32_t)c->max_events)
                                cap = (uint32_t)c->max_events;
                        user_t *bigger = realloc(u, user_size(win, cap));
                        if (!bigger)
                                return RS_ERR_NOMEM;
                        win->bytes += user_size(win, cap) -
                                      user_size(win, bigger->cap);
                        u = win->users[e->user] = bigger;
                        u->cap = cap;
                }
                if (u->n == u->cap) {
                        rs_intern_unref(win->strings,
                                        ring_of(win, u)[u->head].item);
                        u->head = (u->head + 1) % u->cap;
                        u->n--;
                }
                ring_of(win, u)[(u->head + u->n) % u->cap] =
                        (rs_win_entry_t){e->ts, e->item, e->weight};
                rs_intern_ref(win->strings, e->item);
                u->n++;
                if (e->ts > u->last_ts)
                        u->last_ts = e->ts;
                u->part = e->partition;
                u->offset = e->offset;
                eid_add(u, e->event_hash);
                if (c->interest_dim)
                        interest_add(win, u, e);
        }
        return RS_OK;
}

void rs_uwin_prefetch(const rs_uwin_t *win, uint32_t user, int level)
{
        const user_t *u;

        if (user >= win->cap)
                return;
        if (level == 0) {
                __builtin_prefetch(&win->users[user]);
        } else if ((u = win->users[user])) {
                const char *p = (const char *)u;
                const char *end = (const char *)(ring_of(win, u) + u->n);
                for (; p < end; p += 64)
                        __builtin_prefetch(p);
        }
}

size_t rs_uwin_get(const rs_uwin_t *win, uint32_t user, int64_t now,
                   rs_win_entry_t *out, size_t max)
{
        const user_t *u = user_find(win, user);
        size_t k = 0;

        if (!u)
                return 0;
        for (uint32_t j = 0; j < u->n && k < max; j++) {
                const rs_win_entry_t *e =
                        &ring_of(win, u)[(u->head + j) % u->cap];
                if (e->ts >= now - win->conf->horizon)
                        out[k++] = *e;
        }
        return k;
}

size_t rs_uwin_affinity(rs_uwin_t *win, uint32_t user, int64_t now,
                        uint32_t *items, float *aff, size_t max)
{
        const user_t *u = user_find(win, user);
        const double hl = (double)win->conf->half_life;
        const double pe = win->conf->position_exponent;
        size_t k = 0;

        if (!u)
                return 0;
        if (pe > 0 && pe != win->rank_pe) {
                for (int64_t r = 1; r <= win->conf->max_events; r++)
                        win->rank_w[r - 1] = pow((double)r, -pe);
                win->rank_pe = pe;
        }
        for (uint32_t j = 0; j < u->n; j++) {
                const rs_win_entry_t *e =
                        &ring_of(win, u)[(u->head + j) % u->cap];
                if (e->ts < now - win->conf->horizon)
                        continue;
                double a = e->w * exp2(-(double)(now - e->ts) / hl);
                if (pe > 0) /* the newest is rank 1 */
                        a *= win->rank_w[u->n - j - 1];
                size_t x;
                for (x = 0; x < k && items[x] != e->item; x++)
                        ;
                if (x < k)
                        aff[x] += (float)a;
                else if (k < max) {
                        items[k] = e->item;
                        aff[k++] = (float)a;
                }
        }
        return k;
}

size_t rs_uwin_interest(const rs_uwin_t *win, uint32_t user, int64_t now,
                        float *out)
{
        const user_t *u = user_find(win, user);
        const size_t d = (size_t)win->conf->interest_dim;

        if (!u || !d || u->interest_ts == INT64_MIN)
                return 0;
        memcpy(out, interest_of(win, u), d * sizeof(*out));
        if (now > u->interest_ts)
                rs_vec_scale(out, d,
                             (float)exp2(-(double)(now - u->interest_ts) /
                                         (double)win->conf->half_life));
        return d;
}

size_t rs_uwin_interest_dim(const rs_uwin_t *win)
{
        return (size_t)win->conf->interest_dim;
}

int rs_uwin_seen(const rs_uwin_t *win, uint32_t user, uint32_t item)
{
        const user_t *u = user_find(win, user);
        return u && seen_has(&u->seen, seen_key(win, item));
}

int rs_uwin_seen_hash(const rs_uwin_t *win, uint32_t user, uint64_t hash)
{
        const user_t *u = user_find(win, user);
        return u && seen_has(&u->seen, hash ? hash : 1);
}

int rs_uwin_holds(const rs_uwin_t *win, uint32_t user)
{
        return user_find(win, user) != NULL;
}

int rs_uwin_on_evict(rs_uwin_t *win, rs_uwin_evict_fn fn, void *opaque)
{
        if (win->nhooks == MAX_HOOKS)
                return -1;
        win->hooks[win->nhooks].fn = fn;
        win->hooks[win->nhooks++].opaque = opaque;
        return 0;
}

int rs_uwin_on_add(rs_uwin_t *win, rs_uwin_add_fn fn, void *opaque)
{
        if (win->on_add)
                return -1;
        win->on_add = fn;
        win->on_add_opaque = opaque;
        return 0;
}

uint64_t rs_uwin_evictions(const rs_uwin_t *win)
{
        return win->evictions;
}

uint32_t rs_uwin_touched(const rs_uwin_t *win, uint32_t user)
{
        const user_t *u = user_find(win, user);
        return u ? u->touched : 0;
}

int64_t rs_uwin_last_ts(const rs_uwin_t *win, uint32_t user)
{
        const user_t *u = user_find(win, user);
        return u ? u->last_ts : INT64_MIN;
}

size_t rs_uwin_max_events(const rs_uwin_t *win)
{
        return (size_t)win->conf->max_events;
}

size_t rs_uwin_users(const rs_uwin_t *win)
{
        return win->count;
}

size_t rs_uwin_bytes(const rs_uwin_t *win)
{
        return win->bytes + win->cap * sizeof(*win->users);
}

/*
 * State that survives: a user as the changelog carries it.
 */

int rs_uwin_applied(const rs_uwin_t *win, uint32_t user, int32_t partition,
                    int64_t offset)
{
        const user_t *u = user_find(win, user);
        return u && u->part == partition && offset <= u->offset;
}

int32_t rs_uwin_evicted_partition(const rs_uwin_t *win)
{
        return win->evicted_part;
}

int32_t rs_uwin_partition(const rs_uwin_t *win, uint32_t user)
{
        const user_t *u = user_find(win, user);
        return u ? u->part : -1;
}

void rs_uwin_forget(rs_uwin_t *win, uint32_t id)
{
        if (!user_find(win, id))
                return;
        lru_unlink(win, win->users[id]);
        user_free(win, id);
        for (size_t k = 0; k < win->nhooks; k++)
                win->hooks[k].fn(win->hooks[k].opaque, id);
}

size_t rs_uwin_drop_partition(rs_uwin_t *win, int32_t partition)
{
        size_t n = 0;

        for (size_t i = 0; i < win->cap; i++)
                if (win->users[i] && win->users[i]->part == partition) {
                        rs_uwin_forget(win, (uint32_t)i);
                        n++;
                }
        return n;
}

void rs_uwin_each(const rs_uwin_t *win,
                  void (*fn)(void *opaque, uint32_t user, int32_t partition),
                  void *opaque)
{
        for (size_t i = 0; i < win->cap; i++)
                if (win->users[i])
                        fn(opaque, (uint32_t)i, win->users[i]->part);
}

static void uwin_save(void *st, uint32_t user, rs_user_state_t *s)
{
        rs_uwin_t *win = st;
        const user_t *u = user_find(win, user);

        if (!u)
                return;
        const rs_win_entry_t *ring = ring_of(win, u);
        for (uint32_t j = 0; j < u->n; j++)
                win->save_win[j] = ring[(u->head + j) % u->cap];
        for (uint32_t j = 0; j < u->seen.count; j++)
                win->save_seen[j] =
                        u->seen.fifo[(u->seen.head + j) % u->seen.cap];
        s->partition = u->part;
        s->offset = u->offset;
        s->last_ts = u->last_ts;
        s->touched = u->touched;
        s->window = win->save_win;
        s->nwindow = u->n;
        s->seen = win->save_seen;
        s->nseen = u->seen.count;
        for (uint32_t j = 0; j < u->neids; j++)
                win->save_eids[j] = u->eids[(u->eid_head + j) % RS_USER_EIDS];
        s->event_ids = win->save_eids;
        s->nevent_ids = u->neids;
        s->interest_ts = u->interest_ts;
        s->interest = win->conf->interest_dim ? interest_of(win, u) : NULL;
        s->dim = (size_t)win->conf->interest_dim;
}

/* Replaces s->user's record by s's (a window longer than max_events
 * keeps its newest, a seen set its newest max_seen). */
static rs_err_t uwin_load(void *st, const rs_user_state_t *s)
{
        rs_uwin_t *win = st;
        const uwin_conf_t *c = win->conf;
        size_t skip = s->nwindow > (size_t)c->max_events
                              ? s->nwindow - (size_t)c->max_events
                              : 0;
        user_t *u;

        if (user_find(win, s->user))
                rs_uwin_forget(win, s->user);
        if (!(u = user_get(win, s->user)))
                return RS_ERR_NOMEM;
        for (size_t k = 0; k < s->nseen; k++) {
                size_t before = seen_bytes(&u->seen);
                uint64_t key = s->seen[k] ? s->seen[k] : 1;
                if (!seen_has(&u->seen, key) &&
                    seen_add(&u->seen, key, (uint32_t)c->max_seen))
                        return RS_ERR_NOMEM;
                win->bytes += seen_bytes(&u->seen) - before;
        }
        uint32_t n = (uint32_t)(s->nwindow - skip);
        if (n > u->cap) {
                user_t *bigger = realloc(u, user_size(win, n));
                if (!bigger)
                        return RS_ERR_NOMEM;
                win->bytes += user_size(win, n) - user_size(win, bigger->cap);
                u = win->users[s->user] = bigger;
                u->cap = n;
                /* its LRU neighbours name it by id: nothing to relink */
        }
        for (uint32_t j = 0; j < n; j++) {
                ring_of(win, u)[j] = s->window[skip + j];
                rs_intern_ref(win->strings, s->window[skip + j].item);
        }
        u->n = n;
        u->touched = s->touched;
        u->last_ts = s->last_ts;
        u->offset = s->offset;
        u->part = s->partition;
        u->neids = 0;
        u->eid_head = 0;
        for (size_t k = s->nevent_ids > RS_USER_EIDS
                                ? s->nevent_ids - RS_USER_EIDS
                                : 0;
             k < s->nevent_ids; k++)
                eid_add(u, s->event_ids[k]);
        u->interest_ts = s->interest_ts;
        if (c->interest_dim && s->dim == (size_t)c->interest_dim)
                memcpy(interest_of(win, u), s->interest,
                       s->dim * sizeof(float));
        else
                u->interest_ts = INT64_MIN; /* another dimension: none */
        return RS_OK;
}

const rs_stage_ops_t rs_stage_user_window = {
        .type = "user_window",
        .doc = "Per-user sliding window (max_events, horizon) with decayed "
               "affinity (half_life), a bounded seen set, LRU eviction "
               "beyond max_users.",
        .props = props,
        .conf_size = sizeof(uwin_conf_t),
        .create = uwin_create,
        .process = uwin_process,
        .save = uwin_save,
        .load = uwin_load,
        .destroy = uwin_destroy,
};
