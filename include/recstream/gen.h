/* gen.h — a deterministic generator of short-video behaviour, for the demo,
 * tests and benchmarks. Two worlds:
 * - RS_GEN_SERIES (the default): users with favourite categories binge
 *   series of episodes in order, browse standalone videos, like, share
 *   and skip, one event every 0.2 s to 3.2 s of event time, endlessly;
 * - RS_GEN_PLATFORM: a platform over `days` days (src/io/world.c): a
 *   catalogue of which 60% is released during those days (a release
 *   trends for a few days), users of heavy-tailed activity who come back
 *   in sessions of about ten videos, each video an impression (scrolled
 *   past) or a play followed by its watch or skip (then sometimes a like
 *   or share), series watched in order, favourite categories that drift
 *   between sessions, and bots_permille of the users view bots (long
 *   sessions of plays watched out, any video). It ends after `days`.
 * The same seed gives the same events on every machine. */
#ifndef RECSTREAM_GEN_H
#define RECSTREAM_GEN_H

#include <stdint.h>

#include "recstream/codec.h"

enum { RS_GEN_SERIES, RS_GEN_PLATFORM };

typedef struct rs_gen_conf {
        int world; /* RS_GEN_SERIES or RS_GEN_PLATFORM */
        uint64_t seed;
        uint32_t users;
        uint32_t series;     /* each in one category */
        uint32_t episodes;   /* per series */
        uint32_t standalone; /* videos outside any series */
        uint32_t categories; /* at most 16 */
        int64_t start_ts;    /* ms, first event time */
        uint64_t first_id;   /* event ids are "e<first_id + 1>", ... */
        /* Zipf mode (zipf_items > 0): uniform users act on standalone
         * videos "v<rank>" of Zipf(zipf_exponent) popularity over
         * zipf_items (rank 0 the most popular); no series. */
        uint32_t zipf_items;
        double zipf_exponent;
        /* Mean gap between events in µs (uniform in [0, 2·gap_us]);
         * 0: 0.2 s to 3.2 s of event time. */
        uint32_t gap_us;
        /* RS_GEN_PLATFORM: its length (0: 14 days) and the bots among
         * every 1,000 users */
        uint32_t days;
        uint32_t bots_permille;
} rs_gen_conf_t;

typedef struct rs_gen rs_gen_t;

/* Caller owns; NULL on allocation failure. */
rs_gen_t *rs_gen_new(const rs_gen_conf_t *conf);
void rs_gen_destroy(rs_gen_t *gen);
/* The next event, 1; 0 when the platform world's days are over. Its
 * strings are owned by gen until the next call. */
int rs_gen_next(rs_gen_t *gen, rs_event_fields_t *ev);

/* Names used by the generator: "s<series>e<episode>" for episodes,
 * "v<n>" for standalone videos, "u<n>" for users. */

#endif
