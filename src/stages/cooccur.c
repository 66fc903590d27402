/* cooccur.c — the `cooccur` stage: the item side of co-occurrence
 * (DESIGN §3). It runs over pair deltas, not events: one instance per
 * partition of <pipeline>.cooc-deltas owns the items that hash to it.
 *
 * A delta adds to C(i,j) (the pairs the user side made), to marginals
 * N(i) (every partition gets every item's, so any similarity it computes
 * has both marginals) and to popularity. Counts decay exponentially on
 * event time (half_life) and a count untouched for longer than horizon
 * is gone. Every addition is made at its own event time, whatever order
 * deltas arrive in: adding w at t to a count kept as of a later time adds
 * w·2^(−Δt/half_life), so what a partition holds after a set of deltas
 * does not depend on their order (up to float rounding, and but for the
 * choices space-saving makes in full tables).
 *
 * Each item keeps its counterparts in its own open-addressing table of
 * 12-byte entries (linear probing, at most 4/5 full), at most
 * max_neighbors_tracked of them: when full, the smallest count is evicted
 * and the newcomer inherits it plus its own weight (space-saving), so
 * heavy pairs survive and memory is bounded by configuration. A full
 * table keeps its few smallest counts aside (lows_t), so an eviction
 * rarely scans the table.
 *
 * What the user side reads it publishes (rs_cooc_publish): a changed
 * item's neighbour list (top max_neighbors by similarity) with its
 * popularity and category, at most once per `refresh` of event time and
 * only once its counts moved by refresh_change of their mass (a large
 * table's list is made again from its listed, its next best few and its
 * changed counterparts when a bound on the rest allows: refresh_partial,
 * exact); a
 * tombstone for an item it evicted; its trending items and pair total
 * (one record for the partition) whenever they moved. A settle publishes
 * whatever changed at once.
 *
 * Popularity is log2 Σ w·2^(t/trending_half_life) (t in ms since the
 * epoch): a sum, so order-free, and comparable across partitions, whose
 * trending lists readers merge.
 *
 * At most max_items item records: beyond it the least recently touched
 * is evicted with its table, its neighbour list and its place in the
 * trending list. The LRU list is kept by second chance: a touch only
 * stamps the item, and an item at the list's end that was touched since
 * it was queued goes back to the front instead of out. Records hold
 * references to the ids they name (intern.h). Ties between neighbours and
 * trending items break by id string, the same in every process. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/cooccur.h"
#include "recstream/hash.h"
#include "recstream/stage.h"

typedef struct cooc_conf {
        int similarity;
        double alpha;
        int64_t half_life, horizon;
        int64_t max_tracked, max_neighbors, refresh;
        double refresh_change, min_count;
        int64_t trending_half_life, trending_size;
        int64_t max_items;
        double transition_weight;
        double locality;
} cooc_conf_t;

static const char *const sims[] = {"cosine", "asymmetric_cosine", "jaccard",
                                   "lift",   "covisit",           NULL};

#define CO(f) offsetof(cooc_conf_t, f)
static const rs_prop_t props[] = {
        {"similarity", RS_PROP_ENUM, CO(similarity), "cosine", 0, -1, sims, 0,
         "sim(i,j) from C(i,j), N(i), N(j): cosine C/√(NiNj); "
         "asymmetric_cosine C/(Ni^α·Nj^(1−α)); jaccard C/(Ni+Nj−C); lift "
         "C·N/(NiNj); covisit C/(NiNj) (YouTube)."},
        {"alpha", RS_PROP_DOUBLE, CO(alpha), "0.5", 0, 1, NULL, 0,
         "α of asymmetric_cosine (0.5 = cosine)."},
        {"locality", RS_PROP_DOUBLE, CO(locality), "1", 0.1, 10, NULL, 0,
         "Neighbours are listed with sim^locality (Aiolli's locality q; "
         "a list's order stays): below 1 many fair neighbours add up in "
         "the score's sum, above 1 a few close ones outweigh them."},
        {"half_life", RS_PROP_DURATION, CO(half_life), "7d", 0,
         RS_DURATION_MAX_MS, NULL, 0,
         "Half-life of pair counts and marginals (0: no decay)."},
        {"horizon", RS_PROP_DURATION, CO(horizon), "30d", 1000,
         RS_DURATION_MAX_MS, NULL, 0, "A count untouched for longer is gone."},
        {"max_neighbors_tracked", RS_PROP_INT, CO(max_tracked), "200", 1,
         100000, NULL, 0, "Counterparts kept per item (space-saving)."},
        {"max_neighbors", RS_PROP_INT, CO(max_neighbors), "50", 1, 10000, NULL,
         0, "Length of each item's neighbour list."},
        {"refresh", RS_PROP_DURATION, CO(refresh), "1m", 0, RS_DURATION_MAX_MS,
         NULL, RS_PROP_RELOAD,
         "A changed item's neighbour list is recomputed at most this often "
         "(event time)."},
        {"refresh_change", RS_PROP_DOUBLE, CO(refresh_change), "0", 0, 1e6,
         NULL, RS_PROP_RELOAD,
         "... and only once the counts added to the item since then reach "
         "this share of what it held (0: any change). Heavy items, whose "
         "lists cost the most, barely move with one more pair."},
        {"min_count", RS_PROP_DOUBLE, CO(min_count), "0", 0, 1e12, NULL, 0,
         "Pairs with a smaller decayed count are not neighbours."},
        {"trending_half_life", RS_PROP_DURATION, CO(trending_half_life), "6h",
         1000, RS_DURATION_MAX_MS, NULL, 0,
         "Half-life of item popularity (trending)."},
        {"trending_size", RS_PROP_INT, CO(trending_size), "200", 1, 100000,
         NULL, 0, "Length of the trending list."},
        {"transition_weight", RS_PROP_DOUBLE, CO(transition_weight), "0", 0,
         100, NULL, 0,
         "A neighbour j of i ranks by sim(i,j) + transition_weight · "
         "s_max(i) · D(i,j) / D_max(i): D the directed count of "
         "transitions i → j (pairs.transition_gap), D_max and s_max the "
         "largest D and similarity over i's counterparts, so the term is "
         "in the units of the similarity and its best successor gains "
         "transition_weight of i's best similarity; the list's values are "
         "these sums (0: the symmetric similarity alone, and no directed "
         "count is kept; above 0 each counterpart slot keeps one, 4 B)."},
        {"max_items", RS_PROP_INT, CO(max_items), "1000000", 1, 1e9, NULL, 0,
         "Items held per cooc-deltas partition (its own and, for their "
         "marginals, the others'); beyond it the least recently touched is "
         "evicted with its counts and lists (counted; a tombstone tells the "
         "readers). An item "
         "costs 128 B + 12 B per counterpart slot (16 B with "
         "transition_weight > 0; a power of two from 4, at most 4/5 full: "
         "3 KB at 200 tracked) + 8 B per listed neighbour (room doubles "
         "from 4 up to max_neighbors) + 232 B once its table is full + a "
         "bit a slot and 5·max_neighbors + 36 B once it has "
         "2·max_neighbors counterparts and 256 slots with cosine or "
         "asymmetric_cosine (for partial refreshes), and its id ≈ 150 B (the "
         "string table and the tables by id of every stage; 8 B more with "
         "asymmetric_cosine, which keeps each N^(1−α)): ≈ 250 B + 150 B an "
         "item on a stream of ever new videos "
         "(BENCHMARKS.md), 4.2 KB + 150 B at most with the defaults (4.9 "
         "KB with transitions)."},
        {0},
};

/* c is space-saving's estimate, an upper bound; c − err, what was added
 * since the pair entered the table, is a lower bound. Eviction goes by c,
 * similarity by c − err: an inherited count must not make a pair seen
 * once look like a strong one (with a small, full table it made every
 * list noise). Both decay alike, so only updates change err/c, which is
 * what an entry keeps (err_enc).
 *
 * An entry's time t, its last update, is kept in quanta of co->q seconds
 * (≈ 1/2048 of the longest a count lives, co->span) from its table's base
 * it->tb, and c is the count as of t: an update at now counts at the start
 * of now's quantum, its count grown by what it decays from there to now,
 * so decay stays exact and only expiry can come up to a quantum early. A
 * base is TMID quanta (at least span) before the update that set it, so
 * an update older than the base, which counts as at the base, is one the
 * horizon already took. A table whose times run past TMAX quanta is
 * rebased (cp_rebase): what it holds has lived at most TMID quanta, so a
 * rebase comes at most once per span.
 *
 * With transition_weight > 0 a table also keeps, for each slot, the
 * directed count D(i,j) of transitions i -> j (pair updates marked
 * directed): a float after the table's slots (cp_dv; 16 bytes a slot in
 * all), as of the entry's t, decaying alike. A newcomer inherits c from
 * the entry it evicts but not D, so D <= c − err: like the lower bound,
 * it is what was added since the pair was admitted. With 0 (the default)
 * nothing of it is kept: 12 bytes a slot, as before transitions. */
#define TBITS 12
#define TMAX  ((1u << TBITS) - 1)
#define TMID  (1u << (TBITS - 1))
#define FBITS (32 - TBITS)

typedef struct cp {
        uint32_t item;      /* RS_ID_NONE: empty slot */
        float c;            /* at t */
        uint32_t u : TBITS; /* t = (it->tb + u) * co->q */
        uint32_t f : FBITS; /* err/c, err_enc */
} cp_t;

_Static_assert(sizeof(cp_t) == 12, "a counterpart entry is 12 bytes");

/* The smallest counts of a full table, ascending, as a list to evict
 * from. Counts are compared as of time `at`: decay scales every live count
 * by the same factor, so their order does not change while they are not
 * updated (an updated one is moved). Every count of the table not listed
 * is at least `bound` (as of `at`), and none is older than `tmin`: while
 * no count can have passed the horizon, the smallest listed is the
 * smallest of the table. */
#define LOWS 16

typedef struct lows {
        uint32_t n, at, tmin;
        double bound;
        uint32_t item[LOWS];
        double c[LOWS];
} lows_t;

/* What a partial refresh of a large table looks at (refresh_partial):
 * `bits`, a bit a slot, marks the listed counterparts, those in reserve
 * and those changed since; `slots` (after the bits) holds the slots of
 * the listed and the reserve in their order then, nslots of them. With
 * what it needs of that moment: the item's marginal n as of t (seconds),
 * a bound `out` on the similarity of every counterpart neither listed
 * nor in reserve, and when the list was last made from the whole table
 * (full). */
typedef struct touch {
        float n, out;
        uint32_t t, full, nslots;
        uint64_t bits[];
} touch_t;

typedef struct item {
        cp_t *cp;
        lows_t *lows;         /* full tables only; NULL until needed */
        touch_t *tm;          /* large tables only (touch_keep) */
        uint32_t mask, count; /* slots - 1; entries */
        double lp;            /* log2 forward-decayed popularity (own items) */
        rs_neighbor_t *nb;
        uint32_t nnb, nb_cap; /* listed; room, up to max_neighbors */
        uint32_t tb;          /* table base time, in quanta (cp_t) */
        uint32_t sim_top;     /* transition_weight: the counterpart of the
                               * largest similarity at the last refresh */
        int64_t nb_at;        /* event time of the last refresh */
        uint64_t nb_seq;      /* co->seq at the last refresh */
        uint64_t n_seq;       /* co->seq when the marginal last grew */
        uint32_t nb_oldest;   /* oldest listed pair's time (expiry) */
        float moved;          /* weight added since the last refresh */
        float mass;           /* Σ of the counts at the last refresh */
        uint32_t category;
        uint32_t prev, next;      /* LRU, by item id */
        uint32_t queued, touched; /* co->clock when queued, last touched */
        uint8_t own;              /* hashes to this partition */
        uint8_t in_trend;
        uint8_t pending;   /* in a publish FIFO */
        uint8_t published; /* the readers have a record of it */
        uint8_t dirty;     /* changed since its state was last saved */
} item_t;

/* Items waiting to be published: `fresh` ones (never published) in the
 * order they came, at the next publish; the others in a min-heap by the
 * event time they are due, `refresh` after their last publication. */
typedef struct due {
        uint32_t item;
        int64_t at; /* fresh: event time queued; heap: due, ms */
} due_t;

typedef struct fifo {
        due_t *q;
        size_t head, len, cap;
} fifo_t;

typedef struct heap {
        due_t *h;
        size_t n, cap;
} heap_t;

/* A candidate neighbour of a refresh, with its pair's time (seconds) and
 * its slot in the table. */
typedef struct pick {
        rs_neighbor_t nb;
        uint32_t at, slot;
} pick_t;

struct rs_cooc {
        const cooc_conf_t *conf;
        rs_intern_t *strings;
        int32_t partition, partitions;
        item_t **items; /* by item id */
        size_t cap;
        /* marginals by item id, beside items: a refresh reads one per
         * counterpart, and a dense array keeps them in cache */
        struct marg {
                float n; /* as of t */
                uint32_t t;
        } * marg;
        size_t marg_cap;
        /* with asymmetric_cosine, n^(1−α) of each marginal as of its t
         * (a pow made when it changes, not per similarity) */
        double *mroot;
        size_t mroot_cap;
        size_t nitems, pairs, bytes;
        uint64_t evictions, applied, published_n;
        uint64_t refreshes, partial; /* lists made; of them without a scan */
        uint32_t lru_head, lru_tail; /* most / least recently queued */
        uint32_t clock;              /* deltas applied (wraps) */
        uint64_t seq;                /* deltas applied (for staleness) */
        /* co->seq when a marginal last went or was replaced: a similarity
         * can then rise without its count moving */
        uint64_t reset_seq;
        uint32_t span, q; /* seconds a count lives at most; a quantum */
        int directed;     /* tables keep directed counts (cp_dv) */
        int64_t now;      /* the newest event time applied, ms */
        float total;      /* Σ N, decayed, for lift, as of t_total */
        uint32_t t_total;
        uint64_t total_seq; /* co->seq when the total last grew */
        uint32_t *trend;
        size_t ntrend;
        int trend_moved; /* since the partition record was published */
        fifo_t fresh;
        heap_t later;
        uint32_t *gone; /* evicted own items the readers still have */
        size_t ngone, gone_cap;
        /* state that survives: items changed since the last save (ids
         * without references: an item found not dirty is another's) */
        uint32_t *dirty;
        size_t ndirty, dirty_cap;
        rs_cp_state_t *save_cp;
        size_t save_cp_cap;
        /* refresh's candidates (cand_cap each): the neighbours to choose
         * from, and before them, when transitions rank
         * (transition_weight), their parts */
        pick_t *sel;
        struct cand {
                uint32_t item, at;
                float dir;
                double sim;
        } * cand;
        uint64_t *keys; /* the candidates' sort keys (key_of), and as many
                         * for a merge */
        size_t nres;    /* install: the candidates in reserve */
        float out;      /* ... and the best value of the others */
        struct tie {
                uint64_t pre, key; /* id_prefix; key_of */
        } * ties;
        size_t cand_cap;
        /* per input partition, the newest event whose updates are all
         * applied here: an update of an event at or below it is one sent
         * again (a replay after a crash) and skipped */
        rs_watermark_t *wm; /* topics owned (copies) */
        size_t nwm, wm_cap;
        int64_t *wm_before; /* by source of the delta being applied */
        uint32_t *wm_of;
        size_t wm_scratch;
        uint64_t skipped;
        uint32_t *evicted; /* since the last save, with references */
        size_t nevicted, evicted_cap;
        /* decay factors by age in seconds (direct-mapped, exact) */
        struct decay_memo {
                uint32_t dt; /* UINT32_MAX: empty */
                double f;
        } * memo, *memo_root; /* memo_root: decay^(1−α) */
};

#define MEMO 4096

static uint32_t secs(int64_t ms)
{
        return ms <= 0                  ? 0
               : ms / 1000 > UINT32_MAX ? UINT32_MAX
                                        : (uint32_t)(ms / 1000);
}

/* A table slot's bytes: an entry and, when kept, its directed count. */
static size_t slot_bytes(const rs_cooc_t *co)
{
        return sizeof(cp_t) + (co->directed ? sizeof(float) : 0);
}

/* 2^(−age·1000·e/half_life) from t to now (seconds), remembered in memo;
 * 0 beyond the span. */
static double decay_memo(const rs_cooc_t *co, struct decay_memo *memo, double e,
                         uint32_t t, uint32_t now)
{
        uint32_t age = now > t ? now - t : 0;
        double dt = (double)age;
        struct decay_memo *m;

        if (age > co->span)
                return 0;
        if (!co->conf->half_life || age == 0)
                return 1;
        /* exp2 is the cost of every update: ages repeat, so remember */
        m = &memo[age & (MEMO - 1)];
        if (m->dt != age) {
                m->dt = age;
                m->f = exp2(-dt * 1000 * e / (double)co->conf->half_life);
        }
        return m->f;
}

/* The factor a count last updated at t has decayed by at now (seconds);
 * 0 beyond the span. */
static double decay(const rs_cooc_t *co, uint32_t t, uint32_t now)
{
        return decay_memo(co, co->memo, 1, t, now);
}

static item_t *item_find(const rs_cooc_t *co, uint32_t id)
{
        return id < co->cap ? co->items[id] : NULL;
}

/*
 * Slots changed since a list was made (touch_t).
 */

/* Candidates kept in reserve beyond a list of max (partial refreshes). */
static size_t reserve_of(size_t max)
{
        return max / 4 + 4;
}

static size_t touch_bytes(const rs_cooc_t *co, const item_t *it)
{
        size_t max = (size_t)co->conf->max_neighbors;
        return sizeof(touch_t) + ((size_t)it->mask + 1) / 8 +
               (max + reserve_of(max)) * sizeof(uint32_t);
}

static uint32_t *touch_slots(const item_t *it)
{
        return (uint32_t *)(it->tm->bits + ((size_t)it->mask + 1) / 64);
}

static void touch_drop(rs_cooc_t *co, item_t *it)
{
        if (it->tm) {
                co->bytes -= touch_bytes(co, it);
                free(it->tm);
                it->tm = NULL;
        }
}

/* Slot s of it's table changed (or took another entry). */
static void touch_slot(item_t *it, size_t s)
{
        if (it->tm)
                it->tm->bits[s / 64] |= 1ull << (s % 64);
}

/*
 * Item records and their LRU list.
 */

static void lru_unlink(rs_cooc_t *co, item_t *it)
{
        if (it->prev != RS_ID_NONE)
                co->items[it->prev]->next = it->next;
        else
                co->lru_head = it->next;
        if (it->next != RS_ID_NONE)
                co->items[it->next]->prev = it->prev;
        else
                co->lru_tail = it->prev;
}

static void lru_push(rs_cooc_t *co, uint32_t id, item_t *it)
{
        it->prev = RS_ID_NONE;
        it->next = co->lru_head;
        if (co->lru_head != RS_ID_NONE)
                co->items[co->lru_head]->prev = id;
        co->lru_head = id;
        if (co->lru_tail == RS_ID_NONE)
                co->lru_tail = id;
        it->queued = it->touched = co->clock;
}

/* The least recently touched item: from the end of the list, those
 * touched since they were queued go back to the front. */
static uint32_t lru_victim(rs_cooc_t *co)
{
        for (;;) {
                uint32_t id = co->lru_tail;
                item_t *it = co->items[id];
                if (it->touched == it->queued || co->nitems == 1)
                        return id;
                lru_unlink(co, it);
                lru_push(co, id, it);
        }
}

static void trend_remove(rs_cooc_t *co, uint32_t id);

static int gone_push(rs_cooc_t *co, uint32_t id)
{
        if (rs_grow_zeroed((void **)&co->gone, &co->gone_cap, co->ngone,
                           sizeof(*co->gone)))
                return -1;
        co->gone[co->ngone++] = id;
        return 0;
}

/* Releases what the neighbour list of it holds. */
static void nb_release(rs_cooc_t *co, item_t *it)
{
        for (uint32_t i = 0; i < it->nnb; i++)
                rs_intern_unref(co->strings, it->nb[i].item);
        it->nnb = 0;
}

/* Frees id's record and everything it holds (unlinked from the LRU list
 * by the caller). */
static void item_free(rs_cooc_t *co, uint32_t id)
{
        item_t *it = co->items[id];

        for (uint32_t s = 0; it->cp && s <= it->mask; s++)
                if (it->cp[s].item != RS_ID_NONE)
                        rs_intern_unref(co->strings, it->cp[s].item);
        nb_release(co, it);
        if (it->in_trend)
                trend_remove(co, id);
        rs_intern_unref(co->strings, it->category);
        /* the readers have it: a tombstone at the next publish, which
         * keeps the id (its reference) until then */
        if (it->published && gone_push(co, id) == 0)
                rs_intern_ref(co->strings, id);
        rs_intern_unref(co->strings, id);
        co->pairs -= it->count;
        co->reset_seq = co->seq; /* its marginal goes */
        touch_drop(co, it);
        co->bytes -= sizeof(*it) +
                     (it->cp ? ((size_t)it->mask + 1) * slot_bytes(co) : 0) +
                     (it->lows ? sizeof(*it->lows) : 0) +
                     (size_t)it->nb_cap * sizeof(*it->nb);
        free(it->cp);
        free(it->lows);
        free(it->nb);
        free(it);
        co->items[id] = NULL;
        co->marg[id] = (struct marg){0, 0};
        if (co->mroot)
                co->mroot[id] = 0;
        co->nitems--;
}

static item_t *item_get(rs_cooc_t *co, uint32_t id)
{
        item_t *it;

        if (rs_grow_zeroed((void **)&co->items, &co->cap, id,
                           sizeof(*co->items)) ||
            rs_grow_zeroed((void **)&co->marg, &co->marg_cap, id,
                           sizeof(*co->marg)) ||
            (co->memo_root &&
             rs_grow_zeroed((void **)&co->mroot, &co->mroot_cap, id,
                            sizeof(*co->mroot))))
                return NULL;
        if ((it = co->items[id]))
                return it;
        if (co->nitems >= (size_t)co->conf->max_items) {
                uint32_t victim = lru_victim(co);
                lru_unlink(co, co->items[victim]);
                item_free(co, victim);
                co->evictions++;
                /* its changelog record goes too, at the next save */
                if (!rs_grow_zeroed((void **)&co->evicted, &co->evicted_cap,
                                    co->nevicted, sizeof(*co->evicted))) {
                        rs_intern_ref(co->strings, victim);
                        co->evicted[co->nevicted++] = victim;
                }
        }
        if (!(it = calloc(1, sizeof(*it))))
                return NULL;
        it->nb_at = INT64_MIN;
        it->sim_top = RS_ID_NONE;
        it->category = RS_ID_NONE;
        it->lp = RS_NO_POPULARITY;
        it->own = co->partitions <= 1 ||
                  (int32_t)(rs_intern_hash(co->strings, id) %
                            (uint64_t)co->partitions) == co->partition;
        rs_intern_ref(co->strings, id);
        co->items[id] = it;
        co->nitems++;
        co->bytes += sizeof(*it);
        lru_push(co, id, it);
        return it;
}

/*
 * Counterpart tables.
 */

/* err/c in [0, 1] as FBITS bits: the float's exponent from 2^-15 up
 * (shares below count as 0) and the top 16 bits of its mantissa, rounded
 * to nearest, so 17 significant bits (1 becomes 1 − 2^-17, the largest
 * code). An update that changes err/c by less than half a unit in the
 * 17th bit (adds less than ≈ 2^-17 of c) leaves it as it was. */
#define FEXP 111u /* the biased exponent below the code's first */

static uint32_t err_enc(double share)
{
        float x = (float)share;
        uint32_t b;

        memcpy(&b, &x, sizeof(b));
        b = (b + (1u << 6)) >> 7; /* 8 exponent, 16 mantissa bits */
        if (b >> 16 <= FEXP)      /* below 2^-15 */
                return 0;
        b -= FEXP << 16;
        return b <= (1u << FBITS) - 1 ? b : (1u << FBITS) - 1;
}

static double err_dec(uint32_t f)
{
        uint32_t b = (f + (FEXP << 16)) << 7;
        float x;

        if (!f)
                return 0;
        memcpy(&x, &b, sizeof(x));
        return x;
}

/* The time of entry e of it's table (seconds). */
static uint32_t cp_time(const rs_cooc_t *co, const item_t *it, const cp_t *e)
{
        return (it->tb + e->u) * co->q;
}

/* e's guaranteed count c − err, decayed by d: what similarities are of
 * (the one arithmetic for scans, partial refreshes and rs_cooc_sim). */
static double cp_min(const cp_t *e, double d)
{
        return e->c * (1 - err_dec(e->f)) * d;
}

/* e's count at now: c, or with `min` the guaranteed c − err. */
static double cp_count(const rs_cooc_t *co, const item_t *it, const cp_t *e,
                       uint32_t now, int min)
{
        double d = decay(co, cp_time(co, it, e), now);
        return min ? cp_min(e, d) : e->c * d;
}

/* The directed counts of it's table, by slot; NULL when not kept. */
static float *cp_dv(const rs_cooc_t *co, const item_t *it)
{
        return co->directed && it->cp ? (float *)(it->cp + it->mask + 1) : NULL;
}

/* e's directed count at now (0 when not kept). */
static double cp_dir(const rs_cooc_t *co, const item_t *it, const cp_t *e,
                     uint32_t now)
{
        const float *dv = cp_dv(co, it);
        return dv ? dv[e - it->cp] * decay(co, cp_time(co, it, e), now) : 0;
}

/* Sets e to counts c and err at now, for it's table; returns the factor
 * c was divided by to be kept as of e's time (dir_set keeps a directed
 * count alike). The table's base must be at most TMAX quanta before now
 * (cp_rebase). */
static double cp_set(const rs_cooc_t *co, const item_t *it, cp_t *e, double c,
                     double err, uint32_t now)
{
        uint32_t qn = now / co->q;
        double d = 1;

        if (qn >= it->tb) {
                e->u = qn - it->tb;
                d = decay(co, qn * co->q, now); /* > 0: q <= span */
        } else {
                e->u = 0; /* before the base: at the base */
        }
        e->c = (float)(c / d);
        e->f = err_enc(c > 0 ? err / c : 0);
        return d;
}

/* The directed count of e, in it's table, to dir as of now, where cp_set
 * gave the factor f. */
static void dir_set(const rs_cooc_t *co, const item_t *it, const cp_t *e,
                    double dir, double f)
{
        float *dv = cp_dv(co, it);
        if (dv)
                dv[e - it->cp] = (float)(dir / f);
}

static cp_t *cp_find(const item_t *it, uint32_t j)
{
        if (!it->cp)
                return NULL;
        for (uint32_t s = rs_slot32(j, it->mask);; s = (s + 1) & it->mask) {
                if (it->cp[s].item == j)
                        return &it->cp[s];
                if (it->cp[s].item == RS_ID_NONE)
                        return NULL;
        }
}

/* Puts e in a free slot of cp (mask + 1 slots); returns it. */
static cp_t *cp_put(cp_t *cp, uint32_t mask, cp_t e)
{
        uint32_t s = rs_slot32(e.item, mask);
        while (cp[s].item != RS_ID_NONE)
                s = (s + 1) & mask;
        cp[s] = e;
        return &cp[s];
}

/* Whether a table of mask + 1 slots has room for one more entry: it is
 * kept at most 4/5 full (linear probing stays short). */
static int cp_room(uint32_t count, uint32_t mask)
{
        return (uint64_t)(count + 1) * 5 <= ((uint64_t)mask + 1) * 4;
}

/* Rebuilds it's table with `slots` slots and base tb, keeping entries
 * alive at now (all when now is 0) and not before tb. */
static int cp_rebuild(rs_cooc_t *co, item_t *it, uint32_t slots, uint32_t now,
                      uint32_t tb)
{
        cp_t *cp = malloc(slots * slot_bytes(co));
        float *dv = co->directed ? (float *)(cp + slots) : NULL;
        const float *old = cp_dv(co, it);
        uint32_t kept = 0;

        if (!cp)
                return -1;
        touch_drop(co, it); /* every entry moves */
        for (uint32_t s = 0; s < slots; s++)
                cp[s].item = RS_ID_NONE;
        for (uint32_t s = 0; it->cp && s <= it->mask; s++) {
                cp_t e = it->cp[s];
                if (e.item == RS_ID_NONE)
                        continue;
                if (it->tb + e.u < tb ||
                    (now && decay(co, cp_time(co, it, &e), now) == 0)) {
                        rs_intern_unref(co->strings, e.item); /* gone */
                        continue;
                }
                e.u = it->tb + e.u - tb;
                cp_t *at = cp_put(cp, slots - 1, e);
                if (dv)
                        dv[at - cp] = old[s];
                kept++;
        }
        co->bytes += (size_t)slots * slot_bytes(co);
        if (it->cp)
                co->bytes -= ((size_t)it->mask + 1) * slot_bytes(co);
        co->pairs -= it->count - kept;
        free(it->cp);
        it->cp = cp;
        it->mask = slots - 1;
        it->count = kept;
        it->tb = tb;
        if (it->lows)
                it->lows->n = 0; /* entries went: rescan when full */
        return 0;
}

/* Makes now's quantum representable in it's table: an empty table takes
 * a base TMID quanta before now (room for late events), a table whose
 * times would pass TMAX moves its base to that, dropping what is older
 * (gone: older than span). */
static int cp_rebase(rs_cooc_t *co, item_t *it, uint32_t now)
{
        uint32_t qn = now / co->q, tb = qn > TMID ? qn - TMID : 0;

        if (!it->count)
                it->tb = tb;
        else if (qn > it->tb && qn - it->tb > TMAX)
                return cp_rebuild(co, it, it->mask + 1, now, tb);
        return 0;
}

/* Deletes e, moving up the entries its slot held back: each moved is
 * touched where it lands. */
static void cp_delete(const rs_cooc_t *co, item_t *it, cp_t *e)
{
        uint32_t i = (uint32_t)(e - it->cp), j = i;
        float *dv = cp_dv(co, it);

        for (;;) {
                it->cp[i].item = RS_ID_NONE;
                for (;;) {
                        j = (j + 1) & it->mask;
                        if (it->cp[j].item == RS_ID_NONE)
                                return;
                        if (rs_probe_stays(i, j,
                                           rs_slot32(it->cp[j].item, it->mask)))
                                continue;
                        break;
                }
                it->cp[i] = it->cp[j];
                touch_slot(it, i);
                if (dv)
                        dv[i] = dv[j];
                i = j;
        }
}

/*
 * The smallest counts of full tables (lows_t).
 */

/* A count c as of now, as of lw->at instead. */
static double lows_ref(const rs_cooc_t *co, const lows_t *lw, double c,
                       uint32_t now)
{
        if (!co->conf->half_life || now == lw->at)
                return c;
        return c * exp2((double)(now - lw->at) * 1000 /
                        (double)co->conf->half_life);
}

/* Lists item x with count c (as of lw->at) when it is below the bound;
 * what no longer fits raises nothing: the bound falls to it. */
static void lows_insert(lows_t *lw, uint32_t x, double c)
{
        uint32_t k;

        if (c > lw->bound)
                return;
        if (lw->n == LOWS) {
                if (c >= lw->c[LOWS - 1]) {
                        lw->bound = c;
                        return;
                }
                lw->bound = lw->c[LOWS - 1];
                lw->n--;
        }
        for (k = lw->n; k > 0 && lw->c[k - 1] > c; k--) {
                lw->item[k] = lw->item[k - 1];
                lw->c[k] = lw->c[k - 1];
        }
        lw->item[k] = x;
        lw->c[k] = c;
        lw->n++;
}

static void lows_remove(lows_t *lw, uint32_t k)
{
        lw->n--;
        memmove(&lw->item[k], &lw->item[k + 1],
                (lw->n - k) * sizeof(lw->item[0]));
        memmove(&lw->c[k], &lw->c[k + 1], (lw->n - k) * sizeof(lw->c[0]));
}

/* Whether the list still tells the table's smallest count at now. */
static int lows_valid(const rs_cooc_t *co, const lows_t *lw, uint32_t now)
{
        return lw && lw->n && now >= lw->at &&
               now - lw->tmin <= co->span && /* none expired */
               (!co->conf->half_life ||
                (double)(now - lw->at) * 1000 <=
                        (double)co->conf->half_life * 512); /* lows_ref */
}

/* Entry x of a full table was updated to count c at now: keep the list
 * in order. */
static void lows_update(const rs_cooc_t *co, lows_t *lw, uint32_t x, double c,
                        uint32_t now)
{
        if (!lows_valid(co, lw, now)) {
                lw->n = 0; /* a listed count may have grown: rescan */
                return;
        }
        for (uint32_t k = 0; k < lw->n; k++)
                if (lw->item[k] == x) {
                        lows_remove(lw, k);
                        lows_insert(lw, x, lows_ref(co, lw, c, now));
                        return;
                }
}

/* The entry of the smallest count at now of a full table (the first in
 * slot order among equals), found by a scan that also lists the next
 * smallest. NULL when memory ran out. */
static cp_t *lows_scan(rs_cooc_t *co, item_t *it, uint32_t now)
{
        lows_t *lw = it->lows;
        cp_t *min = NULL;
        double minc = INFINITY;

        if (!lw) {
                if (!(lw = it->lows = malloc(sizeof(*lw))))
                        return NULL;
                co->bytes += sizeof(*lw);
        }
        lw->n = 0;
        lw->at = now;
        lw->tmin = now;
        lw->bound = INFINITY;
        for (uint32_t s = 0; s <= it->mask; s++) {
                cp_t *e = &it->cp[s];
                if (e->item == RS_ID_NONE)
                        continue;
                double c = cp_count(co, it, e, now, 0);
                uint32_t t = cp_time(co, it, e);
                if (c < minc) {
                        if (min)
                                lows_insert(lw, min->item, minc);
                        minc = c;
                        min = e;
                } else {
                        lows_insert(lw, e->item, c);
                }
                if (t < lw->tmin)
                        lw->tmin = t;
        }
        /* tmin: every entry's; the one evicted does not matter */
        return min;
}

/* The entry space-saving evicts from a full table: the smallest count. */
static cp_t *evictee(rs_cooc_t *co, item_t *it, uint32_t now)
{
        lows_t *lw = it->lows;

        while (lows_valid(co, lw, now)) {
                cp_t *e = cp_find(it, lw->item[0]);
                lows_remove(lw, 0);
                if (e)
                        return e;
        }
        return lows_scan(co, it, now);
}

static int pair_add(rs_cooc_t *co, item_t *it, uint32_t j, float w,
                    int directed, uint32_t now)
{
        cp_t *e, add = {.item = j};
        double base = 0;
        int full;

        if (cp_rebase(co, it, now))
                return -1;
        e = cp_find(it, j);
        full = it->count == (uint32_t)co->conf->max_tracked;
        it->moved += w;
        if (e) {
                uint32_t te = cp_time(co, it, e);
                touch_slot(it, (size_t)(e - it->cp));
                if (now / co->q >= te / co->q) {
                        double c = cp_count(co, it, e, now, 0);
                        double err = c * err_dec(e->f);
                        double dir = cp_dir(co, it, e, now);
                        double f = cp_set(co, it, e, c + w, err, now);
                        dir_set(co, it, e, directed ? dir + w : dir, f);
                        if (full && it->lows)
                                lows_update(co, it->lows, j, c + w, now);
                } else {
                        /* older than the entry's time: w as decayed by
                         * then, so the order of additions does not matter */
                        double c = e->c, err = c * err_dec(e->f);
                        double late = w * decay(co, now, te);
                        c += late;
                        e->c = (float)c;
                        e->f = err_enc(c > 0 ? err / c : 0);
                        float *dv = cp_dv(co, it);
                        if (directed && dv)
                                dv[e - it->cp] += (float)late;
                        if (full && it->lows)
                                lows_update(co, it->lows, j, c, te);
                }
                return 0;
        }
        if (full) {
                /* space-saving: the smallest count makes room */
                cp_t *min = evictee(co, it, now);
                if (!min)
                        return -1;
                base = cp_count(co, it, min, now, 0);
                rs_intern_unref(co->strings, min->item);
                cp_delete(co, it, min);
                it->count--;
                co->pairs--;
        }
        if (!it->cp || !cp_room(it->count, it->mask)) {
                uint32_t slots = it->cp ? (it->mask + 1) * 2 : 4;
                if (cp_rebuild(co, it, slots, 0, it->tb))
                        return -1;
        }
        double f = cp_set(co, it, &add, base + w, base, now);
        cp_t *at = cp_put(it->cp, it->mask, add);
        dir_set(co, it, at, directed ? w : 0, f);
        touch_slot(it, (size_t)(at - it->cp));
        rs_intern_ref(co->strings, j);
        it->count++;
        co->pairs++;
        if (full && lows_valid(co, it->lows, now))
                lows_insert(it->lows, j, lows_ref(co, it->lows, base + w, now));
        return 0;
}

/*
 * Similarity and neighbour lists.
 */

/* Item id's marginal as of now (0 for an item not held). */
static double marginal(const rs_cooc_t *co, uint32_t id, uint32_t now)
{
        return id < co->marg_cap
                       ? co->marg[id].n * decay(co, co->marg[id].t, now)
                       : 0;
}

/* With asymmetric_cosine, remembers n^(1−α) of id's marginal as it is
 * now kept. */
static void marg_changed(rs_cooc_t *co, uint32_t id)
{
        if (co->mroot)
                co->mroot[id] = pow(co->marg[id].n, 1 - co->conf->alpha);
}

/* Item id's marginal to the power 1 − α, as of now (asymmetric_cosine). */
static double marginal_root(const rs_cooc_t *co, uint32_t id, uint32_t now)
{
        return id < co->mroot_cap
                       ? co->mroot[id] * decay_memo(co, co->memo_root,
                                                    1 - co->conf->alpha,
                                                    co->marg[id].t, now)
                       : 0;
}

/* What a similarity needs of item i and the time, the same for each of
 * its counterparts: made once per neighbour list. */
typedef struct item_sim {
        double ni, root, total; /* n_i; √n_i or n_i^α; the pair total */
} item_sim_t;

static item_sim_t item_sim(const rs_cooc_t *co, double ni, uint32_t now)
{
        const cooc_conf_t *k = co->conf;

        return (item_sim_t){ni,
                            k->similarity == RS_SIM_COSINE ? sqrt(ni)
                            : k->similarity == RS_SIM_ASYMMETRIC_COSINE
                                    ? pow(ni, k->alpha)
                                    : 0,
                            k->similarity == RS_SIM_LIFT
                                    ? co->total * decay(co, co->t_total, now)
                                    : 0};
}

/* sim(i,j) of a guaranteed count c at now, i's part in of. */
static double similarity(const rs_cooc_t *co, const item_sim_t *of, double c,
                         uint32_t j, uint32_t now)
{
        const cooc_conf_t *k = co->conf;
        const double ni = of->ni;
        const double nj = k->similarity == RS_SIM_ASYMMETRIC_COSINE
                                  ? marginal_root(co, j, now)
                                  : marginal(co, j, now);
        double d;

        /* Long-decayed counts are tiny (2^-1000 after 1,000 half-lives):
         * a product of two of them would underflow to 0, so each count is
         * divided in turn. covisit and lift grow as counts decay; past
         * what a neighbour list's float holds they stay at its largest. */
        if (c <= 0 || ni <= 0 || nj <= 0)
                return 0;
        switch (k->similarity) {
        case RS_SIM_COSINE: d = c / of->root / sqrt(nj); break;
        case RS_SIM_ASYMMETRIC_COSINE: /* nj is n_j^(1−α) */
                d = c / of->root / nj;
                break;
        case RS_SIM_JACCARD:
                d = ni + nj - c;
                d = d > 0 ? c / d : 0;
                break;
        case RS_SIM_LIFT: d = c / ni * of->total / nj; break;
        case RS_SIM_COVISIT: d = c / ni / nj; break;
        default: d = 0;
        }
        if (k->locality != 1)
                d = pow(d, k->locality);
        return isnan(d) ? 0 : d > FLT_MAX ? FLT_MAX : d;
}

double rs_cooc_count(const rs_cooc_t *co, uint32_t i, uint32_t j, int64_t now)
{
        const item_t *it = item_find(co, i);
        const cp_t *e = it ? cp_find(it, j) : NULL;
        return e ? cp_count(co, it, e, secs(now), 0) : 0;
}

double rs_cooc_count_min(const rs_cooc_t *co, uint32_t i, uint32_t j,
                         int64_t now)
{
        const item_t *it = item_find(co, i);
        const cp_t *e = it ? cp_find(it, j) : NULL;
        return e ? cp_count(co, it, e, secs(now), 1) : 0;
}

double rs_cooc_directed(const rs_cooc_t *co, uint32_t i, uint32_t j,
                        int64_t now)
{
        const item_t *it = item_find(co, i);
        const cp_t *e = it ? cp_find(it, j) : NULL;
        return e ? cp_dir(co, it, e, secs(now)) : 0;
}

double rs_cooc_marginal(const rs_cooc_t *co, uint32_t i, int64_t now)
{
        return marginal(co, i, secs(now));
}

double rs_cooc_sim(const rs_cooc_t *co, uint32_t i, uint32_t j, int64_t now)
{
        uint32_t t = secs(now);
        item_sim_t of = item_sim(co, marginal(co, i, t), t);
        return similarity(co, &of, rs_cooc_count_min(co, i, j, now), j, t);
}

size_t rs_cooc_tracked(const rs_cooc_t *co, uint32_t i)
{
        const item_t *it = item_find(co, i);
        return it ? it->count : 0;
}

/* Whether id a's string sorts before b's: the same order in every process
 * (interned ids are not). */
static int id_before(const rs_cooc_t *co, uint32_t a, uint32_t b)
{
        return a != b && strcmp(rs_intern_str(co->strings, a, NULL),
                                rs_intern_str(co->strings, b, NULL)) < 0;
}

/* Candidates are chosen and sorted by key: a value's bits above the
 * candidate's index in co->sel. Values are positive floats, whose bits
 * order as they do, so integer comparisons order candidates best first
 * (keys descending), ties by index; ties are then put in id string order
 * (key_ties), the order every process gives. */
static uint64_t key_of(const pick_t *p, size_t i)
{
        uint32_t b;
        memcpy(&b, &p->nb.sim, sizeof(b));
        return (uint64_t)b << 32 | (uint32_t)i;
}

#define KEY_VALUE(k) ((uint32_t)((k) >> 32))

static void key_swap(uint64_t *a, uint64_t *b)
{
        uint64_t t = *a;
        *a = *b;
        *b = t;
}

/* Partitions k[0..n), n >= 3, around the median of its first, middle
 * and last keys: returns p with k[0..p) above k[p], the rest below. */
static size_t key_partition(uint64_t *k, size_t n)
{
        size_t m = n / 2, p = 0;

        if (k[m] > k[0])
                key_swap(&k[m], &k[0]);
        if (k[n - 1] > k[0])
                key_swap(&k[n - 1], &k[0]);
        if (k[n - 1] > k[m])
                key_swap(&k[n - 1], &k[m]);
        key_swap(&k[m], &k[n - 1]); /* the median, as the pivot, at the end */
        for (size_t i = 0; i < n - 1; i++)
                if (k[i] > k[n - 1])
                        key_swap(&k[i], &k[p++]);
        key_swap(&k[p], &k[n - 1]);
        return p;
}

/* Moves the largest m of k[0..n) to its front, in no order (quickselect). */
static void key_select(uint64_t *k, size_t n, size_t m)
{
        while (m > 0 && m < n) {
                if (n < 3) {
                        if (k[1] > k[0])
                                key_swap(&k[0], &k[1]);
                        return;
                }
                size_t p = key_partition(k, n);
                if (p == m || p + 1 == m)
                        return;
                if (p > m) {
                        n = p;
                } else {
                        k += p + 1;
                        n -= p + 1;
                        m -= p + 1;
                }
        }
}

/* Sorts k[0..n) descending by insertion: linear in n and in how far the
 * keys are from that order (a list made again, mostly as it was). */
static void key_isort(uint64_t *k, size_t n)
{
        for (size_t i = 1; i < n; i++) {
                uint64_t x = k[i];
                size_t j = i;
                for (; j > 0 && x > k[j - 1]; j--)
                        k[j] = k[j - 1];
                k[j] = x;
        }
}

/* Sorts k[0..n) descending: quicksort, insertion sort below 16. */
static void key_sort(uint64_t *k, size_t n)
{
        while (n > 16) {
                size_t p = key_partition(k, n);
                if (p < n - p - 1) { /* the smaller side by recursion */
                        key_sort(k, p);
                        k += p + 1;
                        n -= p + 1;
                } else {
                        key_sort(k + p + 1, n - p - 1);
                        n = p;
                }
        }
        key_isort(k, n);
}

/* The first 8 bytes of id's string as an integer that orders as their
 * strcmp does (big-endian, zero-padded). */
static uint64_t id_prefix(const rs_cooc_t *co, uint32_t id)
{
        const unsigned char *p =
                (const unsigned char *)rs_intern_str(co->strings, id, NULL);
        uint64_t x = 0;
        int i = 0;

        for (; i < 8 && p[i]; i++)
                x = x << 8 | p[i];
        return x << (8 * (8 - i));
}

/* Sorts keys of one value, k[0..n), by their candidates' id strings:
 * by their first 8 bytes, then (when those are equal) by strcmp. */
static void key_ties(rs_cooc_t *co, uint64_t *k, size_t n)
{
        struct tie *t = co->ties;

        for (size_t i = 0; i < n; i++)
                t[i] = (struct tie){
                        id_prefix(co, co->sel[(uint32_t)k[i]].nb.item), k[i]};
        for (size_t i = 1; i < n; i++) {
                struct tie x = t[i];
                size_t j = i;
                for (; j > 0 &&
                       (x.pre < t[j - 1].pre ||
                        (x.pre == t[j - 1].pre &&
                         id_before(co, co->sel[(uint32_t)x.key].nb.item,
                                   co->sel[(uint32_t)t[j - 1].key].nb.item)));
                     j--)
                        t[j] = t[j - 1];
                t[j] = x;
        }
        for (size_t i = 0; i < n; i++)
                k[i] = t[i].key;
}

/* The value a key was made of. */
static float key_value(uint64_t k)
{
        uint32_t b = KEY_VALUE(k);
        float v;
        memcpy(&v, &b, sizeof(v));
        return v;
}

/* The largest value among k[0..n), 0 when none. */
static float key_max(const uint64_t *k, size_t n)
{
        uint64_t m = 0; /* the largest key holds the largest value */
        for (size_t i = 0; i < n; i++)
                m = k[i] > m ? k[i] : m;
        return key_value(m);
}

/* The best max of the n keys of co->keys, best first: selected and
 * sorted by key (unless `sorted` says they are), then the candidates of
 * the last value among the rest (a tie at the cut) join its run, and
 * each run of one value is put in id string order, the cut's keeping its
 * first. Returns how many. Those the cut left out follow in
 * k[max..max + *nres) with the best of the rest, `reserve` in all at
 * most; *out is the largest value after those (0 when none). */
static size_t key_best(rs_cooc_t *co, size_t n, size_t max, size_t reserve,
                       int sorted, size_t *nres, float *out)
{
        uint64_t *k = co->keys;
        size_t top = n < max ? n : max, end = top;

        *out = 0;
        if (!sorted) {
                if (n > max)
                        key_select(k, n, max);
                key_sort(k, top);
        }
        if (n > max) {
                uint32_t cut = KEY_VALUE(k[max - 1]);
                size_t run = max - 1;
                while (run > 0 && KEY_VALUE(k[run - 1]) == cut)
                        run--;
                for (size_t i = max; i < n; i++)
                        if (KEY_VALUE(k[i]) == cut)
                                key_swap(&k[i], &k[end++]);
                        else if (sorted)
                                break;
                key_ties(co, k + run, end - run);
                if (end - max > reserve) { /* more tied than it holds */
                        end = max + reserve;
                        *out = key_value(k[max - 1]);
                } else if (n - end > max + reserve - end) {
                        size_t r = max + reserve - end;
                        if (!sorted && r)
                                key_select(k + end, n - end, r);
                        end += r;
                        *out = sorted ? key_value(k[end])
                                      : key_max(k + end, n - end);
                } else {
                        end = n;
                }
        }
        *nres = end - top;
        if (!sorted) /* in order, so that a partial refresh finds them so */
                key_sort(k + top, *nres);
        for (size_t a = 0, b; a < top; a = b) {
                for (b = a + 1; b < top && KEY_VALUE(k[b]) == KEY_VALUE(k[a]);
                     b++)
                        ;
                if (b - a > 1 && (n <= max || b < max))
                        key_ties(co, k + a, b - a);
        }
        return top;
}

/* co->keys[0..n) sorted descending, of which [0..a) came in the order of
 * the last list (nearly sorted) and the rest in none. */
static void key_sort_parts(rs_cooc_t *co, size_t a, size_t n)
{
        uint64_t *k = co->keys, *t = co->keys + co->cand_cap;
        size_t i = 0, j = a, o = 0;

        key_isort(k, a);
        key_sort(k + a, n - a);
        if (a == 0 || a == n)
                return;
        while (i < a && j < n)
                t[o++] = k[i] > k[j] ? k[i++] : k[j++];
        while (i < a)
                t[o++] = k[i++];
        memcpy(k, t, o * sizeof(*k)); /* k[j..n) is in place */
}

/* Room in it's list for as many as it could list (most items have few
 * counterparts, so few neighbours), and in co->sel and co->cand for
 * every counterpart. */
static int refresh_room(rs_cooc_t *co, item_t *it)
{
        size_t max = (size_t)co->conf->max_neighbors;
        size_t want = it->count < max ? it->count : max;

        if (want > it->nb_cap) {
                size_t cap = it->nb_cap ? it->nb_cap : 4;
                while (cap < want)
                        cap *= 2;
                if (cap > max)
                        cap = max;
                if (rs_resize((void **)&it->nb, cap, sizeof(*it->nb)))
                        return -1;
                co->bytes += (cap - it->nb_cap) * sizeof(*it->nb);
                it->nb_cap = (uint32_t)cap;
        }
        if (it->count > co->cand_cap) {
                if (rs_resize((void **)&co->sel, it->count, sizeof(*co->sel)) ||
                    rs_resize((void **)&co->cand, it->count,
                              sizeof(*co->cand)) ||
                    rs_resize((void **)&co->keys, 2 * (size_t)it->count,
                              sizeof(*co->keys)) ||
                    rs_resize((void **)&co->ties, it->count, sizeof(*co->ties)))
                        return -1;
                co->cand_cap = it->count;
        }
        return 0;
}

/* A partial refresh (refresh_partial) needs a similarity that a count
 * untouched since the list was made cannot raise: cosine or asymmetric
 * cosine, without transitions or min_count. */
static int partial_kind(const rs_cooc_t *co)
{
        const cooc_conf_t *k = co->conf;
        return (k->similarity == RS_SIM_COSINE ||
                k->similarity == RS_SIM_ASYMMETRIC_COSINE) &&
               k->transition_weight == 0 && k->min_count == 0;
}

/* The next partial refresh looks at the listed and the reserve that
 * install chose (co->keys), in their order: their slots, found again
 * when the table was rebuilt since. */
static void touch_mark(rs_cooc_t *co, item_t *it, int rebuilt)
{
        uint32_t *slots = touch_slots(it), n = 0;

        for (size_t i = 0; i < it->nnb + co->nres; i++) {
                const pick_t *p = &co->sel[(uint32_t)co->keys[i]];
                const cp_t *e = rebuilt ? cp_find(it, p->nb.item) : NULL;
                if (rebuilt && !e)
                        continue;
                slots[n] = rebuilt ? (uint32_t)(e - it->cp) : p->slot;
                touch_slot(it, slots[n++]);
        }
        it->tm->nslots = n;
}

/* After a refresh from the whole table at now: a large table with a full
 * list keeps (or starts) its touched slots, those of the listed and the
 * reserve; another drops them. Small tables cost little to scan, so
 * they keep none. */
static int touch_keep(rs_cooc_t *co, item_t *it, double ni, uint32_t now,
                      int rebuilt)
{
        uint32_t max = (uint32_t)co->conf->max_neighbors;

        if (!partial_kind(co) || it->nnb < max || it->mask < 255 ||
            it->count < 2 * max) {
                touch_drop(co, it);
                return 0;
        }
        if (!it->tm) {
                if (!(it->tm = malloc(touch_bytes(co, it))))
                        return -1;
                co->bytes += touch_bytes(co, it);
        }
        memset(it->tm->bits, 0, ((size_t)it->mask + 1) / 8);
        it->tm->n = (float)ni;
        it->tm->out = co->out;
        it->tm->t = now;
        it->tm->full = now;
        touch_mark(co, it, rebuilt);
        return 0;
}

/* Every counterpart of it that passes, into co->sel: with transitions
 * into co->cand first, then their sums once D_max and s_max are known.
 * Adds the live counts to *mass and counts those the horizon took. */
static size_t collect_all(rs_cooc_t *co, item_t *it, const item_sim_t *of,
                          uint32_t now, double *mass, uint32_t *expired)
{
        const cooc_conf_t *k = co->conf;
        const float *dv = cp_dv(co, it);
        double tw = k->transition_weight, smax = 0, dmax = 0;
        size_t n = 0, ncand = 0;

        it->sim_top = RS_ID_NONE;
        for (uint32_t s = 0; it->cp && s <= it->mask; s++) {
                const cp_t *e = &it->cp[s];
                if (e->item == RS_ID_NONE)
                        continue;
                uint32_t at = cp_time(co, it, e);
                double d = decay(co, at, now);
                if (d == 0) {
                        (*expired)++;
                        continue;
                }
                double c = cp_min(e, d);
                *mass += c;
                if (c < k->min_count)
                        continue;
                double sim = similarity(co, of, c, e->item, now);
                if (sim <= 0)
                        continue;
                if (tw > 0) {
                        float dir = dv ? (float)(dv[s] * d) : 0;
                        co->cand[ncand++] =
                                (struct cand){e->item, at, dir, sim};
                        if (sim > smax) {
                                smax = sim;
                                it->sim_top = e->item;
                        }
                        dmax = dir > dmax ? dir : dmax;
                        continue;
                }
                co->sel[n++] = (pick_t){{e->item, (float)sim, 0}, at, s};
        }
        for (size_t x = 0; x < ncand; x++) {
                const struct cand *c = &co->cand[x];
                double seq = dmax > 0 ? tw * smax * (c->dir / dmax) : 0;
                double v = c->sim + seq;
                co->sel[n++] =
                        (pick_t){{c->item, v > FLT_MAX ? FLT_MAX : (float)v,
                                  seq > FLT_MAX ? FLT_MAX : (float)seq},
                                 c->at,
                                 0}; /* no partial refresh */
        }
        return n;
}

/* The best max of co->sel[0..n) become it's list, best first. Should
 * max of them be above lo, the best max are among those (each of the
 * rest has max better than it), and the choice looks at those only;
 * else at all. `sorted`: co->keys holds the keys of all n, best first
 * (lo is not looked at). With partial refreshes the next best few are kept in
 * reserve (co->keys after the list's, co->nres of them: key_best), and
 * co->out is at least the value of each candidate neither listed nor in
 * reserve. */
static void install(rs_cooc_t *co, item_t *it, size_t n, float lo, int sorted,
                    int64_t now_ms)
{
        size_t max = (size_t)co->conf->max_neighbors, m = n;
        uint32_t oldest = UINT32_MAX;

        if (!sorted) {
                m = 0;
                for (size_t x = 0; x < n; x++)
                        if (co->sel[x].nb.sim > lo)
                                co->keys[m++] = key_of(&co->sel[x], x);
        }
        float out = m < n ? lo : 0; /* those not keyed are at most lo */
        if (m < max && m < n) {
                out = 0;
                for (size_t x = m = 0; x < n; x++)
                        co->keys[m++] = key_of(&co->sel[x], x);
        }
        float rest;
        n = key_best(co, m, max, partial_kind(co) ? reserve_of(max) : 0, sorted,
                     &co->nres, &rest);
        co->out = rest > out ? rest : out;
        nb_release(co, it);
        for (size_t i = 0; i < n; i++) {
                const pick_t *p = &co->sel[(uint32_t)co->keys[i]];
                it->nb[i] = p->nb;
                oldest = p->at < oldest ? p->at : oldest;
                rs_intern_ref(co->strings, p->nb.item);
        }
        it->nnb = (uint32_t)n;
        it->nb_at = now_ms;
        it->nb_seq = co->seq;
        it->nb_oldest = oldest;
        it->moved = 0;
}

/* The counterpart in slot s as candidate co->sel[n] when above ub;
 * returns how many candidates there are then. */
static size_t pick_at(rs_cooc_t *co, const item_t *it, const item_sim_t *of,
                      uint32_t s, uint32_t now, float ub, size_t n)
{
        const cp_t *e = &it->cp[s];

        if (e->item == RS_ID_NONE)
                return n;
        uint32_t at = cp_time(co, it, e);
        double d = decay(co, at, now);
        double sim = d > 0 ? similarity(co, of, cp_min(e, d), e->item, now) : 0;
        if (sim > ub) {
                co->sel[n] = (pick_t){{e->item, (float)sim, 0}, at, s};
                co->keys[n] = key_of(&co->sel[n], n);
                n++;
        }
        return n;
}

/* A partial refresh, without a scan of the table. With cosine (and
 * asymmetric cosine) decay cancels out of a similarity, so a count not
 * touched since the list was made keeps its similarity but for the
 * marginals: N(j) only grows, which lowers it, and N(i)'s growth scales
 * all of i's alike, by ρ = (N_then·decay / N_now)^α (α = ½ for cosine;
 * to the power locality as listed). Each counterpart not listed was at
 * most tm->out then (the best of those left out of list and reserve),
 * so it is at most ub = out·ρ now. The listed, the reserve (the next
 * best few, install) and the changed counterparts are looked at, their
 * slots marked in tm: when at least max of them are above ub, the best
 * max of them are the best of the table. Returns 1 when the table must
 * be scanned instead: too few above ub (a tie at the cut is one), a
 * marginal gone or replaced since (reset_seq: a similarity may have
 * risen), or the horizon near enough to the list's making that expired
 * counts may want dropping (a full refresh does it). */
static int refresh_partial(rs_cooc_t *co, uint32_t id, item_t *it,
                           int64_t now_ms)
{
        const cooc_conf_t *k = co->conf;
        touch_t *tm = it->tm;
        uint32_t now = secs(now_ms), max = (uint32_t)k->max_neighbors;
        size_t n = 0;

        if (!tm || it->nnb < max || it->nb_seq <= co->reset_seq ||
            now < tm->t || now - tm->full > co->span / 8)
                return 1;
        double ni = marginal(co, id, now);
        double then = tm->n * decay(co, tm->t, now);
        if (ni <= 0 || then <= 0)
                return 1;
        double rho =
                pow(then / ni, k->similarity == RS_SIM_COSINE ? 0.5 : k->alpha);
        if (k->locality != 1)
                rho = pow(rho, k->locality);
        /* a margin for float rounding: ub is never below the truth */
        float ub = (float)(tm->out * rho * (1 + 1e-5));
        const item_sim_t of = item_sim(co, ni, now);

        /* the listed and the reserve first, in their order, then the
         * rest of the marked: their keys nearly sorted, then not */
        const uint32_t *slots = touch_slots(it);
        for (uint32_t x = 0; x < tm->nslots; x++) {
                uint32_t s = slots[x];
                uint64_t bit = 1ull << (s % 64);
                if (tm->bits[s / 64] & bit) {
                        tm->bits[s / 64] &= ~bit;
                        n = pick_at(co, it, &of, s, now, ub, n);
                }
        }
        size_t a = n;
        for (size_t w = 0; w <= it->mask / 64; w++) {
                uint64_t b = tm->bits[w];
                tm->bits[w] = 0;
                for (; b; b &= b - 1)
                        n = pick_at(co, it, &of,
                                    (uint32_t)(w * 64) +
                                            (uint32_t)__builtin_ctzll(b),
                                    now, ub, n);
        }
        if (n < max)
                return 1;
        co->partial++;
        /* the mass as the counts' additions tell it (a scan would sum
         * it): what it was, decayed, and what came since */
        it->mass =
                (float)(it->mass * decay(co, secs(it->nb_at), now) + it->moved);
        key_sort_parts(co, a, n);
        install(co, it, n, 0, 1, now_ms);
        tm->n = (float)ni;
        tm->t = now;
        tm->out = co->out > ub ? co->out : ub; /* the rest are at most ub */
        touch_mark(co, it, 0);
        return 0;
}

/* Makes it's neighbour list from its counts at now_ms. */
static int refresh(rs_cooc_t *co, uint32_t id, item_t *it, int64_t now_ms)
{
        const cooc_conf_t *k = co->conf;
        uint32_t now = secs(now_ms), expired = 0;
        size_t max = (size_t)k->max_neighbors;
        /* A full list's last similarity, less a margin for what moved
         * since: the new list's best are likely above it (install). */
        float lo = it->nnb == max ? 0.9f * it->nb[max - 1].sim : 0;

        if (refresh_room(co, it))
                return -1;
        co->refreshes++;
        if (refresh_partial(co, id, it, now_ms) == 0)
                return 0;
        double ni = marginal(co, id, now), mass = 0;
        const item_sim_t of = item_sim(co, ni, now);
        size_t n = collect_all(co, it, &of, now, &mass, &expired);
        install(co, it, n, lo, 0, now_ms);
        it->mass = (float)(mass + ni);
        /* drop what the horizon took, so memory follows live pairs */
        int rebuilt = expired && expired * 4 >= it->count;
        if (rebuilt) {
                uint32_t live = it->count - expired, slots = 8;
                while (slots < live * 2)
                        slots *= 2;
                if (cp_rebuild(co, it, slots, now, it->tb))
                        return -1;
        }
        return touch_keep(co, it, ni, now, rebuilt);
}

size_t rs_cooc_neighbors(const rs_cooc_t *co, uint32_t item,
                         const rs_neighbor_t **nb)
{
        const item_t *it = item_find(co, item);

        *nb = it ? it->nb : NULL;
        return it ? it->nnb : 0;
}

/*
 * Marginals, popularity and trending.
 */

/* n (as of *t) += w at `at`, whichever is later (order-free). */
static void decayed_add(const rs_cooc_t *co, float *n, uint32_t *t, float w,
                        uint32_t at)
{
        if (at >= *t) {
                *n = (float)(*n * decay(co, *t, at)) + w;
                *t = at;
        } else {
                *n += (float)(w * decay(co, at, *t));
        }
}

/* log2(2^a + 2^b) */
static double log2_add(double a, double b)
{
        if (a <= RS_NO_POPULARITY)
                return b;
        if (b <= RS_NO_POPULARITY)
                return a;
        double hi = a > b ? a : b, lo = a > b ? b : a;
        return hi + log2(1 + exp2(lo - hi));
}

static int trend_before(const rs_cooc_t *co, uint32_t a, uint32_t b)
{
        double la = co->items[a]->lp, lb = co->items[b]->lp;
        return la > lb || (la == lb && id_before(co, a, b));
}

static void trend_update(rs_cooc_t *co, uint32_t id, item_t *it)
{
        size_t i, n = co->ntrend;

        if (!it->in_trend) {
                if (n < (size_t)co->conf->trending_size) {
                        i = co->ntrend++;
                } else if (trend_before(co, id, co->trend[n - 1])) {
                        co->items[co->trend[n - 1]]->in_trend = 0;
                        i = n - 1;
                } else {
                        return;
                }
                co->trend[i] = id;
                it->in_trend = 1;
        } else {
                for (i = 0; co->trend[i] != id; i++)
                        ;
        }
        /* popularity only grows: bubble towards the front */
        while (i > 0 && trend_before(co, id, co->trend[i - 1])) {
                co->trend[i] = co->trend[i - 1];
                co->trend[i - 1] = id;
                i--;
        }
        co->trend_moved = 1;
}

/* Takes an evicted item out of the trending list: the rest keep their
 * order, and the next to pass the last one takes the free place. */
static void trend_remove(rs_cooc_t *co, uint32_t id)
{
        size_t i;

        for (i = 0; i < co->ntrend && co->trend[i] != id; i++)
                ;
        if (i == co->ntrend)
                return;
        memmove(&co->trend[i], &co->trend[i + 1],
                (co->ntrend - i - 1) * sizeof(*co->trend));
        co->ntrend--;
        co->items[id]->in_trend = 0;
        co->trend_moved = 1;
}

/*
 * Applying deltas.
 */

static int fifo_push(fifo_t *f, uint32_t item, int64_t at)
{
        if (f->len == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 256;
                due_t *q = malloc(cap * sizeof(*q));
                if (!q)
                        return -1;
                for (size_t i = 0; i < f->len; i++)
                        q[i] = f->q[(f->head + i) % f->cap];
                free(f->q);
                f->q = q;
                f->head = 0;
                f->cap = cap;
        }
        f->q[(f->head + f->len++) % f->cap] = (due_t){item, at};
        return 0;
}

static due_t fifo_pop(fifo_t *f)
{
        due_t d = f->q[f->head];
        f->head = (f->head + 1) % f->cap;
        f->len--;
        return d;
}

static int heap_push(heap_t *h, uint32_t item, int64_t at)
{
        size_t i;

        if (h->n == h->cap) {
                size_t cap = h->cap ? h->cap * 2 : 256;
                due_t *q = realloc(h->h, cap * sizeof(*q));
                if (!q)
                        return -1;
                h->h = q;
                h->cap = cap;
        }
        for (i = h->n++; i > 0 && h->h[(i - 1) / 2].at > at; i = (i - 1) / 2)
                h->h[i] = h->h[(i - 1) / 2];
        h->h[i] = (due_t){item, at};
        return 0;
}

static due_t heap_pop(heap_t *h)
{
        due_t top = h->h[0], last = h->h[--h->n];
        size_t i = 0;

        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= h->n)
                        break;
                if (c + 1 < h->n && h->h[c + 1].at < h->h[c].at)
                        c++;
                if (h->h[c].at >= last.at)
                        break;
                h->h[i] = h->h[c];
                i = c;
        }
        if (h->n)
                h->h[i] = last;
        return top;
}

/* An own item changed: queue it to be published, at once when it never
 * was, else `refresh` after it last was. */
static int changed(rs_cooc_t *co, uint32_t id, item_t *it)
{
        if (!it->own || it->pending)
                return 0;
        it->pending = 1;
        if (it->nb_at == INT64_MIN)
                return fifo_push(&co->fresh, id, co->now);
        return heap_push(&co->later, id, it->nb_at + co->conf->refresh);
}

/* Remembers that it changed: its state is saved at the next commit. */
static int mark_dirty(rs_cooc_t *co, uint32_t id, item_t *it)
{
        if (it->dirty)
                return 0;
        if (rs_grow_zeroed((void **)&co->dirty, &co->dirty_cap, co->ndirty,
                           sizeof(*co->dirty)))
                return -1;
        co->dirty[co->ndirty++] = id;
        it->dirty = 1;
        return 0;
}

static rs_err_t apply_one(rs_cooc_t *co, const rs_delta_upd_t *u)
{
        uint32_t t = secs(u->ts);
        item_t *it;

        if (!(it = item_get(co, u->item)) || mark_dirty(co, u->item, it))
                return RS_ERR_NOMEM;
        it->touched = co->clock;
        switch (u->other) {
        case RS_DELTA_MARGINAL:
                decayed_add(co, &co->marg[u->item].n, &co->marg[u->item].t,
                            u->w, t);
                marg_changed(co, u->item);
                it->n_seq = co->seq;
                decayed_add(co, &co->total, &co->t_total, u->w, t);
                co->total_seq = co->seq;
                it->moved += u->w;
                break;
        case RS_DELTA_POPULARITY:
                if (!it->own || u->w <= 0)
                        return RS_OK;
                it->lp = log2_add(
                        it->lp,
                        log2(u->w) +
                                (double)u->ts /
                                        (double)co->conf->trending_half_life);
                trend_update(co, u->item, it);
                break;
        default:
                if (!it->own) /* not ours: the delta was misrouted */
                        return RS_OK;
                if (pair_add(co, it, u->other, u->w, u->directed, t))
                        return RS_ERR_NOMEM;
                break;
        }
        return changed(co, u->item, it) ? RS_ERR_NOMEM : RS_OK;
}

/* The watermark of (topic, partition), made at -1 on first sight; its
 * index, or -1 when out of memory. */
static long wm_find(rs_cooc_t *co, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < co->nwm; i++)
                if (co->wm[i].partition == partition &&
                    !strcmp(co->wm[i].topic, topic))
                        return (long)i;
        char *t = strdup(topic);
        if (!t || rs_grow_zeroed((void **)&co->wm, &co->wm_cap, co->nwm,
                                 sizeof(*co->wm))) {
                free(t);
                return -1;
        }
        co->wm[co->nwm] = (rs_watermark_t){t, partition, -1};
        return (long)co->nwm++;
}

/* The watermarks of d's sources as they were before it, in wm_before. */
static rs_err_t wm_prepare(rs_cooc_t *co, const rs_delta_t *d)
{
        if (d->nsrc > co->wm_scratch) {
                if (rs_resize((void **)&co->wm_before, d->nsrc,
                              sizeof(*co->wm_before)) ||
                    rs_resize((void **)&co->wm_of, d->nsrc, sizeof(*co->wm_of)))
                        return RS_ERR_NOMEM;
                co->wm_scratch = d->nsrc;
        }
        for (size_t i = 0; i < d->nsrc; i++) {
                long k = wm_find(co, d->src[i].topic, d->src[i].partition);
                if (k < 0)
                        return RS_ERR_NOMEM;
                co->wm_of[i] = (uint32_t)k;
                co->wm_before[i] = co->wm[k].offset;
        }
        return RS_OK;
}

rs_err_t rs_cooc_apply(rs_cooc_t *co, const rs_delta_t *d)
{
        const rs_delta_upd_t *u = d->upd;
        const item_t *p;
        rs_err_t err;

        for (size_t x = 0; x < d->n; x++)
                if (u[x].ts > co->now)
                        co->now = u[x].ts;
        if ((err = wm_prepare(co, d)))
                return err;
        /* a delta is one tick of the LRU clock: what it touches twice is
         * not touched since it was queued */
        co->clock++;
        co->seq++;
        /* Each update touches one table, scattered over memory, so the
         * tables of the updates a few steps ahead are fetched a level at
         * a time (item pointer, item, home slot): their cache misses
         * overlap instead of following one another. */
        for (size_t x = 0; x < d->n; x++) {
                if (x + 12 < d->n && u[x + 12].item < co->cap)
                        __builtin_prefetch(&co->items[u[x + 12].item]);
                if (x + 8 < d->n && (p = item_find(co, u[x + 8].item))) {
                        __builtin_prefetch(p);
                        __builtin_prefetch((const char *)(p + 1) - 1);
                }
                if (x + 4 < d->n && (p = item_find(co, u[x + 4].item)) &&
                    u[x + 4].other < RS_DELTA_POPULARITY) {
                        if (p->cp)
                                __builtin_prefetch(&p->cp[rs_slot32(
                                        u[x + 4].other, p->mask)]);
                        if (p->lows)
                                __builtin_prefetch(p->lows);
                }
                if (u[x].src >= 0 && (size_t)u[x].src < d->nsrc &&
                    u[x].offset <= co->wm_before[u[x].src]) {
                        co->skipped++; /* applied before */
                        continue;
                }
                if ((err = apply_one(co, &u[x])))
                        return err;
        }
        for (size_t i = 0; i < d->nsrc; i++)
                if (d->src[i].last_offset > co->wm[co->wm_of[i]].offset)
                        co->wm[co->wm_of[i]].offset = d->src[i].last_offset;
        for (size_t x = 0; x < d->ncats; x++) {
                item_t *it = item_get(co, d->cats[x].item);
                uint32_t cat = d->cats[x].category;
                if (!it)
                        return RS_ERR_NOMEM;
                if (it->own && cat != RS_ID_NONE && cat != it->category) {
                        if (mark_dirty(co, d->cats[x].item, it))
                                return RS_ERR_NOMEM;
                        rs_intern_ref(co->strings, cat);
                        rs_intern_unref(co->strings, it->category);
                        it->category = cat;
                        if (changed(co, d->cats[x].item, it))
                                return RS_ERR_NOMEM;
                }
        }
        co->applied++;
        return RS_OK;
}

/*
 * Publishing.
 */

static rs_err_t publish_item(rs_cooc_t *co, uint32_t id, item_t *it,
                             const rs_nb_sink_t *out)
{
        if (refresh(co, id, it, co->now) || mark_dirty(co, id, it))
                return RS_ERR_NOMEM;
        rs_nb_rec_t r = {
                .kind = RS_NB_ITEM,
                .item = id,
                .category = it->category,
                .popularity = it->lp,
                .nb = it->nb,
                .nnb = it->nnb,
                .updated_ts = co->now,
        };
        it->published = 1;
        co->published_n++;
        return out->fn(out->opaque, &r);
}

/* Whether an own item's published list is no longer what the counts give
 * now although none of its own counts moved: a listed neighbour's marginal
 * grew or went (its similarity fell, so another counterpart may pass it),
 * a listed pair expired, or the similarity moves with time (covisit,
 * min_count) or with the pair total (lift). */
static int stale(const rs_cooc_t *co, const item_t *it)
{
        const cooc_conf_t *k = co->conf;
        uint32_t now = secs(co->now);

        if (it->nb_at == INT64_MIN || it->pending)
                return 0;
        if (it->nb_at != co->now &&
            (k->similarity == RS_SIM_COVISIT || k->min_count > 0))
                return 1;
        if (k->similarity == RS_SIM_LIFT && co->total_seq > it->nb_seq)
                return 1;
        if (it->nnb && now > it->nb_oldest && now - it->nb_oldest > co->span)
                return 1;
        /* with transitions, s_max: its counterpart's marginal grew */
        if (k->transition_weight > 0 && it->sim_top != RS_ID_NONE) {
                const item_t *o = item_find(co, it->sim_top);
                if (!o || o->n_seq > it->nb_seq)
                        return 1;
        }
        for (uint32_t j = 0; j < it->nnb; j++) {
                const item_t *o = item_find(co, it->nb[j].item);
                if (!o || o->n_seq > it->nb_seq)
                        return 1;
        }
        return 0;
}

/* A settle's list is what the counts give at that moment, whatever the
 * lists were refreshed at before (so that one replica, N replicas and a
 * replay publish the same lists once settled): own items whose lists
 * went stale are queued. In between, a list is refreshed as its own
 * counts move. O(items + listed neighbours), at a settle only. */
static int queue_stale(rs_cooc_t *co)
{
        for (size_t id = 0; id < co->cap; id++) {
                item_t *it = co->items[id];
                if (it && it->own && stale(co, it) &&
                    changed(co, (uint32_t)id, it))
                        return -1;
        }
        return 0;
}

rs_err_t rs_cooc_publish(rs_cooc_t *co, int settle, const rs_nb_sink_t *out)
{
        const cooc_conf_t *k = co->conf;
        rs_err_t err = RS_OK;

        if (settle && queue_stale(co))
                return RS_ERR_NOMEM;

        /* tombstones first: an id evicted and seen again is then new */
        for (size_t i = 0; i < co->ngone && !err; i++) {
                rs_nb_rec_t r = {.kind = RS_NB_ITEM,
                                 .item = co->gone[i],
                                 .deleted = 1,
                                 .category = RS_ID_NONE,
                                 .popularity = RS_NO_POPULARITY,
                                 .updated_ts = co->now};
                if (item_find(co, co->gone[i]) == NULL)
                        err = out->fn(out->opaque, &r);
                rs_intern_unref(co->strings, co->gone[i]);
        }
        co->ngone = 0;
        while (!err && co->fresh.len) {
                due_t d = fifo_pop(&co->fresh);
                item_t *it = item_find(co, d.item);
                if (!it || !it->pending)
                        continue;
                it->pending = 0;
                err = publish_item(co, d.item, it, out);
        }
        while (!err && co->later.n &&
               (settle || co->later.h[0].at <= co->now)) {
                due_t d = heap_pop(&co->later);
                item_t *it = item_find(co, d.item);
                if (!it || !it->pending)
                        continue;
                it->pending = 0;
                /* moved too little: looked at again when it next changes */
                if (!settle && it->moved < k->refresh_change * it->mass)
                        continue;
                err = publish_item(co, d.item, it, out);
        }
        /* one record for the partition: as often as its top moved */
        if (!err && co->trend_moved) {
                rs_trend_t *t = malloc((co->ntrend + 1) * sizeof(*t));
                if (!t)
                        return RS_ERR_NOMEM;
                for (size_t i = 0; i < co->ntrend; i++)
                        t[i] = (rs_trend_t){co->trend[i],
                                            co->items[co->trend[i]]->lp};
                uint32_t now = secs(co->now);
                double total = co->total * decay(co, co->t_total, now);
                rs_nb_rec_t r = {.kind = RS_NB_PARTITION,
                                 .partition = co->partition,
                                 .category = RS_ID_NONE,
                                 .popularity = RS_NO_POPULARITY,
                                 .trend = t,
                                 .ntrend = co->ntrend,
                                 .total = total > 0 ? log2(total)
                                                    : RS_NO_POPULARITY,
                                 .updated_ts = co->now};
                err = out->fn(out->opaque, &r);
                free(t);
                co->trend_moved = 0;
        }
        return err;
}

int64_t rs_cooc_now(const rs_cooc_t *co)
{
        return co->now;
}

size_t rs_cooc_pending(const rs_cooc_t *co)
{
        return co->fresh.len + co->later.n + co->ngone +
               (size_t)co->trend_moved;
}

void rs_cooc_destroy(rs_cooc_t *co)
{
        if (!co)
                return;
        for (size_t i = 0; i < co->cap; i++)
                if (co->items[i])
                        item_free(co, (uint32_t)i);
        for (size_t i = 0; i < co->ngone; i++)
                rs_intern_unref(co->strings, co->gone[i]);
        free(co->gone);
        for (size_t i = 0; i < co->nevicted; i++)
                rs_intern_unref(co->strings, co->evicted[i]);
        free(co->evicted);
        free(co->dirty);
        free(co->save_cp);
        free(co->cand);
        free(co->sel);
        free(co->keys);
        free(co->ties);
        for (size_t i = 0; i < co->nwm; i++)
                free((char *)co->wm[i].topic);
        free(co->wm);
        free(co->wm_before);
        free(co->wm_of);
        free(co->items);
        free(co->marg);
        free(co->trend);
        free(co->fresh.q);
        free(co->later.h);
        free(co->memo);
        free(co->memo_root);
        free(co->mroot);
        free(co);
}

/*
 * State that survives (issue 11): an item's record in this partition, as
 * the items changelog carries it.
 */

/* Item id's record (it is held) to fn. */
static rs_err_t save_item(rs_cooc_t *co, uint32_t id, const item_t *it,
                          rs_cooc_save_fn *fn, void *opaque)
{
        size_t k = 0;

        if (rs_grow_zeroed((void **)&co->save_cp, &co->save_cp_cap, it->count,
                           sizeof(*co->save_cp)))
                return RS_ERR_NOMEM;
        const float *dv = cp_dv(co, it);
        for (uint32_t slot = 0; it->cp && slot <= it->mask; slot++) {
                const cp_t *e = &it->cp[slot];
                if (e->item == RS_ID_NONE)
                        continue;
                co->save_cp[k++] = (rs_cp_state_t){
                        e->item, e->c, (float)(e->c * err_dec(e->f)),
                        dv ? dv[slot] : 0, cp_time(co, it, e)};
        }
        rs_item_state_t st = {
                .kind = RS_ISTATE_ITEM,
                .partition = co->partition,
                .item = id,
                .own = it->own,
                .category = it->category,
                .n = co->marg[id].n,
                .t_n = co->marg[id].t,
                .lp = it->lp,
                .cp = co->save_cp,
                .ncp = k,
                .nb = it->nb,
                .nnb = it->nnb,
                .nb_at = it->nb_at,
                .nb_oldest = it->nb_oldest,
                .moved = it->moved,
                .mass = it->mass,
                .pending = it->pending,
        };
        return fn(opaque, &st);
}

/* The partition's own record to fn. */
static rs_err_t save_partition(const rs_cooc_t *co, rs_cooc_save_fn *fn,
                               void *opaque)
{
        rs_item_state_t st = {
                .kind = RS_ISTATE_PARTITION,
                .partition = co->partition,
                .item = RS_ID_NONE,
                .category = RS_ID_NONE,
                .lp = RS_NO_POPULARITY,
                .nb_at = INT64_MIN,
                .total = co->total,
                .t_total = co->t_total,
                .now = co->now,
                .wm = co->wm,
                .nwm = co->nwm,
        };
        return fn(opaque, &st);
}

rs_err_t rs_cooc_save_changed(rs_cooc_t *co, rs_cooc_save_fn *fn, void *opaque)
{
        rs_err_t err = RS_OK;
        size_t n = co->ndirty + co->nevicted;

        for (size_t i = 0; i < co->nevicted; i++) {
                uint32_t id = co->evicted[i];
                rs_item_state_t st = {.kind = RS_ISTATE_ITEM,
                                      .partition = co->partition,
                                      .item = id,
                                      .category = RS_ID_NONE,
                                      .deleted = 1};
                /* not if it came back since (it is dirty then) */
                if (!err && !item_find(co, id))
                        err = fn(opaque, &st);
                rs_intern_unref(co->strings, id);
        }
        co->nevicted = 0;
        for (size_t i = 0; i < co->ndirty && !err; i++) {
                uint32_t id = co->dirty[i];
                item_t *it = item_find(co, id);
                if (!it || !it->dirty)
                        continue; /* evicted (and maybe the id reused) */
                it->dirty = 0;
                err = save_item(co, id, it, fn, opaque);
        }
        co->ndirty = 0;
        if (n && !err)
                err = save_partition(co, fn, opaque);
        return err;
}

rs_err_t rs_cooc_save_all(rs_cooc_t *co, rs_cooc_save_fn *fn, void *opaque)
{
        rs_err_t err = RS_OK;

        for (size_t id = 0; id < co->cap && !err; id++)
                if (co->items[id])
                        err = save_item(co, (uint32_t)id, co->items[id], fn,
                                        opaque);
        return err ? err : save_partition(co, fn, opaque);
}

size_t rs_cooc_unsaved(const rs_cooc_t *co)
{
        return co->ndirty + co->nevicted;
}

/* Replaces s->item's record by s's. */
static rs_err_t load_item(rs_cooc_t *co, const rs_item_state_t *s)
{
        uint32_t id = s->item, tmin = UINT32_MAX, tmax = 0;
        item_t *it = item_find(co, id);

        if (it) { /* replaced: no tombstone for it */
                it->published = 0;
                lru_unlink(co, it);
                item_free(co, id);
        }
        if (!(it = item_get(co, id)))
                return RS_ERR_NOMEM;
        if (s->category != RS_ID_NONE) {
                rs_intern_ref(co->strings, s->category);
                it->category = s->category;
        }
        co->marg[id] = (struct marg){s->n, s->t_n};
        marg_changed(co, id);
        it->lp = it->own ? s->lp : RS_NO_POPULARITY;
        if (it->own && it->lp > RS_NO_POPULARITY)
                trend_update(co, id, it);
        /* the table: a base that holds every count's time, if it can */
        size_t ncp = s->ncp < (size_t)co->conf->max_tracked
                             ? s->ncp
                             : (size_t)co->conf->max_tracked;
        for (size_t i = 0; i < ncp; i++) {
                tmin = s->cp[i].t < tmin ? s->cp[i].t : tmin;
                tmax = s->cp[i].t > tmax ? s->cp[i].t : tmax;
        }
        if (it->own && ncp) {
                uint32_t qmin = tmin / co->q, qmax = tmax / co->q, slots = 4;
                uint32_t tb = qmax - qmin > TMAX ? qmax - TMAX : qmin;
                while (!cp_room((uint32_t)ncp - 1, slots - 1))
                        slots *= 2;
                if (cp_rebuild(co, it, slots, 0, tb))
                        return RS_ERR_NOMEM;
                for (size_t i = 0; i < ncp; i++) {
                        cp_t e = {.item = s->cp[i].item};
                        if (s->cp[i].t / co->q < tb || cp_find(it, e.item))
                                continue; /* too old to hold; twice */
                        double f = cp_set(co, it, &e, s->cp[i].c, s->cp[i].err,
                                          s->cp[i].t);
                        dir_set(co, it, cp_put(it->cp, it->mask, e), s->cp[i].d,
                                f);
                        rs_intern_ref(co->strings, e.item);
                        it->count++;
                        co->pairs++;
                }
        }
        if (it->own && s->nnb) {
                size_t cap = s->nnb;
                if (rs_resize((void **)&it->nb, cap, sizeof(*it->nb)))
                        return RS_ERR_NOMEM;
                co->bytes += (cap - it->nb_cap) * sizeof(*it->nb);
                it->nb_cap = (uint32_t)cap;
                for (size_t i = 0; i < s->nnb; i++) {
                        it->nb[i] = s->nb[i];
                        rs_intern_ref(co->strings, s->nb[i].item);
                }
                it->nnb = (uint32_t)s->nnb;
        }
        it->nb_at = s->nb_at;
        it->nb_oldest = s->nb_oldest;
        it->moved = s->moved;
        it->mass = s->mass;
        it->published = it->own && s->nb_at != INT64_MIN;
        it->nb_seq = co->seq; /* as fresh as what the readers have */
        it->n_seq = 0;
        if (s->pending && changed(co, id, it))
                return RS_ERR_NOMEM;
        return RS_OK;
}

rs_err_t rs_cooc_load(rs_cooc_t *co, const rs_item_state_t *s)
{
        if (s->partition != co->partition)
                return RS_ERR_INVALID;
        if (s->kind == RS_ISTATE_ITEM && s->deleted) {
                item_t *it = item_find(co, s->item);
                if (it) { /* evicted by its owner: gone here too */
                        it->published = 0;
                        lru_unlink(co, it);
                        item_free(co, s->item);
                }
                return RS_OK;
        }
        if (s->kind == RS_ISTATE_ITEM)
                return load_item(co, s);
        co->total = s->total;
        co->t_total = s->t_total;
        if (s->now > co->now)
                co->now = s->now;
        for (size_t i = 0; i < s->nwm; i++) {
                long k = wm_find(co, s->wm[i].topic, s->wm[i].partition);
                if (k < 0)
                        return RS_ERR_NOMEM;
                co->wm[k].offset = s->wm[i].offset;
        }
        return RS_OK;
}

/* The longest a count lives (seconds): the horizon, or with decay 1076
 * half-lives, past which exp2 underflows to 0 anyway. */
static uint32_t count_span(const cooc_conf_t *k)
{
        int64_t ms = k->horizon;

        if (k->half_life && k->half_life * 1076 < ms)
                ms = k->half_life * 1076;
        return (uint32_t)(ms / 1000);
}

rs_cooc_t *rs_cooc_new(const void *conf, rs_intern_t *strings,
                       int32_t partition, int32_t partitions, char *errstr,
                       size_t errstr_size)
{
        const cooc_conf_t *k = conf;
        rs_cooc_t *co = calloc(1, sizeof(*co));

        if (!co ||
            !(co->trend =
                      malloc((size_t)k->trending_size * sizeof(*co->trend))) ||
            !(co->memo = malloc(MEMO * sizeof(*co->memo)))) {
                rs_cooc_destroy(co);
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        if (k->similarity == RS_SIM_ASYMMETRIC_COSINE &&
            !(co->memo_root = malloc(MEMO * sizeof(*co->memo_root)))) {
                rs_cooc_destroy(co);
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        for (size_t i = 0; i < MEMO; i++) {
                co->memo[i].dt = UINT32_MAX;
                if (co->memo_root)
                        co->memo_root[i].dt = UINT32_MAX;
        }
        co->conf = k;
        co->strings = strings;
        co->partition = partition;
        co->partitions = partitions;
        co->lru_head = co->lru_tail = RS_ID_NONE;
        co->now = INT64_MIN;
        co->span = count_span(k);
        co->directed = k->transition_weight > 0;
        co->q = co->span > TMID ? (co->span + TMID - 1) / TMID : 1;
        return co;
}

size_t rs_cooc_pairs(const rs_cooc_t *co)
{
        return co->pairs;
}

size_t rs_cooc_bytes(const rs_cooc_t *co)
{
        return co->bytes + co->cap * sizeof(*co->items) +
               co->marg_cap * sizeof(*co->marg);
}

size_t rs_cooc_items(const rs_cooc_t *co)
{
        return co->nitems;
}

uint64_t rs_cooc_refreshes(const rs_cooc_t *co, int partial)
{
        return partial ? co->partial : co->refreshes;
}

uint64_t rs_cooc_skipped(const rs_cooc_t *co)
{
        return co->skipped;
}

uint64_t rs_cooc_evictions(const rs_cooc_t *co)
{
        return co->evictions;
}

size_t rs_cooc_trending_size(const void *conf)
{
        return (size_t)((const cooc_conf_t *)conf)->trending_size;
}

static const char *const needs[] = {"pairs", NULL};

const rs_stage_ops_t rs_stage_cooccur = {
        .type = "cooccur",
        .doc = "The item side: pair counts, marginals and popularity from "
               "the pairs stage's deltas, one instance per cooc-deltas "
               "partition; bounded counterparts (space-saving), a similarity "
               "chosen here, neighbour lists and trending published to every "
               "replica's neighbour table.",
        .side = RS_SIDE_ITEMS,
        .needs = needs,
        .props = props,
        .conf_size = sizeof(cooc_conf_t),
};
