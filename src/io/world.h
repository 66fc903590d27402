/* world.h — the generator's platform world (gen.h, RS_GEN_PLATFORM). */
#ifndef RECSTREAM_IO_WORLD_H
#define RECSTREAM_IO_WORLD_H

#include "recstream/gen.h"

typedef struct rs_world rs_world_t;

/* NULL on allocation failure. */
rs_world_t *rs_world_new(const rs_gen_conf_t *conf);
void rs_world_destroy(rs_world_t *w);
/* Fills ev's user, item, type, ts, watch and duration, category; 0 when
 * the world's days are over (ev untouched). */
int rs_world_next(rs_world_t *w, rs_event_fields_t *ev);

#endif
