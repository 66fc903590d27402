/* clean.h — the `clean` stage's counters (the stage itself is found
 * through the registry, stage.h). */
#ifndef RECSTREAM_CLEAN_H
#define RECSTREAM_CLEAN_H

#include <stdint.h>

/* Events a clean instance dropped with rs_drop_t `reason`. */
uint64_t rs_clean_drops(const void *clean, int reason);

#endif
