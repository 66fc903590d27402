/* passthrough.c — a wiring stage: every kept event becomes a one-item list
 * for its user (the event's own item, reason "interest", score = 1), so a
 * pipeline runs from Kafka to Kafka before the recommendation stages do. */
#include <stdlib.h>

#include "recstream/stage.h"

static const rs_prop_t props[] = {{0}};

typedef struct passthrough {
        rs_recs_t recs;
} passthrough_t;

static void *pt_create(const void *conf, rs_stage_env_t *env, char *errstr,
                       size_t errstr_size)
{
        passthrough_t *pt = calloc(1, sizeof(*pt));

        (void)conf;
        (void)env;
        if (!pt)
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
        return pt;
}

static rs_err_t pt_process(void *st, rs_event_t *ev, size_t n,
                           const rs_emit_t *out)
{
        passthrough_t *pt = st;
        rs_err_t err;

        if (!out) /* nothing is published yet, and nothing to remember */
                return RS_OK;
        for (size_t i = 0; i < n; i++) {
                if (ev[i].drop)
                        continue;
                pt->recs.user = ev[i].user;
                pt->recs.generated_ts = ev[i].ts;
                pt->recs.n = 1;
                pt->recs.items[0] = (rs_rec_t){.item = ev[i].item,
                                               .because_of = RS_ID_NONE,
                                               .score = 1.0,
                                               .reason = RS_REASON_INTEREST};
                if ((err = out->fn(out->opaque, &pt->recs)))
                        return err;
        }
        return RS_OK;
}

static void pt_destroy(void *st)
{
        free(st);
}

const rs_stage_ops_t rs_stage_passthrough = {
        .type = "passthrough",
        .doc = "Wiring check: each event becomes a one-item list of its own "
               "item for its user. Replaced by the recommendation stages.",
        .props = props,
        .conf_size = 0,
        .create = pt_create,
        .process = pt_process,
        .destroy = pt_destroy,
};
