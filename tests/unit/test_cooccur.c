/* The cooccur stage's packed counterpart entries (12 bytes; a directed count
 * after them with transitions): times in quanta from a per-table base (rebased
 * as time runs on), counts kept as of the quantum so decay stays exact, and the
 * space-saving error kept as a 17-bit share of the count. Expected values are
 * worked out here in doubles, from the stage's documented rules, not from its
 * code. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/chain.h"
#include "recstream/cooccur.h"
#include "recstream/nbtable.h"
#include "recstream/pipeline.h"
#include "recstream/topology.h"

#define DAY 86400.0
/* how far a rounding of the error's share may move it, as a part of c */
#define SHARE (exp2(-17) + 1e-7)

typedef struct fixture {
        rs_diag_t diag;
        rs_pipeline_t *pl;
        rs_intern_t *in;
        rs_catalog_t *cat;
        rs_local_t *local; /* both sides, one item partition */
        rs_cooc_t *co;
        unsigned users; /* each pair comes from a user of its own */
} fixture_t;

/* A pipeline of weight (like = 1), user_window, pairs with damping none
 * (every pair weighs 1) and cooccur with `conf`'s further keys, both sides
 * in process with one item partition. */
static void start(fixture_t *fx, const char *conf)
{
        char yaml[1024], err[256];

        snprintf(yaml, sizeof(yaml),
                 "name: t\nsource: {}\nsink: {}\n"
                 "topology: {partitions: 1}\nstages:\n"
                 "  - type: weight\n    weights: {like: 1}\n"
                 "  - type: user_window\n    horizon: 3650d\n"
                 "  - type: pairs\n    damping: none\n    pair_gap: 3650d\n"
                 "    transition_gap: 10m\n"
                 "  - type: cooccur\n    refresh: 0\n%s",
                 conf);
        memset(fx, 0, sizeof(*fx));
        rs_diag_init(&fx->diag, "test_cooccur.yaml");
        fx->pl = rs_pipeline_parse(yaml, strlen(yaml), &fx->diag);
        if (!fx->pl)
                fprintf(stderr, "%s", fx->diag.text.p);
        assert_non_null(fx->pl);
        fx->in = rs_intern_new();
        fx->cat = rs_catalog_new((size_t)fx->pl->items.embedding_dim,
                                 (size_t)fx->pl->items.max_items, fx->in);
        fx->local = rs_local_new(fx->pl, fx->in, fx->cat, err, sizeof(err));
        assert_non_null(fx->local);
        fx->co = rs_items_partition(rs_local_items(fx->local), 0);
}

static void stop(fixture_t *fx)
{
        rs_local_destroy(fx->local);
        rs_catalog_destroy(fx->cat);
        rs_intern_destroy(fx->in);
        rs_pipeline_destroy(fx->pl);
        rs_diag_fini(&fx->diag);
}

static uint32_t id(fixture_t *fx, const char *s)
{
        return rs_intern_id(fx->in, s, strlen(s));
}

static int64_t ms(double secs)
{
        return (int64_t)llround(secs * 1000);
}

/* A like of item by user at secs. */
static void touch(fixture_t *fx, const char *user, const char *item,
                  double secs)
{
        char eid[64];
        rs_emit_t out = {NULL, NULL};
        rs_event_fields_t f = {.user_id = user,
                               .item_id = item,
                               .type = RS_EV_LIKE,
                               .ts = ms(secs),
                               .watch_ms = 0,
                               .duration_ms = RS_NONE_I64,
                               .value = NAN};
        rs_event_t ev;
        const char *why;

        snprintf(eid, sizeof(eid), "%s/%s", user, item);
        f.event_id = eid;
        assert_int_equal(
                rs_event_from_fields(&f, fx->in, RS_ID_MAX_DEFAULT, &ev, &why),
                RS_OK);
        assert_int_equal(rs_local_process(fx->local, &ev, 1, &out), RS_OK);
}

/* A new user likes x, then a, both at `secs`: C(a,x) and C(x,a) grow by
 * 1 at that time. */
static void pair(fixture_t *fx, const char *a, const char *x, double secs)
{
        char user[16];

        snprintf(user, sizeof(user), "u%u", fx->users++);
        touch(fx, user, x, secs);
        touch(fx, user, a, secs);
}

static double count(fixture_t *fx, const char *a, const char *x, double secs)
{
        return rs_cooc_count(fx->co, id(fx, a), id(fx, x), ms(secs));
}

static double count_min(fixture_t *fx, const char *a, const char *x,
                        double secs)
{
        return rs_cooc_count_min(fx->co, id(fx, a), id(fx, x), ms(secs));
}

static void near_at(double got, double want, double tol, const char *file,
                    int line)
{
        if (fabs(got - want) > tol) {
                print_error("got %.9g, want %.9g (± %.3g)\n", got, want, tol);
                _fail(file, line);
        }
}

#define assert_near(got, want, tol) near_at(got, want, tol, __FILE__, __LINE__)

/* Horizon 2000 s: times are exact seconds, 4096 of them from a table's
 * base. a's table starts at 3000 s with its base 2048 s before; the update
 * at 5100 s is past 4095 s from the base, so the table is rebased: what it
 * holds keeps its counts and times, and what passed the horizon goes. */
static void test_cooccur_rebase(void **state)
{
        fixture_t fx;
        const double hl = 100;

        (void)state;
        start(&fx, "    half_life: 100s\n    horizon: 2000s\n");
        pair(&fx, "a", "b", 3000);
        pair(&fx, "a", "c", 5000);
        pair(&fx, "a", "d", 5100);
        assert_near(count(&fx, "a", "c", 5100), exp2(-100 / hl), 1e-7);
        assert_near(count(&fx, "a", "d", 5100), 1, 1e-7);
        assert_near(count(&fx, "a", "b", 5100), 0, 0); /* 2100 s old */
        assert_int_equal(rs_cooc_tracked(fx.co, id(&fx, "a")), 2);
        /* c keeps its time: alive at exactly the horizon, gone after */
        assert_near(count(&fx, "a", "c", 7000), exp2(-2000 / hl), 1e-12);
        assert_near(count(&fx, "a", "c", 7001), 0, 0);
        /* and updates on from there */
        pair(&fx, "a", "c", 5200);
        assert_near(count(&fx, "a", "c", 5200), exp2(-200 / hl) + 1, 1e-6);
        assert_near(count(&fx, "a", "c", 5300),
                    (exp2(-200 / hl) + 1) * exp2(-100 / hl), 1e-6);
        /* a jump far past the table's range: everything before is gone */
        pair(&fx, "a", "e", 100000);
        assert_near(count(&fx, "a", "e", 100000), 1, 1e-7);
        assert_near(count(&fx, "a", "c", 100000), 0, 0);
        assert_int_equal(rs_cooc_tracked(fx.co, id(&fx, "a")), 1);
        /* b's own table (one entry, C(b,a)) was not touched since 3000 s */
        assert_near(count(&fx, "b", "a", 3000), 1, 1e-7);
        assert_near(count(&fx, "b", "a", 3000 + 300), exp2(-300 / hl), 1e-7);
        stop(&fx);
}

/* Half-life 7d, horizon 30d: a quantum is ceil(30d / 2048) = 1266 s. The
 * update times below are not on quanta, yet decay is exact; only expiry
 * may come up to one quantum early, never late. */
static void test_cooccur_coarse_time(void **state)
{
        fixture_t fx;
        const double hl = 7 * DAY, horizon = 30 * DAY;
        const double q = ceil(horizon / 2048), t1 = 1000, t2 = t1 + hl + 500;
        double c2;

        (void)state;
        assert_true(q == 1266);
        start(&fx, "    half_life: 7d\n    horizon: 30d\n");
        pair(&fx, "a", "b", t1);
        assert_near(count(&fx, "a", "b", t1), 1, 1e-6);
        assert_near(count(&fx, "a", "b", t1 + 1), exp2(-1 / hl), 1e-6);
        assert_near(count(&fx, "a", "b", t1 + hl), 0.5, 1e-6);
        assert_near(count(&fx, "a", "b", t1 + 2 * hl), 0.25, 1e-6);
        pair(&fx, "a", "b", t2);
        c2 = exp2(-(t2 - t1) / hl) + 1;
        assert_near(count(&fx, "a", "b", t2), c2, 1e-6);
        assert_near(count(&fx, "a", "b", t2 + 3 * DAY),
                    c2 * exp2(-3 * DAY / hl), 1e-6);
        assert_near(count(&fx, "a", "b", t2 + horizon - q),
                    c2 * exp2(-(horizon - q) / hl), 1e-6);
        assert_near(count(&fx, "a", "b", t2 + horizon + 1), 0, 0);
        stop(&fx);
}

/* max_neighbors_tracked 2, half-life 1000 s. Space-saving evicts by the
 * count c (the upper bound) and the newcomer inherits it as its error,
 * so its guaranteed count c − err starts at its own weight; the error,
 * kept as a share of c to 17 significant bits, decays with c and shrinks
 * in share as the pair is seen again. */
static void test_cooccur_guaranteed_count(void **state)
{
        fixture_t fx;
        const double hl = 1000;
        double cb, cc, cd, gd, ce;
        int n = 0;

        (void)state;
        start(&fx, "    half_life: 1000s\n    horizon: 30d\n"
                   "    max_neighbors_tracked: 2\n");
        pair(&fx, "a", "b", 0);
        pair(&fx, "a", "b", 1);
        pair(&fx, "a", "b", 2);
        cb = (exp2(-1 / hl) + 1) * exp2(-1 / hl) + 1; /* at 2 */
        pair(&fx, "a", "c", 3);
        pair(&fx, "a", "c", 4);
        cc = exp2(-1 / hl) + 1; /* at 4 */
        /* at 5 the table is full: c, the smaller count, makes room */
        pair(&fx, "a", "d", 5);
        cd = cc * exp2(-1 / hl) + 1;
        assert_near(count(&fx, "a", "c", 5), 0, 0);
        assert_near(count(&fx, "a", "d", 5), cd, 1e-6);
        assert_near(count_min(&fx, "a", "d", 5), 1, cd * SHARE);
        /* at 6: b's count (3 seen) is below d's (1 seen, 2 inherited), so
         * b goes though its guaranteed count is the larger */
        cb *= exp2(-4 / hl);
        assert_true(cb < cd * exp2(-1 / hl) && cb > 1);
        pair(&fx, "a", "e", 6);
        ce = cb + 1;
        assert_near(count(&fx, "a", "b", 6), 0, 0);
        assert_near(count(&fx, "a", "e", 6), ce, 1e-6);
        assert_near(count_min(&fx, "a", "e", 6), 1, ce * SHARE);
        assert_near(count_min(&fx, "a", "d", 6), exp2(-1 / hl), cd * SHARE);
        /* d seen again and again: err/c shrinks each time (a share that
         * is no power of two); each update may round it by 2^-17 of
         * itself */
        cd *= exp2(-1 / hl);
        gd = exp2(-1 / hl);
        for (double t = 7; t < 207; t++) {
                pair(&fx, "a", "d", t);
                cd = cd * exp2(-1 / hl) + 1;
                gd = gd * exp2(-1 / hl) + 1;
                n++;
        }
        assert_near(count(&fx, "a", "d", 206), cd, cd * 1e-6);
        assert_near(count_min(&fx, "a", "d", 206), gd,
                    (cd - gd) * n * SHARE + cd * 1e-6);
        assert_true(count_min(&fx, "a", "d", 206) < cd);
        /* e, the smaller count, would be next: its guaranteed 1 decayed */
        assert_near(count_min(&fx, "a", "e", 206), exp2(-200 / hl), ce * SHARE);
        stop(&fx);
}

/* No decay: an error share below 2^-15 of c counts as 0, so the
 * guaranteed count is then at most 2^-15 of c too high. */
static void test_cooccur_small_error_share(void **state)
{
        fixture_t fx;
        const int seen = 40000;
        double c, g;

        (void)state;
        start(&fx, "    half_life: 0\n    max_neighbors_tracked: 1\n");
        pair(&fx, "a", "b", 0);
        pair(&fx, "a", "c", 1); /* evicts b: err 1 */
        assert_near(count_min(&fx, "a", "c", 1), 1, 1e-6);
        assert_near(count(&fx, "a", "c", 1), 2, 1e-6);
        for (int k = 1; k < seen; k++)
                pair(&fx, "a", "c", 2 + k);
        c = seen + 1;
        g = count_min(&fx, "a", "c", seen + 2);
        assert_near(count(&fx, "a", "c", seen + 2), c, 0);
        assert_true(1 / c < exp2(-15));
        assert_true(g >= seen && g <= seen + c * exp2(-15));
        stop(&fx);
}

/* Cosine, asymmetric cosine and Jaccard do not change when every count
 * decays alike. 1,000 half-lives on, the counts are about 1e-301: the
 * product of two marginals underflows to 0, which must not make the
 * similarity infinite. */
static void test_cooccur_similarity_of_decayed_counts(void **state)
{
        static const char *const sims[] = {"cosine", "asymmetric_cosine",
                                           "jaccard",
                                           "asymmetric_cosine\n    alpha: 0.3"};
        /* a with x twice, a with y once: C(a,x) = 2, N(a) = 3, N(x) = 2;
         * cosine 2/√(3·2), asymmetric cosine at α 0.5 the same, Jaccard
         * 2/(3 + 2 − 2), asymmetric cosine at α 0.3 2/(3^0.3·2^0.7) */
        const double want[] = {2 / sqrt(6), 2 / sqrt(6), 2 / 3.0,
                               2 / (pow(3, 0.3) * pow(2, 0.7))};
        (void)state;
        for (size_t k = 0; k < sizeof(sims) / sizeof(*sims); k++) {
                fixture_t fx;
                char conf[128];
                snprintf(conf, sizeof(conf),
                         "    similarity: %s\n    half_life: 1s\n"
                         "    horizon: 1h\n",
                         sims[k]);
                start(&fx, conf);
                pair(&fx, "a", "x", 0);
                pair(&fx, "a", "x", 0);
                pair(&fx, "a", "y", 0);
                double s0 = rs_cooc_sim(fx.co, id(&fx, "a"), id(&fx, "x"), 0);
                double s1 = rs_cooc_sim(fx.co, id(&fx, "a"), id(&fx, "x"),
                                        ms(1000));
                assert_near(s0, want[k], 1e-9);
                assert_true(isfinite(s1));
                assert_near(s1, want[k], 1e-9);
                stop(&fx);
        }
}

/* locality q lists sim^q: with C(a,x) = 2, C(a,y) = 1, N(a) = 3, N(x) = 2,
 * N(y) = 1, the cosines 2/√6 and 1/√3 become (2/√6)^0.5 and (1/√3)^0.5
 * at q 0.5, (2/√6)^3 and (1/√3)^3 at q 3; x stays first. */
static void test_cooccur_locality(void **state)
{
        static const double qs[] = {0.5, 3};
        (void)state;
        for (size_t k = 0; k < 2; k++) {
                fixture_t fx;
                char conf[64];
                snprintf(conf, sizeof(conf), "    locality: %g\n", qs[k]);
                start(&fx, conf);
                pair(&fx, "a", "x", 0);
                pair(&fx, "a", "x", 0);
                pair(&fx, "a", "y", 0);
                uint32_t a = id(&fx, "a");
                assert_near(rs_cooc_sim(fx.co, a, id(&fx, "x"), 0),
                            pow(2 / sqrt(6), qs[k]), 1e-9);
                assert_near(rs_cooc_sim(fx.co, a, id(&fx, "y"), 0),
                            pow(1 / sqrt(3), qs[k]), 1e-9);
                const rs_neighbor_t *nb;
                size_t n =
                        rs_nbtable_neighbors(rs_local_table(fx.local), a, &nb);
                assert_int_equal(n, 2);
                assert_int_equal(nb[0].item, id(&fx, "x"));
                assert_near(nb[0].sim, pow(2 / sqrt(6), qs[k]), 1e-6);
                assert_near(nb[1].sim, pow(1 / sqrt(3), qs[k]), 1e-6);
                stop(&fx);
        }
}

/* covisit grows as counts decay (c/(ni·nj) ~ 2^age): 1,000 half-lives
 * on it is ~1e301, past the largest float a neighbour list holds. It must
 * stay finite there (an infinite similarity makes scores inf and MMR's
 * ratios NaN): at the largest float, still the best neighbour. */
static void test_cooccur_growing_similarity_stays_finite(void **state)
{
        fixture_t fx;
        const rs_neighbor_t *nb;

        (void)state;
        start(&fx, "    similarity: covisit\n    half_life: 1s\n"
                   "    horizon: 1h\n");
        pair(&fx, "a", "x", 0);
        assert_near(rs_cooc_sim(fx.co, id(&fx, "a"), id(&fx, "x"), 0), 1, 1e-9);
        assert_true(rs_cooc_sim(fx.co, id(&fx, "a"), id(&fx, "x"), ms(1000)) ==
                    FLT_MAX);
        /* published at the pair's time, where it is 1 */
        assert_int_equal(rs_cooc_neighbors(fx.co, id(&fx, "a"), &nb), 1);
        assert_int_equal(nb[0].item, id(&fx, "x"));
        assert_near(nb[0].sim, 1, 1e-6);
        stop(&fx);
}

/* Episodes of a series watched in order (issue 13): users u0-u2 like e1,
 * e2, e3 a minute apart; u3, u4 e1, e3, then e2; u5, u6 e1, e2 only; u7 e3
 * and two hours later e2 (past transition_gap 10m, inside pair_gap). No
 * decay, damping none: every pair weighs 1.
 *   N: e1 7, e2 8, e3 6. C(e1,e2) 7, C(e2,e3) 6, C(e1,e3) 5.
 *   D (j touched after i within 10 min): e1→e2 3+2+2 = 7, e1→e3 3+2 = 5,
 *   e2→e3 3, e3→e2 2 (not u7's), e2→e1 = e3→e1 = 0.
 *   cosine: sim(e2,e1) = 7/√56 = 0.935414, sim(e2,e3) = 6/√48 = 0.866025.
 * e2's list: s_max 0.935414, D_max 3, so e1 0.935414 + 0 and e3 0.866025
 * + w·0.935414·3/3: with w 0.5, e3 1.333732 first; with w 0.05 e3
 * 0.912796, still second; with w 0 the cosines alone, bit for bit what
 * rs_cooc_sim gives (and no D kept). e3's list: sim(e3,e1) = 5/√42 = 0.771517,
 * sim(e3,e2) = 0.866025 = s_max, D_max 2: e2 0.866025·(1 + w), e1 0.771517. */
static void series(fixture_t *fx, double w)
{
        char conf[256];
        static const char *const order[8][3] = {
                {"e1", "e2", "e3"}, {"e1", "e2", "e3"}, {"e1", "e2", "e3"},
                {"e1", "e3", "e2"}, {"e1", "e3", "e2"}, {"e1", "e2", NULL},
                {"e1", "e2", NULL}, {"e3", "e2", NULL}};

        snprintf(conf, sizeof(conf),
                 "    half_life: 0\n    transition_weight: %g\n", w);
        start(fx, conf);
        for (int u = 0; u < 8; u++) {
                char user[16];
                snprintf(user, sizeof(user), "u%d", u);
                for (int k = 0; k < 3 && order[u][k]; k++)
                        touch(fx, user, order[u][k],
                              1000.0 * (u + 1) + (u == 7 ? 7200 * k : 60 * k));
        }
        assert_int_equal(rs_local_settle(fx->local), RS_OK);
}

static void list_is(fixture_t *fx, const char *item, const char *first,
                    double s1, const char *second, double s2)
{
        const rs_neighbor_t *nb;

        assert_int_equal(rs_cooc_neighbors(fx->co, id(fx, item), &nb), 2);
        assert_int_equal(nb[0].item, id(fx, first));
        assert_near(nb[0].sim, s1, 1e-6);
        assert_int_equal(nb[1].item, id(fx, second));
        assert_near(nb[1].sim, s2, 1e-6);
}

static void test_cooccur_transitions_by_hand(void **state)
{
        fixture_t fx;
        const rs_neighbor_t *nb;
        double now = 1e5;
        static const struct {
                const char *i, *j;
                double d;
        } want[] = {{"e1", "e2", 7}, {"e1", "e3", 5}, {"e2", "e3", 3},
                    {"e3", "e2", 2}, {"e2", "e1", 0}, {"e3", "e1", 0}};

        (void)state;
        series(&fx, 0.5);
        for (size_t k = 0; k < sizeof(want) / sizeof(*want); k++)
                assert_near(rs_cooc_directed(fx.co, id(&fx, want[k].i),
                                             id(&fx, want[k].j), ms(now)),
                            want[k].d, 1e-9);
        assert_near(count(&fx, "e2", "e3", now), 6, 1e-9);
        assert_near(count(&fx, "e1", "e2", now), 7, 1e-9);
        assert_near(rs_cooc_marginal(fx.co, id(&fx, "e2"), ms(now)), 8, 1e-9);
        /* "because you watched episode 2": episode 3, then episode 1 */
        list_is(&fx, "e2", "e3", 6 / sqrt(48) + 0.5 * 7 / sqrt(56), "e1",
                7 / sqrt(56));
        list_is(&fx, "e3", "e2", 1.5 * 6 / sqrt(48), "e1", 5 / sqrt(42));
        stop(&fx);

        series(&fx, 0.05);
        list_is(&fx, "e2", "e1", 7 / sqrt(56), "e3",
                6 / sqrt(48) + 0.05 * 7 / sqrt(56));
        stop(&fx);

        /* 0: today's lists, the cosines bit for bit */
        series(&fx, 0);
        list_is(&fx, "e2", "e1", 7 / sqrt(56), "e3", 6 / sqrt(48));
        assert_int_equal(rs_cooc_neighbors(fx.co, id(&fx, "e2"), &nb), 2);
        assert_true(nb[0].sim == (float)rs_cooc_sim(fx.co, id(&fx, "e2"),
                                                    id(&fx, "e1"), ms(now)));
        assert_true(nb[1].sim == (float)rs_cooc_sim(fx.co, id(&fx, "e2"),
                                                    id(&fx, "e3"), ms(now)));
        /* and no directed count is kept (12-byte slots, as before) */
        assert_near(
                rs_cooc_directed(fx.co, id(&fx, "e2"), id(&fx, "e3"), ms(now)),
                0, 1e-9);
        stop(&fx);
}

/* A late event: u likes y at 100 s, then (arriving second) x dated 40 s.
 * x came first, so the transition is x → y: D(x,y) = 1, D(y,x) = 0; and
 * one 20 min apart (past transition_gap 10m) is none. */
static void test_cooccur_late_transition(void **state)
{
        fixture_t fx;

        (void)state;
        start(&fx, "    half_life: 0\n    transition_weight: 1\n");
        touch(&fx, "u", "y", 100);
        touch(&fx, "u", "x", 40);
        touch(&fx, "v", "p", 100);
        touch(&fx, "v", "q", 1300);
        assert_near(
                rs_cooc_directed(fx.co, id(&fx, "x"), id(&fx, "y"), ms(2000)),
                1, 1e-9);
        assert_near(
                rs_cooc_directed(fx.co, id(&fx, "y"), id(&fx, "x"), ms(2000)),
                0, 1e-9);
        assert_near(count(&fx, "p", "q", 2000), 1, 1e-9);
        assert_near(
                rs_cooc_directed(fx.co, id(&fx, "p"), id(&fx, "q"), ms(2000)),
                0, 1e-9);
        stop(&fx);
}

/* Directed counts move with their entries: max_neighbors_tracked 4, no
 * decay. Users like a, then (a second later) one other item each: x by
 * 3, y by 2, z by 1, w by 2 (the fourth counterpart: the table grows from
 * 4 slots to 8), then v by 1: the table is full, z (the smallest, 1) is
 * evicted and v inherits its count, C(a,v) = 1 + 1 with err 1, but not
 * its transitions: D(a,v) = 1. D(a,x) 3, D(a,y) 2, D(a,w) 2 as they were. */
static void test_cooccur_transitions_evicted(void **state)
{
        fixture_t fx;
        static const struct {
                const char *item;
                int users;
        } seq[] = {{"x", 3}, {"y", 2}, {"z", 1}, {"w", 2}, {"v", 1}};
        static const struct {
                const char *item;
                double d, c, cmin;
        } want[] = {{"x", 3, 3, 3},
                    {"y", 2, 2, 2},
                    {"w", 2, 2, 2},
                    {"v", 1, 2, 1},
                    {"z", 0, 0, 0}};
        int u = 0;

        (void)state;
        start(&fx, "    half_life: 0\n    transition_weight: 1\n"
                   "    max_neighbors_tracked: 4\n");
        for (size_t k = 0; k < sizeof(seq) / sizeof(*seq); k++)
                for (int n = 0; n < seq[k].users; n++, u++) {
                        char user[16];
                        snprintf(user, sizeof(user), "u%d", u);
                        touch(&fx, user, "a", 100.0 * u);
                        touch(&fx, user, seq[k].item, 100.0 * u + 1);
                }
        assert_int_equal(rs_cooc_tracked(fx.co, id(&fx, "a")), 4);
        for (size_t k = 0; k < sizeof(want) / sizeof(*want); k++) {
                const char *j = want[k].item;
                assert_near(rs_cooc_directed(fx.co, id(&fx, "a"), id(&fx, j),
                                             ms(1e4)),
                            want[k].d, 1e-6);
                assert_near(count(&fx, "a", j, 1e4), want[k].c, 1e-6);
                assert_near(count_min(&fx, "a", j, 1e4), want[k].cmin,
                            2 * SHARE * want[k].c);
        }
        /* Every addition to a's table is a transition from a, so each
         * entry's D is what was added since it was admitted: c − err,
         * through evictions, deletions that shift entries and rebuilds. */
        for (int n = 0; n < 300; n++, u++) {
                char user[16], item[16];
                snprintf(user, sizeof(user), "u%d", u);
                snprintf(item, sizeof(item), "k%d", (n * 7) % 23 % (3 + n % 9));
                touch(&fx, user, "a", 100.0 * u);
                touch(&fx, user, item, 100.0 * u + 1);
        }
        for (int n = 0; n < 23; n++) {
                char item[16];
                snprintf(item, sizeof(item), "k%d", n);
                uint32_t j = rs_intern_id(fx.in, item, strlen(item));
                if (j == RS_ID_NONE)
                        continue;
                double cmin = rs_cooc_count_min(fx.co, id(&fx, "a"), j, 0);
                assert_near(rs_cooc_directed(fx.co, id(&fx, "a"), j, 0), cmin,
                            4 * SHARE * count(&fx, "a", item, 0) + 1e-6);
        }
        stop(&fx);
}

/* The best max_neighbors of many counterparts with many tied similarities:
 * x_k is paired with a m_k times, m_k = 1 + 7k mod 13, so N(x_k) = m_k,
 * sim(a, x_k) = sqrt(m_k / N(a)) and each m is shared by four or five
 * items. The list is the best max by similarity, ties by id string (the
 * documented order), worked out here by sorting every counterpart; for
 * lists shorter, as long as and longer than what there is to choose. */
typedef struct ranked {
        int m;
        char name[8];
} ranked_t;

static int ranked_cmp(const void *pa, const void *pb)
{
        const ranked_t *a = pa, *b = pb;
        return a->m != b->m ? b->m - a->m : strcmp(a->name, b->name);
}

static void test_cooccur_list_ties(void **state)
{
        static const int maxes[] = {1, 2, 3, 10, 17, 59, 60, 61};
        enum { N = 60 };
        ranked_t want[N];
        int na = 0;
        (void)state;
        for (int k = 0; k < N; k++) {
                want[k].m = 1 + 7 * k % 13;
                snprintf(want[k].name, sizeof(want[k].name), "x%02d",
                         (k * 37) % N);
                na += want[k].m;
        }
        qsort(want, N, sizeof(*want), ranked_cmp);
        for (size_t t = 0; t < sizeof(maxes) / sizeof(*maxes); t++) {
                fixture_t fx;
                char conf[64];
                snprintf(conf, sizeof(conf), "    max_neighbors: %d\n",
                         maxes[t]);
                start(&fx, conf);
                for (int k = 0; k < N; k++) /* in table order, not rank's */
                        for (int r = 0; r < want[(k * 23) % N].m; r++)
                                pair(&fx, "a", want[(k * 23) % N].name, 0);
                const rs_neighbor_t *nb;
                size_t n = rs_nbtable_neighbors(rs_local_table(fx.local),
                                                id(&fx, "a"), &nb);
                size_t expect = maxes[t] < N ? (size_t)maxes[t] : N;
                assert_int_equal(n, expect);
                for (size_t i = 0; i < n; i++) {
                        assert_int_equal(nb[i].item, id(&fx, want[i].name));
                        assert_near(nb[i].sim, sqrt(want[i].m / (double)na),
                                    1e-6);
                }
                stop(&fx);
        }
}

/* A partial refresh makes a large table's list from its listed and its
 * changed counterparts only, trusting a bound on the rest: it must give
 * the list a scan of every counterpart gives. a pairs with 300 items,
 * then in each round with a few of them again while y pairs with a's
 * listed ones (their marginals grow, so their similarities with a fall
 * below ones not looked at), and after each round's settle a's list is
 * checked against similarities worked out here from the counts the test
 * made: the best max, best first, ties at the cut by id string. Once
 * with cosine and no decay (integer counts: many ties), once with
 * asymmetric cosine, locality and a half-life. */
enum { PX = 300, PMAX = 8 };

typedef struct pcase {
        const char *conf;
        double alpha, q, half_life; /* s; 0: no decay */
} pcase_t;

static double psim(const pcase_t *pc, double c, double ni, double nj)
{
        return pow(c / pow(ni, pc->alpha) / pow(nj, 1 - pc->alpha), pc->q);
}

/* a's list is the best PMAX of the values v (by name), best first, ties
 * at the cut to the names that sort first. */
static void check_best(fixture_t *fx, uint32_t a, char name[][8], double *v,
                       int round)
{
        const rs_neighbor_t *nb;
        size_t nn = rs_cooc_neighbors(fx->co, a, &nb);

        assert_int_equal(nn, PMAX);
        double last = nb[PMAX - 1].sim, tol = 1e-5 * last;
        for (size_t i = 0; i < PMAX; i++) {
                int x = 0;
                while (id(fx, name[x]) != nb[i].item)
                        x++;
                assert_near(nb[i].sim, v[x], 1e-5 * v[x]);
                if (i)
                        assert_true(nb[i].sim <= nb[i - 1].sim);
                v[x] = -1; /* listed */
        }
        for (int x = 0; x < PX; x++) {
                if (v[x] < 0)
                        continue;
                if (v[x] > last + tol)
                        print_error("round %d: %s (%.9g) not listed, last "
                                    "%.9g\n",
                                    round, name[x], v[x], last);
                assert_true(v[x] <= last + tol);
                /* a tie at the cut: the listed come first */
                for (size_t i = 0; v[x] >= last - tol && i < PMAX; i++)
                        if (fabs(nb[i].sim - last) <= tol)
                                assert_true(
                                        strcmp(rs_intern_str(fx->in, nb[i].item,
                                                             NULL),
                                               name[x]) < 0);
        }
}

static void test_cooccur_partial_refresh_exact(void **state)
{
        static const pcase_t cases[] = {
                {"    max_neighbors: 8\n    max_neighbors_tracked: 1000\n"
                 "    half_life: 0\n",
                 0.5, 1, 0},
                {"    max_neighbors: 8\n    max_neighbors_tracked: 1000\n"
                 "    similarity: asymmetric_cosine\n    alpha: 0.3\n"
                 "    locality: 0.5\n    half_life: 1d\n",
                 0.3, 0.5, DAY},
        };
        (void)state;
        for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
                const pcase_t *pc = &cases[k];
                double c[PX] = {0}, n[PX] = {0}, na = 0, now = 0;
                char name[PX][8];
                uint32_t lcg = 7;
                fixture_t fx;
                start(&fx, pc->conf);
                uint32_t a = id(&fx, "a");
                for (int x = 0; x < PX; x++) {
                        snprintf(name[x], sizeof(name[x]), "x%03d",
                                 (x * 97) % PX);
                        for (int r = 0; r < 1 + x * 37 % 11; r++) {
                                pair(&fx, "a", name[x], 0);
                                c[x]++, n[x]++, na++;
                        }
                }
                uint64_t before = rs_cooc_refreshes(fx.co, 1);
                for (int round = 0; round < 40; round++) {
                        double f =
                                pc->half_life ? exp2(-3600 / pc->half_life) : 1;
                        now += 3600;
                        na *= f;
                        for (int x = 0; x < PX; x++)
                                c[x] *= f, n[x] *= f;
                        const rs_neighbor_t *nb;
                        size_t nn = rs_cooc_neighbors(fx.co, a, &nb);
                        uint32_t listed[PMAX];
                        for (size_t i = 0; i < nn && i < PMAX; i++)
                                listed[i] = nb[i].item;
                        for (size_t i = 0; i < nn && i < PMAX; i++)
                                for (int x = 0; x < PX; x++)
                                        if (id(&fx, name[x]) == listed[i])
                                                for (int r = 0;
                                                     r < 2 + round % 3; r++) {
                                                        pair(&fx, "y", name[x],
                                                             now);
                                                        n[x]++;
                                                }
                        for (int r = 0; r < 6; r++) {
                                lcg = lcg * 1103515245u + 12345u;
                                int x = (int)((lcg >> 8) % PX);
                                pair(&fx, "a", name[x], now);
                                c[x]++, n[x]++, na++;
                        }
                        assert_int_equal(rs_local_settle(fx.local), RS_OK);

                        double v[PX];
                        for (int x = 0; x < PX; x++)
                                v[x] = psim(pc, c[x], na, n[x]);
                        check_best(&fx, a, name, v, round);
                }
                /* a's lists were made without a scan, while a gained
                 * counterparts and in the rounds */
                assert_true(before > 0);
                assert_true(rs_cooc_refreshes(fx.co, 1) > before);
                stop(&fx);
        }
}

/* The same where memory runs out: with max_items 120 most of a's 300
 * counterparts lose their records, marginals with them, while a keeps
 * their counts; y brings some back with a marginal of 1, which raises
 * their similarity with a though a's counts of them did not move — the
 * case a partial refresh may not trust its bound in. Each round a pairs
 * once more (so that its list is made again), and the expected values are
 * the stage's similarities pair by pair (rs_cooc_sim), as the counts are
 * now. */
static void test_cooccur_partial_refresh_evictions(void **state)
{
        char name[PX][8];
        uint32_t lcg = 11;
        fixture_t fx;
        (void)state;
        start(&fx, "    max_neighbors: 8\n    max_neighbors_tracked: 1000\n"
                   "    half_life: 0\n    max_items: 120\n");
        uint32_t a = id(&fx, "a");
        for (int x = 0; x < PX; x++) {
                snprintf(name[x], sizeof(name[x]), "x%03d", (x * 97) % PX);
                for (int r = 0; r < 1 + x * 37 % 11; r++)
                        pair(&fx, "a", name[x], 0);
        }
        assert_true(rs_cooc_evictions(fx.co) > 0);
        for (int round = 0; round < 30; round++) {
                for (int r = 0; r < 4; r++) {
                        lcg = lcg * 1103515245u + 12345u;
                        pair(&fx, "y", name[(lcg >> 8) % PX], round);
                }
                lcg = lcg * 1103515245u + 12345u;
                pair(&fx, "a", name[(lcg >> 8) % PX], round);
                assert_int_equal(rs_local_settle(fx.local), RS_OK);
                double v[PX];
                for (int x = 0; x < PX; x++)
                        v[x] = rs_cooc_sim(fx.co, a, id(&fx, name[x]),
                                           ms(round));
                check_best(&fx, a, name, v, round);
        }
        stop(&fx);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cooccur_rebase),
                cmocka_unit_test(test_cooccur_coarse_time),
                cmocka_unit_test(test_cooccur_guaranteed_count),
                cmocka_unit_test(test_cooccur_small_error_share),
                cmocka_unit_test(test_cooccur_similarity_of_decayed_counts),
                cmocka_unit_test(test_cooccur_locality),
                cmocka_unit_test(test_cooccur_growing_similarity_stays_finite),
                cmocka_unit_test(test_cooccur_transitions_by_hand),
                cmocka_unit_test(test_cooccur_late_transition),
                cmocka_unit_test(test_cooccur_transitions_evicted),
                cmocka_unit_test(test_cooccur_list_ties),
                cmocka_unit_test(test_cooccur_partial_refresh_exact),
                cmocka_unit_test(test_cooccur_partial_refresh_evictions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
