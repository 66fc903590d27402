/* evfile.h — behaviour events from a file, for replay: the canonical CSV
 * (.csv), JSON lines with the same field names (.jsonl, .json), or an Avro
 * object container file of BehaviorEvent records (.avro). */
#ifndef RECSTREAM_EVFILE_H
#define RECSTREAM_EVFILE_H

#include "recstream/err.h"
#include "recstream/event.h"
#include "recstream/intern.h"

typedef struct rs_evfile rs_evfile_t;

/* `strings` is borrowed. NULL with errstr on failure. */
rs_evfile_t *rs_evfile_open(const char *path, rs_intern_t *strings,
                            char *errstr, size_t errstr_size);
void rs_evfile_close(rs_evfile_t *f);

/* The next event: RS_OK; RS_ERR_NOENT at the end; RS_ERR_DECODE for a
 * record that cannot be used, with errstr saying where and why (the caller
 * may go on); RS_ERR_NOMEM. */
rs_err_t rs_evfile_next(rs_evfile_t *f, rs_event_t *ev, char *errstr,
                        size_t errstr_size);
/* Share of the file read so far, 0..1 (0 when unknown). */
double rs_evfile_progress(const rs_evfile_t *f);

#endif
