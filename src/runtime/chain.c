/* chain.c — the user side's stage instances of one pipeline, in order.
 * Item-side stages (cooccur) have no instance here: the topology runs
 * them over the deltas (topology.h). */
#include <stdlib.h>
#include <string.h>

#include "recstream/chain.h"
#include "recstream/clock.h"

struct rs_chain {
        const rs_pipeline_t *pl;
        rs_stage_env_t env;
        void **st; /* by stage index; NULL for the item side's */
        size_t n;  /* stages gone through so far */
};

void *rs_chain_find(const rs_chain_t *ch, const char *type)
{
        for (size_t i = 0; i < ch->n; i++)
                if (ch->st[i] && !strcmp(ch->pl->stages[i].ops->type, type))
                        return ch->st[i];
        return NULL;
}

rs_chain_t *rs_chain_new(const rs_pipeline_t *pl, rs_intern_t *strings,
                         rs_catalog_t *catalog, const rs_nbtable_t *neighbors,
                         const rs_delta_sink_t *deltas, char *errstr,
                         size_t errstr_size)
{
        rs_chain_t *ch = calloc(1, sizeof(*ch));

        if (!ch || !(ch->st = calloc(pl->nstages + 1, sizeof(*ch->st)))) {
                free(ch);
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        ch->pl = pl;
        ch->env = (rs_stage_env_t){
                .strings = strings,
                .pipeline = pl->name,
                .catalog = catalog,
                .wall_ms = rs_wall_ms,
                .neighbors = neighbors,
        };
        if (deltas)
                ch->env.deltas = *deltas;
        for (; ch->n < pl->nstages; ch->n++) {
                const rs_stage_def_t *def = &pl->stages[ch->n];
                if (def->ops->side != RS_SIDE_USERS)
                        continue;
                if (!(ch->st[ch->n] = def->ops->create(def->conf, &ch->env,
                                                       errstr, errstr_size))) {
                        rs_chain_destroy(ch);
                        return NULL;
                }
        }
        return ch;
}

void rs_chain_destroy(rs_chain_t *ch)
{
        if (!ch)
                return;
        /* Later stages may hold on to earlier ones: destroy in reverse. */
        while (ch->n > 0) {
                ch->n--;
                if (ch->st[ch->n])
                        ch->pl->stages[ch->n].ops->destroy(ch->st[ch->n]);
        }
        free(ch->st);
        free(ch);
}

rs_err_t rs_chain_process(rs_chain_t *ch, rs_event_t *ev, size_t n,
                          const rs_emit_t *out)
{
        rs_err_t err;

        for (size_t i = 0; i < ch->n && n; i++)
                if (ch->st[i] && (err = ch->pl->stages[i].ops->process(
                                          ch->st[i], ev, n, out)))
                        return err;
        return RS_OK;
}

rs_err_t rs_chain_flush(rs_chain_t *ch, int64_t now, rs_flush_t mode,
                        const rs_emit_t *out)
{
        rs_err_t err;

        for (size_t i = 0; i < ch->n; i++)
                if (ch->st[i] && ch->pl->stages[i].ops->flush &&
                    (err = ch->pl->stages[i].ops->flush(ch->st[i], now, mode,
                                                        out)))
                        return err;
        return RS_OK;
}
