/* weight.h — the `weight` stage's rule, for tests and evaluation (the
 * stage itself is found through the registry, stage.h). */
#ifndef RECSTREAM_WEIGHT_H
#define RECSTREAM_WEIGHT_H

#include "recstream/event.h"

/* The signed weight of ev under a weight stage's conf (the pipeline's
 * rs_stage_def_t.conf of that stage). */
double rs_weight_of(const void *conf, const rs_event_t *ev);

#endif
