/* eval.c — `recstream eval`: how good a pipeline's lists are, on a file of
 * events, beside reference models measured in the same run.
 *
 * Prequential (the default): events in time order, the first-touch protocol
 * of DESIGN §2 *Measuring quality*. A target is the first touch (any event
 * but an impression) of a (user, item) pair that is positive at some
 * point: a watch of at least half the video, like, share, add_to_cart,
 * purchase, or a rating of 4 or more. That looks ahead, so the input is
 * read twice: pass 1 marks the pairs that are ever positive, pass 2 runs
 * the pipeline. Just before the pipeline learns from a target, the user's
 * list is taken as the worker would publish it at that event time, and so
 * are the reference models' (baselines.h), the user's touched items
 * excluded.
 *
 * Split (--test): the whole input is replayed, every user's final list is
 * scored against the test file (the definitions of bench/score_recs.py).
 *
 * The string table is collected between batches, as the worker does, so
 * ids may be recycled: what the evaluation keeps about users and items
 * across batches is keyed by their string hashes. Its own state: per
 * positive pair and per touched pair a 64-bit key in a set at most half
 * full (16 to 32 B each: 55k + 100k pairs on ml-100k, 3 MB),
 * the set of users, and the reference models (baselines.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "recstream/baselines.h"
#include "recstream/buf.h"
#include "recstream/chain.h"
#include "recstream/topology.h"
#include "recstream/config.h"
#include "recstream/evfile.h"
#include "recstream/hset.h"
#include "recstream/pipeline.h"
#include "recstream/score.h"
#include "recstream/user_window.h"

#define BATCH 4096

static const rs_cmd_info_t eval_cmd = {
        .name = "eval",
        .synopsis = "-c PIPELINE --input EVENTS [--k 10] [--test TEST.csv]\n"
                    "       [--plot out.svg] [--baselines "
                    "pop,successor,covisit|none]\n"
                    "       [--baseline-counts 200] [--pop-half-life 30d]",
        .about = "Prequential evaluation (default): before each target (a "
                 "user's first touch\nof an item that is positive at some "
                 "point) the user's top-k as the worker\nwould publish it "
                 "is scored: HR@k, nDCG@k, MRR@k, catalogue coverage, "
                 "beside\ndecayed-popularity, successor and co-visitation "
                 "baselines. With --test:\nreplay EVENTS, then score every "
                 "user's final list against TEST (MAP, nDCG@k,\n"
                 "precision@k, recall@k). EVENTS is read as by `replay` "
                 "(.csv, .jsonl, .avro),\nso `tail --events` output "
                 "saved as .jsonl is evaluated as it is.\n",
        .signals = "none handled: SIGINT and SIGTERM end it at once.",
        .exits = "0  evaluated\n"
                 "1  an input cannot be read, out of memory\n"
                 "2  usage error, the pipeline has errors, or it has no "
                 "user_window and\n   score stages, or its score.k is "
                 "below --k",
        .config = 1,
};

typedef struct opts {
        const char *pipeline, *input, *test, *plot;
        int k;
        rs_base_conf_t base; /* the reference models */
} opts_t;

/* What both modes share: the pipeline run over the input. */
typedef struct run {
        const opts_t *o;
        rs_pipeline_t *pl;
        rs_intern_t *in;
        rs_catalog_t *cat;
        rs_local_t *local; /* both sides, the shuffle in memory */
        rs_chain_t *ch;
        rs_score_t *score;
        rs_uwin_t *win;
        rs_evfile_t *f;
        rs_event_t *ev;
        size_t nev;        /* events read, not yet learnt */
        rs_hset_t is_item; /* string hashes of the input's items */
        size_t items;
        unsigned long long nread, bad;
        int64_t now;
        int tty;
        double t0, next_progress;
} run_t;

/* The next event into *e: 1, or 0 at the end, -1 out of memory. Unusable
 * records are reported and skipped. */
static int next_event(run_t *r, rs_event_t *e)
{
        char errstr[512];

        for (;;) {
                rs_err_t err = rs_evfile_next(r->f, e, errstr, sizeof(errstr));
                if (err == RS_ERR_NOENT)
                        return 0;
                if (err == RS_ERR_NOMEM)
                        return -1;
                if (err) {
                        if (r->bad++ < 10)
                                fprintf(stderr,
                                        "recstream: eval: %s: %s (skipped)\n",
                                        r->o->input, errstr);
                        continue;
                }
                int added = rs_hset_add(&r->is_item,
                                        rs_intern_hash(r->in, e->item));
                if (added < 0)
                        return -1;
                r->items += (size_t)added;
                if (e->ts > r->now)
                        r->now = e->ts;
                r->nread++;
                return 1;
        }
}

/* The pipeline learns the events read so far. With `collect` (no event
 * read is waiting outside r->ev), ids no state holds are freed. */
static rs_err_t learn(run_t *r, int collect)
{
        rs_err_t err = rs_local_process(r->local, r->ev, r->nev, NULL);
        r->nev = 0;
        if (collect)
                rs_intern_collect(r->in);
        return err;
}

static void progress(run_t *r, const char *what)
{
        if (!r->tty || rs_cli_now() < r->next_progress)
                return;
        fprintf(stderr, "\reval: %5.1f%%  %llu events  %s",
                100.0 * rs_evfile_progress(r->f), r->nread, what);
        r->next_progress = rs_cli_now() + 0.2;
}

/*
 * Prequential.
 */

static int positive(const rs_event_t *e)
{
        switch (e->type) {
        case RS_EV_LIKE:
        case RS_EV_SHARE:
        case RS_EV_ADD_TO_CART:
        case RS_EV_PURCHASE: return 1;
        case RS_EV_WATCH:
                return e->duration_ms != RS_NONE_I64 && e->duration_ms > 0 &&
                       e->watch_ms * 2 >= e->duration_ms;
        case RS_EV_RATE: return e->value >= 4;
        default: return 0;
        }
}

/* Popularity: every interaction that is not a rejection counts. */
static int counts_for_popularity(const rs_event_t *e)
{
        return e->type != RS_EV_IMPRESSION && e->type != RS_EV_SKIP &&
               e->type != RS_EV_DISLIKE &&
               !(e->type == RS_EV_RATE && !(e->value >= 3));
}

/* The lines of the report: the pipeline, then each reference model. */
#define LINES (1 + RS_BASE__COUNT)

static const char *const line_names[LINES] = {NULL, "popularity", "successor",
                                              "covisit"};

/* HR, nDCG, MRR at k of one list per target, and the items ever listed. */
typedef struct metrics {
        double hits, ndcg, rr;
        rs_hset_t listed; /* string hashes */
        size_t nlisted;
} metrics_t;

/* The 1-based rank of target in list (string hashes), 0 when absent. */
static size_t score_list(metrics_t *m, const uint64_t *list, size_t n,
                         uint64_t target, int *oom)
{
        size_t rank = 0;

        for (size_t i = 0; i < n; i++) {
                if (list[i] == target && !rank)
                        rank = i + 1;
                int added = rs_hset_add(&m->listed, list[i]);
                if (added < 0)
                        *oom = 1;
                m->nlisted += added > 0;
        }
        if (rank) {
                m->hits += 1;
                m->ndcg += 1 / log2(1.0 + (double)rank);
                m->rr += 1 / (double)rank;
        }
        return rank;
}

typedef struct target {
        int64_t ts;
        uint8_t hits; /* bit l: line l listed it */
} target_t;

static void write_plot(FILE *f, const target_t *t, size_t n, int k,
                       const char *name, unsigned lines);

/* Pass 1: the (user, item) pairs that are positive at some point, into
 * pos (rs_base_pair keys). Records the second pass will report are
 * skipped here in silence. 0, -1 when out of memory, 1 when the input
 * cannot be opened (said). */
static int mark_positive(run_t *r, rs_hset_t *pos)
{
        char errstr[512];
        rs_evfile_t *f = rs_evfile_open(r->o->input, r->in,
                                        (size_t)r->pl->source.max_id_bytes,
                                        errstr, sizeof(errstr));
        rs_event_t e;
        rs_err_t err;
        size_t n = 0;
        int rc = 0;

        if (!f) {
                fprintf(stderr, "recstream: eval: %s\n", errstr);
                return 1;
        }
        while ((err = rs_evfile_next(f, &e, errstr, sizeof(errstr))) !=
               RS_ERR_NOENT) {
                if (err == RS_ERR_NOMEM) {
                        rc = -1;
                        break;
                }
                if (err)
                        continue;
                if (positive(&e) &&
                    rs_hset_add(pos,
                                rs_base_pair(rs_intern_hash(r->in, e.user),
                                             rs_intern_hash(r->in, e.item))) <
                            0) {
                        rc = -1;
                        break;
                }
                if (++n % BATCH == 0) { /* nothing holds these ids */
                        rs_intern_collect(r->in);
                        if (r->tty && rs_cli_now() >= r->next_progress) {
                                fprintf(stderr, "\reval: %5.1f%%  pass 1",
                                        100.0 * rs_evfile_progress(f));
                                r->next_progress = rs_cli_now() + 0.2;
                        }
                }
        }
        rs_evfile_close(f);
        rs_intern_collect(r->in);
        return rc;
}

static int prequential(run_t *r)
{
        const opts_t *o = r->o;
        metrics_t m[LINES] = {0};
        rs_hset_t pos = {0};     /* pairs positive at some point */
        rs_hset_t touched = {0}; /* pairs touched so far */
        rs_hset_t users = {0};   /* users who touched an item */
        rs_base_t *base = NULL;
        size_t cold = 0, ntargets = 0, targets_cap = 0;
        size_t unreachable = 0; /* targets the pipeline had as seen */
        target_t *targets = NULL;
        uint64_t list[RS_RECS_MAX];
        unsigned lines = 1; /* bit l: line l is reported */
        char what[96];
        int rc = RS_EXIT_FAIL, more, oom = 0;
        rs_event_t cur;

        for (int b = 0; b < RS_BASE__COUNT; b++)
                if (o->base.models & 1u << b)
                        lines |= 1u << (1 + b);
        if (rs_hset_init(&pos, 0) || rs_hset_init(&touched, 0) ||
            rs_hset_init(&users, 0) || !(base = rs_base_new(&o->base)))
                goto nomem;
        for (int l = 0; l < LINES; l++)
                if (rs_hset_init(&m[l].listed, 0))
                        goto nomem;
        int pass1 = mark_positive(r, &pos);
        if (pass1 < 0)
                goto nomem;
        if (pass1)
                goto out;
        while ((more = next_event(r, &cur)) > 0) {
                const rs_event_t *e = &cur;
                if (e->type != RS_EV_IMPRESSION) { /* a touch */
                        const uint64_t uh = rs_intern_hash(r->in, e->user),
                                       ih = rs_intern_hash(r->in, e->item),
                                       pk = rs_base_pair(uh, ih);
                        const int first = !rs_hset_has(&touched, pk);
                        if (first && rs_hset_has(&pos, pk)) {
                                const rs_recs_t *recs;
                                size_t n = 0;
                                uint8_t hits = 0;
                                /* cur is not in r->ev yet: no collect */
                                if (learn(r, 0) ||
                                    rs_score_list(r->score, e->user, e->ts,
                                                  &recs))
                                        goto nomem;
                                for (; n < recs->n && n < (size_t)o->k; n++)
                                        list[n] = rs_intern_hash(
                                                r->in, recs->items[n].item);
                                hits |= score_list(&m[0], list, n, ih, &oom) >
                                        0;
                                for (int b = 0; b < RS_BASE__COUNT; b++) {
                                        if (!(lines & 1u << (1 + b)))
                                                continue;
                                        int bn = rs_base_list(
                                                base, (rs_base_model_t)b, uh,
                                                &touched, list, (size_t)o->k);
                                        if (bn < 0)
                                                goto nomem;
                                        if (score_list(&m[1 + b], list,
                                                       (size_t)bn, ih, &oom))
                                                hits |= (uint8_t)(1u
                                                                  << (1 + b));
                                }
                                if (oom ||
                                    rs_grow_zeroed((void **)&targets,
                                                   &targets_cap, ntargets,
                                                   sizeof(*targets)))
                                        goto nomem;
                                targets[ntargets++] = (target_t){e->ts, hits};
                                unreachable += (size_t)rs_uwin_seen(
                                        r->win, e->user, e->item);
                                cold += (size_t)!rs_hset_has(&users, uh);
                                snprintf(what, sizeof(what),
                                         "%zu targets  hr@%d %.4f", ntargets,
                                         o->k, m[0].hits / (double)ntargets);
                                progress(r, what);
                        }
                        unsigned flags =
                                (first ? RS_BASE_FIRST : 0) |
                                (positive(e) ? RS_BASE_POSITIVE : 0) |
                                (counts_for_popularity(e) ? RS_BASE_POPULAR
                                                          : 0);
                        if ((first && rs_hset_add(&touched, pk) < 0) ||
                            rs_hset_add(&users, uh) < 0 ||
                            rs_base_learn(base, uh, ih, e->ts, flags))
                                goto nomem;
                }
                r->ev[r->nev] = cur;
                if (++r->nev == BATCH && learn(r, 1))
                        goto nomem;
        }
        if (more < 0)
                goto nomem;
        if (r->tty)
                fprintf(stderr, "\r%78s\r", "");
        if (!ntargets) {
                fprintf(stderr,
                        "recstream: eval: %s has no targets (first touches "
                        "of pairs positive at some point)\n",
                        o->input);
                goto out;
        }
        double nt = (double)ntargets, ni = r->items ? (double)r->items : 1;
        double best = 0; /* the best reference's hits */
        for (int b = 0; b < RS_BASE__COUNT; b++)
                if (lines & 1u << (1 + b) && m[1 + b].hits > best)
                        best = m[1 + b].hits;
        printf("%-16s %8s %8s %8s %9s\n", "", "hr@k", "ndcg@k", "mrr@k",
               "coverage");
        for (int l = 0; l < LINES; l++)
                if (lines & 1u << l)
                        printf("%-16s %8.4f %8.4f %8.4f %9.4f\n",
                               l ? line_names[l] : r->pl->name, m[l].hits / nt,
                               m[l].ndcg / nt, m[l].rr / nt,
                               (double)m[l].nlisted / ni);
        printf("k=%d targets=%zu cold_users=%.4f seen_before=%.4f "
               "events=%llu items=%zu hr_ratio=%.2f ref_ratio=%.2f "
               "time_s=%.2f\n",
               o->k, ntargets, (double)cold / nt, (double)unreachable / nt,
               r->nread, r->items,
               m[1 + RS_BASE_POP].hits > 0 ? m[0].hits / m[1 + RS_BASE_POP].hits
                                           : 0.0,
               best > 0 ? m[0].hits / best : 0.0, rs_cli_now() - r->t0);
        printf("hr@%d=%.4f ndcg@%d=%.4f mrr=%.4f coverage=%.4f targets=%zu",
               o->k, m[0].hits / nt, o->k, m[0].ndcg / nt, m[0].rr / nt,
               (double)m[0].nlisted / ni, ntargets);
        for (int b = 0; b < RS_BASE__COUNT; b++)
                if (lines & 1u << (1 + b))
                        printf(" %s_hr@%d=%.4f %s_ndcg@%d=%.4f",
                               rs_base_model_key(b), o->k, m[1 + b].hits / nt,
                               rs_base_model_key(b), o->k, m[1 + b].ndcg / nt);
        printf("\n");
        if (o->plot) {
                FILE *pf = fopen(o->plot, "w");
                if (pf)
                        write_plot(pf, targets, ntargets, o->k, r->pl->name,
                                   lines);
                if (!pf || fclose(pf)) {
                        fprintf(stderr, "recstream: eval: cannot write %s\n",
                                o->plot);
                        goto out;
                }
        }
        rc = RS_EXIT_OK;
        goto out;
nomem:
        fprintf(stderr, "recstream: eval: out of memory\n");
out:
        rs_base_destroy(base);
        for (int l = 0; l < LINES; l++)
                rs_hset_fini(&m[l].listed);
        rs_hset_fini(&pos);
        rs_hset_fini(&touched);
        rs_hset_fini(&users);
        free(targets);
        return rc;
}

/* HR@k over time: one point per window of targets, the pipeline against
 * each reference model. */
static void write_plot(FILE *f, const target_t *t, size_t n, int k,
                       const char *name, unsigned lines)
{
        static const char *const colour[LINES] = {"#1f77b4", "#999999",
                                                  "#ff7f0e", "#2ca02c"};
        const double W = 800, H = 360, L = 60, R = 20, T = 40, B = 50;
        size_t bins = n / 100 < 60 ? (n / 100 ? n / 100 : 1) : 60;
        size_t per = (n + bins - 1) / bins;
        double ymax = 0.05;
        char d0[16], d1[16];
        time_t s0 = (time_t)(t[0].ts / 1000), s1 = (time_t)(t[n - 1].ts / 1000);
        struct tm tm;
        int shown = 0;

        bins = (n + per - 1) / per;
        for (size_t b = 0; b < bins; b++) {
                size_t lo = b * per, hi = lo + per < n ? lo + per : n;
                for (int l = 0; l < LINES; l++) {
                        double h = 0;
                        for (size_t i = lo; i < hi; i++)
                                h += t[i].hits >> l & 1;
                        h /= (double)(hi - lo);
                        if (lines & 1u << l && h > ymax)
                                ymax = h;
                }
        }
        ymax = ceil(ymax * 10 * 1.05) / 10;
        strftime(d0, sizeof(d0), "%Y-%m-%d", gmtime_r(&s0, &tm));
        strftime(d1, sizeof(d1), "%Y-%m-%d", gmtime_r(&s1, &tm));
        fprintf(f,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
                "height=\"%.0f\" font-family=\"sans-serif\" "
                "font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                "<text x=\"%.0f\" y=\"24\" font-size=\"14\">%s: HR@%d per "
                "%zu targets, prequential, first touch</text>\n",
                W, H, L, name, k, per);
        for (int g = 0; g <= 4; g++) {
                double y = H - B - (H - T - B) * g / 4;
                fprintf(f,
                        "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" "
                        "y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                        "<text x=\"%.0f\" y=\"%.1f\" "
                        "text-anchor=\"end\">%.3f</text>\n",
                        L, W - R, y, y, L - 6, y + 4, ymax * g / 4);
        }
        fprintf(f,
                "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n"
                "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%s</text>\n"
                "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">event "
                "time (UTC)</text>\n",
                L, H - B + 18, d0, W - R, H - B + 18, d1, (L + W - R) / 2,
                H - B + 36);
        for (int l = 0; l < LINES; l++) {
                if (!(lines & 1u << l))
                        continue;
                fprintf(f,
                        "<polyline fill=\"none\" stroke=\"%s\" "
                        "stroke-width=\"2\" points=\"",
                        colour[l]);
                for (size_t b = 0; b < bins; b++) {
                        size_t lo = b * per, hi = lo + per < n ? lo + per : n;
                        double h = 0;
                        for (size_t i = lo; i < hi; i++)
                                h += t[i].hits >> l & 1;
                        h /= (double)(hi - lo);
                        double x =
                                L +
                                (W - L -
                                 R) * (bins > 1 ? (double)b / (double)(bins - 1)
                                                : 0.5);
                        fprintf(f, "%.1f,%.1f ", x,
                                H - B - (H - T - B) * h / ymax);
                }
                fprintf(f, "\"/>\n");
                fprintf(f,
                        "<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n",
                        W - R - 200, T - 20 + 36 + 16.0 * shown++, colour[l],
                        l ? line_names[l] : name);
        }
        fprintf(f, "</svg>\n");
}

/*
 * Split.
 */

typedef struct lists {
        uint32_t *first; /* by user id: 1 + index into items, 0 none */
        size_t first_cap;
        uint32_t *items; /* k per user, RS_ID_NONE past a list's end */
        size_t n, cap, k;
} lists_t;

static rs_err_t keep_list(void *opaque, const rs_recs_t *recs)
{
        lists_t *l = opaque;

        if (rs_grow_zeroed((void **)&l->first, &l->first_cap, recs->user,
                           sizeof(*l->first)) ||
            rs_grow_zeroed((void **)&l->items, &l->cap, (l->n + 1) * l->k,
                           sizeof(*l->items)))
                return RS_ERR_NOMEM;
        uint32_t *dst = l->items + l->n * l->k;
        for (size_t i = 0; i < l->k; i++)
                dst[i] = i < recs->n ? recs->items[i].item : RS_ID_NONE;
        l->first[recs->user] = (uint32_t)++l->n;
        return RS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int split(run_t *r)
{
        const opts_t *o = r->o;
        lists_t l = {.k = (size_t)o->k};
        rs_emit_t keep = {keep_list, &l};
        rs_evfile_t *tf = NULL;
        uint64_t *truth = NULL; /* user << 32 | item, sorted */
        size_t ntruth = 0, truth_cap = 0, users = 0;
        double map = 0, ndcg = 0, prec = 0, rec = 0;
        char errstr[512], what[32] = "";
        int rc = RS_EXIT_FAIL, more;
        rs_event_t te;

        while ((more = next_event(r, &r->ev[r->nev])) > 0) {
                if (++r->nev == BATCH && learn(r, 1))
                        goto nomem;
                progress(r, what);
        }
        if (more < 0 || learn(r, 1) || rs_local_settle(r->local) ||
            rs_chain_flush(r->ch, r->now, RS_FLUSH_ALL, &keep))
                goto nomem;
        if (r->tty)
                fprintf(stderr, "\r%78s\r", "");
        if (!(tf = rs_evfile_open(o->test, r->in,
                                  (size_t)r->pl->source.max_id_bytes, errstr,
                                  sizeof(errstr)))) {
                fprintf(stderr, "recstream: eval: %s\n", errstr);
                goto out;
        }
        for (rs_err_t err;
             (err = rs_evfile_next(tf, &te, errstr, sizeof(errstr))) !=
             RS_ERR_NOENT;) {
                if (err == RS_ERR_NOMEM)
                        goto nomem;
                if (err) {
                        fprintf(stderr, "recstream: eval: %s: %s (skipped)\n",
                                o->test, errstr);
                        continue;
                }
                if (rs_grow_zeroed((void **)&truth, &truth_cap, ntruth,
                                   sizeof(*truth)))
                        goto nomem;
                truth[ntruth++] = (uint64_t)te.user << 32 | te.item;
        }
        qsort(truth, ntruth, sizeof(*truth), cmp_u64);
        for (size_t i = 0, j; i < ntruth; i = j) {
                uint32_t user = (uint32_t)(truth[i] >> 32);
                size_t nt = 0, hits = 0;
                double dcg = 0, idcg = 0, ap = 0;
                for (j = i; j < ntruth && truth[j] >> 32 == user; j++)
                        nt += j == i || truth[j] != truth[j - 1];
                if (user >= l.first_cap || !l.first[user])
                        continue;
                const uint32_t *list = l.items + (l.first[user] - 1) * l.k;
                for (size_t x = 0; x < l.k && list[x] != RS_ID_NONE; x++) {
                        uint64_t key = (uint64_t)user << 32 | list[x];
                        if (!bsearch(&key, truth + i, j - i, sizeof(*truth),
                                     cmp_u64))
                                continue;
                        hits++;
                        dcg += 1 / log2((double)x + 2);
                        ap += (double)hits / (double)(x + 1);
                }
                for (size_t x = 0; x < nt && x < l.k; x++)
                        idcg += 1 / log2((double)x + 2);
                users++;
                prec += (double)hits / (double)l.k;
                rec += (double)hits / (double)nt;
                ndcg += dcg / idcg;
                map += ap / (double)nt;
        }
        if (!users) {
                fprintf(stderr,
                        "recstream: eval: no user is in both the "
                        "output and %s\n",
                        o->test);
                goto out;
        }
        double nu = (double)users;
        printf("events=%llu lists=%zu time_s=%.2f\n", r->nread, l.n,
               rs_cli_now() - r->t0);
        printf("map=%.4f ndcg@%d=%.4f precision@%d=%.4f recall@%d=%.4f "
               "users=%zu\n",
               map / nu, o->k, ndcg / nu, o->k, prec / nu, o->k, rec / nu,
               users);
        rc = RS_EXIT_OK;
        goto out;
nomem:
        fprintf(stderr, "recstream: eval: out of memory\n");
out:
        rs_evfile_close(tf);
        free(truth);
        free(l.first);
        free(l.items);
        return rc;
}

/* --baselines: names among pop, successor, covisit, or none. */
static int opt_baselines(const char *arg, void *dst, char *why, size_t why_size)
{
        unsigned *models = dst;

        *models = 0;
        if (!strcmp(arg, "none"))
                return 0;
        for (const char *p = arg;;) {
                size_t len = strcspn(p, ",");
                int m = rs_base_model_parse(p, len);
                if (m < 0) {
                        snprintf(why, why_size,
                                 "unknown model '%.*s' (pop, successor, "
                                 "covisit or none)",
                                 (int)len, p);
                        return -1;
                }
                *models |= 1u << m;
                if (!p[len])
                        return 0;
                p += len + 1;
        }
}

int rs_cmd_eval(int argc, char **argv)
{
        opts_t o = {.k = 10, .base = rs_base_conf_default()};
        run_t r = {.o = &o, .now = INT64_MIN};
        char errstr[512];
        int c, rc = RS_EXIT_FAIL;

        int64_t k = 10, counts = (int64_t)o.base.max_counts;
        const rs_opt_t opts[] = {
                RS_OPT_CONFIG(&o.pipeline),
                {.name = "input",
                 .short_name = 'i',
                 .kind = RS_OPT_STRING,
                 .dst = &o.input,
                 .arg = "EVENTS",
                 .doc = "the events, time-ordered: .csv, .jsonl/.json, "
                        ".avro",
                 .flags = RS_OPT_REQUIRED},
                {.name = "k",
                 .short_name = 'k',
                 .kind = RS_OPT_INT,
                 .dst = &k,
                 .arg = "K",
                 .min = 1,
                 .max = RS_RECS_MAX,
                 .doc = "the list length scored (default 10)"},
                {.name = "test",
                 .short_name = 't',
                 .kind = RS_OPT_STRING,
                 .dst = &o.test,
                 .arg = "TEST.csv",
                 .doc = "score final lists against this split instead"},
                {.name = "plot",
                 .short_name = 'p',
                 .kind = RS_OPT_STRING,
                 .dst = &o.plot,
                 .arg = "out.svg",
                 .doc = "an SVG of HR@k over time (prequential)"},
                {.name = "pop-half-life",
                 .short_name = 'H',
                 .kind = RS_OPT_DURATION,
                 .dst = &o.base.pop_half_life,
                 .arg = "DURATION",
                 .min = 1,
                 .max = 9.2e18,
                 .doc = "the popularity baseline's half-life (default 30d)"},
                {.name = "baselines",
                 .kind = RS_OPT_FN,
                 .dst = &o.base.models,
                 .fn = opt_baselines,
                 .arg = "LIST",
                 .doc = "reference models beside the pipeline: pop, "
                        "successor,\ncovisit, comma-separated, or none "
                        "(default all)"},
                {.name = "baseline-counts",
                 .kind = RS_OPT_INT,
                 .dst = &counts,
                 .arg = "N",
                 .min = 1,
                 .max = RS_BASE_MAX_COUNTS,
                 .doc = "counts the successor and co-visitation models "
                        "keep\nper item (default 200)"},
                {.name = NULL}};
        if ((c = rs_cli_parse(&eval_cmd, opts, argc, argv)))
                return RS_CLI_EXIT(c);
        o.k = (int)k;
        o.base.max_counts = (size_t)counts;
        if (!o.test && !strcmp(o.input, "-"))
                return rs_cli_usage_error(&eval_cmd,
                                          "prequential evaluation reads its "
                                          "input twice: give a file, not -");
        if (!(r.pl = rs_cli_load_pipeline(o.pipeline)))
                return RS_EXIT_USAGE;
        r.tty = isatty(2);
        r.t0 = rs_cli_now();
        r.next_progress = r.t0 + 0.2;
        if (!(r.in = rs_intern_new()) || rs_hset_init(&r.is_item, 0) ||
            !(r.ev = malloc(BATCH * sizeof(*r.ev))) ||
            !(r.f = rs_evfile_open(o.input, r.in,
                                   (size_t)r.pl->source.max_id_bytes, errstr,
                                   sizeof(errstr))) ||
            !(r.cat = rs_catalog_new((size_t)r.pl->items.embedding_dim,
                                     (size_t)r.pl->items.max_items, r.in)) ||
            !(r.local = rs_local_new(r.pl, r.in, r.cat, errstr,
                                     sizeof(errstr)))) {
                fprintf(stderr, "recstream: eval: %s\n",
                        r.in && r.ev ? errstr : "out of memory");
                goto out;
        }
        r.ch = rs_local_chain(r.local);
        r.score = rs_chain_find(r.ch, "score");
        r.win = rs_chain_find(r.ch, "user_window");
        if (!r.score || !r.win) {
                fprintf(stderr,
                        "recstream: eval: %s: the pipeline has no "
                        "user_window and score stages to evaluate\n",
                        o.pipeline);
                rc = RS_EXIT_USAGE;
                goto out;
        }
        if (rs_score_k(r.score) < (size_t)o.k) {
                fprintf(stderr,
                        "recstream: eval: %s: score.k is %zu, less than "
                        "--k %d\n",
                        o.pipeline, rs_score_k(r.score), o.k);
                rc = RS_EXIT_USAGE;
                goto out;
        }
        rc = o.test ? split(&r) : prequential(&r);
out:
        rs_local_destroy(r.local);
        rs_catalog_destroy(r.cat);
        rs_evfile_close(r.f);
        free(r.ev);
        rs_hset_fini(&r.is_item);
        rs_intern_destroy(r.in);
        rs_pipeline_destroy(r.pl);
        return rc;
}
