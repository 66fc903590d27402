/* pairs.h — the `pairs` stage (the user side's half of co-occurrence):
 * pair deltas from events, sent to the item side through the stage env's
 * delta sink (stage.h). */
#ifndef RECSTREAM_PAIRS_H
#define RECSTREAM_PAIRS_H

#include <stdint.h>

typedef struct rs_pairs rs_pairs_t;

/* Additions made so far (pairs count twice: one per direction). */
uint64_t rs_pairs_updates(const rs_pairs_t *pr);

#endif
