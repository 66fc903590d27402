/* eval's reference models (baselines.h) against lists worked out by hand
 * from their definitions: successor counts, co-visitation with 1/rank
 * position weights and positive-count normalisation, the recent window,
 * the Misra-Gries bound, decayed popularity, touched items excluded.
 * Users and items are small integers standing for string hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "recstream/baselines.h"

#define DAY 86400000LL

typedef struct fixture {
        rs_base_t *b;
        rs_hset_t touched;
} fixture_t;

static void start(fixture_t *fx, const rs_base_conf_t *conf)
{
        memset(fx, 0, sizeof(*fx));
        fx->b = rs_base_new(conf);
        assert_non_null(fx->b);
        assert_int_equal(rs_hset_init(&fx->touched, 0), 0);
}

static void stop(fixture_t *fx)
{
        rs_base_destroy(fx->b);
        rs_hset_fini(&fx->touched);
}

/* A touch as eval passes it: first when the pair was not touched. */
static void touch(fixture_t *fx, uint64_t user, uint64_t item, int64_t ts,
                  unsigned flags)
{
        uint64_t pk = rs_base_pair(user, item);
        if (!rs_hset_has(&fx->touched, pk))
                flags |= RS_BASE_FIRST;
        assert_int_equal(rs_base_learn(fx->b, user, item, ts, flags), 0);
        assert_true(rs_hset_add(&fx->touched, pk) >= 0);
}

/* Asserts model m's list for user is want[0..n). */
static void expect(fixture_t *fx, rs_base_model_t m, uint64_t user,
                   const uint64_t *want, size_t n)
{
        uint64_t got[16];
        int len = rs_base_list(fx->b, m, user, &fx->touched, got, 10);

        if (len != (int)n || memcmp(got, want, n * sizeof(*got))) {
                fprintf(stderr, "%s for user %llu: got", rs_base_model_name(m),
                        (unsigned long long)user);
                for (int i = 0; i < len; i++)
                        fprintf(stderr, " %llu", (unsigned long long)got[i]);
                fprintf(stderr, "\n");
        }
        assert_int_equal(len, (int)n);
        assert_memory_equal(got, want, n * sizeof(*got));
}

#define EXPECT(fx, m, user, ...)                                               \
        do {                                                                   \
                const uint64_t want_[] = {__VA_ARGS__};                        \
                expect(fx, m, user, want_, sizeof(want_) / sizeof(*want_));    \
        } while (0)

enum { A = 101, B, C, D, E, F };

static void test_successor(void **state)
{
        fixture_t fx;
        rs_base_conf_t conf = rs_base_conf_default();

        (void)state;
        start(&fx, &conf);
        touch(&fx, 1, A, 1, 0); /* a → b, b → c */
        touch(&fx, 1, B, 2, 0);
        touch(&fx, 1, C, 3, 0);
        touch(&fx, 2, A, 4, 0); /* a → b */
        touch(&fx, 2, B, 5, 0);
        touch(&fx, 3, A, 6, 0); /* a → c */
        touch(&fx, 3, C, 7, 0);
        /* succ(a) = {b: 2, c: 1} */
        touch(&fx, 4, A, 8, 0);
        EXPECT(&fx, RS_BASE_SUCC, 4, B, C);
        /* u1's last item is c, which has no successor */
        EXPECT(&fx, RS_BASE_SUCC, 1);
        /* succ(b) = {c: 1, d: 1}: c reached 1 first */
        touch(&fx, 6, B, 9, 0);
        touch(&fx, 6, D, 10, 0);
        touch(&fx, 7, B, 11, 0);
        EXPECT(&fx, RS_BASE_SUCC, 7, C, D);
        /* u8: c then b; b's successors without the touched c */
        touch(&fx, 8, C, 12, 0);
        touch(&fx, 8, B, 13, 0);
        EXPECT(&fx, RS_BASE_SUCC, 8, D);
        /* touching c again does not make it u8's last item */
        touch(&fx, 8, C, 14, RS_BASE_POSITIVE);
        EXPECT(&fx, RS_BASE_SUCC, 8, D);
        /* a user nobody knows, an empty history: nothing */
        EXPECT(&fx, RS_BASE_SUCC, 99);
        stop(&fx);
}

static void test_covisit_weights(void **state)
{
        fixture_t fx;
        rs_base_conf_t conf = rs_base_conf_default();

        (void)state;
        start(&fx, &conf);
        touch(&fx, 1, A, 1, 0); /* a-b, a-c, b-c */
        touch(&fx, 1, B, 2, 0);
        touch(&fx, 1, C, 3, 0);
        touch(&fx, 2, B, 4, 0); /* b-d */
        touch(&fx, 2, D, 5, 0);
        touch(&fx, 9, A, 6, 0); /* a-d */
        touch(&fx, 9, D, 7, 0);
        /* u9, newest first: d (1/1), a (1/2); no positive events, so
         * every √(P+1) is 1. C(d,·) = {b 1, a 1}, C(a,·) = {b, c, d: 1}:
         * b 1 + 0.5, a 1 (touched), c 0.5, d 0.5 (touched) */
        EXPECT(&fx, RS_BASE_COVISIT, 9, B, C);
        /* fifteen positive events on b (re-touches: no new pairs):
         * b = (1 + 0.5)/√16 = 0.375 < c 0.5 */
        for (int i = 0; i < 15; i++)
                touch(&fx, 1, B, 8 + i, RS_BASE_POSITIVE);
        EXPECT(&fx, RS_BASE_COVISIT, 9, C, B);
        /* and P(a) = 15 divides what comes through a (rank 2) by 4:
         * b = 1/4 + 0.5/4/4 = 0.28125 > c = 0.5/4 = 0.125 */
        for (int i = 0; i < 15; i++)
                touch(&fx, 1, A, 30 + i, RS_BASE_POSITIVE);
        EXPECT(&fx, RS_BASE_COVISIT, 9, B, C);
        stop(&fx);
}

static void test_covisit_position(void **state)
{
        fixture_t fx;
        rs_base_conf_t conf = rs_base_conf_default();

        (void)state;
        start(&fx, &conf);
        for (uint64_t u = 1; u <= 3; u++) { /* C(a,e) = 3 */
                touch(&fx, u, A, (int64_t)u, 0);
                touch(&fx, u, E, (int64_t)u, 0);
        }
        for (uint64_t u = 4; u <= 5; u++) { /* C(d,f) = 2 */
                touch(&fx, u, D, (int64_t)u, 0);
                touch(&fx, u, F, (int64_t)u, 0);
        }
        /* u9: a then d, so d is rank 1, a rank 2: f 2/1 = 2 ahead of
         * e 3/2 = 1.5 (equal weights, or the oldest first, would put e
         * first) */
        touch(&fx, 9, A, 10, 0);
        touch(&fx, 9, D, 11, 0);
        EXPECT(&fx, RS_BASE_COVISIT, 9, F, E);
        stop(&fx);
}

static void test_covisit_recent_window(void **state)
{
        fixture_t fx;
        rs_base_conf_t conf = rs_base_conf_default();

        (void)state;
        conf.recent = 2;
        start(&fx, &conf);
        /* each item pairs with the 2 before it: a-b, a-c, b-c, b-d, c-d,
         * not a-d */
        touch(&fx, 1, A, 1, 0);
        touch(&fx, 1, B, 2, 0);
        touch(&fx, 1, C, 3, 0);
        touch(&fx, 1, D, 4, 0);
        touch(&fx, 2, A, 5, 0);
        /* C(a,·) = {b 1, c 1}: equal, b seen first */
        EXPECT(&fx, RS_BASE_COVISIT, 2, B, C);
        /* u3 touches e, d, a: its last 2 are a (1), d (1/2), and e is out
         * with its counterpart f. Pairs added: e-d, e-a, d-a.
         * C(a,·) = {b 1, c 1, e 1, d 1}, C(d,·) = {b 1, c 1, e 1, a 1}:
         * b 1.5, c 1.5; e, a and d touched */
        touch(&fx, 4, E, 5, 0);
        touch(&fx, 4, F, 5, 0);
        touch(&fx, 3, E, 6, 0);
        touch(&fx, 3, D, 7, 0);
        touch(&fx, 3, A, 8, 0);
        EXPECT(&fx, RS_BASE_COVISIT, 3, B, C);
        stop(&fx);
}

static void test_counts_bound(void **state)
{
        fixture_t fx;
        rs_base_conf_t conf = rs_base_conf_default();

        (void)state;
        conf.max_counts = 2;
        conf.models = 1u << RS_BASE_SUCC;
        start(&fx, &conf);
        /* a → b twice, a → c: {b 2, c 1}, full */
        for (uint64_t u = 1; u <= 3; u++) {
                touch(&fx, u, A, (int64_t)u, 0);
                touch(&fx, u, u == 3 ? C : B, (int64_t)u, 0);
        }
        touch(&fx, 10, A, 10, 0);
        EXPECT(&fx, RS_BASE_SUCC, 10, B, C);
        /* a → d, a new one while full: all one less, c leaves, d is not
         * kept: {b 1} */
        touch(&fx, 4, A, 11, 0);
        touch(&fx, 4, D, 12, 0);
        EXPECT(&fx, RS_BASE_SUCC, 10, B);
        /* a → d again: room now, {b 1, d 1} */
        touch(&fx, 5, A, 13, 0);
        touch(&fx, 5, D, 14, 0);
        EXPECT(&fx, RS_BASE_SUCC, 10, B, D);
        /* models not chosen list nothing */
        EXPECT(&fx, RS_BASE_COVISIT, 10);
        EXPECT(&fx, RS_BASE_POP, 10);
        stop(&fx);
}

/* Many counterparts through a short list: the list ordered by count, then
 * by who reached it first, against a plain array kept by the documented
 * rules (one more: move up past the lower counts; a newcomer to a full
 * list: all one less, zeros leave). */
static void test_counts_random(void **state)
{
        fixture_t fx;
        rs_base_conf_t conf = rs_base_conf_default();
        struct counted {
                uint64_t item;
                unsigned n;
        } ref[8], t;
        size_t nref = 0;
        unsigned long rnd = 12345;

        (void)state;
        conf.max_counts = 8;
        conf.models = 1u << RS_BASE_SUCC;
        start(&fx, &conf);
        for (uint64_t u = 1; u <= 5000; u++) {
                rnd = rnd * 6364136223846793005UL + 1442695040888963407UL;
                /* 40 items, the low ones more often */
                uint64_t j = 1000 + ((rnd >> 33) % 40) * ((rnd >> 20) % 3) / 2;
                size_t i;
                touch(&fx, u, A, (int64_t)u, 0);
                touch(&fx, u, j, (int64_t)u, 0);
                for (i = 0; i < nref && ref[i].item != j; i++)
                        ;
                if (i == nref && nref == 8) {
                        size_t keep = 0;
                        for (size_t x = 0; x < nref; x++)
                                if (--ref[x].n)
                                        keep = x + 1;
                        nref = keep;
                } else {
                        if (i == nref)
                                ref[nref++] = (struct counted){j, 0};
                        t = ref[i];
                        t.n++;
                        for (; i > 0 && ref[i - 1].n < t.n; i--)
                                ref[i] = ref[i - 1];
                        ref[i] = t;
                }
                uint64_t want[8];
                for (i = 0; i < nref; i++)
                        want[i] = ref[i].item;
                touch(&fx, 100000 + u, A, (int64_t)u, 0);
                expect(&fx, RS_BASE_SUCC, 100000 + u, want, nref);
        }
        stop(&fx);
}

static void test_popularity(void **state)
{
        fixture_t fx;
        rs_base_conf_t conf = rs_base_conf_default();

        (void)state;
        conf.pop_half_life = DAY;
        start(&fx, &conf);
        /* at day 2: a 1/4, c 3/4, b 1; a skip (not popular) on a adds
         * nothing */
        touch(&fx, 1, A, 0, RS_BASE_POPULAR);
        touch(&fx, 2, C, 0, RS_BASE_POPULAR);
        touch(&fx, 3, C, 0, RS_BASE_POPULAR);
        touch(&fx, 4, C, 0, RS_BASE_POPULAR);
        touch(&fx, 5, B, 2 * DAY, RS_BASE_POPULAR);
        touch(&fx, 6, A, 2 * DAY, 0);
        touch(&fx, 7, A, 2 * DAY, 0);
        EXPECT(&fx, RS_BASE_POP, 99, B, C, A);
        EXPECT(&fx, RS_BASE_POP, 2, B, A);
        /* two more on a at day 2: 2.25 */
        touch(&fx, 8, A, 2 * DAY, RS_BASE_POPULAR);
        touch(&fx, 9, A, 2 * DAY, RS_BASE_POPULAR);
        EXPECT(&fx, RS_BASE_POP, 99, A, B, C);
        /* decay over 1000 half-lives rebases and keeps the order */
        touch(&fx, 10, D, 1000 * DAY, RS_BASE_POPULAR);
        EXPECT(&fx, RS_BASE_POP, 99, D, A, B, C);
        stop(&fx);
}

static void test_model_names(void **state)
{
        (void)state;
        assert_int_equal(rs_base_model_parse("pop", 3), RS_BASE_POP);
        assert_int_equal(rs_base_model_parse("successor", 9), RS_BASE_SUCC);
        assert_int_equal(rs_base_model_parse("succ", 4), RS_BASE_SUCC);
        assert_int_equal(rs_base_model_parse("covisit", 7), RS_BASE_COVISIT);
        assert_int_equal(rs_base_model_parse("cov", 3), -1);
        assert_int_equal(rs_base_model_parse("popx", 4), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_successor),
                cmocka_unit_test(test_covisit_weights),
                cmocka_unit_test(test_covisit_position),
                cmocka_unit_test(test_covisit_recent_window),
                cmocka_unit_test(test_counts_bound),
                cmocka_unit_test(test_counts_random),
                cmocka_unit_test(test_popularity),
                cmocka_unit_test(test_model_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
