/* world.c — the platform world of the generator (gen.h, RS_GEN_PLATFORM):
 * a catalogue released over time, users who come back in sessions, plays
 * before watches, series watched in order, tastes that drift, releases
 * that trend, and a few bots. Time-ordered by a heap of the users' next
 * event times; deterministic for a seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/rng.h"
#include "io/world.h"

#define HOUR_MS 3600000LL
#define DAY_MS  (24 * HOUR_MS)
#define NONE    UINT32_MAX

/* What a user's next event is. */
enum { STEP_VIDEO, STEP_OUTCOME, STEP_FOLLOW };

/* A pickable unit: a standalone video, or a series (its first episode). */
typedef struct unit {
        uint32_t item;   /* the item index of the video or episode 1 */
        int64_t release; /* ms; before start_ts for the back catalogue */
        float quality;   /* lognormal: a few hits, a long tail */
} unit_t;

typedef struct user {
        int64_t next;     /* the time of its next event, ms */
        double sessions;  /* mean sessions per day */
        uint32_t left;    /* videos left in this session */
        uint32_t series;  /* the series being watched, NONE */
        uint32_t episode; /* its next episode, 1-based */
        uint32_t item;    /* the video played */
        int64_t watch_ms; /* how long it is watched */
        uint8_t fav[2];   /* favourite categories: they drift */
        uint8_t bot, step, follow;
} user_t;

struct rs_world {
        rs_gen_conf_t conf;
        uint64_t state;
        int64_t end, built; /* the world's end; the hour weights are of */
        uint32_t nseries, nunits, nusers, heap_n;
        uint32_t nepisodes; /* items below it are episodes, then videos */
        unit_t *units;
        /* per category (and [categories]: all) units and cumulative
         * weights, rebuilt every simulated hour */
        uint32_t *cat_units[17], cat_n[17];
        double *cat_cdf[17];
        user_t *users;
        uint32_t *heap; /* users by next event time, then index */
        char item[32], user[32];
};

static uint32_t below(rs_world_t *w, uint32_t n)
{
        return rs_rng_below(&w->state, n);
}

static double unit01(rs_world_t *w)
{
        return rs_rng_unit(&w->state);
}

static double normal(rs_world_t *w)
{
        double u = unit01(w);
        return sqrt(-2 * log(u > 0 ? u : 1e-300)) *
               cos(6.283185307179586 * unit01(w));
}

static int64_t exp_ms(rs_world_t *w, double mean_ms)
{
        double u = unit01(w);
        return (int64_t)(-mean_ms * log(u > 0 ? u : 1e-300));
}

static uint32_t category_of(const rs_world_t *w, uint32_t item)
{
        return item < w->nepisodes
                       ? item / w->conf.episodes % w->conf.categories
                       : item % w->conf.categories;
}

static int64_t duration_of(const rs_world_t *w, uint32_t item)
{
        if (item < w->nepisodes) /* 1 to 3 minutes */
                return 60000 + (int64_t)(item / w->conf.episodes % 5) * 30000;
        return 15000 + (int64_t)(item % 7) * 7500; /* 15 s to 1 minute */
}

/* A unit's weight at time t: its quality, tenfold in its first days
 * after release, nothing before. */
static double weight_at(const unit_t *u, int64_t t)
{
        if (t < u->release)
                return 0;
        return u->quality *
               (0.3 + 3 * exp(-(double)(t - u->release) / (2.0 * DAY_MS)));
}

static void build_weights(rs_world_t *w, int64_t t)
{
        for (uint32_t c = 0; c <= w->conf.categories; c++) {
                double sum = 0;
                for (uint32_t k = 0; k < w->cat_n[c]; k++)
                        w->cat_cdf[c][k] = sum +=
                                weight_at(&w->units[w->cat_units[c][k]], t);
        }
        w->built = t - t % HOUR_MS;
}

/* A unit of category c (categories: any), by its weight now; NONE when
 * nothing of it is released yet. */
static uint32_t pick_unit(rs_world_t *w, uint32_t c)
{
        uint32_t n = w->cat_n[c], lo = 0, hi;
        const double *cdf = w->cat_cdf[c];

        if (!n || cdf[n - 1] <= 0)
                return NONE;
        double x = unit01(w) * cdf[n - 1];
        for (hi = n - 1; lo < hi;) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (cdf[mid] <= x)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return w->cat_units[c][lo];
}

static int earlier(const rs_world_t *w, uint32_t a, uint32_t b)
{
        const user_t *x = &w->users[a], *y = &w->users[b];
        return x->next < y->next || (x->next == y->next && a < b);
}

static void heap_push(rs_world_t *w, uint32_t u)
{
        uint32_t i = w->heap_n++;

        for (; i && earlier(w, u, w->heap[(i - 1) / 2]); i = (i - 1) / 2)
                w->heap[i] = w->heap[(i - 1) / 2];
        w->heap[i] = u;
}

static uint32_t heap_pop(rs_world_t *w)
{
        uint32_t top = w->heap[0], last = w->heap[--w->heap_n], i = 0;

        for (;;) {
                uint32_t c = 2 * i + 1;
                if (c >= w->heap_n)
                        break;
                if (c + 1 < w->heap_n && earlier(w, w->heap[c + 1], w->heap[c]))
                        c++;
                if (!earlier(w, w->heap[c], last))
                        break;
                w->heap[i] = w->heap[c];
                i = c;
        }
        if (w->heap_n)
                w->heap[i] = last;
        return top;
}

/* The next session: after a pause of about a day over the user's
 * activity; tastes drift between sessions. */
static void new_session(rs_world_t *w, user_t *u, int64_t now)
{
        u->next = now + exp_ms(w, (double)DAY_MS / u->sessions);
        u->step = STEP_VIDEO;
        if (u->bot) {
                u->left = 100 + below(w, 100);
                return;
        }
        u->left = 1 + (uint32_t)exp_ms(w, 9); /* geometric, mean ~10 */
        if (unit01(w) < 0.15)
                u->fav[below(w, 2)] = (uint8_t)below(w, w->conf.categories);
}

rs_world_t *rs_world_new(const rs_gen_conf_t *conf)
{
        rs_world_t *w = calloc(1, sizeof(*w));
        uint32_t c, i;

        if (!w)
                return NULL;
        w->conf = *conf;
        if (!w->conf.categories || w->conf.categories > 16)
                w->conf.categories = 16;
        if (!w->conf.episodes)
                w->conf.episodes = 8;
        w->state = conf->seed ? conf->seed : 0x9E3779B97F4A7C15ULL;
        w->nusers = w->conf.users ? w->conf.users : 1;
        w->nseries = w->conf.series;
        w->nepisodes = w->nseries * w->conf.episodes;
        w->nunits = w->nseries + w->conf.standalone;
        w->end = conf->start_ts +
                 (int64_t)(conf->days ? conf->days : 14) * DAY_MS;
        w->units = calloc(w->nunits ? w->nunits : 1, sizeof(*w->units));
        w->users = calloc(w->nusers, sizeof(*w->users));
        w->heap = calloc(w->nusers, sizeof(*w->heap));
        if (!w->units || !w->users || !w->heap)
                goto fail;
        int64_t span = w->end - conf->start_ts;
        for (i = 0; i < w->nunits; i++) {
                unit_t *un = &w->units[i];
                un->item = i < w->nseries ? i * w->conf.episodes
                                          : w->nepisodes + i - w->nseries;
                un->quality = (float)exp(1.2 * normal(w));
                /* 40% back catalogue (up to 60 days old), the rest
                 * released over the world's span */
                un->release =
                        unit01(w) < 0.4
                                ? conf->start_ts -
                                          (int64_t)(unit01(w) * 60 * DAY_MS)
                                : conf->start_ts +
                                          (int64_t)(unit01(w) * (double)span);
                w->cat_n[category_of(w, un->item)]++;
        }
        w->cat_n[w->conf.categories] = w->nunits;
        for (c = 0; c <= w->conf.categories; c++) {
                w->cat_units[c] = malloc((w->cat_n[c] + 1) * sizeof(uint32_t));
                w->cat_cdf[c] = malloc((w->cat_n[c] + 1) * sizeof(double));
                if (!w->cat_units[c] || !w->cat_cdf[c])
                        goto fail;
                w->cat_n[c] = 0;
        }
        for (i = 0; i < w->nunits; i++) {
                c = category_of(w, w->units[i].item);
                w->cat_units[c][w->cat_n[c]++] = i;
                w->cat_units[w->conf.categories]
                            [w->cat_n[w->conf.categories]++] = i;
        }
        for (i = 0; i < w->nusers; i++) {
                user_t *u = &w->users[i];
                u->bot = (w->conf.bots_permille &&
                          i % 1000 < w->conf.bots_permille);
                /* a heavy tail of activity: mean 0.7 sessions a day */
                u->sessions = u->bot ? 1.0 : 0.7 * exp(0.9 * normal(w) - 0.405);
                u->fav[0] = (uint8_t)below(w, w->conf.categories);
                u->fav[1] = (uint8_t)below(w, w->conf.categories);
                u->series = NONE;
                new_session(w, u, conf->start_ts);
                if (u->next < w->end)
                        heap_push(w, i);
        }
        build_weights(w, conf->start_ts);
        return w;
fail:
        rs_world_destroy(w);
        return NULL;
}

void rs_world_destroy(rs_world_t *w)
{
        if (!w)
                return;
        for (uint32_t c = 0; c <= 16; c++) {
                free(w->cat_units[c]);
                free(w->cat_cdf[c]);
        }
        free(w->units);
        free(w->users);
        free(w->heap);
        free(w);
}

/* The video a user plays next and how much of it is watched; 1 when it
 * is the next episode of the series being watched. */
static int choose(rs_world_t *w, user_t *u)
{
        uint32_t un, c;
        double p;

        if (u->bot) { /* view farming: any released video, watched out */
                un = pick_unit(w, w->conf.categories);
                u->item = un == NONE ? 0 : w->units[un].item;
                u->watch_ms = duration_of(w, u->item);
                return 0;
        }
        int next_episode = u->series != NONE && unit01(w) < 0.8;
        if (next_episode) {
                u->item = u->series * w->conf.episodes + u->episode - 1;
                p = 0.85;
        } else {
                double r = unit01(w);
                c = r < 0.55   ? u->fav[below(w, 2)]
                    : r < 0.85 ? w->conf.categories /* what trends */
                               : below(w, w->conf.categories);
                if ((un = pick_unit(w, c)) == NONE &&
                    (un = pick_unit(w, w->conf.categories)) == NONE)
                        un = 0;
                u->item = w->units[un].item;
                c = category_of(w, u->item);
                p = (c == u->fav[0] || c == u->fav[1]) ? 0.7 : 0.3;
                p += 0.1 * log(w->units[un].quality);
        }
        double done =
                unit01(w) < p ? 0.7 + 0.3 * unit01(w) : 0.02 + 0.08 * unit01(w);
        u->watch_ms = (int64_t)(done * (double)duration_of(w, u->item));
        return next_episode;
}

/* After an outcome (and its like or share): the next video in a few
 * seconds, or the session is over. */
static void after_video(rs_world_t *w, user_t *u, int64_t now)
{
        if (--u->left) {
                u->next = now + 1000 + below(w, 4000);
                u->step = STEP_VIDEO;
        } else {
                new_session(w, u, now);
        }
}

int rs_world_next(rs_world_t *w, rs_event_fields_t *ev)
{
        uint32_t ui;
        user_t *u;

        if (!w->heap_n)
                return 0;
        ui = heap_pop(w);
        u = &w->users[ui];
        if (u->next >= w->built + HOUR_MS)
                build_weights(w, u->next);
        ev->ts = u->next;
        switch (u->step) {
        case STEP_VIDEO:
                if (!choose(w, u) && !u->bot && unit01(w) < 0.2) {
                        /* scrolled past: seen, not played */
                        ev->type = RS_EV_IMPRESSION;
                        after_video(w, u, ev->ts);
                } else {
                        ev->type = RS_EV_PLAY;
                        u->step = STEP_OUTCOME;
                        u->next = ev->ts + (u->watch_ms > 0 ? u->watch_ms : 1);
                }
                break;
        case STEP_OUTCOME: {
                int64_t d = duration_of(w, u->item);
                ev->type = u->watch_ms * 10 < d ? RS_EV_SKIP : RS_EV_WATCH;
                ev->watch_ms = u->watch_ms;
                if (u->item < w->nepisodes && ev->type == RS_EV_WATCH) {
                        /* into the series: its next episode is next */
                        u->series = u->item / w->conf.episodes;
                        u->episode = u->item % w->conf.episodes + 2;
                        if (u->episode > w->conf.episodes)
                                u->series = NONE; /* the series is done */
                } else if (u->item < w->nepisodes &&
                           u->item / w->conf.episodes == u->series) {
                        u->series = NONE; /* bored of it */
                }
                if (!u->bot && u->watch_ms * 10 >= d * 9 && unit01(w) < 0.15) {
                        u->follow = unit01(w) < 0.8 ? RS_EV_LIKE : RS_EV_SHARE;
                        u->step = STEP_FOLLOW;
                        u->next = ev->ts + 1000 + below(w, 5000);
                } else {
                        after_video(w, u, ev->ts);
                }
                break;
        }
        default: /* STEP_FOLLOW */
                ev->type = u->follow;
                after_video(w, u, ev->ts);
                break;
        }
        if (u->item < w->nepisodes)
                snprintf(w->item, sizeof(w->item), "s%ue%u",
                         u->item / w->conf.episodes,
                         u->item % w->conf.episodes + 1);
        else
                snprintf(w->item, sizeof(w->item), "v%u",
                         u->item - w->nepisodes);
        snprintf(w->user, sizeof(w->user), "u%u", ui);
        ev->user_id = w->user;
        ev->item_id = w->item;
        ev->category = rs_gen_category_names[category_of(w, u->item)];
        ev->duration_ms = duration_of(w, u->item);
        if (u->next < w->end)
                heap_push(w, ui);
        return 1;
}
