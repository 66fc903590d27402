/* stage.c — the static stage registry. */
#include <string.h>

#include "recstream/stage.h"

extern const rs_stage_ops_t rs_stage_passthrough, rs_stage_clean,
        rs_stage_weight, rs_stage_user_window, rs_stage_pairs, rs_stage_cooccur,
        rs_stage_score;

/* In the order a pipeline usually lists them. */
static const rs_stage_ops_t *const registry[] = {
        &rs_stage_clean,       &rs_stage_weight,  &rs_stage_user_window,
        &rs_stage_pairs,       &rs_stage_cooccur, &rs_stage_score,
        &rs_stage_passthrough,
};

const rs_stage_ops_t *rs_stage_at(size_t i)
{
        return i < sizeof(registry) / sizeof(registry[0]) ? registry[i] : NULL;
}

const rs_stage_ops_t *rs_stage_find(const char *type)
{
        for (size_t i = 0; rs_stage_at(i); i++)
                if (!strcmp(registry[i]->type, type))
                        return registry[i];
        return NULL;
}
