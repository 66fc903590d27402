/* gen.c — deterministic short-video behaviour. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/rng.h"
#include "io/world.h"
#include "recstream/gen.h"

const char *const rs_gen_category_names[16] = {
        "comedy",  "cooking", "gaming",  "music", "sports", "travel",
        "beauty",  "tech",    "pets",    "dance", "diy",    "news",
        "fashion", "fitness", "science", "kids",
};

typedef struct user {
        uint8_t fav[2];   /* favourite categories */
        uint32_t series;  /* series being watched, UINT32_MAX none */
        uint32_t episode; /* next episode to watch */
} user_t;

struct rs_gen {
        rs_gen_conf_t conf;
        uint64_t state;
        int64_t ts;
        uint64_t ts_us; /* with gap_us: µs since start_ts */
        uint64_t seq;
        double *zipf_cdf; /* zipf_items cumulative probabilities */
        user_t *users;
        rs_world_t *world; /* RS_GEN_PLATFORM */
        /* pending follow-up action (like/share after a watch) */
        int pending_type;
        uint32_t pending_user;
        char item[32], pending_item[32], user[32], event_id[32];
        const char *category, *pending_category;
};

static uint32_t below(rs_gen_t *g, uint32_t n)
{
        return rs_rng_below(&g->state, n);
}

static double unit(rs_gen_t *g)
{
        return rs_rng_unit(&g->state);
}

rs_gen_t *rs_gen_new(const rs_gen_conf_t *conf)
{
        rs_gen_t *g = calloc(1, sizeof(*g));

        if (!g)
                return NULL;
        g->conf = *conf;
        if (g->conf.categories == 0 || g->conf.categories > 16)
                g->conf.categories = 8;
        if (g->conf.users == 0)
                g->conf.users = 1;
        if (g->conf.episodes == 0)
                g->conf.episodes = 1;
        g->state = conf->seed ? conf->seed : 0x9E3779B97F4A7C15ULL;
        g->ts = conf->start_ts;
        g->seq = conf->first_id;
        if (conf->world == RS_GEN_PLATFORM) {
                if (!(g->world = rs_world_new(conf))) {
                        free(g);
                        return NULL;
                }
                return g;
        }
        g->users = calloc(g->conf.users, sizeof(*g->users));
        if (!g->users) {
                free(g);
                return NULL;
        }
        if (g->conf.zipf_items) {
                double sum = 0;
                g->zipf_cdf = malloc(g->conf.zipf_items * sizeof(double));
                if (!g->zipf_cdf) {
                        rs_gen_destroy(g);
                        return NULL;
                }
                for (uint32_t r = 0; r < g->conf.zipf_items; r++)
                        g->zipf_cdf[r] = sum +=
                                pow(r + 1.0, -g->conf.zipf_exponent);
                for (uint32_t r = 0; r < g->conf.zipf_items; r++)
                        g->zipf_cdf[r] /= sum;
        }
        for (uint32_t u = 0; u < g->conf.users; u++) {
                g->users[u].fav[0] = (uint8_t)below(g, g->conf.categories);
                g->users[u].fav[1] = (uint8_t)below(g, g->conf.categories);
                g->users[u].series = UINT32_MAX;
        }
        return g;
}

void rs_gen_destroy(rs_gen_t *gen)
{
        if (!gen)
                return;
        rs_world_destroy(gen->world);
        free(gen->users);
        free(gen->zipf_cdf);
        free(gen);
}

static uint32_t series_category(const rs_gen_t *g, uint32_t s)
{
        return s % g->conf.categories;
}

/* A series of category c, chosen with a popularity skew (low ids more
 * popular), or UINT32_MAX when none exists. */
static uint32_t pick_series(rs_gen_t *g, uint32_t c)
{
        uint32_t per_cat = g->conf.series / g->conf.categories;
        if (per_cat == 0)
                return g->conf.series ? below(g, g->conf.series) : UINT32_MAX;
        uint32_t rank = (uint32_t)(per_cat * pow(unit(g), 2.0));
        if (rank >= per_cat)
                rank = per_cat - 1;
        return rank * g->conf.categories + c;
}

/* A Zipf-distributed rank: the first whose cumulative probability
 * reaches a uniform draw. */
static uint32_t zipf_rank(rs_gen_t *g)
{
        double x = unit(g);
        uint32_t lo = 0, hi = g->conf.zipf_items - 1;

        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (g->zipf_cdf[mid] < x)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* Zipf mode: a uniform user acts on a Zipf-popular standalone video. */
static void zipf_event(rs_gen_t *g, rs_event_fields_t *ev)
{
        uint32_t v = zipf_rank(g);
        int64_t duration = 15000 + (int64_t)(v % 5) * 5000;
        double kind = unit(g);

        snprintf(g->item, sizeof(g->item), "v%u", v);
        ev->category = rs_gen_category_names[v % g->conf.categories];
        ev->duration_ms = duration;
        if (kind < 0.15) {
                ev->type = RS_EV_IMPRESSION;
        } else if (kind < 0.25) {
                ev->type = RS_EV_SKIP;
                ev->watch_ms = (int64_t)(0.05 * (double)duration);
        } else {
                ev->type = RS_EV_WATCH;
                ev->watch_ms =
                        (int64_t)((0.3 + 0.7 * unit(g)) * (double)duration);
        }
}

/* A full watch is sometimes followed by a like or a share. */
static void follow_up(rs_gen_t *g, const rs_event_fields_t *ev, uint32_t ui)
{
        if (ev->type == RS_EV_WATCH && ev->duration_ms > 0 &&
            ev->watch_ms * 10 >= ev->duration_ms * 9) {
                double a = unit(g);
                if (a < 0.12 || a > 0.96) {
                        g->pending_type = a < 0.12 ? RS_EV_LIKE : RS_EV_SHARE;
                        g->pending_user = ui;
                        memcpy(g->pending_item, g->item, sizeof(g->item));
                        g->pending_category = ev->category;
                }
        }
}

int rs_gen_next(rs_gen_t *g, rs_event_fields_t *ev)
{
        uint32_t ui;
        user_t *u;
        int64_t duration;

        memset(ev, 0, sizeof(*ev));
        ev->duration_ms = RS_NONE_I64;
        ev->value = NAN;
        if (g->world) {
                if (!rs_world_next(g->world, ev))
                        return 0;
                snprintf(g->event_id, sizeof(g->event_id), "e%llu",
                         (unsigned long long)++g->seq);
                ev->event_id = g->event_id;
                return 1;
        }
        if (g->conf.gap_us) {
                g->ts_us += below(g, 2 * g->conf.gap_us + 1);
                g->ts = g->conf.start_ts + (int64_t)(g->ts_us / 1000);
        } else {
                g->ts += 200 + below(g, 3000);
        }
        snprintf(g->event_id, sizeof(g->event_id), "e%llu",
                 (unsigned long long)++g->seq);
        ev->event_id = g->event_id;
        ev->ts = g->ts;

        if (g->pending_type) {
                /* the like or share that follows a full watch */
                snprintf(g->user, sizeof(g->user), "u%u", g->pending_user);
                memcpy(g->item, g->pending_item, sizeof(g->item));
                ev->user_id = g->user;
                ev->item_id = g->item;
                ev->type = g->pending_type;
                ev->category = g->pending_category;
                g->pending_type = 0;
                return 1;
        }

        ui = below(g, g->conf.users);
        u = &g->users[ui];
        snprintf(g->user, sizeof(g->user), "u%u", ui);
        ev->user_id = g->user;
        ev->item_id = g->item;

        if (g->conf.zipf_items) {
                zipf_event(g, ev);
                follow_up(g, ev, ui);
                return 1;
        }
        double r = unit(g);
        if (g->conf.series && r < 0.7) {
                /* Binge: the next episode of the current series, or start
                 * a series of a favourite category at episode 1. */
                if (u->series == UINT32_MAX || u->episode >= g->conf.episodes) {
                        u->series = pick_series(g, u->fav[below(g, 2)]);
                        u->episode = 0;
                }
                uint32_t c = series_category(g, u->series);
                snprintf(g->item, sizeof(g->item), "s%ue%u", u->series,
                         u->episode + 1);
                ev->category = rs_gen_category_names[c];
                duration = 30000 + (int64_t)(u->series % 7) * 10000;
                double completion =
                        unit(g) < 0.85 ? 0.8 + 0.2 * unit(g) : 0.05 * unit(g);
                ev->type = completion < 0.1 ? RS_EV_SKIP : RS_EV_WATCH;
                ev->duration_ms = duration;
                ev->watch_ms = (int64_t)(completion * (double)duration);
                if (ev->type == RS_EV_WATCH)
                        u->episode++;
                else
                        u->series = UINT32_MAX; /* bored: drop the series */
        } else {
                /* Browse a standalone video, mostly in a favourite. */
                uint32_t n = g->conf.standalone ? g->conf.standalone : 1;
                uint32_t v = (uint32_t)(n * pow(unit(g), 3.0));
                if (v >= n)
                        v = n - 1;
                uint32_t c = unit(g) < 0.6 ? u->fav[below(g, 2)]
                                           : v % g->conf.categories;
                v = v - v % g->conf.categories + c;
                if (v >= n)
                        v = c % n;
                snprintf(g->item, sizeof(g->item), "v%u", v);
                ev->category = rs_gen_category_names[v % g->conf.categories];
                duration = 15000 + (int64_t)(v % 5) * 5000;
                double kind = unit(g);
                ev->duration_ms = duration;
                if (kind < 0.25) {
                        ev->type = RS_EV_IMPRESSION;
                } else if (kind < 0.35) {
                        ev->type = RS_EV_SKIP;
                        ev->watch_ms = (int64_t)(0.08 * (double)duration);
                } else {
                        ev->type = RS_EV_WATCH;
                        ev->watch_ms = (int64_t)((0.3 + 0.7 * unit(g)) *
                                                 (double)duration);
                }
        }
        follow_up(g, ev, ui);
        return 1;
}
