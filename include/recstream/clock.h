/* clock.h — the two clocks: monotonic for timeouts and rates, wall for
 * judging event times live (a record dated ahead of now is from a wrong
 * clock). Event time itself is the events' own ts (DESIGN §2). */
#ifndef RECSTREAM_CLOCK_H
#define RECSTREAM_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t rs_mono_ms(void);
/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t rs_wall_ms(void);

#endif
