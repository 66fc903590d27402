/* weight.c — the `weight` stage: each event gets a signed implicit weight.
 *
 *   weight = weights[event_type], except
 *   watch with a known duration: completion c = watch_ms / duration_ms;
 *       c < watch_skip_below          -> weights[skip] (a skip in disguise)
 *       otherwise weights[watch] * f,  f rising linearly from
 *       watch_min_factor at watch_skip_below to 1 at watch_full_at;
 *   rate: rate_weights interpolated at the stars (1..5, clamped).
 * Events of weight 0 carry no signal and are dropped (zero_weight).
 * Events without a duration or category get the catalog's (ItemMeta), so
 * the completion curve works for clients that do not send durations. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/stage.h"
#include "recstream/weight.h"

typedef struct weight_conf {
        const rs_node_t *weights;
        double watch_skip_below, watch_full_at, watch_min_factor;
        rs_strings_t rate_weights;
        /* derived by check */
        double w[RS_EV__COUNT];
        double rate[5];
} weight_conf_t;

/* Short-video defaults; a pipeline's `weights:` overrides any of them. */
static const double default_w[RS_EV__COUNT] = {
        [RS_EV_IMPRESSION] = 0, [RS_EV_PLAY] = 0.1,      [RS_EV_CLICK] = 0.3,
        [RS_EV_WATCH] = 1,      [RS_EV_LIKE] = 2,        [RS_EV_SHARE] = 3,
        [RS_EV_COMMENT] = 2,    [RS_EV_ADD_TO_CART] = 3, [RS_EV_PURCHASE] = 4,
        [RS_EV_SKIP] = -0.5,    [RS_EV_DISLIKE] = -2,    [RS_EV_RATE] = 1,
};

#define WC(f) offsetof(weight_conf_t, f)
static const rs_prop_t props[] = {
        {"weights", RS_PROP_NODE, WC(weights), NULL, 0, RS_EV__COUNT, NULL,
         RS_PROP_RELOAD,
         "Map event_type → weight; unlisted types keep their defaults "
         "(impression 0, play 0.1, click 0.3, watch 1, like 2, share 3, "
         "comment 2, add_to_cart 3, purchase 4, skip -0.5, dislike -2)."},
        {"watch_skip_below", RS_PROP_DOUBLE, WC(watch_skip_below), "0.1", 0, 1,
         NULL, RS_PROP_RELOAD,
         "A watch below this completion counts as a skip."},
        {"watch_full_at", RS_PROP_DOUBLE, WC(watch_full_at), "0.8", 0.01, 1,
         NULL, RS_PROP_RELOAD,
         "Completion from which a watch has its full weight."},
        {"watch_min_factor", RS_PROP_DOUBLE, WC(watch_min_factor), "0.2", 0, 1,
         NULL, RS_PROP_RELOAD,
         "Share of the watch weight at watch_skip_below."},
        {"rate_weights", RS_PROP_STRINGS, WC(rate_weights),
         "[-1, -0.5, 0.25, 1, 1.5]", 5, 5, NULL,
         RS_PROP_NUMBERS | RS_PROP_RELOAD,
         "Weights of 1..5 stars (interpolated between)."},
        {0},
};

static int parse_num(const char *s, double *out)
{
        char *end;
        errno = 0;
        *out = strtod(s, &end);
        return end == s || *end || errno || !isfinite(*out) ? -1 : 0;
}

static int weight_check(void *conf, const rs_node_t *node, const char *path,
                        rs_diag_t *d)
{
        weight_conf_t *c = conf;
        const rs_node_t *map = c->weights;
        char full[128];
        int errors = 0;

        memcpy(c->w, default_w, sizeof(c->w));
        if (map && map->type != RS_NODE_MAP) {
                snprintf(full, sizeof(full), "%s.weights", path);
                rs_diag_error(d, map, full,
                              "expected a map event_type: "
                              "weight");
                return 1;
        }
        for (size_t i = 0; map && i < map->n; i++) {
                const rs_node_t *k = RS_NODE_KEY(map, i);
                const rs_node_t *v = RS_NODE_VAL(map, i);
                int t = k->type == RS_NODE_SCALAR
                                ? rs_event_type_parse(k->value,
                                                      strlen(k->value))
                                : -1;
                snprintf(full, sizeof(full), "%s.weights.%s", path,
                         k->type == RS_NODE_SCALAR ? k->value : "?");
                if (t < 0) {
                        rs_diag_error(d, k, full, "unknown event type");
                        errors++;
                } else if (v->type != RS_NODE_SCALAR ||
                           parse_num(v->value, &c->w[t])) {
                        rs_diag_error(d, v, full, "expected a number");
                        errors++;
                }
        }
        snprintf(full, sizeof(full), "%s.rate_weights", path);
        if (c->rate_weights.n != 5) {
                rs_diag_error(d, rs_node_get(node, "rate_weights"), full,
                              "expected 5 weights, for 1 to 5 stars");
                return errors + 1;
        }
        for (int i = 0; i < 5; i++)
                if (parse_num(c->rate_weights.v[i], &c->rate[i])) {
                        rs_diag_error(d, rs_node_get(node, "rate_weights"),
                                      full, "'%s' is not a number",
                                      c->rate_weights.v[i]);
                        errors++;
                }
        if (c->watch_full_at <= c->watch_skip_below) {
                snprintf(full, sizeof(full), "%s.watch_full_at", path);
                rs_diag_error(d, rs_node_get(node, "watch_full_at"), full,
                              "must be above watch_skip_below");
                errors++;
        }
        return errors;
}

double rs_weight_of(const void *conf, const rs_event_t *ev)
{
        const weight_conf_t *c = conf;

        if (ev->type == RS_EV_RATE) {
                double s = fmin(5, fmax(1, ev->value)) - 1;
                int lo = (int)floor(s);
                int hi = lo < 4 ? lo + 1 : 4;
                return c->rate[lo] + (s - lo) * (c->rate[hi] - c->rate[lo]);
        }
        if (ev->type == RS_EV_WATCH && ev->duration_ms != RS_NONE_I64 &&
            ev->duration_ms > 0) {
                double done = fmin(1.0, (double)ev->watch_ms /
                                                (double)ev->duration_ms);
                if (done < c->watch_skip_below)
                        return c->w[RS_EV_SKIP];
                double f = (done - c->watch_skip_below) /
                           (c->watch_full_at - c->watch_skip_below);
                f = c->watch_min_factor +
                    (1 - c->watch_min_factor) * fmin(1, f);
                return c->w[RS_EV_WATCH] * f;
        }
        return c->w[ev->type < RS_EV__COUNT ? ev->type : 0];
}

typedef struct weight {
        const weight_conf_t *conf;
        const rs_catalog_t *catalog;
} weight_t;

static void *weight_create(const void *conf, rs_stage_env_t *env, char *errstr,
                           size_t errstr_size)
{
        weight_t *wt = calloc(1, sizeof(*wt));

        if (!wt) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        wt->conf = conf;
        wt->catalog = env->catalog;
        return wt;
}

static rs_err_t weight_process(void *st, rs_event_t *ev, size_t n,
                               const rs_emit_t *out)
{
        weight_t *wt = st;

        (void)out;
        for (size_t i = 0; i < n; i++) {
                rs_event_t *e = &ev[i];
                if (e->drop)
                        continue;
                if (e->duration_ms == RS_NONE_I64)
                        e->duration_ms =
                                rs_catalog_duration(wt->catalog, e->item);
                if (e->category == RS_ID_NONE)
                        e->category = rs_catalog_category(wt->catalog, e->item);
                e->weight = (float)rs_weight_of(wt->conf, e);
                if (e->weight == 0.0f)
                        e->drop = RS_DROP_ZERO_WEIGHT;
        }
        return RS_OK;
}

static void weight_destroy(void *st)
{
        free(st);
}

const rs_stage_ops_t rs_stage_weight = {
        .type = "weight",
        .doc = "Signed implicit weight per event: a table by event type, a "
               "watch-completion curve, star ratings mapped by rate_weights.",
        .props = props,
        .conf_size = sizeof(weight_conf_t),
        .check = weight_check,
        .create = weight_create,
        .process = weight_process,
        .destroy = weight_destroy,
};
