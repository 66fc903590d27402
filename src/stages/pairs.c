/* pairs.c — the `pairs` stage, the user side's half of co-occurrence:
 * what each event adds to the item side's counts, as pair deltas.
 *
 * On a user's first positive touch of item j at time t, j is paired with
 * the user's positive window items i inside pair_gap (the newest max_pairs
 * distinct ones): C(i,j) and C(j,i) grow by the user's damping weight, and
 * N(j) by one; every positive event adds its weight to j's popularity.
 * When i was touched at most transition_gap before j, the update of
 * C(i,j) is also a transition i -> j (directed): the item side adds the
 * same weight to D(i,j) beside C(i,j); the update of C(j,i) is not.
 * Each addition goes to the delta of the cooc-deltas partition that owns
 * its first item (records.h), and each batch's deltas go out at its end,
 * one per partition, in partition order.
 *
 * What is learnt from an event depends only on that user's earlier
 * events, never on batch boundaries: the additions are made as
 * user_window applies the event (rs_uwin_on_add), from the window as it
 * was just before it, with the user's distinct items counted up to it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/pairs.h"
#include "recstream/stage.h"
#include "recstream/user_window.h"

enum { DAMP_NONE, DAMP_LOG, DAMP_SQRT, DAMP_POWER };

typedef struct pairs_conf {
        int64_t pair_gap, max_pairs, transition_gap;
        int damping;
        double exponent;
} pairs_conf_t;

static const char *const dampings[] = {"none", "log", "sqrt", "power", NULL};

#define PC(f) offsetof(pairs_conf_t, f)
static const rs_prop_t props[] = {
        {"pair_gap", RS_PROP_DURATION, PC(pair_gap), "1h", 0,
         RS_DURATION_MAX_MS, NULL, 0,
         "Only window items at most this much older than the event pair "
         "with it."},
        {"max_pairs", RS_PROP_INT, PC(max_pairs), "50", 1, 10000, NULL, 0,
         "Pairs per event at most (the newest window items)."},
        {"transition_gap", RS_PROP_DURATION, PC(transition_gap), "30m", 0,
         RS_DURATION_MAX_MS, NULL, 0,
         "A pair (i, j) made when j is touched at most this long after i "
         "is also a transition i → j: the item side counts it in the "
         "directed D(i,j) beside C(i,j), which cooccur.transition_weight "
         "ranks by (0: no transitions). Only pairs count, so at most "
         "pair_gap and the newest max_pairs items."},
        {"damping", RS_PROP_ENUM, PC(damping), "log", 0, -1, dampings, 0,
         "Heavy-user damping of a pair's weight by the user's distinct "
         "items n (counted up to the event): none 1; log 1/log2(2+n); sqrt "
         "1/√(1+n); power 1/(1+n)^exponent."},
        {"exponent", RS_PROP_DOUBLE, PC(exponent), "0.5", 0, 4, NULL, 0,
         "The exponent of `damping: power`."},
        {0},
};

struct rs_pairs {
        const pairs_conf_t *conf;
        const rs_uwin_t *win;
        const rs_intern_t *strings;
        rs_delta_sink_t sink;
        rs_delta_t *deltas; /* one per partition */
        int32_t partitions;
        rs_win_entry_t *wbuf;
        uint32_t *paired;
        rs_err_t failed; /* of an addition made inside user_window */
        uint64_t updates;
};

static double damping(const rs_pairs_t *pr, uint32_t touched)
{
        switch (pr->conf->damping) {
        case DAMP_LOG: return 1.0 / log2(2.0 + touched);
        case DAMP_SQRT: return 1.0 / sqrt(1.0 + touched);
        case DAMP_POWER: return pow(1.0 + touched, -pr->conf->exponent);
        default: return 1.0;
        }
}

static rs_delta_t *delta_of(rs_pairs_t *pr, uint32_t item)
{
        return &pr->deltas[pr->partitions > 1
                                   ? (int32_t)(rs_intern_hash(pr->strings,
                                                              item) %
                                               (uint64_t)pr->partitions)
                                   : 0];
}

static rs_err_t add_to(rs_pairs_t *pr, rs_delta_t *d, uint32_t item,
                       uint32_t other, int64_t ts, float w, const rs_event_t *e)
{
        rs_err_t err = rs_delta_add(d, item, other, ts, w);
        int32_t src;

        pr->updates++;
        /* each update names its event: the item side applies an event
         * once, however often it is sent (issue 11) */
        if (!err && e->partition >= 0 && pr->sink.topic_name &&
            !(err = rs_delta_add_source(
                      d, pr->sink.topic_name(pr->sink.opaque, e->topic),
                      e->partition, e->offset, &src))) {
                d->upd[d->n - 1].src = src;
                d->upd[d->n - 1].offset = e->offset;
        }
        return err;
}

static rs_err_t add(rs_pairs_t *pr, uint32_t item, uint32_t other, int64_t ts,
                    float w, int directed, const rs_event_t *e)
{
        rs_delta_t *d = delta_of(pr, item);
        rs_err_t err = add_to(pr, d, item, other, ts, w, e);

        if (!err)
                d->upd[d->n - 1].directed = directed;
        return err;
}

/* user_window is about to add e: what it teaches the item side. */
static rs_err_t on_add(void *opaque, const rs_event_t *e)
{
        rs_pairs_t *pr = opaque;
        const pairs_conf_t *k = pr->conf;
        rs_err_t err;

        if (e->weight <= 0)
                return RS_OK;
        if ((err = add(pr, e->item, RS_DELTA_POPULARITY, e->ts, e->weight, 0,
                       e)))
                return err;
        if (e->category != RS_ID_NONE &&
            (err = rs_delta_add_category(delta_of(pr, e->item), e->item,
                                         e->category)))
                return err;
        if (!(e->flags & RS_EVF_FIRST))
                return RS_OK;
        /* every partition learns every marginal: a similarity needs both
         * items' and they may live on two partitions */
        for (int32_t p = 0; p < pr->partitions; p++)
                if ((err = add_to(pr, &pr->deltas[p], e->item,
                                  RS_DELTA_MARGINAL, e->ts, 1.0f, e)))
                        return err;
        /* the window before e, oldest first */
        size_t n = rs_uwin_get(pr->win, e->user, e->ts, pr->wbuf,
                               rs_uwin_max_events(pr->win));
        float w = (float)damping(pr, rs_uwin_touched(pr->win, e->user));
        size_t npaired = 0;
        for (size_t x = n; x-- > 0 && npaired < (size_t)k->max_pairs;) {
                const rs_win_entry_t *we = &pr->wbuf[x];
                size_t p;
                if (we->w <= 0 || we->item == e->item)
                        continue;
                if (e->ts - we->ts > k->pair_gap)
                        continue; /* older ones may come later out of order */
                for (p = 0; p < npaired && pr->paired[p] != we->item; p++)
                        ;
                if (p < npaired)
                        continue;
                pr->paired[npaired++] = we->item;
                /* a transition from the one touched first to the other
                 * when close enough (e may be late: older than we) */
                int64_t gap = k->transition_gap;
                int fwd = gap > 0 && e->ts >= we->ts && e->ts - we->ts <= gap;
                int back = gap > 0 && e->ts < we->ts && we->ts - e->ts <= gap;
                if ((err = add(pr, we->item, e->item, e->ts, w, fwd, e)) ||
                    (err = add(pr, e->item, we->item, e->ts, w, back, e)))
                        return err;
        }
        return RS_OK;
}

static void pairs_destroy(void *st)
{
        rs_pairs_t *pr = st;

        if (!pr)
                return;
        for (int32_t p = 0; pr->deltas && p < pr->partitions; p++)
                rs_delta_fini(&pr->deltas[p]);
        free(pr->deltas);
        free(pr->wbuf);
        free(pr->paired);
        free(pr);
}

static void *pairs_create(const void *conf, rs_stage_env_t *env, char *errstr,
                          size_t errstr_size)
{
        const pairs_conf_t *k = conf;
        rs_uwin_t *win = env->user_window;
        rs_pairs_t *pr;

        if (!win) {
                rs_seterr(errstr, errstr_size, RS_ERR_INVALID,
                          "the pairs stage needs a user_window stage before "
                          "it");
                return NULL;
        }
        pr = calloc(1, sizeof(*pr));
        if (!pr)
                goto nomem;
        pr->conf = k;
        pr->win = win;
        pr->strings = env->strings;
        pr->sink = env->deltas;
        pr->partitions = pr->sink.partitions > 0 ? pr->sink.partitions : 1;
        if (!(pr->deltas =
                      calloc((size_t)pr->partitions, sizeof(*pr->deltas))) ||
            !(pr->wbuf = malloc(rs_uwin_max_events(win) * sizeof(*pr->wbuf))) ||
            !(pr->paired =
                      malloc((size_t)k->max_pairs * sizeof(*pr->paired))) ||
            rs_uwin_on_add(win, on_add, pr))
                goto nomem;
        for (int32_t p = 0; p < pr->partitions; p++)
                pr->deltas[p].partition = p;
        return pr;
nomem:
        pairs_destroy(pr);
        rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
        return NULL;
}

/* user_window has made the batch's additions: send them, a delta per
 * partition that has any, in partition order. */
static rs_err_t pairs_process(void *st, rs_event_t *ev, size_t n,
                              const rs_emit_t *out)
{
        rs_pairs_t *pr = st;
        rs_err_t err = RS_OK;

        (void)ev;
        (void)n;
        (void)out;
        for (int32_t p = 0; p < pr->partitions; p++) {
                rs_delta_t *d = &pr->deltas[p];
                if ((d->n || d->ncats) && pr->sink.fn && !err)
                        err = pr->sink.fn(pr->sink.opaque, d);
                rs_delta_reset(d);
        }
        return err;
}

uint64_t rs_pairs_updates(const rs_pairs_t *pr)
{
        return pr->updates;
}

static const char *const needs[] = {"user_window", NULL};

const rs_stage_ops_t rs_stage_pairs = {
        .type = "pairs",
        .needs = needs,
        .doc = "The user side's half of co-occurrence: on a user's first "
               "positive touch of an item, pairs it with their recent "
               "positive window items (damped for heavy users) and sends the "
               "additions, with marginals and popularity, to the item side "
               "as one delta per cooc-deltas partition per batch.",
        .props = props,
        .conf_size = sizeof(pairs_conf_t),
        .create = pairs_create,
        .process = pairs_process,
        .destroy = pairs_destroy,
};
