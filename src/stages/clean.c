/* clean.c — the `clean` stage: drops what must not reach the model, each
 * drop counted by reason (ids were checked at decode: rs_event_check_id).
 *
 * Time is event time, kept per input partition (topic, partition): the
 * partition's clock follows its accepted events, each moving it forward by
 * at most max_future, so no single record and no burst of N records can
 * move it further than N·max_future. "Ahead" is judged against the wall
 * clock: a record cannot have happened after now (plus max_future for
 * clock skew), in a live stream or in a replay of history.
 *
 *  - invalid: a negative watch time or duration, a rate without a value or
 *    outside 0..5 stars;
 *  - too_old: before 1970, or more than max_age behind its partition's
 *    clock;
 *  - future: more than max_future ahead of the wall clock, or of its own
 *    Kafka timestamp (a record produced before it happened);
 *  - duplicate: an event_id seen within dedupe_ttl (two generations of
 *    exact 64-bit hash sets, so memory is bounded by dedupe_max);
 *  - rate_limit: a user over max_user_rate events per minute (token
 *    bucket per user, on event time, in a table keyed by the user's
 *    string hash, at most max_rate_users: beyond it the bucket owing the
 *    least of a few is forgotten, first any fully refilled one, which
 *    says nothing). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/hash.h"
#include "recstream/clean.h"
#include "recstream/hset.h"
#include "recstream/log.h"
#include "recstream/stage.h"

typedef struct clean_conf {
        int64_t max_age, max_future, dedupe_ttl, dedupe_max;
        double max_user_rate; /* events per minute; 0 = off */
        double burst;
        int64_t max_rate_users;
} clean_conf_t;

#define CC(f) offsetof(clean_conf_t, f)
static const rs_prop_t props[] = {
        {"max_age", RS_PROP_DURATION, CC(max_age), "30d", 0, RS_DURATION_MAX_MS,
         NULL, 0,
         "Drop events older than this behind their partition's clock (0: "
         "keep all)."},
        {"max_future", RS_PROP_DURATION, CC(max_future), "10m", 1000,
         RS_DURATION_MAX_MS, NULL, 0,
         "Drop events (as `future`) further ahead than this of the wall "
         "clock or of their own Kafka timestamp; also how far one "
         "accepted event may move its partition's clock."},
        {"dedupe_ttl", RS_PROP_DURATION, CC(dedupe_ttl), "1h", 0,
         RS_DURATION_MAX_MS, NULL, 0,
         "How long an event_id is remembered (0: no dedupe)."},
        {"dedupe_max", RS_PROP_INT, CC(dedupe_max), "1000000", 1024, 1e9, NULL,
         0, "Event ids remembered at most (memory: 16 bytes each)."},
        {"max_user_rate", RS_PROP_DOUBLE, CC(max_user_rate), "600", 0, 1e9,
         NULL, 0, "Events per minute one user may send (0: no limit)."},
        {"burst", RS_PROP_DOUBLE, CC(burst), "60", 1, 1e9, NULL, 0,
         "Events a user may send at once before the rate applies."},
        {"max_rate_users", RS_PROP_INT, CC(max_rate_users), "1000000", 16, 1e9,
         NULL, 0,
         "Users whose rate is tracked at most (memory: 24 bytes a slot, "
         "3/8 to 3/4 full: 32 to 64 bytes a user, 48 MB at 1,000,000). "
         "Beyond it, of the next 16 users in the table the one owing the "
         "fewest events is forgotten (a fully refilled one at once); "
         "evictions are counted."},
        {0},
};

/* A token bucket as its debt: tokens = burst − debt, so a new bucket is
 * a full one. Keyed by the user's string hash (0 stored as 1; 0 marks an
 * empty slot): no reference to the id, which may be recycled. */
typedef struct bucket {
        uint64_t key;
        int64_t ts;
        float debt;
} bucket_t;

/* A partition's clock; the table is open addressing by key, at most
 * MAX_CLOCKS partitions (more share the last slot's clock). */
#define MAX_CLOCKS 65536

typedef struct pclock {
        uint64_t key; /* topic << 32 | partition, + 1; 0 empty */
        int64_t t;    /* INT64_MIN until its first accepted event */
} pclock_t;

/* Buckets compared when one must make room. */
#define EVICT_SCAN 16

typedef struct clean {
        const clean_conf_t *conf;
        const rs_intern_t *strings;
        int64_t (*wall_ms)(void);
        pclock_t *clocks;
        uint32_t clock_mask, nclocks;
        pclock_t *last;    /* the clock of the previous event: runs share it */
        rs_hset_t gen[2];  /* current, previous */
        int64_t gen_start; /* event time the current generation began */
        bucket_t *buckets; /* open addressing, linear probing */
        size_t bmask, nbuckets;
        size_t hand; /* where the next eviction scan starts */
        uint64_t bucket_evictions;
        uint64_t drops[RS_DROP__COUNT];
} clean_t;

static void clean_destroy(void *st)
{
        clean_t *cl = st;
        if (!cl)
                return;
        rs_hset_fini(&cl->gen[0]);
        rs_hset_fini(&cl->gen[1]);
        free(cl->clocks);
        free(cl->buckets);
        free(cl);
}

static void *clean_create(const void *conf, rs_stage_env_t *env, char *errstr,
                          size_t errstr_size)
{
        const clean_conf_t *c = conf;
        clean_t *cl = calloc(1, sizeof(*cl));

        if (!cl || rs_hset_init(&cl->gen[0], 0) ||
            rs_hset_init(&cl->gen[1], 0)) {
                clean_destroy(cl);
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        cl->conf = c;
        cl->wall_ms = env->wall_ms;
        cl->strings = env->strings;
        cl->gen_start = INT64_MIN;
        return cl;
}

/* A new generation, started at `start`: the current one becomes the
 * previous (the previous is forgotten). -1: out of memory. */
static int rotate(clean_t *cl, int64_t start)
{
        rs_hset_t old = cl->gen[1];

        cl->gen[1] = cl->gen[0];
        cl->gen[0] = old;
        cl->gen_start = start;
        /* sized for what the last generation held */
        return rs_hset_init(&cl->gen[0], cl->gen[1].count);
}

/* hash into the current generation, a new one (started at `start`) first
 * when it holds half of dedupe_max: the bound on what dedupe holds,
 * whether the ids come from events or from restored users. -1: out of
 * memory. */
static int remember(clean_t *cl, uint64_t hash, int64_t start)
{
        if (cl->gen[0].count >= (size_t)cl->conf->dedupe_max / 2 &&
            rotate(cl, start))
                return -1;
        return rs_hset_add(&cl->gen[0], hash) < 0 ? -1 : 0;
}

/* Two generations: a hash stays findable for at least one generation span
 * (ttl or half the capacity), at most two. 1: a duplicate; -1: out of
 * memory. */
static int is_duplicate(clean_t *cl, const rs_event_t *ev)
{
        const clean_conf_t *c = cl->conf;

        if (c->dedupe_ttl == 0)
                return 0;
        if (rs_hset_has(&cl->gen[0], ev->event_hash) ||
            rs_hset_has(&cl->gen[1], ev->event_hash))
                return 1;
        if (cl->gen_start == INT64_MIN)
                cl->gen_start = ev->ts;
        if (ev->ts - cl->gen_start >= c->dedupe_ttl && rotate(cl, ev->ts))
                return -1;
        return remember(cl, ev->event_hash, ev->ts);
}

static uint64_t bucket_key(const clean_t *cl, uint32_t user)
{
        uint64_t h = rs_intern_hash(cl->strings, user);
        return h ? h : 1;
}

static bucket_t *bucket_slot(bucket_t *t, size_t mask, uint64_t key)
{
        size_t i = (size_t)(key ^ key >> 32) & mask;

        while (t[i].key && t[i].key != key)
                i = (i + 1) & mask;
        return &t[i];
}

/* The table doubled (from 1024 slots); -1 when out of memory. */
static int buckets_grow(clean_t *cl)
{
        size_t n = cl->buckets ? (cl->bmask + 1) * 2 : 1024;
        bucket_t *t = calloc(n, sizeof(*t));

        if (!t)
                return -1;
        for (size_t i = 0; cl->buckets && i <= cl->bmask; i++)
                if (cl->buckets[i].key)
                        *bucket_slot(t, n - 1, cl->buckets[i].key) =
                                cl->buckets[i];
        free(cl->buckets);
        cl->buckets = t;
        cl->bmask = n - 1;
        return 0;
}

/* A bucket's debt at now, after its refill. */
static double debt_at(const clean_t *cl, const bucket_t *b, int64_t now)
{
        if (now <= b->ts)
                return b->debt;
        return fmax(0, b->debt - (double)(now - b->ts) / 60000.0 *
                                         cl->conf->max_user_rate);
}

/* Forgets one bucket: of the next EVICT_SCAN from the hand, the one that
 * owes least at now (the first fully refilled one at once); the slot is
 * emptied by backward-shift deletion. */
static void bucket_evict(clean_t *cl, int64_t now)
{
        size_t i = cl->hand & cl->bmask, victim = SIZE_MAX;
        double least = INFINITY;

        for (int seen = 0; seen < EVICT_SCAN; i = (i + 1) & cl->bmask) {
                if (!cl->buckets[i].key)
                        continue;
                double d = debt_at(cl, &cl->buckets[i], now);
                if (d < least) {
                        least = d;
                        victim = i;
                }
                seen++;
                if (d <= 0)
                        break;
        }
        cl->hand = i + 1;
        for (size_t j = victim;;) {
                cl->buckets[victim].key = 0;
                for (;;) {
                        j = (j + 1) & cl->bmask;
                        if (!cl->buckets[j].key)
                                goto gone;
                        uint64_t k = cl->buckets[j].key;
                        if (!rs_probe_stays(
                                    (uint32_t)victim, (uint32_t)j,
                                    (uint32_t)((k ^ k >> 32) & cl->bmask)))
                                break;
                }
                cl->buckets[victim] = cl->buckets[j];
                victim = j;
        }
gone:
        cl->nbuckets--;
        cl->bucket_evictions++;
}

/* The user's bucket, a new (full) one when unknown; NULL when out of
 * memory. */
static bucket_t *bucket_get(clean_t *cl, uint32_t user, int64_t now)
{
        const uint64_t key = bucket_key(cl, user);
        bucket_t *b;

        if (cl->buckets && (b = bucket_slot(cl->buckets, cl->bmask, key))->key)
                return b;
        if (cl->nbuckets >= (size_t)cl->conf->max_rate_users)
                bucket_evict(cl, now);
        else if ((!cl->buckets ||
                  (cl->nbuckets + 1) * 4 > (cl->bmask + 1) * 3) &&
                 buckets_grow(cl))
                return NULL;
        b = bucket_slot(cl->buckets, cl->bmask, key);
        *b = (bucket_t){key, now, 0};
        cl->nbuckets++;
        return b;
}

static int over_rate(clean_t *cl, const rs_event_t *ev)
{
        const clean_conf_t *c = cl->conf;
        bucket_t *b;

        if (c->max_user_rate <= 0)
                return 0;
        if (!(b = bucket_get(cl, ev->user, ev->ts)))
                return 0; /* no memory to limit: let it through */
        if (ev->ts > b->ts) {
                double refill =
                        (double)(ev->ts - b->ts) / 60000.0 * c->max_user_rate;
                b->debt = (float)fmax(0, b->debt - refill);
                b->ts = ev->ts;
        }
        if (c->burst - b->debt < 1.0)
                return 1;
        b->debt += 1.0f;
        return 0;
}

static pclock_t *clock_slot(pclock_t *t, uint32_t mask, uint64_t key)
{
        uint32_t i = (uint32_t)rs_hash_mix(key) & mask;

        while (t[i].key && t[i].key != key)
                i = (i + 1) & mask;
        return &t[i];
}

/* The clock of ev's partition, made on its first event; NULL out of
 * memory. */
static pclock_t *clock_of(clean_t *cl, const rs_event_t *ev)
{
        uint64_t key =
                ((uint64_t)ev->topic << 32 | (uint32_t)ev->partition) + 1;
        pclock_t *pc;

        if (cl->last && cl->last->key == key)
                return cl->last;
        if (!cl->clocks || (cl->nclocks * 2 >= cl->clock_mask + 1u &&
                            cl->nclocks < MAX_CLOCKS)) {
                uint32_t mask = cl->clock_mask ? cl->clock_mask * 2 + 1 : 15;
                pclock_t *t = calloc((size_t)mask + 1, sizeof(*t));
                if (!t)
                        return NULL;
                for (uint32_t i = 0; cl->clocks && i <= cl->clock_mask; i++)
                        if (cl->clocks[i].key)
                                *clock_slot(t, mask, cl->clocks[i].key) =
                                        cl->clocks[i];
                free(cl->clocks);
                cl->clocks = t;
                cl->clock_mask = mask;
        }
        pc = clock_slot(cl->clocks, cl->clock_mask, key);
        if (!pc->key) {
                if (cl->nclocks == MAX_CLOCKS) /* shares a neighbour's */
                        return cl->last = &cl->clocks[key & cl->clock_mask];
                pc->key = key;
                pc->t = INT64_MIN;
                cl->nclocks++;
        }
        return cl->last = pc;
}

static int invalid(const rs_event_t *ev)
{
        return ev->watch_ms < 0 ||
               (ev->duration_ms != RS_NONE_I64 && ev->duration_ms < 0) ||
               (ev->type == RS_EV_RATE &&
                !(ev->value >= 0 && ev->value <= 5)); /* NaN: no value */
}

/* Whether ts is further ahead than max_future of `ref` (no overflow). */
static int ahead(int64_t ts, int64_t ref, int64_t max_future)
{
        return ts > ref && (uint64_t)ts - (uint64_t)ref > (uint64_t)max_future;
}

static rs_err_t clean_process(void *st, rs_event_t *ev, size_t n,
                              const rs_emit_t *out)
{
        clean_t *cl = st;
        const clean_conf_t *c = cl->conf;
        const int64_t wall = cl->wall_ms();
        int dup;

        (void)out;
        for (size_t i = 0; i < n; i++) {
                rs_event_t *e = &ev[i];
                pclock_t *pc;
                if (i + 6 < n) { /* random reads ahead */
                        const rs_event_t *f = &ev[i + 6];
                        rs_hset_prefetch(&cl->gen[0], f->event_hash);
                        rs_hset_prefetch(&cl->gen[1], f->event_hash);
                        if (cl->buckets) {
                                uint64_t k = bucket_key(cl, f->user);
                                __builtin_prefetch(&cl->buckets[(k ^ k >> 32) &
                                                                cl->bmask]);
                        }
                }
                if (i + 12 < n)
                        rs_intern_prefetch(cl->strings, ev[i + 12].user);
                if (e->drop)
                        continue;
                if (!(pc = clock_of(cl, e)))
                        return RS_ERR_NOMEM;
                if (invalid(e))
                        e->drop = RS_DROP_INVALID;
                else if (ahead(e->ts, wall, c->max_future) ||
                         (e->ingest_ts != RS_NONE_I64 &&
                          ahead(e->ts, e->ingest_ts, c->max_future)))
                        e->drop = RS_DROP_FUTURE;
                else if (e->ts < 0 || (c->max_age && pc->t != INT64_MIN &&
                                       e->ts < pc->t - c->max_age))
                        e->drop = RS_DROP_TOO_OLD;
                else if ((dup = is_duplicate(cl, e)) < 0)
                        return RS_ERR_NOMEM;
                else if (dup)
                        e->drop = RS_DROP_DUPLICATE;
                else if (over_rate(cl, e))
                        e->drop = RS_DROP_RATE_LIMIT;
                if (e->drop) {
                        cl->drops[e->drop]++;
                        continue;
                }
                /* 0 <= ts <= wall + max_future here, so no overflow */
                if (pc->t == INT64_MIN)
                        pc->t = e->ts;
                else if (e->ts > pc->t)
                        pc->t = e->ts - pc->t > c->max_future
                                        ? pc->t + c->max_future
                                        : e->ts;
        }
        return RS_OK;
}

uint64_t rs_clean_drops(const void *st, int reason)
{
        const clean_t *cl = st;
        return reason > 0 && reason < RS_DROP__COUNT ? cl->drops[reason] : 0;
}

void rs_clean_state(const void *st, rs_clean_state_t *s)
{
        const clean_t *cl = st;

        s->dedupe_ids = cl->gen[0].count + cl->gen[1].count;
        s->dedupe_bytes =
                (cl->gen[0].mask + 1 + cl->gen[1].mask + 1) * sizeof(uint64_t);
        s->rate_users = cl->nbuckets;
        s->rate_bytes =
                cl->buckets ? (cl->bmask + 1) * sizeof(*cl->buckets) : 0;
        s->rate_evictions = cl->bucket_evictions;
}

/* A user's rate bucket survives with the user (issue 11), and so do
 * the ids of its newest events: clean_load puts them back in the dedupe
 * set. */
static void clean_save(void *st, uint32_t user, rs_user_state_t *s)
{
        clean_t *cl = st;
        const bucket_t *b;

        if (!cl->buckets)
                return;
        b = bucket_slot(cl->buckets, cl->bmask, bucket_key(cl, user));
        if (b->key) {
                s->rate_ts = b->ts;
                s->rate_debt = b->debt;
        }
}

static rs_err_t clean_load(void *st, const rs_user_state_t *s)
{
        clean_t *cl = st;
        bucket_t *b;

        /* the user's newest event ids rejoin the dedupe set (user_window
         * keeps them with the user), within dedupe_max like the others;
         * they carry no time, so the generation's start stays */
        for (size_t i = 0; cl->conf->dedupe_ttl && i < s->nevent_ids; i++)
                if (remember(cl, s->event_ids[i], cl->gen_start))
                        return RS_ERR_NOMEM;
        if (s->rate_ts == INT64_MIN || cl->conf->max_user_rate <= 0)
                return RS_OK;
        if (!(b = bucket_get(cl, s->user, s->rate_ts)))
                return RS_ERR_NOMEM;
        b->ts = s->rate_ts;
        b->debt = s->rate_debt >= 0 && s->rate_debt <= cl->conf->burst
                          ? s->rate_debt
                          : 0;
        return RS_OK;
}

const rs_stage_ops_t rs_stage_clean = {
        .type = "clean",
        .doc = "Drops what must not reach the model, counted by reason: "
               "`invalid` (a negative watch time or duration; a rating "
               "without stars or outside 0..5), `too_old` (before 1970, or "
               "more than `max_age` behind its partition's event time), "
               "`future` (more than `max_future` ahead of the wall clock, "
               "or of its own Kafka timestamp), `duplicate` (an `event_id` "
               "seen within `dedupe_ttl`) and `rate_limit` (a user over "
               "`max_user_rate`). The first three are dead letters, the "
               "others only counted. Ages, TTLs and rates are event time "
               "(each input partition keeps its own clock, which one "
               "record moves forward by at most `max_future`); only "
               "`future` also looks at the wall clock, so nothing that "
               "has already happened is ever `future`.",
        .props = props,
        .conf_size = sizeof(clean_conf_t),
        .create = clean_create,
        .process = clean_process,
        .save = clean_save,
        .load = clean_load,
        .destroy = clean_destroy,
};
