/* clean.h — the `clean` stage's counters (the stage itself is found
 * through the registry, stage.h). */
#ifndef RECSTREAM_CLEAN_H
#define RECSTREAM_CLEAN_H

#include <stddef.h>
#include <stdint.h>

/* Events a clean instance dropped with rs_drop_t `reason`. */
uint64_t rs_clean_drops(const void *clean, int reason);

/* What a clean instance holds, for metrics: event ids remembered for
 * dedupe and their bytes, users with a rate-limit bucket, its bytes, and
 * buckets forgotten beyond max_rate_users so far. */
typedef struct rs_clean_state {
        size_t dedupe_ids, dedupe_bytes;
        size_t rate_users, rate_bytes;
        uint64_t rate_evictions;
} rs_clean_state_t;
void rs_clean_state(const void *clean, rs_clean_state_t *s);

#endif
