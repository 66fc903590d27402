/* score.c — the `score` stage: each user's top-K and its publication.
 *
 * score(c) = Σ_i a_u(i)·sim(i,c) over the user's window items i and their
 * neighbours c, + γ·trending(c) (popularity relative to the most popular
 * item). Seen and removed items are excluded; at most max_per_category
 * items of one category; lists shorter than K are filled with trending
 * items (those in the user's own categories first), and users with fewer
 * than min_history positive items get trending items only. Each item says why:
 * covisit (because_of: the window item that contributed most) or trending. Ties
 * break by item id string.
 *
 * A user is recomputed when one of their events arrives, but published at
 * most once per min_refresh_interval of event time, and only when the list
 * (items and order) changed; users waiting for their interval sit in a FIFO
 * that each batch drains up to its newest event time. Without an `out`
 * (replay, eval) nothing is computed until asked: rs_score_list or a flush. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/cooccur.h"
#include "recstream/hash.h"
#include "recstream/score.h"
#include "recstream/stage.h"
#include "recstream/user_window.h"
#include "recstream/vec.h"

typedef struct score_conf {
        int64_t k;
        double beta, gamma;
        int64_t min_history, max_per_category;
        double mmr_lambda;
        int64_t min_refresh_interval;
} score_conf_t;

#define SC(f) offsetof(score_conf_t, f)
static const rs_prop_t props[] = {
        {"k", RS_PROP_INT, SC(k), "20", 1, RS_RECS_MAX, NULL, 0,
         "Items per user list."},
        {"beta", RS_PROP_DOUBLE, SC(beta), "0", 0, 1e6, NULL, 0,
         "Weight of the interest channel: the user's unit interest vector "
         "· the candidate's embedding (user_window.interest_dim > 0). With "
         "beta > 0 trending items are candidates too, so items without "
         "co-occurrence yet can reach users through it."},
        {"gamma", RS_PROP_DOUBLE, SC(gamma), "0", 0, 1e6, NULL, 0,
         "Weight of trending (popularity relative to the top item) added to "
         "every candidate's score."},
        {"min_history", RS_PROP_INT, SC(min_history), "1", 0, 10000, NULL, 0,
         "Users with fewer positive window items get trending items."},
        {"max_per_category", RS_PROP_INT, SC(max_per_category), "0", 0, 10000,
         NULL, 0, "Diversity: items of one category per list (0: no cap)."},
        {"mmr_lambda", RS_PROP_DOUBLE, SC(mmr_lambda), "1", 0, 1, NULL, 0,
         "Diversity by maximal marginal relevance over the best 4·k: pick "
         "by λ·score/top − (1−λ)·max sim to the items already picked "
         "(1: off)."},
        {"min_refresh_interval", RS_PROP_DURATION, SC(min_refresh_interval),
         "10s", 0, 3.2e11, NULL, 0,
         "A user is republished at most this often (event time), and only "
         "when the list changed."},
        {0},
};

typedef struct ustate {
        uint64_t hash;    /* of the last published list, 0 none */
        int64_t last_pub; /* event time of the last publication (hash != 0) */
        int64_t batch_ts; /* newest event of the user in this batch */
        uint8_t dirty, queued, known, in_batch;
} ustate_t;

typedef struct due {
        uint32_t user;
        int64_t at;
} due_t;

/* One candidate's accumulator: Σ a(i)·sim(i,c) and the largest term. */
typedef struct acc {
        uint32_t stamp;   /* computation it belongs to (score_t.gen) */
        uint32_t because; /* window item of the largest term */
        double sum, best;
} acc_t;

typedef struct cand {
        uint32_t item, because;
        double score;
        uint8_t reason;
} cand_t;

typedef struct rs_score {
        const score_conf_t *conf;
        rs_uwin_t *win;
        rs_cooc_t *co;
        const rs_catalog_t *catalog;
        const rs_intern_t *strings;
        ustate_t *users;
        size_t nusers;
        due_t *queue; /* ring */
        size_t qhead, qlen, qcap;
        /* sparse accumulator by item id, valid where stamp == gen */
        acc_t *acc;
        size_t acc_cap;
        uint32_t gen;
        uint32_t *touched; /* items started in this computation */
        size_t ntouched;
        cand_t *cands;
        size_t cands_cap;
        uint32_t *witems;
        float *waff;
        size_t wmax;
        rs_recs_t recs;
        uint32_t *cat_ids, *cat_counts;
        uint32_t *batch_users; /* distinct users of the current batch */
        size_t batch_cap;
        /* interest channel: the user's vector, candidate embeddings (one
         * row each) and their dot products */
        size_t dim;
        float *v, *emb, *isc;
} score_t;

/* Whether a ranks before b: higher score, then smaller item id string
 * (stable across runs and replicas, unlike interned ids). */
static int before(const score_t *sc, const cand_t *a, const cand_t *b)
{
        if (a->score != b->score)
                return a->score > b->score;
        return a->item != b->item &&
               strcmp(rs_intern_str(sc->strings, a->item, NULL),
                      rs_intern_str(sc->strings, b->item, NULL)) < 0;
}

/* Sifts h[i] down a heap whose root is its worst candidate. */
static void sift_worst(const score_t *sc, cand_t *h, size_t n, size_t i)
{
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                if (l < n && before(sc, &h[m], &h[l]))
                        m = l;
                if (r < n && before(sc, &h[m], &h[r]))
                        m = r;
                if (m == i)
                        return;
                cand_t t = h[i];
                h[i] = h[m];
                h[m] = t;
                i = m;
        }
}

static int excluded(const score_t *sc, uint32_t user, uint32_t item);

/* c's accumulator in this computation, started at zero on first touch
 * (room for every id was made before). */
static acc_t *touch(score_t *sc, uint32_t c)
{
        acc_t *a = &sc->acc[c];

        if (a->stamp != sc->gen) {
                *a = (acc_t){sc->gen, RS_ID_NONE, 0, -INFINITY};
                sc->touched[sc->ntouched++] = c;
        }
        return a;
}

static int excluded(const score_t *sc, uint32_t user, uint32_t item)
{
        return rs_uwin_seen(sc->win, user, item) ||
               rs_catalog_removed(sc->catalog, item);
}

/* Appends c unless its category is full; returns 1 when taken. */
static int take(score_t *sc, const cand_t *c, size_t *ncats)
{
        const score_conf_t *k = sc->conf;
        rs_recs_t *r = &sc->recs;

        if (k->max_per_category) {
                uint32_t cat = rs_cooc_category(sc->co, c->item);
                if (cat != RS_ID_NONE) {
                        size_t x;
                        for (x = 0; x < *ncats && sc->cat_ids[x] != cat; x++)
                                ;
                        if (x == *ncats) {
                                sc->cat_ids[x] = cat;
                                sc->cat_counts[x] = 0;
                                (*ncats)++;
                        }
                        if (sc->cat_counts[x] >= (uint32_t)k->max_per_category)
                                return 0;
                        sc->cat_counts[x]++;
                }
        }
        r->items[r->n++] = (rs_rec_t){c->item, c->because, c->score, c->reason};
        return 1;
}

/* MMR over the pool of the best candidates c[0..pool), best first: each
 * pick maximises λ·score/top − (1−λ)·max over picked p of sim(p → c). */
static void pick_mmr(score_t *sc, cand_t *c, size_t pool, int64_t now,
                     size_t *ncats)
{
        const score_conf_t *k = sc->conf;
        rs_recs_t *r = &sc->recs;
        double top = pool ? c[0].score : 1;

        while (pool && r->n < (uint32_t)k->k) {
                size_t pick = pool;
                double best = -INFINITY;
                for (size_t i = 0; i < pool; i++) {
                        double red = 0;
                        for (uint32_t j = 0; j < r->n; j++) {
                                double s = rs_cooc_sim(sc->co, r->items[j].item,
                                                       c[i].item, now);
                                if (s > red)
                                        red = s;
                        }
                        double v = k->mmr_lambda * c[i].score / top -
                                   (1 - k->mmr_lambda) * red;
                        if (v > best) { /* ties: the better-ranked one */
                                best = v;
                                pick = i;
                        }
                }
                take(sc, &c[pick], ncats);
                memmove(&c[pick], &c[pick + 1], (pool - pick - 1) * sizeof(*c));
                pool--;
        }
}

/* The best `m` candidates of this computation that the user may get, best
 * first, into sc->cands; returns how many. *more is set when candidates
 * beyond them were cut off. A bounded heap (worst on top) means most
 * candidates cost one comparison, and only those that would enter it are
 * checked for being seen or removed. */
static size_t select_best(score_t *sc, uint32_t user, int64_t now, size_t m,
                          int interest, double top_pop, int *more)
{
        const score_conf_t *k = sc->conf;
        cand_t *h = sc->cands;
        size_t n = 0;

        *more = 0;
        for (size_t i = 0; i < sc->ntouched; i++) {
                uint32_t c = sc->touched[i];
                const acc_t *a = &sc->acc[c];
                double cf = a->sum > 0 ? a->sum : 0;
                double in = interest ? k->beta * sc->isc[i] : 0;
                double tr =
                        k->gamma > 0 && top_pop > 0
                                ? k->gamma *
                                          rs_cooc_popularity(sc->co, c, now) /
                                          top_pop
                                : 0;
                if (cf + in <= 0)
                        continue; /* trending alone is the fill */
                uint8_t why = cf >= in && cf >= tr ? RS_REASON_COVISIT
                              : in >= tr           ? RS_REASON_INTEREST
                                                   : RS_REASON_TRENDING;
                cand_t x = {c,
                            why == RS_REASON_COVISIT ? a->because : RS_ID_NONE,
                            cf + in + tr, why};
                if (n == m && !before(sc, &x, &h[0])) {
                        *more = 1;
                        continue;
                }
                if (excluded(sc, user, c))
                        continue;
                if (n < m) {
                        h[n++] = x;
                        for (size_t j = n / 2 + 1; n == m && j-- > 0;)
                                sift_worst(sc, h, n, j); /* full: heapify */
                        continue;
                }
                *more = 1;
                h[0] = x;
                sift_worst(sc, h, n, 0);
        }
        if (n < m) /* never filled: heapify now */
                for (size_t j = n / 2 + 1; j-- > 0 && n;)
                        sift_worst(sc, h, n, j);
        /* heapsort: the worst goes to the end each round, so the array
         * ends best first */
        for (size_t end = n; end > 1; end--) {
                cand_t t = h[0];
                h[0] = h[end - 1];
                h[end - 1] = t;
                sift_worst(sc, h, end - 1, 0);
        }
        return n;
}

/* Fills sc->recs with u's list at event time now. */
static rs_err_t compute(score_t *sc, uint32_t user, int64_t now)
{
        const score_conf_t *k = sc->conf;
        rs_recs_t *r = &sc->recs;
        size_t na, positives = 0, ncats = 0;
        const uint32_t *trend;
        size_t ntrend = rs_cooc_trending(sc->co, &trend);
        double top_pop = ntrend ? rs_cooc_popularity(sc->co, trend[0], now) : 0;

        r->user = user;
        r->generated_ts = now;
        r->n = 0;
        na = rs_uwin_affinity(sc->win, user, now, sc->witems, sc->waff,
                              sc->wmax);
        for (size_t i = 0; i < na; i++)
                positives += sc->waff[i] > 0;

        if (positives >= (size_t)k->min_history && positives > 0) {
                if (++sc->gen == 0) { /* stamps wrapped: clear them */
                        for (size_t i = 0; i < sc->acc_cap; i++)
                                sc->acc[i].stamp = 0;
                        sc->gen = 1;
                }
                /* Room made once, so the accumulation below needs no
                 * checks: an accumulator for every id (random access),
                 * and for as many candidates as this computation can
                 * touch (its neighbour lists and trending, at most every
                 * id). The first pass also refreshes stale lists. */
                uint32_t ids = rs_intern_count(sc->strings);
                size_t most = ntrend;
                for (size_t i = 0; i < na; i++) {
                        const rs_neighbor_t *nb;
                        most += rs_cooc_neighbors(sc->co, sc->witems[i], now,
                                                  &nb);
                }
                if (most > ids)
                        most = ids;
                if (ids && rs_grow_zeroed((void **)&sc->acc, &sc->acc_cap,
                                          ids - 1, sizeof(*sc->acc)))
                        return RS_ERR_NOMEM;
                if (most > sc->cands_cap) {
                        void *p;
                        if (!(p = realloc(sc->touched,
                                          most * sizeof(*sc->touched))))
                                return RS_ERR_NOMEM;
                        sc->touched = p;
                        if (!(p = realloc(sc->cands,
                                          most * sizeof(*sc->cands))))
                                return RS_ERR_NOMEM;
                        sc->cands = p;
                        if (!(p = realloc(sc->isc, most * sizeof(*sc->isc))))
                                return RS_ERR_NOMEM;
                        sc->isc = p;
                        if (!(p = realloc(sc->emb, most * (sc->dim + 1) *
                                                           sizeof(*sc->emb))))
                                return RS_ERR_NOMEM;
                        sc->emb = p;
                        sc->cands_cap = most;
                }
                sc->ntouched = 0;
                for (size_t i = 0; i < na; i++) {
                        const rs_neighbor_t *nb;
                        size_t nn = rs_cooc_neighbors(sc->co, sc->witems[i],
                                                      now, &nb);
                        const double w = sc->waff[i];
                        for (size_t j = 0; j < nn; j++) {
                                double v = w * nb[j].sim;
                                acc_t *a = touch(sc, nb[j].item);
                                a->sum += v;
                                if (v > a->best) {
                                        a->best = v;
                                        a->because = sc->witems[i];
                                }
                        }
                }
                /* the interest channel: trending items are candidates too */
                int interest = k->beta > 0 && sc->dim &&
                               rs_uwin_interest(sc->win, user, now, sc->v) &&
                               rs_vec_norm(sc->v, sc->dim) > 0;
                for (size_t i = 0; interest && i < ntrend; i++)
                        touch(sc, trend[i]);
                if (interest) {
                        /* one sgemv: candidate embeddings · unit interest */
                        rs_vec_scale(sc->v, sc->dim,
                                     1.0f / rs_vec_norm(sc->v, sc->dim));
                        for (size_t i = 0; i < sc->ntouched; i++) {
                                float *row = sc->emb + i * sc->dim;
                                const float *e = rs_item_embedding(
                                        sc->catalog, sc->touched[i],
                                        rs_cooc_category(sc->co,
                                                         sc->touched[i]),
                                        row, sc->dim);
                                if (e != row)
                                        memcpy(row, e, sc->dim * sizeof(*row));
                        }
                        rs_vec_gemv(sc->emb, sc->ntouched, sc->dim, sc->v,
                                    sc->isc);
                }
                /* The best k suffice, or 4·k for MMR's pool and the
                 * category cap; should the cap leave the list short,
                 * select again from all. */
                int capped = k->mmr_lambda < 1 || k->max_per_category;
                size_t m = (size_t)k->k * (capped ? 4 : 1);
                for (;;) {
                        int more;
                        size_t ncand = select_best(sc, user, now, m, interest,
                                                   top_pop, &more);
                        r->n = 0;
                        ncats = 0;
                        if (k->mmr_lambda < 1)
                                pick_mmr(sc, sc->cands, ncand, now, &ncats);
                        else
                                for (size_t i = 0;
                                     i < ncand && r->n < (uint32_t)k->k; i++)
                                        take(sc, &sc->cands[i], &ncats);
                        if (r->n == (uint32_t)k->k || !more ||
                            k->mmr_lambda < 1)
                                break;
                        m = sc->ntouched;
                }
        }
        /* Fill with trending items below every scored item: first those
         * in the categories of the user's window (when known), then the
         * rest; scores keep falling down the list. */
        uint32_t cats[16];
        size_t nucats = 0;
        for (size_t i = 0; i < na && nucats < 16; i++) {
                uint32_t cat = rs_cooc_category(sc->co, sc->witems[i]);
                size_t x;
                for (x = 0; x < nucats && cats[x] != cat; x++)
                        ;
                if (cat != RS_ID_NONE && x == nucats && sc->waff[i] > 0)
                        cats[nucats++] = cat;
        }
        double floor_score = r->n ? r->items[r->n - 1].score : 1.0;
        for (int pass = nucats ? 0 : 1; pass < 2; pass++) {
                for (size_t i = 0; i < ntrend && r->n < (uint32_t)k->k; i++) {
                        uint32_t c = trend[i], cat;
                        size_t x;
                        if (excluded(sc, user, c))
                                continue;
                        cat = rs_cooc_category(sc->co, c);
                        for (x = 0; x < nucats && cats[x] != cat; x++)
                                ;
                        if ((x < nucats) != (pass == 0))
                                continue; /* the other pass takes it */
                        for (x = 0; x < r->n && r->items[x].item != c; x++)
                                ;
                        if (x < r->n)
                                continue;
                        double p = top_pop > 0 ? rs_cooc_popularity(sc->co, c,
                                                                    now) /
                                                         top_pop
                                               : 0;
                        double v = floor_score * 0.999 * p;
                        if (r->n && v > r->items[r->n - 1].score * 0.999)
                                v = r->items[r->n - 1].score * 0.999;
                        cand_t t = {c, RS_ID_NONE, v, RS_REASON_TRENDING};
                        take(sc, &t, &ncats);
                }
        }
        return RS_OK;
}

static uint64_t list_hash(const rs_recs_t *r)
{
        uint64_t h = 0x51ed270b27a3c9f1ULL ^ r->n;
        for (uint32_t i = 0; i < r->n; i++)
                h = rs_hash_mix(h ^ ((uint64_t)r->items[i].item << 8 |
                                     r->items[i].reason));
        return h | 1;
}

static rs_err_t publish(score_t *sc, uint32_t user, int64_t now, int force,
                        const rs_emit_t *out)
{
        ustate_t *u = &sc->users[user];
        rs_err_t err;

        u->dirty = 0;
        if ((err = compute(sc, user, now)))
                return err;
        uint64_t h = list_hash(&sc->recs);
        if (!force && h == u->hash)
                return RS_OK; /* unchanged: nothing to say */
        u->hash = h;
        u->last_pub = now;
        return out->fn(out->opaque, &sc->recs);
}

static int enqueue(score_t *sc, uint32_t user, int64_t at)
{
        if (sc->qlen == sc->qcap) {
                size_t cap = sc->qcap ? sc->qcap * 2 : 1024;
                due_t *q = malloc(cap * sizeof(*q));
                if (!q)
                        return -1;
                for (size_t i = 0; i < sc->qlen; i++)
                        q[i] = sc->queue[(sc->qhead + i) % sc->qcap];
                free(sc->queue);
                sc->queue = q;
                sc->qcap = cap;
                sc->qhead = 0;
        }
        sc->queue[(sc->qhead + sc->qlen++) % sc->qcap] = (due_t){user, at};
        sc->users[user].queued = 1;
        return 0;
}

/* Publishes queued users that are due at now (or all of them). */
static rs_err_t drain(score_t *sc, int64_t now, int all, const rs_emit_t *out)
{
        rs_err_t err;

        while (sc->qlen) {
                due_t d = sc->queue[sc->qhead];
                if (!all && d.at > now)
                        break;
                sc->qhead = (sc->qhead + 1) % sc->qcap;
                sc->qlen--;
                sc->users[d.user].queued = 0;
                if (sc->users[d.user].dirty &&
                    (err = publish(sc, d.user, now, 0, out)))
                        return err;
        }
        return RS_OK;
}

/* The batch has passed every earlier stage already, so a user's state
 * reflects all their events of the batch: each user is considered once,
 * after the batch, at their newest event time in it. */
static rs_err_t score_process(void *st, rs_event_t *ev, size_t n,
                              const rs_emit_t *out)
{
        score_t *sc = st;
        const int64_t gap = sc->conf->min_refresh_interval;
        int64_t now = INT64_MIN;
        size_t nb = 0;
        rs_err_t err;

        if (n > sc->batch_cap) {
                uint32_t *b = realloc(sc->batch_users, n * sizeof(*b));
                if (!b)
                        return RS_ERR_NOMEM;
                sc->batch_users = b;
                sc->batch_cap = n;
        }
        for (size_t i = 0; i < n; i++) {
                const rs_event_t *e = &ev[i];
                if (e->drop)
                        continue;
                if (rs_grow_zeroed((void **)&sc->users, &sc->nusers, e->user,
                                   sizeof(*sc->users)))
                        return RS_ERR_NOMEM;
                ustate_t *u = &sc->users[e->user];
                if (!u->in_batch) {
                        u->in_batch = 1;
                        u->batch_ts = e->ts;
                        sc->batch_users[nb++] = e->user;
                } else if (e->ts > u->batch_ts) {
                        u->batch_ts = e->ts;
                }
                u->known = 1;
                u->dirty = 1;
                if (e->ts > now)
                        now = e->ts;
        }
        if (!out) { /* nothing is published yet: only remember who */
                for (size_t i = 0; i < nb; i++)
                        sc->users[sc->batch_users[i]].in_batch = 0;
                return RS_OK;
        }
        for (size_t i = 0; i < nb; i++) {
                uint32_t user = sc->batch_users[i];
                ustate_t *u = &sc->users[user];
                u->in_batch = 0;
                if (!u->hash || u->batch_ts - u->last_pub >= gap) {
                        if ((err = publish(sc, user, u->batch_ts, 0, out)))
                                return err;
                } else if (!u->queued && enqueue(sc, user, u->last_pub + gap)) {
                        return RS_ERR_NOMEM;
                }
        }
        return now == INT64_MIN ? RS_OK : drain(sc, now, 0, out);
}

static rs_err_t score_flush(void *st, int64_t now, rs_flush_t mode,
                            const rs_emit_t *out)
{
        score_t *sc = st;
        rs_err_t err;

        if (mode != RS_FLUSH_ALL)
                return drain(sc, now, mode == RS_FLUSH_PENDING, out);
        for (size_t u = 0; u < sc->nusers; u++)
                if (sc->users[u].known &&
                    (err = publish(sc, (uint32_t)u, now, 1, out)))
                        return err;
        for (size_t i = 0; i < sc->qlen; i++)
                sc->users[sc->queue[(sc->qhead + i) % sc->qcap].user].queued =
                        0;
        sc->qlen = 0;
        return RS_OK;
}

rs_err_t rs_score_list(rs_score_t *sc, uint32_t user, int64_t now,
                       const rs_recs_t **recs)
{
        rs_err_t err = compute(sc, user, now);

        *recs = &sc->recs;
        return err;
}

size_t rs_score_k(const rs_score_t *sc)
{
        return (size_t)sc->conf->k;
}

static void score_destroy(void *st)
{
        score_t *sc = st;

        if (!sc)
                return;
        free(sc->users);
        free(sc->queue);
        free(sc->acc);
        free(sc->touched);
        free(sc->cands);
        free(sc->witems);
        free(sc->waff);
        free(sc->cat_ids);
        free(sc->cat_counts);
        free(sc->batch_users);
        free(sc->v);
        free(sc->emb);
        free(sc->isc);
        free(sc);
}

static void *score_create(const void *conf, const rs_stage_env_t *env,
                          char *errstr, size_t errstr_size)
{
        const score_conf_t *k = conf;
        score_t *sc = calloc(1, sizeof(*sc));

        if (!sc)
                goto nomem;
        sc->conf = k;
        sc->strings = env->strings;
        sc->catalog = env->catalog;
        sc->win = env->find ? env->find(env, "user_window") : NULL;
        sc->co = env->find ? env->find(env, "cooccur") : NULL;
        if (!sc->win || !sc->co) {
                score_destroy(sc);
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "the score stage needs user_window and cooccur "
                          "stages before it");
                return NULL;
        }
        sc->wmax = rs_uwin_max_events(sc->win);
        sc->dim = rs_uwin_interest_dim(sc->win);
        if (!(sc->witems = malloc(sc->wmax * sizeof(*sc->witems))) ||
            !(sc->waff = malloc(sc->wmax * sizeof(*sc->waff))) ||
            !(sc->cat_ids = malloc(RS_RECS_MAX * sizeof(*sc->cat_ids))) ||
            !(sc->cat_counts = malloc(RS_RECS_MAX * sizeof(*sc->cat_counts))) ||
            !(sc->v = calloc(sc->dim + 1, sizeof(*sc->v))))
                goto nomem;
        return sc;
nomem:
        score_destroy(sc);
        rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
        return NULL;
}

const rs_stage_ops_t rs_stage_score = {
        .type = "score",
        .doc = "Per-user top-K from the neighbours of the window items plus "
               "trending; seen and removed items excluded; category cap; "
               "debounced publication.",
        .props = props,
        .conf_size = sizeof(score_conf_t),
        .create = score_create,
        .process = score_process,
        .flush = score_flush,
        .destroy = score_destroy,
};
