/* chain.c — the user side's stage instances of one pipeline, in order.
 * Item-side stages (cooccur) have no instance here: the topology runs
 * them over the deltas (topology.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recstream/chain.h"
#include "recstream/clock.h"
#include "recstream/user_window.h"

struct rs_chain {
        const rs_pipeline_t *pl;
        rs_stage_env_t env;
        void **st;    /* by stage index; NULL for the item side's */
        size_t n;     /* stages gone through so far */
        uint64_t *ns; /* by stage index: the last process call's time */
};

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

        if (!ch || !(ch->st = calloc(pl->nstages + 1, sizeof(*ch->st))) ||
            !(ch->ns = calloc(pl->nstages + 1, sizeof(*ch->ns)))) {
                if (ch)
                        free(ch->st);
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
        free(ch->ns);
        free(ch);
}

rs_err_t rs_chain_process(rs_chain_t *ch, rs_event_t *ev, size_t n,
                          const rs_emit_t *out)
{
        rs_err_t err;

        for (size_t i = 0; i < ch->n && n; i++) {
                if (!ch->st[i])
                        continue;
                uint64_t t0 = now_ns();
                err = ch->pl->stages[i].ops->process(ch->st[i], ev, n, out);
                ch->ns[i] = now_ns() - t0;
                if (err)
                        return err;
        }
        return RS_OK;
}

size_t rs_chain_stages(const rs_chain_t *ch)
{
        return ch->n;
}

const char *rs_chain_stage_type(const rs_chain_t *ch, size_t i)
{
        return i < ch->n && ch->st[i] ? ch->pl->stages[i].ops->type : NULL;
}

uint64_t rs_chain_stage_ns(const rs_chain_t *ch, size_t i)
{
        return i < ch->n ? ch->ns[i] : 0;
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

/*
 * State that survives (issue 11): a user's state is what each stage
 * saves of it; user_window knows its owner partition and newest offset.
 */

int rs_chain_save_user(rs_chain_t *ch, uint32_t user, rs_user_state_t *s)
{
        const rs_uwin_t *win = rs_chain_find(ch, "user_window");

        rs_user_state_init(s, user, -1);
        if (!win || !rs_uwin_holds(win, user))
                return 0;
        for (size_t i = 0; i < ch->n; i++)
                if (ch->st[i] && ch->pl->stages[i].ops->save)
                        ch->pl->stages[i].ops->save(ch->st[i], user, s);
        return 1;
}

rs_err_t rs_chain_load_user(rs_chain_t *ch, const rs_user_state_t *s)
{
        rs_err_t err;

        for (size_t i = 0; i < ch->n; i++)
                if (ch->st[i] && ch->pl->stages[i].ops->load &&
                    (err = ch->pl->stages[i].ops->load(ch->st[i], s)))
                        return err;
        return RS_OK;
}

size_t rs_chain_mark_replayed(rs_chain_t *ch, rs_event_t *ev, size_t n)
{
        const rs_uwin_t *win = rs_chain_find(ch, "user_window");
        size_t k = 0;

        for (size_t i = 0; win && i < n; i++)
                if (!ev[i].drop &&
                    rs_uwin_applied(win, ev[i].user, ev[i].partition,
                                    ev[i].offset)) {
                        ev[i].drop = RS_DROP_REPLAYED;
                        k++;
                }
        return k;
}

size_t rs_chain_drop_partition(rs_chain_t *ch, int32_t partition)
{
        rs_uwin_t *win = rs_chain_find(ch, "user_window");
        return win ? rs_uwin_drop_partition(win, partition) : 0;
}

void rs_chain_drop_user(rs_chain_t *ch, uint32_t user, int32_t partition)
{
        rs_uwin_t *win = rs_chain_find(ch, "user_window");

        if (win && rs_uwin_partition(win, user) == partition)
                rs_uwin_forget(win, user);
}
