/* score.h — the `score` stage's lists on demand, for evaluation: the list
 * a user would be published at event time `now`, without publishing it. */
#ifndef RECSTREAM_SCORE_H
#define RECSTREAM_SCORE_H

#include <stdint.h>

#include "recstream/err.h"
#include "recstream/event.h"

typedef struct rs_score rs_score_t;

/* *recs is owned by sc, valid until its next call. */
rs_err_t rs_score_list(rs_score_t *sc, uint32_t user, int64_t now,
                       const rs_recs_t **recs);
/* The configured list length k. */
size_t rs_score_k(const rs_score_t *sc);
/* Users with state now and bytes held (tables by id, the FIFO), for
 * metrics. */
size_t rs_score_users(const rs_score_t *sc);
size_t rs_score_bytes(const rs_score_t *sc);

/* What became of the users' refreshes: lists published; recomputed but
 * the same as the last one (not published); held back by
 * min_refresh_interval (published later, when still changed); empty (a
 * user's first list with no candidate yet, e.g. before the first neighbour
 * lists and trending came: not published, and made again once the
 * neighbour table has changed). */
typedef struct rs_score_counts {
        uint64_t published, unchanged, debounced, empty;
} rs_score_counts_t;
rs_score_counts_t rs_score_counts(const rs_score_t *sc);

#endif
