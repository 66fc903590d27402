/* Stages through a real pipeline and chain: windows, decay, seen sets,
 * eviction, co-occurrence expiry and bounds, scoring rules, clean, weight.
 * Expected values are worked out in the comments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recstream/chain.h"
#include "recstream/clock.h"
#include "recstream/clean.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/pipeline.h"
#include "recstream/score.h"
#include "recstream/topology.h"
#include "recstream/user_window.h"
#include "recstream/vec.h"
#include "recstream/weight.h"

typedef struct fixture {
        rs_pipeline_t *pl;
        rs_intern_t *in;
        rs_local_t *local; /* both sides, one item partition */
        rs_chain_t *ch;
        rs_chain_t *own; /* when set, events go through it instead, a user
                          * side whose item side is elsewhere */
        rs_catalog_t *cat;
        rs_recs_t last[16]; /* by user id, when small */
        int emits[16];      /* by user id, when small */
        int nemits;
        int collect; /* collect the string table after each event */
} fixture_t;

static rs_err_t capture(void *opaque, const rs_recs_t *r)
{
        fixture_t *fx = opaque;
        if (r->user < 16) {
                fx->last[r->user] = *r;
                fx->emits[r->user]++;
        }
        fx->nemits++;
        return RS_OK;
}

static void setup(fixture_t *fx, const char *stages)
{
        char path[256], err[256];
        const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        rs_diag_t d;
        FILE *f;
        int fd;

        memset(fx, 0, sizeof(*fx));
        snprintf(path, sizeof(path), "%s/rs_stages_XXXXXX", dir);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        fprintf(f,
                "name: t\nsource: {}\nsink: {}\ntopology: {partitions: 1}\n"
                "stages:\n%s",
                stages);
        fclose(f);
        rs_diag_init(&d, path);
        fx->pl = rs_pipeline_load(path, 0, &d);
        if (!fx->pl)
                fprintf(stderr, "%s", d.text.p);
        rs_diag_fini(&d);
        unlink(path);
        assert_non_null(fx->pl);
        fx->in = rs_intern_new();
        fx->cat = rs_catalog_new((size_t)fx->pl->items.embedding_dim,
                                 (size_t)fx->pl->items.max_items, fx->in);
        fx->local = rs_local_new(fx->pl, fx->in, fx->cat, err, sizeof(err));
        if (!fx->local)
                fprintf(stderr, "%s\n", err);
        assert_non_null(fx->local);
        fx->ch = rs_local_chain(fx->local);
}

/* The item side's one instance. */
static rs_cooc_t *cooc(fixture_t *fx)
{
        return rs_items_partition(rs_local_items(fx->local), 0);
}

static const rs_nbtable_t *table(fixture_t *fx)
{
        return rs_local_table(fx->local);
}

static void teardown(fixture_t *fx)
{
        rs_local_destroy(fx->local);
        rs_catalog_destroy(fx->cat);
        rs_intern_destroy(fx->in);
        rs_pipeline_destroy(fx->pl);
}

static uint32_t id(fixture_t *fx, const char *s)
{
        return rs_intern_id(fx->in, s, strlen(s));
}

/* One event through the chain, with a Kafka timestamp (RS_NONE_I64 for
 * none); returns its drop reason. */
static int feed_at(fixture_t *fx, const char *eid, const char *user,
                   const char *item, int type, int64_t ts, const char *cat,
                   int64_t ingest_ts)
{
        rs_event_fields_t f = {.event_id = eid,
                               .user_id = user,
                               .item_id = item,
                               .type = type,
                               .ts = ts,
                               .watch_ms = 0,
                               .duration_ms = RS_NONE_I64,
                               .category = cat,
                               .value = NAN};
        rs_event_t ev;
        const char *why;
        rs_emit_t out = {capture, fx};

        assert_int_equal(
                rs_event_from_fields(&f, fx->in, RS_ID_MAX_DEFAULT, &ev, &why),
                RS_OK);
        ev.ingest_ts = ingest_ts;
        assert_int_equal(fx->own ? rs_chain_process(fx->own, &ev, 1, &out)
                                 : rs_local_process(fx->local, &ev, 1, &out),
                         RS_OK);
        if (fx->collect) /* the batch is over, as in the worker */
                rs_intern_collect(fx->in);
        return ev.drop;
}

static int feed(fixture_t *fx, const char *eid, const char *user,
                const char *item, int type, int64_t ts, const char *cat)
{
        return feed_at(fx, eid, user, item, type, ts, cat, RS_NONE_I64);
}

#define WINDOW_ONLY "  - type: weight\n    weights: {like: 1, share: 2}\n"

static void test_window_max_events_and_horizon(void **state)
{
        fixture_t fx;
        rs_win_entry_t e[8];

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    max_events: 3\n"
                               "    horizon: 10s\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "u", "b", RS_EV_LIKE, 5000, NULL);
        feed(&fx, "3", "u", "c", RS_EV_LIKE, 6000, NULL);
        feed(&fx, "4", "u", "d", RS_EV_LIKE, 7000, NULL);
        /* max_events 3: a left when d came */
        assert_int_equal(rs_uwin_get(win, id(&fx, "u"), 7000, e, 8), 3);
        assert_int_equal(e[0].item, id(&fx, "b"));
        assert_int_equal(e[2].item, id(&fx, "d"));
        /* at 16 s the horizon (10 s) keeps events from 6 s on: c, d */
        assert_int_equal(rs_uwin_get(win, id(&fx, "u"), 16000, e, 8), 2);
        assert_int_equal(e[0].item, id(&fx, "c"));
        teardown(&fx);
}

static void test_affinity_decay(void **state)
{
        fixture_t fx;
        uint32_t items[4];
        float aff[4];

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    half_life: 1s\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, NULL);     /* w 1 */
        feed(&fx, "2", "u", "b", RS_EV_SHARE, 1000, NULL); /* w 2 */
        feed(&fx, "3", "u", "a", RS_EV_LIKE, 2000, NULL);  /* w 1 */
        /* at 2 s: a = 1·2^-2 + 1·2^0 = 1.25; b = 2·2^-1 = 1 */
        assert_int_equal(
                rs_uwin_affinity(win, id(&fx, "u"), 2000, items, aff, 4), 2);
        assert_int_equal(items[0], id(&fx, "a"));
        assert_float_equal(aff[0], 1.25, 1e-6);
        assert_float_equal(aff[1], 1.0, 1e-6);
        teardown(&fx);
}

static void test_affinity_position(void **state)
{
        fixture_t fx;
        uint32_t items[4];
        float aff[4];

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    half_life: 1s\n"
                               "    position_exponent: 1\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, NULL);     /* w 1, rank 3 */
        feed(&fx, "2", "u", "b", RS_EV_SHARE, 1000, NULL); /* w 2, rank 2 */
        feed(&fx, "3", "u", "a", RS_EV_LIKE, 2000, NULL);  /* w 1, rank 1 */
        /* at 2 s: a = 1·2^-2/3 + 1·2^0/1 = 1.08333; b = 2·2^-1/2 = 0.5 */
        assert_int_equal(
                rs_uwin_affinity(win, id(&fx, "u"), 2000, items, aff, 4), 2);
        assert_int_equal(items[0], id(&fx, "a"));
        assert_float_equal(aff[0], 1.0 / 12 + 1, 1e-6);
        assert_float_equal(aff[1], 0.5, 1e-6);
        /* a live reload to 2 (the new conf copied over the running one,
         * as rs_worker_reload does): a = 2^-2/9 + 1, b = 2·2^-1/4 */
        static const char next_text[] =
                "name: t\nsource: {}\nsink: {}\ntopology: {partitions: 1}\n"
                "stages:\n" WINDOW_ONLY
                "  - type: user_window\n    half_life: 1s\n"
                "    position_exponent: 2\n";
        rs_diag_t d;
        rs_diag_init(&d, "next.yaml");
        rs_pipeline_t *next =
                rs_pipeline_parse(next_text, strlen(next_text), &d);
        assert_non_null(next);
        assert_int_equal(next->nstages, fx.pl->nstages);
        for (size_t i = 0; i < next->nstages; i++)
                memcpy(fx.pl->stages[i].conf, next->stages[i].conf,
                       next->stages[i].ops->conf_size);
        assert_int_equal(
                rs_uwin_affinity(win, id(&fx, "u"), 2000, items, aff, 4), 2);
        assert_float_equal(aff[0], 1.0 / 36 + 1, 1e-6);
        assert_float_equal(aff[1], 0.25, 1e-6);
        rs_pipeline_destroy(next);
        rs_diag_fini(&d);
        teardown(&fx);
}

static void test_seen_bound_and_lru(void **state)
{
        fixture_t fx;

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    max_seen: 2\n"
                               "    max_users: 2\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        feed(&fx, "1", "u1", "a", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "u1", "b", RS_EV_LIKE, 1, NULL);
        feed(&fx, "3", "u1", "c", RS_EV_LIKE, 2, NULL);
        /* max_seen 2: a, the oldest, is forgotten */
        assert_false(rs_uwin_seen(win, id(&fx, "u1"), id(&fx, "a")));
        assert_true(rs_uwin_seen(win, id(&fx, "u1"), id(&fx, "b")));
        assert_true(rs_uwin_seen(win, id(&fx, "u1"), id(&fx, "c")));
        assert_int_equal(rs_uwin_touched(win, id(&fx, "u1")), 3);
        feed(&fx, "4", "u2", "a", RS_EV_LIKE, 3, NULL);
        feed(&fx, "5", "u1", "a", RS_EV_LIKE, 4, NULL); /* u1 active again */
        feed(&fx, "6", "u3", "a", RS_EV_LIKE, 5, NULL);
        /* max_users 2: u2 is the least recently active */
        assert_int_equal(rs_uwin_users(win), 2);
        assert_true(rs_uwin_last_ts(win, id(&fx, "u2")) == INT64_MIN);
        assert_int_equal(rs_uwin_last_ts(win, id(&fx, "u1")), 4);
        teardown(&fx);
}

#define COOC(extra)                                                            \
        WINDOW_ONLY "  - type: user_window\n    horizon: 3650d\n"              \
                    "  - type: pairs\n    damping: none\n"                     \
                    "    pair_gap: 3650d\n"                                    \
                    "  - type: cooccur\n    refresh: 0\n" extra

static void test_cooccur_decay_and_expiry(void **state)
{
        fixture_t fx;
        const rs_neighbor_t *nb;

        (void)state;
        setup(&fx, COOC("    half_life: 1s\n    horizon: 10s\n"));
        rs_cooc_t *co = cooc(&fx);
        uint32_t a = id(&fx, "a"), b = id(&fx, "b");
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "u", "b", RS_EV_LIKE, 0, NULL);
        assert_float_equal(rs_cooc_count(co, a, b, 0), 1.0, 1e-6);
        assert_float_equal(rs_cooc_count(co, b, a, 0), 1.0, 1e-6);
        /* one half-life later: 0.5; past the horizon: gone */
        assert_float_equal(rs_cooc_count(co, a, b, 1000), 0.5, 1e-6);
        assert_float_equal(rs_cooc_count(co, a, b, 11000), 0.0, 0);
        assert_int_equal(rs_cooc_neighbors(co, a, &nb), 1);
        assert_int_equal(nb[0].item, b);
        feed(&fx, "3", "v", "a", RS_EV_LIKE, 11000, NULL); /* a dirty again */
        assert_int_equal(rs_cooc_neighbors(co, a, &nb), 0);
        teardown(&fx);
}

static void test_cooccur_bounded_counterparts(void **state)
{
        fixture_t fx;

        (void)state;
        setup(&fx, COOC("    half_life: 0\n    max_neighbors_tracked: 2\n"));
        rs_cooc_t *co = cooc(&fx);
        uint32_t a = id(&fx, "a");
        feed(&fx, "1", "u", "b", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "u", "c", RS_EV_LIKE, 1, NULL);
        feed(&fx, "3", "v", "b", RS_EV_LIKE, 2, NULL);
        feed(&fx, "4", "v", "a", RS_EV_LIKE, 3, NULL); /* C(a,b) = 1 */
        feed(&fx, "5", "u", "a", RS_EV_LIKE, 4,
             NULL); /* C(a,b) = 2, C(a,c) = 1 */
        feed(&fx, "6", "w", "d", RS_EV_LIKE, 5, NULL);
        feed(&fx, "7", "w", "a", RS_EV_LIKE, 6, NULL); /* C(a,d): a is full */
        /* space-saving: c (count 1, the smallest) makes room; d inherits
         * its count: 1 + 1 = 2; b keeps 2 */
        assert_int_equal(rs_cooc_tracked(co, a), 2);
        assert_float_equal(rs_cooc_count(co, a, id(&fx, "c"), 6), 0, 0);
        assert_float_equal(rs_cooc_count(co, a, id(&fx, "d"), 6), 2, 1e-6);
        assert_float_equal(rs_cooc_count(co, a, id(&fx, "b"), 6), 2, 1e-6);
        /* ... but only the 1 it earned counts for similarity: cosine
         * C/√(N(a)N(x)) with N(a) = 3, N(d) = 1, N(b) = 2, so d stays
         * below b (2/√6) instead of above it (2/√3) */
        assert_float_equal(rs_cooc_count_min(co, a, id(&fx, "d"), 6), 1, 1e-6);
        assert_float_equal(rs_cooc_sim(co, a, id(&fx, "d"), 6), 1 / sqrt(3),
                           1e-6);
        assert_float_equal(rs_cooc_sim(co, a, id(&fx, "b"), 6), 2 / sqrt(6),
                           1e-6);
        /* tables: a {b, d}, b {c, a}, c {b, a}, d {a}; evicting c from a's
         * table leaves C(c,a) in c's own */
        assert_int_equal(rs_cooc_pairs(co), 7);
        teardown(&fx);
}

#define SCORE(extra)                                                           \
        COOC("    half_life: 0\n")                                             \
        "  - type: score\n    k: 3\n"                                          \
        "    min_refresh_interval: 0\n" extra

static void test_score_diversity_removed_cold_start(void **state)
{
        fixture_t fx;
        rs_emit_t out = {capture, &fx};

        (void)state;
        setup(&fx, SCORE("    max_per_category: 1\n    min_history: 2\n"));
        /* others like a with b, c (category m) and d (category n) */
        const char *items[] = {"a", "b", "c", "d"};
        const char *cats[] = {"m", "m", "m", "n"};
        for (int u = 0; u < 3; u++)
                for (int i = 0; i < 4; i++) {
                        char eid[32], user[32];
                        snprintf(eid, sizeof(eid), "%d-%d", u, i);
                        snprintf(user, sizeof(user), "o%d", u);
                        feed(&fx, eid, user, items[i], RS_EV_LIKE, u * 10 + i,
                             cats[i]);
                }
        /* cold start: one positive item < min_history 2: trending only */
        feed(&fx, "t1", "me", "a", RS_EV_LIKE, 100, "m");
        rs_recs_t *r = &fx.last[id(&fx, "me")];
        assert_true(r->n > 0);
        for (uint32_t i = 0; i < r->n; i++)
                assert_int_equal(r->items[i].reason, RS_REASON_TRENDING);
        /* with history: b, c, d all score, but at most one of category m */
        feed(&fx, "t2", "me", "x", RS_EV_LIKE, 101, "n");
        feed(&fx, "t3", "o0", "x", RS_EV_LIKE, 102, "n");
        r = &fx.last[id(&fx, "me")];
        int m = 0;
        for (uint32_t i = 0; i < r->n; i++) {
                assert_int_not_equal(r->items[i].item, id(&fx, "a")); /* seen */
                m += rs_nbtable_item(table(&fx), r->items[i].item).category ==
                     id(&fx, "m");
        }
        assert_int_equal(m, 1);
        /* removed items never come back */
        rs_item_meta_t gone = {.item = id(&fx, "d"),
                               .category = id(&fx, "n"),
                               .duration_ms = RS_NONE_I64,
                               .removed = 1};
        assert_int_equal(rs_catalog_apply(fx.cat, &gone), RS_OK);
        assert_int_equal(rs_chain_flush(fx.ch, 200, RS_FLUSH_ALL, &out), RS_OK);
        r = &fx.last[id(&fx, "me")];
        for (uint32_t i = 0; i < r->n; i++)
                assert_int_not_equal(r->items[i].item, id(&fx, "d"));
        teardown(&fx);
}

static void test_debounce(void **state)
{
        fixture_t fx;

        (void)state;
        setup(&fx, COOC("") "  - type: score\n    min_refresh_interval: 10s\n");
        uint32_t u = id(&fx, "u");
        feed(&fx, "1", "o", "a", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "o", "b", RS_EV_LIKE, 1, NULL);
        int before = fx.nemits;
        const rs_score_t *sc = rs_chain_find(fx.ch, "score");
        rs_score_counts_t c0 = rs_score_counts(sc), c;
        feed(&fx, "3", "u", "a", RS_EV_LIKE, 1000, NULL); /* first: now */
        assert_int_equal(fx.nemits, before + 1);
        assert_int_equal(fx.last[u].n, 1);
        assert_int_equal(fx.last[u].items[0].item, id(&fx, "b"));
        c = rs_score_counts(sc); /* the metrics count what happened */
        assert_int_equal(c.published, c0.published + 1);
        assert_int_equal(c.debounced, c0.debounced);
        /* within 10 s: b is now seen, the list will change, but waits */
        feed(&fx, "4", "u", "b", RS_EV_LIKE, 2000, NULL);
        assert_int_equal(fx.nemits, before + 1);
        c = rs_score_counts(sc);
        assert_int_equal(c.published, c0.published + 1);
        assert_int_equal(c.debounced, c0.debounced + 1);
        /* at 11 s u is due: o likes c, so u's list is [c]. o's own list
         * is empty (it has seen everything): not published */
        feed(&fx, "5", "o", "c", RS_EV_LIKE, 11000, NULL);
        assert_int_equal(fx.nemits, before + 2);
        assert_int_equal(fx.emits[id(&fx, "o")], 0);
        c = rs_score_counts(sc);
        assert_int_equal(c.published, c0.published + 2);
        assert_int_equal(c.unchanged, c0.unchanged);
        assert_true(c.empty > c0.empty);
        assert_int_equal(c.debounced, c0.debounced + 1);
        assert_int_equal(fx.last[u].n, 1);
        assert_int_equal(fx.last[u].items[0].item, id(&fx, "c"));
        assert_int_equal(fx.last[u].generated_ts, 11000);
        teardown(&fx);
}

/* A user side whose item side is elsewhere, as in the worker: until the
 * neighbour table has anything, every list is empty, and a user's first
 * list is not published while empty (it tells a reader nothing). Such a
 * user is made again once the table has changed, at the next batch or
 * flush, without an event of their own; a list that stays empty is made
 * once per change. A later empty list is published: the items it
 * replaces were seen. */
static void test_empty_list_waits_for_the_table(void **state)
{
        fixture_t fx;
        char err[256];
        rs_emit_t out = {capture, &fx};

        (void)state;
        setup(&fx, COOC("") "  - type: score\n    k: 2\n"
                            "    min_refresh_interval: 10s\n");
        rs_nbtable_t *nt = rs_nbtable_new(fx.in, 100, 10);
        assert_non_null(nt);
        fx.own = rs_chain_new(fx.pl, fx.in, fx.cat, nt, NULL, err, sizeof(err));
        assert_non_null(fx.own);
        const rs_score_t *sc = rs_chain_find(fx.own, "score");
        uint32_t u = id(&fx, "u"), v = id(&fx, "v"), w = id(&fx, "w");
        uint32_t a = id(&fx, "a"), c = id(&fx, "c"), d = id(&fx, "d"),
                 x = id(&fx, "x");
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 1000, NULL);
        feed(&fx, "2", "v", "b", RS_EV_LIKE, 1000, NULL);
        assert_int_equal(fx.nemits, 0);
        assert_int_equal(rs_score_counts(sc).empty, 2);
        /* the table has not changed: nobody is made again */
        assert_int_equal(rs_chain_flush(fx.own, 2000, RS_FLUSH_DUE, &out),
                         RS_OK);
        assert_int_equal(rs_score_counts(sc).empty, 2);
        /* the item side's records come: a's neighbour c, and trending d */
        rs_neighbor_t nb_a[] = {{c, 0.5f, 0}};
        rs_trend_t trend[] = {{d, 3.0}};
        rs_nb_rec_t ra = {.kind = RS_NB_ITEM,
                          .item = a,
                          .nb = nb_a,
                          .nnb = 1,
                          .category = RS_ID_NONE,
                          .popularity = 1.0,
                          .updated_ts = 1500};
        rs_nb_rec_t rp = {.kind = RS_NB_PARTITION,
                          .partition = 0,
                          .category = RS_ID_NONE,
                          .popularity = RS_NO_POPULARITY,
                          .trend = trend,
                          .ntrend = 1,
                          .total = 3.0,
                          .updated_ts = 1500};
        assert_int_equal(rs_nbtable_apply(nt, &ra), RS_OK);
        assert_int_equal(rs_nbtable_apply(nt, &rp), RS_OK);
        assert_int_equal(rs_chain_flush(fx.own, 3000, RS_FLUSH_DUE, &out),
                         RS_OK);
        /* u: c because of a, then d to fill; v: d alone (b has none) */
        assert_int_equal(fx.nemits, 2);
        assert_int_equal(fx.emits[u], 1);
        assert_int_equal(fx.last[u].n, 2);
        assert_int_equal(fx.last[u].items[0].item, c);
        assert_int_equal(fx.last[u].items[0].because_of, a);
        assert_int_equal(fx.last[u].items[1].item, d);
        assert_int_equal(fx.last[u].generated_ts, 3000);
        assert_int_equal(fx.emits[v], 1);
        assert_int_equal(fx.last[v].n, 1);
        assert_int_equal(fx.last[v].items[0].item, d);
        rs_score_counts_t k = rs_score_counts(sc);
        assert_int_equal(k.published, 2);
        assert_int_equal(k.empty, 2);
        /* w has seen all there is: empty, made again once per change */
        feed(&fx, "3", "w", "d", RS_EV_LIKE, 4000, NULL);
        assert_int_equal(rs_score_counts(sc).empty, 3);
        for (int i = 0; i < 3; i++)
                assert_int_equal(
                        rs_chain_flush(fx.own, 5000 + i, RS_FLUSH_DUE, &out),
                        RS_OK);
        assert_int_equal(rs_score_counts(sc).empty, 3);
        rs_nb_rec_t rx = {.kind = RS_NB_ITEM,
                          .item = x,
                          .category = RS_ID_NONE,
                          .popularity = 0.5,
                          .updated_ts = 6000};
        assert_int_equal(rs_nbtable_apply(nt, &rx), RS_OK);
        for (int i = 0; i < 3; i++)
                assert_int_equal(
                        rs_chain_flush(fx.own, 7000 + i, RS_FLUSH_DUE, &out),
                        RS_OK);
        assert_int_equal(rs_score_counts(sc).empty, 4);
        assert_int_equal(fx.emits[w], 0);
        /* once a user has a list, an empty one replaces it: u likes c,
         * then d, and has seen all there is */
        feed(&fx, "4", "u", "c", RS_EV_LIKE, 13000, NULL);
        assert_int_equal(fx.emits[u], 2);
        assert_int_equal(fx.last[u].n, 1);
        assert_int_equal(fx.last[u].items[0].item, d);
        feed(&fx, "5", "u", "d", RS_EV_LIKE, 23000, NULL);
        assert_int_equal(fx.emits[u], 3);
        assert_int_equal(fx.last[u].n, 0);
        assert_int_equal(rs_score_counts(sc).empty, 4);
        /* a final flush writes every list, empty or not */
        fx.nemits = 0;
        assert_int_equal(rs_chain_flush(fx.own, 9000, RS_FLUSH_ALL, &out),
                         RS_OK);
        assert_int_equal(fx.nemits, 3);
        assert_int_equal(fx.emits[w], 1);
        assert_int_equal(fx.last[w].n, 0);
        rs_chain_destroy(fx.own);
        rs_nbtable_destroy(nt);
        teardown(&fx);
}

/* The sequence channel, by hand: x1..x3 like p then q a second later
 * (within transition_gap: C(p,q) = 3 and the transition D(p,q) = 3);
 * y1..y3 like r then p (C(p,r) = 3, D(r,p) = 3, D(p,r) = 0). N(p) = 6,
 * N(q) = N(r) = 3: cosine(p,q) = cosine(p,r) = 3/sqrt(18) = 0.70711 =
 * s_max(p), D_max(p) = 3. With transition_weight 2, q's entry in p's list
 * is 0.70711 + 2·0.70711·3/3 = 2.12132, of which seq = 1.41421, more than
 * half: a user who likes p gets q first, reason sequence (covisit on the
 * wire) because of p; r after it, covisit because of p. */
static void test_sequence_reason(void **state)
{
        fixture_t fx;

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    horizon: 3650d\n"
                               "  - type: pairs\n    damping: none\n"
                               "    pair_gap: 3650d\n    transition_gap: 10m\n"
                               "  - type: cooccur\n    refresh: 0\n"
                               "    transition_weight: 2\n"
                               "  - type: score\n    k: 3\n"
                               "    min_refresh_interval: 0\n");
        char eid[16], user[16];
        int n = 0;
        for (int i = 0; i < 3; i++) {
                snprintf(user, sizeof(user), "x%d", i);
                snprintf(eid, sizeof(eid), "e%d", n++);
                feed(&fx, eid, user, "p", RS_EV_LIKE, 1000 * n, NULL);
                snprintf(eid, sizeof(eid), "e%d", n++);
                feed(&fx, eid, user, "q", RS_EV_LIKE, 1000 * n, NULL);
                snprintf(user, sizeof(user), "y%d", i);
                snprintf(eid, sizeof(eid), "e%d", n++);
                feed(&fx, eid, user, "r", RS_EV_LIKE, 1000 * n, NULL);
                snprintf(eid, sizeof(eid), "e%d", n++);
                feed(&fx, eid, user, "p", RS_EV_LIKE, 1000 * n, NULL);
        }
        const rs_neighbor_t *nb;
        uint32_t p = id(&fx, "p"), q = id(&fx, "q"), r = id(&fx, "r");
        size_t nn = rs_nbtable_neighbors(table(&fx), p, &nb);
        assert_int_equal(nn, 2);
        assert_int_equal(nb[0].item, q);
        assert_true(fabs(nb[0].sim - 2.12132) < 1e-4);
        assert_true(fabs(nb[0].seq - 1.41421) < 1e-4);
        assert_int_equal(nb[1].item, r);
        assert_true(fabs(nb[1].sim - 0.70711) < 1e-4);
        assert_true(nb[1].seq == 0);
        feed(&fx, "t", "u", "p", RS_EV_LIKE, 1000 * n, NULL);
        const rs_recs_t *got = &fx.last[id(&fx, "u")];
        assert_true(got->n >= 2);
        assert_int_equal(got->items[0].item, q);
        assert_int_equal(got->items[0].reason, RS_REASON_SEQUENCE);
        assert_int_equal(got->items[0].because_of, p);
        assert_int_equal(got->items[1].item, r);
        assert_int_equal(got->items[1].reason, RS_REASON_COVISIT);
        assert_int_equal(got->items[1].because_of, p);
        teardown(&fx);
}

/* score.normalize: each window item's votes are its neighbours'
 * similarities over their sum. a's one counterpart c is weak (c is
 * popular elsewhere), b's d strong: by raw similarity d leads, normalised
 * c gets a's whole vote but for the pair a-b that u makes, and leads.
 * With likes of weight 1 and no damping, N(i) is the number of pairs
 * holding i: N(a) 2, N(b) 5, N(c) 4, N(d) 3, N(e) 1, so (cosine)
 * sim(a,c) = 1/√8, sim(a,b) = 1/√10, sim(b,d) = 3/√15, sim(b,e) = 1/√5. */
static void normalize_case(fixture_t *fx, int normalize)
{
        char conf[512];
        static const char *const pairs[][2] = {
                {"a", "c"}, {"c", "g"}, {"c", "g"}, {"c", "g"},
                {"b", "d"}, {"b", "d"}, {"b", "d"}, {"b", "e"},
        };
        char eid[16], user[16];
        int n = 0;

        snprintf(conf, sizeof(conf),
                 WINDOW_ONLY "  - type: user_window\n    horizon: 3650d\n"
                             "    half_life: 3650d\n"
                             "  - type: pairs\n    damping: none\n"
                             "    pair_gap: 3650d\n"
                             "  - type: cooccur\n    refresh: 0\n"
                             "    half_life: 0\n    horizon: 3650d\n"
                             "  - type: score\n    k: 3\n"
                             "    min_refresh_interval: 0\n"
                             "    normalize: %s\n",
                 normalize ? "true" : "false");
        setup(fx, conf);
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
                snprintf(user, sizeof(user), "x%zu", i);
                for (int j = 0; j < 2; j++) {
                        snprintf(eid, sizeof(eid), "e%d", n++);
                        feed(fx, eid, user, pairs[i][j], RS_EV_LIKE, 1000 * n,
                             NULL);
                }
        }
        feed(fx, "u1", "u", "a", RS_EV_LIKE, 1000 * n, NULL);
        feed(fx, "u2", "u", "b", RS_EV_LIKE, 1000 * n, NULL);
}

static void assert_list(fixture_t *fx, const char *const items[3],
                        const double scores[3])
{
        const rs_recs_t *got = &fx->last[id(fx, "u")];

        assert_int_equal(got->n, 3);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(got->items[i].item, id(fx, items[i]));
                assert_true(fabs(got->items[i].score - scores[i]) < 1e-4);
        }
}

static void test_score_normalize(void **state)
{
        const double ac = 1 / sqrt(8), ab = 1 / sqrt(10), bd = 3 / sqrt(15),
                     be = 1 / sqrt(5);
        fixture_t fx;

        (void)state;
        normalize_case(&fx, 0);
        assert_list(&fx, (const char *const[]){"d", "e", "c"},
                    (const double[]){bd, be, ac});
        teardown(&fx);

        normalize_case(&fx, 1); /* c 0.5279, d 0.5036, e 0.2908 */
        assert_list(&fx, (const char *const[]){"c", "d", "e"},
                    (const double[]){ac / (ac + ab), bd / (bd + be + ab),
                                     be / (bd + be + ab)});
        teardown(&fx);
}

/* Users whose first lists stay empty while the table does not change (an
 * item side that is away) wait in a list bounded by the users held, not
 * by how many came: 5,000 users through a window of 4 leave the score's
 * memory where 1,000 left it. */
static void test_waiting_users_bounded(void **state)
{
        fixture_t fx;
        char err[256], eid[16], user[16];
        size_t at_1000 = 0;

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    max_users: 4\n"
                               "  - type: pairs\n"
                               "  - type: cooccur\n"
                               "  - type: score\n");
        rs_nbtable_t *nt = rs_nbtable_new(fx.in, 100, 10);
        assert_non_null(nt);
        fx.own = rs_chain_new(fx.pl, fx.in, fx.cat, nt, NULL, err, sizeof(err));
        assert_non_null(fx.own);
        fx.collect = 1;
        const rs_score_t *sc = rs_chain_find(fx.own, "score");
        for (int i = 1; i <= 5000; i++) {
                snprintf(eid, sizeof(eid), "e%d", i);
                snprintf(user, sizeof(user), "u%d", i);
                feed(&fx, eid, user, "a", RS_EV_LIKE, i, NULL);
                if (i == 1000)
                        at_1000 = rs_score_bytes(sc);
        }
        assert_int_equal(rs_score_counts(sc).empty, 5000);
        assert_int_equal(fx.nemits, 0);
        assert_int_equal(rs_score_bytes(sc), at_1000);
        rs_chain_destroy(fx.own);
        rs_nbtable_destroy(nt);
        teardown(&fx);
}

static void test_clean_drops(void **state)
{
        fixture_t fx;
        const int64_t wall = rs_wall_ms();

        (void)state;
        setup(&fx, "  - type: clean\n    max_age: 1h\n    max_future: 1m\n"
                   "    max_user_rate: 60\n    burst: 2\n");
        void *cl = rs_chain_find(fx.ch, "clean");
        assert_int_equal(feed(&fx, "1", "u", "a", RS_EV_LIKE, 7200000, NULL),
                         0);
        assert_int_equal(feed(&fx, "1", "v", "a", RS_EV_LIKE, 7200000, NULL),
                         RS_DROP_DUPLICATE);
        assert_int_equal(feed(&fx, "2", "v", "a", RS_EV_LIKE, 0, NULL),
                         RS_DROP_TOO_OLD);
        /* 2 min ahead of its Kafka timestamp: a wrong clock */
        assert_int_equal(
                feed_at(&fx, "3", "v", "a", RS_EV_LIKE, 7320000, NULL, 7200000),
                RS_DROP_FUTURE);
        /* an hour after a quiet hour is no future event */
        assert_int_equal(feed_at(&fx, "3b", "v", "a", RS_EV_LIKE, 10800000,
                                 NULL, 10800500),
                         0);
        /* an hour refilled u's bucket to its burst of 2; then 60/min is
         * one a second */
        assert_int_equal(feed(&fx, "4", "u", "b", RS_EV_LIKE, 10800000, NULL),
                         0);
        assert_int_equal(feed(&fx, "4b", "u", "b", RS_EV_LIKE, 10800000, NULL),
                         0);
        assert_int_equal(feed(&fx, "5", "u", "c", RS_EV_LIKE, 10800000, NULL),
                         RS_DROP_RATE_LIMIT);
        assert_int_equal(feed(&fx, "6", "u", "c", RS_EV_LIKE, 10801000, NULL),
                         0);
        /* ahead of the wall clock, whatever the stream says */
        assert_int_equal(
                feed(&fx, "7", "w", "a", RS_EV_LIKE, wall + 3600000, NULL),
                RS_DROP_FUTURE);
        assert_int_equal(feed(&fx, "8", "w", "a", RS_EV_LIKE, INT64_MAX, NULL),
                         RS_DROP_FUTURE);
        assert_int_equal(feed(&fx, "9", "w", "a", RS_EV_LIKE, -1, NULL),
                         RS_DROP_TOO_OLD);
        assert_int_equal(feed(&fx, "10", "w", "a", RS_EV_LIKE, INT64_MIN, NULL),
                         RS_DROP_TOO_OLD);
        /* a rating needs 0..5 stars; negative watch times are invalid */
        assert_int_equal(feed(&fx, "11", "w", "a", RS_EV_RATE, 10801000, NULL),
                         RS_DROP_INVALID);
        assert_int_equal(rs_clean_drops(cl, RS_DROP_DUPLICATE), 1);
        assert_int_equal(rs_clean_drops(cl, RS_DROP_RATE_LIMIT), 1);
        assert_int_equal(rs_clean_drops(cl, RS_DROP_FUTURE), 3);
        assert_int_equal(rs_clean_drops(cl, RS_DROP_TOO_OLD), 3);
        teardown(&fx);
}

/* Event time per partition, in one batch: 200 records an hour ahead of
 * partition 0's stream (in the past of the wall clock, as in a replay of
 * history) move its clock by at most 200 · max_future, not to their
 * time; partition 1's clock is its own. Valid records of both after the
 * burst are kept; the next old ones are too old only on the partition
 * whose clock is ahead of them. */
static void test_clean_partition_clocks(void **state)
{
        fixture_t fx;
        enum { BURST = 200 };
        rs_event_t ev[BURST + 8];
        size_t n = 0;
        char eid[32];
        const char *why;
        const int64_t t0 = 1767225600000, min = 60000;

        (void)state;
        setup(&fx, "  - type: clean\n    max_age: 4h\n    max_future: 1s\n"
                   "    max_user_rate: 0\n");
        typedef struct {
                int part;
                int64_t ts;
        } plan_t;
        plan_t plan[BURST + 8];
        plan[n++] = (plan_t){0, t0};
        plan[n++] = (plan_t){1, t0 - 270 * min};
        for (int i = 0; i < BURST; i++)
                plan[n++] = (plan_t){0, t0 + 5 * 60 * min};
        plan[n++] = (plan_t){0, t0 + min}; /* kept */
        /* kept: too old only by partition 0's clock */
        plan[n++] = (plan_t){1, t0 - 270 * min};
        /* kept: too old had the burst moved the clock to its time */
        plan[n++] = (plan_t){0, t0 - 3 * 60 * min};
        plan[n++] = (plan_t){1, t0 - 9 * 60 * min}; /* too old */
        for (size_t i = 0; i < n; i++) {
                snprintf(eid, sizeof(eid), "e%zu", i);
                rs_event_fields_t f = {.event_id = eid,
                                       .user_id = "u",
                                       .item_id = "a",
                                       .type = RS_EV_LIKE,
                                       .ts = plan[i].ts,
                                       .duration_ms = RS_NONE_I64,
                                       .value = NAN};
                assert_int_equal(rs_event_from_fields(&f, fx.in,
                                                      RS_ID_MAX_DEFAULT, &ev[i],
                                                      &why),
                                 RS_OK);
                ev[i].partition = plan[i].part;
        }
        rs_emit_t out = {capture, &fx};
        assert_int_equal(rs_local_process(fx.local, ev, n, &out), RS_OK);
        for (size_t i = 0; i < n - 1; i++)
                assert_int_equal(ev[i].drop, 0);
        assert_int_equal(ev[n - 1].drop, RS_DROP_TOO_OLD);
        teardown(&fx);
}

static void test_weight_curve(void **state)
{
        fixture_t fx;
        rs_event_t ev = {.type = RS_EV_WATCH, .duration_ms = 10000};

        (void)state;
        setup(&fx, "  - type: weight\n    weights: {watch: 2, skip: -1}\n"
                   "    rate_weights: [-1, 0, 1, 2, 3]\n");
        const void *conf = fx.pl->stages[0].conf;
        ev.watch_ms = 500; /* 5% < 10%: a skip */
        assert_float_equal(rs_weight_of(conf, &ev), -1, 1e-9);
        ev.watch_ms = 1000; /* at 10%: 2 · 0.2 */
        assert_float_equal(rs_weight_of(conf, &ev), 0.4, 1e-9);
        ev.watch_ms = 4500; /* halfway from 10% to 80%: 2 · (0.2 + 0.8·0.5) */
        assert_float_equal(rs_weight_of(conf, &ev), 1.2, 1e-9);
        ev.watch_ms = 9000; /* past 80%: full */
        assert_float_equal(rs_weight_of(conf, &ev), 2, 1e-9);
        ev.duration_ms = RS_NONE_I64; /* unknown duration: the table */
        assert_float_equal(rs_weight_of(conf, &ev), 2, 1e-9);
        rs_event_t rate = {.type = RS_EV_RATE, .value = 3.5};
        assert_float_equal(rs_weight_of(conf, &rate), 1.5, 1e-9);
        rate.value = 9; /* clamped to 5 stars */
        assert_float_equal(rs_weight_of(conf, &rate), 3, 1e-9);
        teardown(&fx);
}

static void test_interest_channel(void **state)
{
        fixture_t fx;
        float v[8], em[8], en[8];

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    half_life: 1s\n"
                               "    interest_dim: 8\n"
                               "  - type: pairs\n  - type: cooccur\n"
                               "  - type: score\n    beta: 1\n"
                               "    min_refresh_interval: 0\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        uint32_t m = id(&fx, "m"), n = id(&fx, "n");
        rs_vec_category_embedding(rs_intern_hash(fx.in, m), em, 8);
        rs_vec_category_embedding(rs_intern_hash(fx.in, n), en, 8);
        assert_true(rs_vec_dot(em, en, 8) == 0);      /* different buckets */
        feed(&fx, "0", "o", "z", RS_EV_LIKE, 0, "n"); /* z: trending only */
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, "m"); /* w 1 */
        feed(&fx, "2", "u", "b", RS_EV_SHARE, 1000, "n"); /* w 2 */
        /* v(1 s) = 1·e_m·2^-1 + 2·e_n; at 2 s everything halves */
        assert_int_equal(rs_uwin_interest(win, id(&fx, "u"), 1000, v), 8);
        assert_float_equal(rs_vec_dot(v, em, 8), 0.5, 1e-6);
        assert_float_equal(rs_vec_dot(v, en, 8), 2.0, 1e-6);
        rs_uwin_interest(win, id(&fx, "u"), 2000, v);
        assert_float_equal(rs_vec_dot(v, em, 8), 0.25, 1e-6);
        /* z shares no co-occurrence with a or b; it reaches u through the
         * interest channel: beta · (v/|v|)·e_n = 2 / √(0.5² + 2²) */
        rs_recs_t *r = &fx.last[id(&fx, "u")];
        assert_int_equal(r->n, 1);
        assert_int_equal(r->items[0].item, id(&fx, "z"));
        assert_int_equal(r->items[0].reason, RS_REASON_INTEREST);
        assert_int_equal(r->items[0].because_of, RS_ID_NONE);
        assert_float_equal(r->items[0].score, 2 / sqrt(4.25), 1e-6);
        teardown(&fx);
}

/* An interest vector decayed into subnormal floats has no direction
 * left: its unit vector would be infinite and the scores of the whole
 * list NaN or infinite. The channel is then off and the list is finite. */
static void test_interest_decayed_to_nothing(void **state)
{
        fixture_t fx;
        float v[8];

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    half_life: 1s\n"
                               "    horizon: 1h\n    interest_dim: 8\n"
                               "  - type: pairs\n  - type: cooccur\n"
                               "  - type: score\n    beta: 1\n    gamma: 1\n"
                               "    min_refresh_interval: 0\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        uint32_t u = id(&fx, "u");
        feed(&fx, "0", "o", "z", RS_EV_LIKE, 0, "m");
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, "m");
        /* 130 half-lives later: a's weight is 2^-130, below FLT_MIN; b has
         * no category, so it adds nothing to the vector */
        feed(&fx, "2", "u", "b", RS_EV_LIKE, 130000, NULL);
        assert_int_equal(rs_uwin_interest(win, u, 130000, v), 8);
        assert_true(rs_vec_norm(v, 8) > 0);
        assert_false(isfinite(1.0f / rs_vec_norm(v, 8)));
        rs_recs_t *r = &fx.last[u];
        assert_int_equal(r->n, 1);
        assert_int_equal(r->items[0].item, id(&fx, "z"));
        assert_int_equal(r->items[0].reason, RS_REASON_TRENDING);
        assert_true(isfinite(r->items[0].score));
        teardown(&fx);
}

/* Trending items reach a user through the interest channel slot by slot,
 * only as many of a slot as can be among the best: when the category cap
 * leaves the list short, the next ones of the slot are candidates too. A
 * and B hash to one slot; the slot holds A1..A5 (category A, popularity
 * 10..6) before B (popularity 1). k 2 with one item per category: A1,
 * then B, both by interest, B scoring beta·1 + gamma·1/10. */
static void test_interest_slot_beyond_cap(void **state)
{
        fixture_t fx;
        char a[16], b[16], item[16], user[16], eid[16];
        int ne = 0;

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    interest_dim: 8\n"
                               "  - type: pairs\n  - type: cooccur\n"
                               "  - type: score\n    k: 2\n    beta: 1\n"
                               "    gamma: 0.01\n    max_per_category: 1\n"
                               "    min_refresh_interval: 0\n");
        uint32_t u = id(&fx, "u"); /* first: fx.last keeps small ids */
        /* two category names in one slot */
        snprintf(a, sizeof(a), "c0");
        size_t slot =
                rs_vec_category_slot(rs_intern_hash(fx.in, id(&fx, a)), 8);
        for (int i = 1;; i++) {
                snprintf(b, sizeof(b), "c%d", i);
                if (rs_vec_category_slot(rs_intern_hash(fx.in, id(&fx, b)),
                                         8) == slot)
                        break;
        }
        for (int i = 1; i <= 5; i++)
                for (int j = 0; j < 11 - i; j++) {
                        snprintf(item, sizeof(item), "A%d", i);
                        snprintf(user, sizeof(user), "o%d", j);
                        snprintf(eid, sizeof(eid), "%d", ne++);
                        feed(&fx, eid, user, item, RS_EV_LIKE, ne, a);
                }
        feed(&fx, "b", "o0", "B", RS_EV_LIKE, ne, b);
        feed(&fx, "x", "u", "x", RS_EV_LIKE, ne, a);
        rs_recs_t *r = &fx.last[u];
        assert_int_equal(r->n, 2);
        assert_int_equal(r->items[0].item, id(&fx, "A1"));
        assert_int_equal(r->items[0].reason, RS_REASON_INTEREST);
        assert_int_equal(r->items[1].item, id(&fx, "B"));
        assert_int_equal(r->items[1].reason, RS_REASON_INTEREST);
        assert_float_equal(r->items[1].score, 1 + 0.01 * 0.1, 1e-4);
        teardown(&fx);
}

/* Items with their own embeddings (the catalog's) are scored with
 * sgemv, trending ones and co-occurrence candidates alike: x (1, 0) makes
 * u's unit interest (1, 0); q (0, 1) co-occurs with x; z (0.6, 0.8) is
 * only trending. */
static void test_interest_own_embeddings(void **state)
{
        fixture_t fx;
        static const float ex[2] = {1, 0}, eq[2] = {0, 1}, ez[2] = {0.6f, 0.8f};

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    interest_dim: 2\n"
                               "  - type: pairs\n    damping: none\n"
                               "  - type: cooccur\n    refresh: 0s\n"
                               "  - type: score\n    k: 3\n    beta: 1\n"
                               "    min_refresh_interval: 0\n"
                               "items: {topic: video.catalog, embedding_dim: "
                               "2}\n");
        uint32_t u = id(&fx, "u"), x = id(&fx, "x"), q = id(&fx, "q"),
                 z = id(&fx, "z");
        rs_item_meta_t mx = {x, RS_ID_NONE, RS_NONE_I64, 0, ex, 2, 0};
        rs_item_meta_t mq = {q, RS_ID_NONE, RS_NONE_I64, 0, eq, 2, 0};
        rs_item_meta_t mz = {z, RS_ID_NONE, RS_NONE_I64, 0, ez, 2, 0};
        assert_int_equal(rs_catalog_apply(fx.cat, &mx), RS_OK);
        assert_int_equal(rs_catalog_apply(fx.cat, &mq), RS_OK);
        assert_int_equal(rs_catalog_apply(fx.cat, &mz), RS_OK);
        feed(&fx, "1", "o", "x", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "o", "q", RS_EV_LIKE, 1, NULL);
        feed(&fx, "3", "p", "z", RS_EV_LIKE, 2, NULL);
        feed(&fx, "4", "u", "x", RS_EV_LIKE, 3, NULL);
        /* C(x,q) = 1 (o), N(x) = 2 (o, u), N(q) = 1: cosine 1/√2 */
        const double sim = 1 / sqrt(2);
        rs_recs_t *r = &fx.last[u];
        /* x is seen: q (a(x) = 1 times the cosine, and interest
         * (1,0)·(0,1) = 0) and z (interest 0.6) are all there is */
        assert_int_equal(r->n, 2);
        assert_int_equal(r->items[0].item, q);
        assert_int_equal(r->items[0].reason, RS_REASON_COVISIT);
        assert_int_equal(r->items[0].because_of, x);
        assert_float_equal(r->items[0].score, sim, 1e-6);
        assert_int_equal(r->items[1].item, z);
        assert_int_equal(r->items[1].reason, RS_REASON_INTEREST);
        assert_float_equal(r->items[1].score, 0.6, 1e-6);
        teardown(&fx);
}

static void test_catalog(void **state)
{
        fixture_t fx;
        float v[4];
        static const float ea[4] = {1, 0, 0, 0}, eb[4] = {0, 1, 0, 0};
        uint32_t items[2];
        float aff[2];

        (void)state;
        setup(&fx, "  - type: weight\n    weights: {watch: 1, like: 1, "
                   "skip: -0.5}\n"
                   "  - type: user_window\n    interest_dim: 4\n"
                   "items: {topic: video.catalog, embedding_dim: 4}\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        uint32_t a = id(&fx, "a"), b = id(&fx, "b");
        rs_item_meta_t ma = {a, RS_ID_NONE, 10000, 0, ea, 4, 0};
        rs_item_meta_t mb = {b, RS_ID_NONE, RS_NONE_I64, 0, eb, 4, 0};
        rs_item_meta_t bad = {b, RS_ID_NONE, RS_NONE_I64, 0, eb, 3, 0};
        assert_int_equal(rs_catalog_apply(fx.cat, &ma), RS_OK);
        assert_int_equal(rs_catalog_apply(fx.cat, &mb), RS_OK);
        assert_int_equal(rs_catalog_apply(fx.cat, &bad), RS_ERR_INVALID);
        /* a watch of 0.5 s without a duration: the catalog's 10 s make it a
         * 5% watch, so a skip (-0.5) */
        rs_event_fields_t f = {.event_id = "1",
                               .user_id = "u",
                               .item_id = "a",
                               .type = RS_EV_WATCH,
                               .ts = 0,
                               .watch_ms = 500,
                               .duration_ms = RS_NONE_I64,
                               .value = NAN};
        rs_event_t ev;
        const char *why;
        rs_emit_t out = {capture, &fx};
        rs_event_from_fields(&f, fx.in, RS_ID_MAX_DEFAULT, &ev, &why);
        assert_int_equal(rs_local_process(fx.local, &ev, 1, &out), RS_OK);
        assert_int_equal(ev.duration_ms, 10000);
        assert_float_equal(ev.weight, -0.5, 1e-6);
        feed(&fx, "2", "u", "b", RS_EV_LIKE, 0, NULL);
        /* the interest vector is built from the catalog's embeddings */
        assert_int_equal(rs_uwin_interest(win, id(&fx, "u"), 0, v), 4);
        assert_float_equal(rs_vec_dot(v, ea, 4), -0.5, 1e-6);
        assert_float_equal(rs_vec_dot(v, eb, 4), 1.0, 1e-6);
        assert_int_equal(rs_uwin_affinity(win, id(&fx, "u"), 0, items, aff, 2),
                         2);
        teardown(&fx);
}

static void test_cold_start_own_categories(void **state)
{
        fixture_t fx;

        (void)state;
        setup(&fx, SCORE("    min_history: 2\n"));
        /* x (news) is the most popular, then y (pets), then z (news) */
        const char *pop[][2] = {{"x", "news"}, {"x", "news"}, {"x", "news"},
                                {"y", "pets"}, {"y", "pets"}, {"z", "news"}};
        for (int i = 0; i < 6; i++) {
                char eid[16], user[16];
                snprintf(eid, sizeof(eid), "p%d", i);
                snprintf(user, sizeof(user), "p%d", i);
                feed(&fx, eid, user, pop[i][0], RS_EV_LIKE, i, pop[i][1]);
        }
        /* a cold user (1 positive < 2) who liked a pets video: pets first */
        feed(&fx, "c1", "cold", "w", RS_EV_LIKE, 10, "pets");
        rs_recs_t *r = &fx.last[id(&fx, "cold")];
        assert_int_equal(r->n, 3);
        assert_int_equal(r->items[0].item, id(&fx, "y"));
        assert_int_equal(r->items[1].item, id(&fx, "x"));
        assert_int_equal(r->items[2].item, id(&fx, "z"));
        for (uint32_t i = 0; i < r->n; i++) {
                assert_int_equal(r->items[i].reason, RS_REASON_TRENDING);
                if (i)
                        assert_true(r->items[i].score < r->items[i - 1].score);
        }
        teardown(&fx);
}

/* o1..o4 like a, b, c; o5 a, b; o6 a, d; u likes a. Cosine:
 * sim(a→b) = 5/√35 = 0.845, sim(a→c) = 4/√28 = 0.756, sim(a→d) = 1/√7 =
 * 0.378, sim(b→c) = 4/√20 = 0.894. Plain order: b, c, d. MMR λ = 0.5 after
 * b: c → 0.5·0.756/0.845 − 0.5·0.894 = 0.000, d → 0.5·0.378/0.845 = 0.224:
 * b, d, c. */
static void mmr_case(const char *lambda, const char *want)
{
        fixture_t fx;
        char stages[512];
        const char *likes[] = {"abc", "abc", "abc", "abc", "ab", "ad"};

        snprintf(stages, sizeof(stages),
                 COOC("    half_life: 0\n") "  - type: score\n    k: 3\n"
                                            "    mmr_lambda: %s\n",
                 lambda);
        setup(&fx, stages);
        int n = 0;
        for (int u = 0; u < 6; u++)
                for (const char *it = likes[u]; *it; it++) {
                        char eid[16], user[16], item[2] = {*it, 0};
                        snprintf(eid, sizeof(eid), "e%d", n++);
                        snprintf(user, sizeof(user), "o%d", u + 1);
                        feed(&fx, eid, user, item, RS_EV_LIKE, n, NULL);
                }
        feed(&fx, "eu", "u", "a", RS_EV_LIKE, 100, NULL);
        rs_recs_t *r = &fx.last[id(&fx, "u")];
        char got[8] = {0};
        for (uint32_t i = 0; i < r->n && i < 7; i++)
                got[i] = rs_intern_str(fx.in, r->items[i].item, NULL)[0];
        assert_string_equal(got, want);
        teardown(&fx);
}

static void test_mmr(void **state)
{
        (void)state;
        mmr_case("1", "bcd");
        mmr_case("0.5", "bdc");
}

/*
 * Bounded memory (issue 9): recycled ids, eviction hooks, limits.
 */

/* Seen sets keep string hashes: an item whose id was freed and handed to
 * another string does not make that one look seen, and the item itself,
 * back under a new id, still is. */
static void test_seen_by_hash(void **state)
{
        fixture_t fx;
        rs_win_entry_t e[4];

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    max_events: 1\n"
                               "    horizon: 3650d\n");
        fx.collect = 1;
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, NULL);
        uint32_t a = rs_intern_find(fx.in, "a", 1);
        assert_int_not_equal(a, RS_ID_NONE); /* the window holds it */
        feed(&fx, "2", "u", "b", RS_EV_LIKE, 1, NULL);
        /* max_events 1: a left the window, nothing holds it: freed */
        assert_int_equal(rs_intern_find(fx.in, "a", 1), RS_ID_NONE);
        uint32_t z = id(&fx, "z");
        assert_int_equal(z, a); /* recycled */
        assert_false(rs_uwin_seen(win, id(&fx, "u"), z));
        uint32_t a2 = id(&fx, "a");
        assert_int_not_equal(a2, a);
        assert_true(rs_uwin_seen(win, id(&fx, "u"), a2));
        assert_true(rs_uwin_seen(win, id(&fx, "u"), id(&fx, "b")));
        assert_int_equal(rs_uwin_get(win, id(&fx, "u"), 1, e, 4), 1);
        assert_string_equal(rs_intern_str(fx.in, e[0].item, NULL), "b");
        /* z is seen once u touches it, under whatever id */
        feed(&fx, "3", "u", "z", RS_EV_LIKE, 2, NULL);
        assert_true(rs_uwin_seen(win, id(&fx, "u"), id(&fx, "z")));
        teardown(&fx);
}

/* A user the window evicts loses its score state and its place in the
 * debounce FIFO: the id handed to the next new user carries neither (no
 * debounce by the old user's publication, no early publication by the
 * old user's due time). Events are batches of one, collected after each,
 * as in the worker. */
static void test_evicted_user_state(void **state)
{
        fixture_t fx;
        const int64_t H = 3600000;

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n    horizon: 3650d\n"
                               "    max_users: 2\n"
                               "  - type: pairs\n    pair_gap: 3650d\n"
                               "  - type: cooccur\n    refresh: 0\n"
                               "  - type: score\n"
                               "    min_refresh_interval: 1h\n");
        fx.collect = 1;
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        /* o makes z trending, so that u1's first list is not empty (an
         * empty one is not published) */
        feed(&fx, "0", "o", "z", RS_EV_LIKE, 0, NULL);
        feed(&fx, "1", "u1", "a", RS_EV_LIKE, 0, NULL);
        uint32_t u1 = rs_intern_find(fx.in, "u1", 2);
        assert_true(u1 < 16);
        assert_int_equal(fx.emits[u1], 1); /* first list: at once */
        feed(&fx, "2", "u1", "b", RS_EV_LIKE, 1000, NULL);
        assert_int_equal(fx.emits[u1], 1); /* queued until 1 h */
        /* u2, then u3: o, then u1 are the least recently active, evicted */
        feed(&fx, "3", "u2", "a", RS_EV_LIKE, 2000, NULL);
        feed(&fx, "4", "u3", "a", RS_EV_LIKE, 3000, NULL);
        assert_int_equal(rs_uwin_evictions(win), 2);
        assert_false(rs_uwin_holds(win, u1));
        assert_int_equal(rs_intern_find(fx.in, "u1", 2), RS_ID_NONE);
        /* u4 is new: it gets u1's id (u2 is evicted for it) and its first
         * list at once, not 1 h after u1's */
        memset(fx.emits, 0, sizeof(fx.emits));
        feed(&fx, "5", "u4", "c", RS_EV_LIKE, 4000, NULL);
        assert_int_equal(rs_intern_find(fx.in, "u4", 2), u1);
        assert_int_equal(fx.emits[u1], 1);
        assert_string_equal(rs_intern_str(fx.in, fx.last[u1].user, NULL), "u4");
        /* u4 again: its own due time is 4 s + 1 h */
        feed(&fx, "6", "u4", "a", RS_EV_LIKE, 5000, NULL);
        assert_int_equal(fx.emits[u1], 1);
        /* at 1 h + 0.5 s u1's old entry (due at 1 h) comes up: not u4's */
        feed(&fx, "7", "u3", "d", RS_EV_LIKE, H + 500, NULL);
        assert_int_equal(fx.emits[u1], 1);
        /* at 1 h + 5 s u4 is due */
        feed(&fx, "8", "u3", "e", RS_EV_LIKE, H + 5000, NULL);
        assert_int_equal(fx.emits[u1], 2);
        assert_int_equal(fx.last[u1].generated_ts, H + 5000);
        /* a final flush lists the users held, u3 and u4, only */
        fx.nemits = 0;
        rs_emit_t out = {capture, &fx};
        assert_int_equal(rs_chain_flush(fx.ch, H + 6000, RS_FLUSH_ALL, &out),
                         RS_OK);
        assert_int_equal(fx.nemits, 2);
        teardown(&fx);
}

/* cooccur.max_items: beyond it the least recently touched item goes with
 * its counts, lists and trending place; others keep what they counted
 * with it (their references keep its id). */
static void test_cooccur_max_items(void **state)
{
        fixture_t fx;
        const rs_neighbor_t *nb;
        const uint32_t *trend;

        (void)state;
        setup(&fx, COOC("    half_life: 0\n    max_items: 3\n"));
        fx.collect = 1;
        rs_cooc_t *co = cooc(&fx);
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "u", "b", RS_EV_LIKE, 1, NULL);
        feed(&fx, "3", "u", "c", RS_EV_LIKE, 2, NULL);
        assert_int_equal(rs_cooc_items(co), 3);
        assert_int_equal(rs_cooc_evictions(co), 0);
        uint32_t a = id(&fx, "a"), b = id(&fx, "b"), c = id(&fx, "c");
        assert_float_equal(rs_cooc_marginal(co, a, 2), 1, 1e-6);
        /* d: c, touched longest ago, is evicted: a and b were touched
         * since they were queued (c paired with them) */
        feed(&fx, "4", "v", "d", RS_EV_LIKE, 3, NULL);
        assert_int_equal(rs_cooc_items(co), 3);
        assert_int_equal(rs_cooc_evictions(co), 1);
        assert_float_equal(rs_cooc_marginal(co, c, 3), 0, 0);
        assert_int_equal(rs_cooc_tracked(co, c), 0);
        assert_float_equal(rs_cooc_count(co, b, c, 3), 1, 1e-6);
        assert_string_equal(rs_intern_str(fx.in, c, NULL), "c");
        size_t nt = rs_nbtable_trending(table(&fx), &trend);
        assert_int_equal(nt, 3);
        for (size_t i = 0; i < nt; i++)
                assert_int_not_equal(trend[i], c);
        /* b touched again (paired with d), then e: a is the oldest now */
        feed(&fx, "5", "v", "b", RS_EV_LIKE, 4, NULL);
        feed(&fx, "6", "w", "e", RS_EV_LIKE, 5, NULL);
        assert_int_equal(rs_cooc_evictions(co), 2);
        assert_int_equal(rs_cooc_tracked(co, a), 0);
        assert_true(rs_cooc_tracked(co, b) > 0);
        /* b's list as published when d paired with it: d and a (a went
         * after); once b changes again, a is gone (no marginal), d stays */
        uint32_t d = id(&fx, "d"), e = id(&fx, "e");
        assert_int_equal(rs_cooc_neighbors(co, b, &nb), 2);
        feed(&fx, "7", "w", "b", RS_EV_LIKE, 6, NULL);
        assert_int_equal(rs_cooc_neighbors(co, b, &nb), 2);
        for (int i = 0; i < 2; i++)
                assert_true(nb[i].item == d || nb[i].item == e);
        teardown(&fx);
}

/* The item evicted is the least recently touched: a touched again after
 * b and c outlives them (an item queued once and never touched again is
 * the first to go, none gets a second chance it did not earn). */
static void test_cooccur_lru_order(void **state)
{
        fixture_t fx;

        (void)state;
        setup(&fx, COOC("    half_life: 0\n    max_items: 3\n"));
        fx.collect = 1;
        rs_cooc_t *co = cooc(&fx);
        feed(&fx, "1", "u", "a", RS_EV_LIKE, 0, NULL);
        feed(&fx, "2", "v", "b", RS_EV_LIKE, 1, NULL);
        feed(&fx, "3", "w", "c", RS_EV_LIKE, 2, NULL);
        feed(&fx, "4", "x", "a", RS_EV_LIKE, 3, NULL); /* a again */
        feed(&fx, "5", "y", "d", RS_EV_LIKE, 4, NULL); /* b goes */
        assert_float_equal(rs_cooc_marginal(co, id(&fx, "b"), 4), 0, 0);
        assert_float_equal(rs_cooc_marginal(co, id(&fx, "a"), 4), 2, 1e-6);
        feed(&fx, "6", "z", "e", RS_EV_LIKE, 5, NULL); /* then c */
        assert_float_equal(rs_cooc_marginal(co, id(&fx, "c"), 5), 0, 0);
        assert_float_equal(rs_cooc_marginal(co, id(&fx, "a"), 5), 2, 1e-6);
        feed(&fx, "7", "z2", "f", RS_EV_LIKE, 6, NULL); /* then a */
        assert_float_equal(rs_cooc_marginal(co, id(&fx, "a"), 6), 0, 0);
        assert_float_equal(rs_cooc_marginal(co, id(&fx, "d"), 6), 1, 1e-6);
        assert_int_equal(rs_cooc_evictions(co), 3);
        teardown(&fx);
}

/* items.max_items: new items beyond it are rejected and counted; known
 * ones still change, and a removed one stays removed. */
static void test_catalog_max_items(void **state)
{
        fixture_t fx;

        (void)state;
        setup(&fx, WINDOW_ONLY "  - type: user_window\n"
                               "items: {topic: video.catalog, max_items: 2}\n");
        rs_item_meta_t m = {.category = RS_ID_NONE, .duration_ms = RS_NONE_I64};
        m.item = id(&fx, "a");
        assert_int_equal(rs_catalog_apply(fx.cat, &m), RS_OK);
        m.item = id(&fx, "b");
        m.removed = 1;
        m.category = id(&fx, "cat");
        assert_int_equal(rs_catalog_apply(fx.cat, &m), RS_OK);
        m.item = id(&fx, "c");
        assert_int_equal(rs_catalog_apply(fx.cat, &m), RS_ERR_FULL);
        assert_int_equal(rs_catalog_items(fx.cat), 2);
        assert_int_equal(rs_catalog_rejected(fx.cat), 1);
        assert_false(rs_catalog_removed(fx.cat, id(&fx, "c")));
        m.item = id(&fx, "a");
        assert_int_equal(rs_catalog_apply(fx.cat, &m), RS_OK); /* known */
        assert_true(rs_catalog_removed(fx.cat, id(&fx, "a")));
        /* the catalog holds its ids, the rejected one is freed */
        rs_intern_collect(fx.in);
        assert_int_equal(rs_intern_find(fx.in, "c", 1), RS_ID_NONE);
        assert_true(rs_catalog_removed(fx.cat, rs_intern_find(fx.in, "b", 1)));
        assert_int_equal(
                rs_catalog_category(fx.cat, rs_intern_find(fx.in, "a", 1)),
                rs_intern_find(fx.in, "cat", 3));
        teardown(&fx);
}

/* clean.max_rate_users: the bucket table stays at its bound, and what it
 * forgets is the bucket owing least: a limited user stays limited while
 * others come and go. */
static void test_clean_rate_table_bound(void **state)
{
        fixture_t fx;
        rs_clean_state_t cs;
        char eid[32], user[32];

        (void)state;
        setup(&fx, "  - type: clean\n    max_user_rate: 60\n    burst: 2\n"
                   "    max_rate_users: 16\n");
        fx.collect = 1;
        void *cl = rs_chain_find(fx.ch, "clean");
        assert_int_equal(feed(&fx, "x1", "bot", "a", RS_EV_LIKE, 0, NULL), 0);
        assert_int_equal(feed(&fx, "x2", "bot", "a", RS_EV_LIKE, 0, NULL), 0);
        assert_int_equal(feed(&fx, "x3", "bot", "a", RS_EV_LIKE, 0, NULL),
                         RS_DROP_RATE_LIMIT);
        for (int i = 0; i < 40; i++) {
                snprintf(eid, sizeof(eid), "e%d", i);
                snprintf(user, sizeof(user), "user%d", i);
                assert_int_equal(
                        feed(&fx, eid, user, "a", RS_EV_LIKE, 100 + i, NULL),
                        0);
                rs_clean_state(cl, &cs);
                assert_true(cs.rate_users <= 16);
        }
        assert_int_equal(cs.rate_users, 16);
        assert_int_equal(cs.rate_evictions, 40 + 1 - 16);
        /* the bot owes 2 (refilled 0.14 in 140 ms), the others 1 at most */
        assert_int_equal(feed(&fx, "x4", "bot", "a", RS_EV_LIKE, 140, NULL),
                         RS_DROP_RATE_LIMIT);
        /* a minute later every bucket is full again: any may go first */
        for (int i = 40; i < 60; i++) {
                snprintf(eid, sizeof(eid), "e%d", i);
                snprintf(user, sizeof(user), "user%d", i);
                assert_int_equal(
                        feed(&fx, eid, user, "a", RS_EV_LIKE, 120000 + i, NULL),
                        0);
        }
        rs_clean_state(cl, &cs);
        assert_int_equal(cs.rate_users, 16);
        assert_true(cs.rate_bytes <= 1024 * 24);
        teardown(&fx);
}

/* References balance: a random stream through every stage, with
 * evictions in each (users, items, catalog, rate buckets) and a collect
 * after each batch. What the window holds always names the strings it
 * was given (a model of its LRU and rings says which), lists name live
 * items, and once the chain and the catalog are gone every id is freed. */
static void test_refs_balance(void **state)
{
        enum { USERS = 30, ITEMS = 40, HELD = 8, RING = 3 };
        fixture_t fx;
        struct {
                int64_t last; /* event index, -1: not held */
                int ring[RING], n;
        } m[USERS];
        rs_event_t ev[10];
        rs_win_entry_t e[8];
        const rs_neighbor_t *nb;
        const uint32_t *trend;
        uint64_t x = 7;
        int64_t ts = 0, k = 0;
        char eid[32], user[32], item[32], cat[32];

        (void)state;
        setup(&fx, "  - type: clean\n    max_rate_users: 16\n"
                   "  - type: weight\n    weights: {like: 1, share: 2}\n"
                   "  - type: user_window\n    max_events: 3\n"
                   "    max_users: 8\n    max_seen: 4\n    horizon: 3650d\n"
                   "  - type: pairs\n    pair_gap: 3650d\n"
                   "  - type: cooccur\n    max_items: 10\n"
                   "    max_neighbors_tracked: 3\n    max_neighbors: 2\n"
                   "    refresh: 0\n"
                   "    trending_size: 4\n"
                   "  - type: score\n    k: 3\n    min_refresh_interval: 1s\n"
                   "items: {topic: t, max_items: 5}\n");
        rs_uwin_t *win = rs_chain_find(fx.ch, "user_window");
        rs_cooc_t *co = cooc(&fx);
        rs_emit_t out = {capture, &fx};
        for (int u = 0; u < USERS; u++)
                m[u].last = -1;
        for (int batch = 0; batch < 400; batch++) {
                size_t n = 1 + (size_t)(batch % 10);
                for (size_t i = 0; i < n; i++, k++) {
                        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                        int u = (int)((x >> 33) % USERS);
                        int it = (int)((x >> 45) % ITEMS);
                        ts += (int64_t)((x >> 20) % 2000);
                        snprintf(eid, sizeof(eid), "e%lld", (long long)k);
                        snprintf(user, sizeof(user), "u%d", u);
                        snprintf(item, sizeof(item), "i%d", it);
                        snprintf(cat, sizeof(cat), "c%d", it % 5);
                        rs_event_fields_t f = {
                                .event_id = eid,
                                .user_id = user,
                                .item_id = item,
                                .type = x >> 63 ? RS_EV_LIKE : RS_EV_SHARE,
                                .ts = ts,
                                .duration_ms = RS_NONE_I64,
                                .category = (x >> 40) & 1 ? cat : NULL,
                                .value = NAN};
                        const char *why;
                        assert_int_equal(rs_event_from_fields(&f, fx.in,
                                                              RS_ID_MAX_DEFAULT,
                                                              &ev[i], &why),
                                         RS_OK);
                        /* the model: LRU of HELD users, rings of RING */
                        if (m[u].last < 0) {
                                int held = 0, old = -1;
                                for (int v = 0; v < USERS; v++)
                                        if (m[v].last >= 0) {
                                                held++;
                                                if (old < 0 ||
                                                    m[v].last < m[old].last)
                                                        old = v;
                                        }
                                if (held == HELD)
                                        m[old].last = -1;
                                m[u].n = 0;
                        }
                        m[u].last = k;
                        if (m[u].n == RING) {
                                memmove(m[u].ring, m[u].ring + 1,
                                        (RING - 1) * sizeof(int));
                                m[u].n--;
                        }
                        m[u].ring[m[u].n++] = it;
                }
                if (batch % 3 == 0) { /* a catalog record between batches */
                        snprintf(item, sizeof(item), "i%d",
                                 (int)((x >> 30) % ITEMS));
                        snprintf(cat, sizeof(cat), "c%d", batch % 7);
                        rs_item_meta_t meta = {.item = id(&fx, item),
                                               .category = id(&fx, cat),
                                               .duration_ms = RS_NONE_I64,
                                               .removed = batch % 2};
                        rs_err_t err = rs_catalog_apply(fx.cat, &meta);
                        assert_true(err == RS_OK || err == RS_ERR_FULL);
                }
                assert_int_equal(rs_local_process(fx.local, ev, n, &out),
                                 RS_OK);
                rs_intern_collect(fx.in);
                for (int u = 0; u < USERS; u++) {
                        snprintf(user, sizeof(user), "u%d", u);
                        uint32_t uid =
                                rs_intern_find(fx.in, user, strlen(user));
                        if (m[u].last < 0) {
                                assert_true(uid == RS_ID_NONE ||
                                            !rs_uwin_holds(win, uid));
                                continue;
                        }
                        assert_int_not_equal(uid, RS_ID_NONE);
                        assert_int_equal(rs_uwin_get(win, uid, ts, e, 8),
                                         m[u].n);
                        for (int j = 0; j < m[u].n; j++) {
                                snprintf(item, sizeof(item), "i%d",
                                         m[u].ring[j]);
                                assert_string_equal(
                                        rs_intern_str(fx.in, e[j].item, NULL),
                                        item);
                        }
                }
                for (int it = 0; it < ITEMS; it++) {
                        snprintf(item, sizeof(item), "i%d", it);
                        uint32_t iid =
                                rs_intern_find(fx.in, item, strlen(item));
                        if (iid == RS_ID_NONE)
                                continue;
                        size_t nn = rs_cooc_neighbors(co, iid, &nb);
                        for (size_t j = 0; j < nn; j++)
                                assert_int_equal(rs_intern_str(fx.in,
                                                               nb[j].item,
                                                               NULL)[0],
                                                 'i');
                }
                size_t nt = rs_nbtable_trending(table(&fx), &trend);
                for (size_t j = 0; j < nt; j++)
                        assert_int_equal(
                                rs_intern_str(fx.in, trend[j], NULL)[0], 'i');
        }
        assert_true(rs_uwin_evictions(win) > 0);
        assert_true(rs_cooc_evictions(co) > 0);
        assert_true(rs_catalog_rejected(fx.cat) > 0);
        assert_true(rs_intern_freed(fx.in) > 0);
        rs_local_destroy(fx.local);
        rs_catalog_destroy(fx.cat);
        fx.local = NULL;
        fx.cat = NULL;
        rs_intern_collect(fx.in);
        assert_int_equal(rs_intern_live(fx.in), 0);
        teardown(&fx);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_window_max_events_and_horizon),
                cmocka_unit_test(test_affinity_decay),
                cmocka_unit_test(test_affinity_position),
                cmocka_unit_test(test_seen_bound_and_lru),
                cmocka_unit_test(test_cooccur_decay_and_expiry),
                cmocka_unit_test(test_cooccur_bounded_counterparts),
                cmocka_unit_test(test_score_diversity_removed_cold_start),
                cmocka_unit_test(test_debounce),
                cmocka_unit_test(test_sequence_reason),
                cmocka_unit_test(test_score_normalize),
                cmocka_unit_test(test_waiting_users_bounded),
                cmocka_unit_test(test_empty_list_waits_for_the_table),
                cmocka_unit_test(test_clean_drops),
                cmocka_unit_test(test_clean_partition_clocks),
                cmocka_unit_test(test_weight_curve),
                cmocka_unit_test(test_interest_channel),
                cmocka_unit_test(test_interest_decayed_to_nothing),
                cmocka_unit_test(test_interest_slot_beyond_cap),
                cmocka_unit_test(test_interest_own_embeddings),
                cmocka_unit_test(test_mmr),
                cmocka_unit_test(test_catalog),
                cmocka_unit_test(test_cold_start_own_categories),
                cmocka_unit_test(test_seen_by_hash),
                cmocka_unit_test(test_evicted_user_state),
                cmocka_unit_test(test_cooccur_max_items),
                cmocka_unit_test(test_cooccur_lru_order),
                cmocka_unit_test(test_catalog_max_items),
                cmocka_unit_test(test_clean_rate_table_bound),
                cmocka_unit_test(test_refs_balance),
        };
        return cmocka_run_group_tests_name("stages", tests, NULL, NULL);
}
