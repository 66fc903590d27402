/* chain.c — stage instances of one pipeline. */
#include <stdlib.h>
#include <string.h>

#include "recstream/chain.h"
#include "recstream/clock.h"

struct rs_chain {
        const rs_pipeline_t *pl;
        rs_stage_env_t env;
        void **st;
        size_t n; /* created so far */
};

void *rs_chain_find(const rs_chain_t *ch, const char *type)
{
        for (size_t i = 0; i < ch->n; i++)
                if (!strcmp(ch->pl->stages[i].ops->type, type))
                        return ch->st[i];
        return NULL;
}

static void *env_find(const rs_stage_env_t *env, const char *type)
{
        return rs_chain_find(env->opaque, type);
}

rs_chain_t *rs_chain_new(const rs_pipeline_t *pl, rs_intern_t *strings,
                         rs_catalog_t *catalog, char *errstr,
                         size_t errstr_size)
{
        rs_chain_t *ch = calloc(1, sizeof(*ch));

        if (!ch || !(ch->st = calloc(pl->nstages + 1, sizeof(*ch->st)))) {
                free(ch);
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        ch->pl = pl;
        ch->env = (rs_stage_env_t){strings,    pl->name, catalog,
                                   rs_wall_ms, env_find, ch};
        for (; ch->n < pl->nstages; ch->n++) {
                const rs_stage_def_t *def = &pl->stages[ch->n];
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
                if ((err = ch->pl->stages[i].ops->process(ch->st[i], ev, n,
                                                          out)))
                        return err;
        return RS_OK;
}

rs_err_t rs_chain_flush(rs_chain_t *ch, int64_t now, rs_flush_t mode,
                        const rs_emit_t *out)
{
        rs_err_t err;

        for (size_t i = 0; i < ch->n; i++)
                if (ch->pl->stages[i].ops->flush &&
                    (err = ch->pl->stages[i].ops->flush(ch->st[i], now, mode,
                                                        out)))
                        return err;
        return RS_OK;
}
