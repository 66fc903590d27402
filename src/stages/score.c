/* score.c — the `score` stage: each user's top-K and its publication.
 *
 * score(c) = Σ_i a_u(i)·sim(i,c) over the user's window items i and their
 * neighbours c, + β·(unit interest · embedding of c), + γ·trending(c)
 * (popularity relative to the most popular item). Seen and removed items
 * are excluded; at most max_per_category items of one category; lists
 * shorter than K are filled with trending items (those in the user's own
 * categories first), and users with fewer than min_history positive items
 * get trending items only. Each item says why: covisit (because_of: the
 * window item that contributed most), sequence (the same, where that
 * item's similarity to it came mostly from the transition channel: it is
 * watched next after because_of), interest or trending. Ties break by
 * item id string.
 *
 * The cost is per computation: one pass over the window items' neighbour
 * lists into a sparse accumulator, then a bounded selection. What is the
 * same for every user (the trending items' categories, popularity and
 * embeddings) is made once per batch, and a category's one-hot embedding
 * makes the interest score a lookup instead of a dot product.
 *
 * A user is recomputed when one of their events arrives, but published at
 * most once per min_refresh_interval of event time, and only when the list
 * (items and order) changed; users waiting for their interval sit in a FIFO
 * that each batch drains up to its newest event time. A user's first list
 * is not published while it is empty (nothing known yet, as before the
 * first neighbour lists): its user is made again, once, each time the
 * neighbour table has changed (rs_nbtable_version), at the next batch or
 * flush, so users whose events all came before the model get their list
 * when it comes. (A later empty list is published: the items it replaces
 * were seen.) Without an `out` (replay, eval) nothing is computed until
 * asked: rs_score_list or a flush, which writes every list, empty or not.
 *
 * Per-user state is indexed by user id, so it is bounded by the string
 * table's id bound (intern.h): it is kept only for users the user_window
 * holds and dropped when the window evicts one (rs_uwin_on_evict), with
 * its place in the FIFO made stale, so a recycled id starts afresh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/nbtable.h"
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
        int normalize;
} score_conf_t;

#define SC(f) offsetof(score_conf_t, f)
static const rs_prop_t props[] = {
        {"k", RS_PROP_INT, SC(k), "20", 1, RS_RECS_MAX, NULL, RS_PROP_RELOAD,
         "Items per user list."},
        {"beta", RS_PROP_DOUBLE, SC(beta), "0", 0, 1e6, NULL, RS_PROP_RELOAD,
         "Weight of the interest channel: the user's unit interest vector "
         "· the candidate's embedding (user_window.interest_dim > 0). With "
         "beta > 0 trending items are candidates too, so items without "
         "co-occurrence yet can reach users through it."},
        {"gamma", RS_PROP_DOUBLE, SC(gamma), "0", 0, 1e6, NULL, RS_PROP_RELOAD,
         "Weight of trending (popularity relative to the top item) added to "
         "every candidate's score."},
        {"min_history", RS_PROP_INT, SC(min_history), "1", 0, 10000, NULL,
         RS_PROP_RELOAD,
         "Users with fewer positive window items get trending items."},
        {"max_per_category", RS_PROP_INT, SC(max_per_category), "0", 0, 10000,
         NULL, RS_PROP_RELOAD,
         "Diversity: items of one category per list (0: no cap)."},
        {"mmr_lambda", RS_PROP_DOUBLE, SC(mmr_lambda), "1", 0, 1, NULL,
         RS_PROP_RELOAD,
         "Diversity by maximal marginal relevance over the best 4·k: pick "
         "by λ·score/top − (1−λ)·max sim to the items already picked "
         "(1: off)."},
        {"min_refresh_interval", RS_PROP_DURATION, SC(min_refresh_interval),
         "10s", 0, RS_DURATION_MAX_MS, NULL, RS_PROP_RELOAD,
         "A user is republished at most this often (event time), and only "
         "when the list changed."},
        {"normalize", RS_PROP_BOOL, SC(normalize), "false", 0, -1, NULL,
         RS_PROP_RELOAD,
         "Each window item votes with its neighbour list's similarities "
         "divided by their sum (Deshpande & Karypis' row normalisation): an "
         "item with many strong neighbours spreads one vote over them "
         "instead of outvoting the user's other items."},
        {0},
};

typedef struct ustate {
        uint64_t hash;     /* of the last published list, 0 none */
        int64_t last_pub;  /* event time of the last publication (hash != 0) */
        int64_t batch_ts;  /* newest event of the user in this batch */
        int64_t due_at;    /* of the user's FIFO entry, when queued */
        uint32_t wait_seq; /* of the user's entry in `waiting`, when there */
        uint8_t dirty, queued, known, in_batch;
        uint8_t waiting; /* their first list was empty: not published */
} ustate_t;

typedef struct due {
        uint32_t user;
        int64_t at;
} due_t;

/* A user whose first list was empty, tried again once the table changed. */
typedef struct wait {
        uint32_t user, seq;
} wait_t;

/* One candidate's accumulator: Σ a(i)·sim(i,c) and the largest term. */
typedef struct acc {
        uint32_t stamp;   /* computation it belongs to (score_t.gen) */
        uint32_t because; /* window item of the largest term */
        double sum, best;
        uint8_t seq; /* the largest term's sim is mostly its transition part */
} acc_t;

typedef struct cand {
        uint32_t item, because;
        double score;
        uint8_t reason;
        uint32_t category;
} cand_t;

typedef struct rs_score {
        const score_conf_t *conf;
        rs_uwin_t *win;
        const rs_nbtable_t *nt;
        const rs_catalog_t *catalog;
        const rs_intern_t *strings;
        ustate_t *users;
        size_t nusers;
        due_t *queue; /* ring */
        size_t qhead, qlen, qcap;
        size_t nstale;   /* entries of the ring no longer anyone's */
        wait_t *waiting; /* users whose list was empty, oldest first */
        size_t nwaiting, waiting_cap;
        uint32_t wait_seq;
        uint64_t waited_version; /* of the table when they were tried */
        rs_score_counts_t counts;
        /* sparse accumulator by item id, valid where stamp == gen */
        acc_t *acc;
        size_t acc_cap;
        uint32_t gen;
        uint32_t *touched; /* items started in this computation */
        size_t ntouched;
        size_t from_slots;       /* touched[from_slots..]: slot candidates, the
                                  * user may get them (checked there) */
        rs_nbtable_item_t *info; /* of touched[i], when needed */
        cand_t *cands;
        size_t cands_cap;
        uint32_t *witems;
        const rs_neighbor_t **wnb; /* their neighbour lists */
        size_t *wnn;
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
        uint32_t *rowpos; /* the candidate of each row of emb */
        float *rsc;       /* the rows' dot products */
        /* The trending items with their category and popularity, and for
         * the interest channel their embeddings: rows of temb for those
         * with their own (tdense), lists by slot for those with their
         * category's one-hot vector (tslot[slot_start[s]..slot_start[s+1])
         * in popularity order). The same for every user until
         * co-occurrence changes: made at most once per batch, by the
         * first list that needs them (trend_ready). */
        const uint32_t *trend;
        size_t ntrend, trend_cap, ndense;
        rs_nbtable_item_t *tinfo;
        uint64_t *thash; /* their string hashes, for the seen check */
        uint8_t *tgone;  /* removed from the catalog */
        float *temb, *tisc;
        uint32_t *tdense, *tslot, *twhere;
        uint32_t *slot_start, *slot_next; /* slot_next: this computation's */
        int trend_ready;
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

/* A category's key for its one-hot embedding slot: its string's hash. */
static uint64_t cat_key(const score_t *sc, uint32_t category)
{
        return category == RS_ID_NONE ? 0
                                      : rs_intern_hash(sc->strings, category);
}

/* c's accumulator in this computation, started at zero on first touch
 * (room for every id was made before). */
static inline acc_t *touch(score_t *sc, uint32_t c)
{
        acc_t *a = &sc->acc[c];

        if (a->stamp != sc->gen) {
                *a = (acc_t){sc->gen, RS_ID_NONE, 0, -INFINITY, 0};
                sc->touched[sc->ntouched++] = c;
                /* its string hash, which the seen check in select_best
                 * reads: there the misses would come one after another */
                rs_intern_prefetch_hash(sc->strings, c);
        }
        return a;
}

static int excluded(const score_t *sc, uint32_t user, uint32_t item)
{
        return rs_uwin_seen(sc->win, user, item) ||
               rs_catalog_removed(sc->catalog, item);
}

/* excluded() of trending item t, from what trend_prepare looked up. */
static int trend_excluded(const score_t *sc, uint32_t user, size_t t)
{
        return sc->tgone[t] || rs_uwin_seen_hash(sc->win, user, sc->thash[t]);
}

/* Appends c unless its category is full; returns 1 when taken. */
static int take(score_t *sc, const cand_t *c, size_t *ncats)
{
        const score_conf_t *k = sc->conf;
        rs_recs_t *r = &sc->recs;

        if (k->max_per_category) {
                uint32_t cat = c->category;
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
 * pick maximises λ·score/top − (1−λ)·max over picked p of sim(p → c), the
 * neighbour table's similarity (0 when c is not among p's neighbours). */
static void pick_mmr(score_t *sc, cand_t *c, size_t pool, size_t *ncats)
{
        const score_conf_t *k = sc->conf;
        rs_recs_t *r = &sc->recs;
        double top = pool ? c[0].score : 1;

        while (pool && r->n < (uint32_t)k->k) {
                size_t pick = 0; /* should every value be NaN */
                double best = -INFINITY;
                for (size_t i = 0; i < pool; i++) {
                        double red = 0;
                        for (uint32_t j = 0; j < r->n; j++) {
                                double s = rs_nbtable_sim(
                                        sc->nt, r->items[j].item, c[i].item);
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
                for (size_t i = pick; i + 1 < pool; i++)
                        c[i] = c[i + 1]; /* the rest keep their order */
                pool--;
        }
}

/* The best `m` candidates of this computation that the user may get, best
 * first, into sc->cands; returns how many. *more is set when candidates
 * beyond them were cut off. A bounded heap (worst on top) means most
 * candidates cost one comparison, and only those that would enter it are
 * checked for being seen or removed (slot candidates were checked when
 * they became candidates). */
static size_t select_best(score_t *sc, uint32_t user, size_t m, int interest,
                          int info, int *more)
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
                double tr = info ? k->gamma * sc->info[i].popularity : 0;
                if (cf + in <= 0)
                        continue; /* trending alone is the fill */
                uint8_t why = cf >= in && cf >= tr
                                      ? (a->seq ? RS_REASON_SEQUENCE
                                                : RS_REASON_COVISIT)
                              : in >= tr ? RS_REASON_INTEREST
                                         : RS_REASON_TRENDING;
                cand_t x = {c,
                            rs_reason_wire(why) == RS_REASON_COVISIT
                                    ? a->because
                                    : RS_ID_NONE,
                            cf + in + tr, why, RS_ID_NONE};
                if (n == m && !before(sc, &x, &h[0])) {
                        *more = 1;
                        continue;
                }
                if (i < sc->from_slots && excluded(sc, user, c))
                        continue;
                x.category = info ? sc->info[i].category
                                  : rs_nbtable_item(sc->nt, c).category;
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

/* Makes the trending items' category, popularity and embeddings. */
static rs_err_t trend_prepare(score_t *sc)
{
        size_t n = rs_nbtable_trending(sc->nt, &sc->trend);
        size_t dim = sc->conf->beta > 0 ? sc->dim : 0;

        if (n > sc->trend_cap) {
                if (rs_resize((void **)&sc->tinfo, n, sizeof(*sc->tinfo)) ||
                    rs_resize((void **)&sc->thash, n, sizeof(*sc->thash)) ||
                    rs_resize((void **)&sc->tgone, n, sizeof(*sc->tgone)) ||
                    rs_resize((void **)&sc->tisc, n, sizeof(*sc->tisc)) ||
                    rs_resize((void **)&sc->temb, n * (sc->dim + 1),
                              sizeof(*sc->temb)) ||
                    rs_resize((void **)&sc->tdense, n, sizeof(*sc->tdense)) ||
                    rs_resize((void **)&sc->tslot, n, sizeof(*sc->tslot)) ||
                    rs_resize((void **)&sc->twhere, n, sizeof(*sc->twhere)))
                        return RS_ERR_NOMEM;
                sc->trend_cap = n;
        }
        sc->ndense = 0;
        memset(sc->slot_start, 0, (sc->dim + 1) * sizeof(*sc->slot_start));
        for (size_t i = 0; i < n; i++) {
                sc->tinfo[i] = rs_nbtable_item(sc->nt, sc->trend[i]);
                sc->thash[i] = rs_intern_hash(sc->strings, sc->trend[i]);
                sc->tgone[i] =
                        (uint8_t)rs_catalog_removed(sc->catalog, sc->trend[i]);
                sc->twhere[i] = (uint32_t)dim;
                if (!dim)
                        continue;
                const float *e = rs_catalog_own_embedding(sc->catalog,
                                                          sc->trend[i], dim);
                if (e) {
                        memcpy(sc->temb + sc->ndense * dim, e,
                               dim * sizeof(*e));
                        sc->tdense[sc->ndense++] = (uint32_t)i;
                        continue;
                }
                sc->twhere[i] = (uint32_t)rs_vec_category_slot(
                        cat_key(sc, sc->tinfo[i].category), dim);
                if (sc->twhere[i] < dim)
                        sc->slot_start[sc->twhere[i] + 1]++;
        }
        for (size_t x = 0; x < dim; x++) {
                sc->slot_start[x + 1] += sc->slot_start[x];
                sc->slot_next[x] = sc->slot_start[x];
        }
        for (size_t i = 0; i < n; i++)
                if (sc->twhere[i] < dim)
                        sc->tslot[sc->slot_next[sc->twhere[i]]++] = (uint32_t)i;
        sc->ntrend = n;
        sc->trend_ready = 1;
        return RS_OK;
}

/* Room for `most` candidates in the per-candidate buffers. */
static rs_err_t reserve(score_t *sc, size_t most)
{
        if (most <= sc->cands_cap)
                return RS_OK;
        if (rs_resize((void **)&sc->touched, most, sizeof(*sc->touched)) ||
            rs_resize((void **)&sc->info, most, sizeof(*sc->info)) ||
            rs_resize((void **)&sc->cands, most, sizeof(*sc->cands)) ||
            rs_resize((void **)&sc->isc, most, sizeof(*sc->isc)) ||
            rs_resize((void **)&sc->rowpos, most, sizeof(*sc->rowpos)) ||
            rs_resize((void **)&sc->rsc, most, sizeof(*sc->rsc)) ||
            rs_resize((void **)&sc->emb, most * (sc->dim + 1),
                      sizeof(*sc->emb)))
                return RS_ERR_NOMEM;
        sc->cands_cap = most;
        return RS_OK;
}

/* The interest channel: the unit interest vector · each candidate's
 * embedding. A category's one-hot embedding makes it a lookup; items with
 * their own take one sgemv, and so do the trending items with their own,
 * which become candidates. */
static void interest_scores(score_t *sc, float unit)
{
        const size_t ncf = sc->ntouched, dim = sc->dim;
        const float *v = sc->v;
        size_t nrow = 0;

        rs_vec_scale(sc->v, dim, unit);
        for (size_t i = 0; i < ncf; i++) {
                const float *e = rs_catalog_own_embedding(sc->catalog,
                                                          sc->touched[i], dim);
                if (e) {
                        memcpy(sc->emb + nrow * dim, e, dim * sizeof(*e));
                        sc->rowpos[nrow++] = (uint32_t)i;
                        continue;
                }
                size_t slot = rs_vec_category_slot(
                        cat_key(sc, sc->info[i].category), dim);
                sc->isc[i] = slot < dim ? v[slot] : 0;
        }
        if (nrow) {
                rs_vec_gemv(sc->emb, nrow, dim, v, sc->rsc);
                for (size_t r = 0; r < nrow; r++)
                        sc->isc[sc->rowpos[r]] = sc->rsc[r];
        }
        if (sc->ndense)
                rs_vec_gemv(sc->temb, sc->ndense, dim, v, sc->tisc);
        for (size_t j = 0; j < sc->ndense; j++) {
                uint32_t t = sc->tdense[j];
                if (sc->acc[sc->trend[t]].stamp == sc->gen)
                        continue; /* a candidate already, scored above */
                touch(sc, sc->trend[t]);
                sc->isc[sc->ntouched - 1] = sc->tisc[j];
                sc->info[sc->ntouched - 1] = sc->tinfo[t];
        }
        memcpy(sc->slot_next, sc->slot_start, dim * sizeof(*sc->slot_next));
}

/* The trending items with their category's embedding score β·v[slot] +
 * γ·popularity: within a slot, popularity order. So of each slot where the
 * user's interest is positive (elsewhere trending alone is the fill) only
 * the first m the user may get can be among the best m candidates: those
 * become candidates, with any tied with the last. Called again with a
 * larger m, it goes on where it stopped. Returns whether a slot has more. */
static int slot_candidates(score_t *sc, uint32_t user, size_t m)
{
        const double beta = sc->conf->beta, gamma = sc->conf->gamma;
        int more = 0;

        for (size_t s = 0; s < sc->dim; s++) {
                uint32_t i = sc->slot_next[s], end = sc->slot_start[s + 1];
                size_t took = 0;
                double last = 0;
                if (!(sc->v[s] > 0))
                        continue;
                for (; i < end; i++) {
                        uint32_t t = sc->tslot[i], c = sc->trend[t];
                        /* as select_best adds it up */
                        double total = beta * sc->v[s] +
                                       gamma * sc->tinfo[t].popularity;
                        if (took >= m && total != last)
                                break;
                        if (sc->acc[c].stamp == sc->gen ||
                            trend_excluded(sc, user, t))
                                continue;
                        touch(sc, c);
                        sc->isc[sc->ntouched - 1] = sc->v[s];
                        sc->info[sc->ntouched - 1] = sc->tinfo[t];
                        took++;
                        last = total;
                }
                sc->slot_next[s] = i;
                more |= i < end;
        }
        return more;
}

/* Weight w spread over a neighbour list (score.normalize): over the
 * sum of its similarities, when it has any. */
static double normalized(double w, const rs_neighbor_t *nb, size_t nn)
{
        double mass = 0;

        for (size_t j = 0; j < nn; j++)
                mass += nb[j].sim;
        return mass > 0 ? w / mass : w;
}

/* Fills sc->recs with u's list at event time now. */
static rs_err_t compute(score_t *sc, uint32_t user, int64_t now)
{
        const score_conf_t *k = sc->conf;
        rs_recs_t *r = &sc->recs;
        size_t na, positives = 0, ncats = 0;
        rs_err_t err;

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
                /* With the interest channel trending items are
                 * candidates too, so they are made ready now; without
                 * it only a short list's fill needs them. */
                int interest = k->beta > 0 && sc->dim &&
                               rs_uwin_interest(sc->win, user, now, sc->v);
                /* a vector decayed to (nearly) nothing has no direction
                 * left: its unit vector would not be finite in floats */
                float unit = interest ? 1.0f / rs_vec_norm(sc->v, sc->dim) : 0;
                interest = interest && isfinite(unit);
                if (interest && !sc->trend_ready && (err = trend_prepare(sc)))
                        return err;
                /* Room made once, so the accumulation below needs no
                 * checks: an accumulator for every id (random access),
                 * and for as many candidates as this computation can
                 * touch (its neighbour lists, and with the interest
                 * channel trending; at most every id). */
                uint32_t ids = rs_intern_id_bound(sc->strings);
                size_t most = interest ? sc->ntrend : 0;
                for (size_t i = 0; i < na; i++) {
                        sc->wnn[i] = rs_nbtable_neighbors(sc->nt, sc->witems[i],
                                                          &sc->wnb[i]);
                        most += sc->wnn[i];
                        if (sc->wnn[i])
                                __builtin_prefetch(sc->wnb[i]);
                }
                if (most > ids)
                        most = ids;
                if (ids && rs_grow_zeroed((void **)&sc->acc, &sc->acc_cap,
                                          ids - 1, sizeof(*sc->acc)))
                        return RS_ERR_NOMEM;
                if ((err = reserve(sc, most)))
                        return err;
                sc->ntouched = 0;
                for (size_t i = 0; i < na; i++) {
                        const rs_neighbor_t *nb = sc->wnb[i];
                        const size_t nn = sc->wnn[i];
                        double w = sc->waff[i];
                        /* accumulators are random accesses: ask for them
                         * a few ahead */
                        for (size_t j = 0; j < nn && j < 8; j++)
                                __builtin_prefetch(&sc->acc[nb[j].item], 1);
                        if (k->normalize)
                                w = normalized(w, nb, nn);
                        for (size_t j = 0; j < nn; j++) {
                                if (j + 8 < nn)
                                        __builtin_prefetch(
                                                &sc->acc[nb[j + 8].item], 1);
                                double v = w * nb[j].sim;
                                acc_t *a = touch(sc, nb[j].item);
                                a->sum += v;
                                if (v > a->best) {
                                        a->best = v;
                                        a->because = sc->witems[i];
                                        a->seq = nb[j].seq * 2 > nb[j].sim;
                                }
                        }
                }
                /* Category and popularity, when a channel needs them */
                int info = k->gamma > 0 || interest;
                for (size_t i = 0; info && i < sc->ntouched; i++)
                        sc->info[i] = rs_nbtable_item(sc->nt, sc->touched[i]);
                if (interest)
                        interest_scores(sc, unit);
                /* The best k suffice, 4·k are MMR's pool, and 2·k
                 * usually leave enough after the category cap; should
                 * the cap leave the list short, select twice as many. */
                size_t m = (size_t)k->k * (k->mmr_lambda < 1     ? 4
                                           : k->max_per_category ? 2
                                                                 : 1);
                sc->from_slots = sc->ntouched;
                int slots_more = interest && slot_candidates(sc, user, m);
                for (;;) {
                        int more;
                        size_t ncand =
                                select_best(sc, user, m, interest, info, &more);
                        r->n = 0;
                        ncats = 0;
                        if (k->mmr_lambda < 1)
                                pick_mmr(sc, sc->cands, ncand, &ncats);
                        else
                                for (size_t i = 0;
                                     i < ncand && r->n < (uint32_t)k->k; i++)
                                        take(sc, &sc->cands[i], &ncats);
                        if (r->n == (uint32_t)k->k || !(more || slots_more) ||
                            k->mmr_lambda < 1)
                                break;
                        m *= 2;
                        slots_more = interest && slot_candidates(sc, user, m);
                }
        }
        /* Fill with trending items below every scored item: first those
         * in the categories of the user's window (when known), then the
         * rest; scores keep falling down the list. A full list needs no
         * trending items: without the interest channel they are made
         * ready only for a fill. */
        if (r->n == (uint32_t)k->k)
                return RS_OK;
        if (!sc->trend_ready && (err = trend_prepare(sc)))
                return err;
        uint32_t cats[16];
        size_t nucats = 0;
        for (size_t i = 0; i < na && nucats < 16; i++) {
                uint32_t cat = rs_nbtable_item(sc->nt, sc->witems[i]).category;
                size_t x;
                for (x = 0; x < nucats && cats[x] != cat; x++)
                        ;
                if (cat != RS_ID_NONE && x == nucats && sc->waff[i] > 0)
                        cats[nucats++] = cat;
        }
        double floor_score = r->n ? r->items[r->n - 1].score : 1.0;
        for (int pass = nucats ? 0 : 1; pass < 2; pass++) {
                for (size_t i = 0; i < sc->ntrend && r->n < (uint32_t)k->k;
                     i++) {
                        uint32_t c = sc->trend[i], cat = sc->tinfo[i].category;
                        size_t x;
                        for (x = 0; x < nucats && cats[x] != cat; x++)
                                ;
                        if ((x < nucats) != (pass == 0))
                                continue; /* the other pass takes it */
                        for (x = 0; x < r->n && r->items[x].item != c; x++)
                                ;
                        if (x < r->n || trend_excluded(sc, user, i))
                                continue;
                        double v =
                                floor_score * 0.999 * sc->tinfo[i].popularity;
                        if (r->n && v > r->items[r->n - 1].score * 0.999)
                                v = r->items[r->n - 1].score * 0.999;
                        cand_t t = {c, RS_ID_NONE, v, RS_REASON_TRENDING, cat};
                        take(sc, &t, &ncats);
                }
        }
        return RS_OK;
}

/* Of the items' strings, not their ids: the same in every process, so a
 * restored user's last list compares with the next (issue 11). */
static uint64_t list_hash(const score_t *sc, const rs_recs_t *r)
{
        uint64_t h = 0x51ed270b27a3c9f1ULL ^ r->n;
        for (uint32_t i = 0; i < r->n; i++)
                h = rs_hash_mix(h ^
                                rs_intern_hash(sc->strings, r->items[i].item) ^
                                r->items[i].reason);
        return h | 1;
}

/* Whether an entry of `waiting` is still its user's: not once the user
 * got a list, was evicted, or waits again by a newer entry. */
static int wait_live(const score_t *sc, wait_t w)
{
        const ustate_t *u = &sc->users[w.user];
        return u->waiting && u->wait_seq == w.seq;
}

/* Drops the stale entries of `waiting`, keeping the order: a user has at
 * most one live entry, so compacted when full it stays within twice the
 * users held, however long the table does not change. */
static void waiting_compact(score_t *sc)
{
        size_t n = 0;

        for (size_t i = 0; i < sc->nwaiting; i++)
                if (wait_live(sc, sc->waiting[i]))
                        sc->waiting[n++] = sc->waiting[i];
        sc->nwaiting = n;
}

static rs_err_t publish(score_t *sc, uint32_t user, int64_t now, int force,
                        const rs_emit_t *out)
{
        ustate_t *u = &sc->users[user];
        rs_err_t err;

        u->dirty = 0;
        if ((err = compute(sc, user, now)))
                return err;
        u->waiting = 0;
        if (!force && !sc->recs.n && !u->hash) {
                /* a first list with nothing in it (no neighbour lists, no
                 * trending yet) tells a reader nothing: made again when
                 * the table has changed. (Once a user has a list, an
                 * empty one replaces it: its items were seen.) */
                sc->counts.empty++;
                if (sc->nwaiting == sc->waiting_cap)
                        waiting_compact(sc);
                if (rs_grow_zeroed((void **)&sc->waiting, &sc->waiting_cap,
                                   sc->nwaiting, sizeof(*sc->waiting)))
                        return RS_ERR_NOMEM;
                u->waiting = 1;
                u->wait_seq = ++sc->wait_seq;
                sc->waiting[sc->nwaiting++] = (wait_t){user, u->wait_seq};
                return RS_OK;
        }
        uint64_t h = list_hash(sc, &sc->recs);
        if (!force && h == u->hash) {
                sc->counts.unchanged++;
                return RS_OK; /* unchanged: nothing to say */
        }
        u->hash = h;
        u->last_pub = now;
        sc->counts.published++;
        return out->fn(out->opaque, &sc->recs);
}

/* Whether a FIFO entry is still its user's: an evicted user's is not,
 * and neither is it for a user who got the same id since. */
static int due_live(const score_t *sc, const due_t *d)
{
        const ustate_t *u = &sc->users[d->user];
        return u->queued && u->due_at == d->at;
}

/* Drops the stale entries of a full FIFO, in place, keeping the order. */
static void compact(score_t *sc)
{
        size_t n = 0;

        for (size_t i = 0; i < sc->qlen; i++) {
                due_t d = sc->queue[(sc->qhead + i) % sc->qcap];
                if (due_live(sc, &d))
                        sc->queue[(sc->qhead + n++) % sc->qcap] = d;
        }
        sc->qlen = n;
        sc->nstale = 0;
}

static int enqueue(score_t *sc, uint32_t user, int64_t at)
{
        /* mostly stale: make room instead of growing (the ring stays
         * within twice its live entries, at most one per held user) */
        if (sc->qlen == sc->qcap && sc->nstale * 2 > sc->qlen)
                compact(sc);
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
        sc->users[user].due_at = at;
        return 0;
}

/* A user whose list is to be made again at ts: published now unless
 * within min_refresh_interval of their last publication; then queued for
 * the end of it. */
static rs_err_t refresh_user(score_t *sc, uint32_t user, int64_t ts,
                             const rs_emit_t *out)
{
        ustate_t *u = &sc->users[user];
        const int64_t gap = sc->conf->min_refresh_interval;

        if (!u->hash || ts - u->last_pub >= gap)
                return publish(sc, user, ts, 0, out);
        sc->counts.debounced++;
        u->dirty = 1;
        if (!u->queued && enqueue(sc, user, u->last_pub + gap))
                return RS_ERR_NOMEM;
        return RS_OK;
}

/* The users whose first list was empty, made again at now once the table has
 * changed since they were last tried (so a user seen before the first
 * neighbour lists came gets a list when they come, without an event of
 * their own): each at most once per change. Users of the current batch
 * (in_batch) are made by the batch. */
static rs_err_t retry_waiting(score_t *sc, int64_t now, const rs_emit_t *out)
{
        const uint64_t version = rs_nbtable_version(sc->nt);
        const size_t n = sc->nwaiting;
        rs_err_t err;

        if (!n || version == sc->waited_version)
                return RS_OK;
        sc->waited_version = version;
        for (size_t i = 0; i < n; i++) {
                wait_t w = sc->waiting[i];
                if (!wait_live(sc, w) || sc->users[w.user].in_batch)
                        continue; /* made since, evicted, or the batch's */
                if ((err = refresh_user(sc, w.user, now, out)))
                        return err; /* the entries stay: stale ones skip */
        }
        /* those still empty were appended again */
        memmove(sc->waiting, sc->waiting + n,
                (sc->nwaiting - n) * sizeof(*sc->waiting));
        sc->nwaiting -= n;
        return RS_OK;
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
                if (!due_live(sc, &d)) {
                        sc->nstale--;
                        continue; /* its user was evicted */
                }
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
        int64_t now = INT64_MIN;
        size_t nb = 0;
        rs_err_t err;

        sc->trend_ready = 0; /* the earlier stages have moved on */
        if (n > sc->batch_cap) {
                uint32_t *b = realloc(sc->batch_users, n * sizeof(*b));
                if (!b)
                        return RS_ERR_NOMEM;
                sc->batch_users = b;
                sc->batch_cap = n;
        }
        for (size_t i = 0; i < n; i++) {
                const rs_event_t *e = &ev[i];
                /* a user the window evicted later in the batch has no
                 * state left to score: none is kept here either */
                if (e->drop || !rs_uwin_holds(sc->win, e->user))
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
        if (now != INT64_MIN && (err = retry_waiting(sc, now, out)))
                return err;
        for (size_t i = 0; i < nb; i++) {
                uint32_t user = sc->batch_users[i];
                sc->users[user].in_batch = 0;
                if ((err = refresh_user(sc, user, sc->users[user].batch_ts,
                                        out)))
                        return err;
        }
        return now == INT64_MIN ? RS_OK : drain(sc, now, 0, out);
}

static rs_err_t score_flush(void *st, int64_t now, rs_flush_t mode,
                            const rs_emit_t *out)
{
        score_t *sc = st;
        rs_err_t err;

        sc->trend_ready = 0;
        if (mode != RS_FLUSH_ALL)
                return (err = retry_waiting(sc, now, out))
                               ? err
                               : drain(sc, now, mode == RS_FLUSH_PENDING, out);
        for (size_t u = 0; u < sc->nusers; u++)
                if (sc->users[u].known &&
                    (err = publish(sc, (uint32_t)u, now, 1, out)))
                        return err;
        for (size_t i = 0; i < sc->qlen; i++)
                sc->users[sc->queue[(sc->qhead + i) % sc->qcap].user].queued =
                        0;
        sc->qlen = 0;
        sc->nstale = 0;
        sc->nwaiting = 0; /* every list went, empty or not */
        return RS_OK;
}

rs_err_t rs_score_list(rs_score_t *sc, uint32_t user, int64_t now,
                       const rs_recs_t **recs)
{
        rs_err_t err;

        sc->trend_ready = 0; /* called between batches */
        err = compute(sc, user, now);
        *recs = &sc->recs;
        return err;
}

size_t rs_score_k(const rs_score_t *sc)
{
        return (size_t)sc->conf->k;
}

size_t rs_score_users(const rs_score_t *sc)
{
        size_t n = 0;

        for (size_t u = 0; u < sc->nusers; u++)
                n += sc->users[u].known;
        return n;
}

rs_score_counts_t rs_score_counts(const rs_score_t *sc)
{
        return sc->counts;
}

size_t rs_score_bytes(const rs_score_t *sc)
{
        return sc->nusers * sizeof(*sc->users) +
               sc->waiting_cap * sizeof(*sc->waiting) +
               sc->acc_cap * sizeof(*sc->acc) + sc->qcap * sizeof(*sc->queue) +
               sc->cands_cap * (sizeof(*sc->touched) + sizeof(*sc->info) +
                                sizeof(*sc->cands) + sizeof(*sc->isc) +
                                sizeof(*sc->rowpos) + sizeof(*sc->rsc) +
                                (sc->dim + 1) * sizeof(*sc->emb));
}

static void score_destroy(void *st)
{
        score_t *sc = st;

        if (!sc)
                return;
        free(sc->users);
        free(sc->queue);
        free(sc->waiting);
        free(sc->acc);
        free(sc->touched);
        free(sc->cands);
        free(sc->witems);
        free(sc->wnb);
        free(sc->wnn);
        free(sc->waff);
        free(sc->cat_ids);
        free(sc->cat_counts);
        free(sc->batch_users);
        free(sc->v);
        free(sc->emb);
        free(sc->isc);
        free(sc->info);
        free(sc->rowpos);
        free(sc->rsc);
        free(sc->tinfo);
        free(sc->thash);
        free(sc->tgone);
        free(sc->temb);
        free(sc->tisc);
        free(sc->tdense);
        free(sc->tslot);
        free(sc->twhere);
        free(sc->slot_start);
        free(sc->slot_next);
        free(sc);
}

/* The window evicted user: its state goes, and its FIFO entry is stale. */
static void on_evict(void *opaque, uint32_t user)
{
        score_t *sc = opaque;

        if (user >= sc->nusers)
                return;
        if (sc->users[user].queued)
                sc->nstale++;
        sc->users[user] = (ustate_t){0};
}

/* What survives of a user (issue 11): the last list published, and
 * whether a newer one waits for its refresh interval. */
static void score_save(void *st, uint32_t user, rs_user_state_t *s)
{
        const score_t *sc = st;
        const ustate_t *u = user < sc->nusers ? &sc->users[user] : NULL;

        if (!u || !u->known)
                return;
        s->list_hash = u->hash;
        s->last_pub = u->last_pub;
        s->pending = u->dirty || u->waiting;
}

static rs_err_t score_load(void *st, const rs_user_state_t *s)
{
        score_t *sc = st;

        if (rs_grow_zeroed((void **)&sc->users, &sc->nusers, s->user,
                           sizeof(*sc->users)))
                return RS_ERR_NOMEM;
        ustate_t *u = &sc->users[s->user];
        if (u->queued)
                sc->nstale++;
        *u = (ustate_t){
                .hash = s->list_hash, .last_pub = s->last_pub, .known = 1};
        /* pending: published when its interval is up, by its new owner */
        if (s->pending) {
                u->dirty = 1;
                if (enqueue(sc, s->user,
                            u->hash ? u->last_pub +
                                              sc->conf->min_refresh_interval
                                    : s->last_ts))
                        return RS_ERR_NOMEM;
        }
        return RS_OK;
}

static void *score_create(const void *conf, rs_stage_env_t *env, char *errstr,
                          size_t errstr_size)
{
        const score_conf_t *k = conf;
        score_t *sc = calloc(1, sizeof(*sc));

        if (!sc)
                goto nomem;
        sc->conf = k;
        sc->strings = env->strings;
        sc->catalog = env->catalog;
        sc->win = env->user_window;
        sc->nt = env->neighbors;
        if (!sc->win || !sc->nt) {
                score_destroy(sc);
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "the score stage needs a user_window stage before "
                          "it and a neighbour table");
                return NULL;
        }
        if (rs_uwin_on_evict(sc->win, on_evict, sc)) {
                score_destroy(sc);
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "too many score stages on one user_window");
                return NULL;
        }
        sc->wmax = rs_uwin_max_events(sc->win);
        sc->dim = rs_uwin_interest_dim(sc->win);
        if (!(sc->witems = malloc(sc->wmax * sizeof(*sc->witems))) ||
            !(sc->wnb = malloc(sc->wmax * sizeof(*sc->wnb))) ||
            !(sc->wnn = malloc(sc->wmax * sizeof(*sc->wnn))) ||
            !(sc->waff = malloc(sc->wmax * sizeof(*sc->waff))) ||
            !(sc->cat_ids = malloc(RS_RECS_MAX * sizeof(*sc->cat_ids))) ||
            !(sc->cat_counts = malloc(RS_RECS_MAX * sizeof(*sc->cat_counts))) ||
            !(sc->v = calloc(sc->dim + 1, sizeof(*sc->v))) ||
            !(sc->slot_start = calloc(sc->dim + 1, sizeof(*sc->slot_start))) ||
            !(sc->slot_next = calloc(sc->dim + 1, sizeof(*sc->slot_next))))
                goto nomem;
        return sc;
nomem:
        score_destroy(sc);
        rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
        return NULL;
}

static const char *const needs[] = {"user_window", "cooccur", NULL};

const rs_stage_ops_t rs_stage_score = {
        .type = "score",
        .needs = needs,
        .doc = "Per-user top-K from the neighbours of the window items plus "
               "trending; seen and removed items excluded; category cap; "
               "debounced publication. State per user id (40 B, dropped when "
               "user_window evicts the user) and per candidate id (24 B), in "
               "tables as long as the string table's id bound.",
        .props = props,
        .conf_size = sizeof(score_conf_t),
        .create = score_create,
        .process = score_process,
        .flush = score_flush,
        .save = score_save,
        .load = score_load,
        .destroy = score_destroy,
};
