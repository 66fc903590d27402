/* evfile.h — behaviour events from a file, for replay: the canonical CSV
 * (.csv), JSON lines with the same field names (.jsonl, .json), or an Avro
 * object container file of BehaviorEvent records (.avro). */
#ifndef RECSTREAM_EVFILE_H
#define RECSTREAM_EVFILE_H

#include "recstream/err.h"
#include "recstream/event.h"
#include "recstream/intern.h"

typedef struct rs_evfile rs_evfile_t;

/* `strings` is borrowed. Ids of more than max_id bytes are rejected
 * (id_too_long). NULL with errstr on failure. */
rs_evfile_t *rs_evfile_open(const char *path, rs_intern_t *strings,
                            size_t max_id, char *errstr, size_t errstr_size);
void rs_evfile_close(rs_evfile_t *f);

/* The next event, ev->offset its line (or record) number: RS_OK;
 * RS_ERR_NOENT at the end; RS_ERR_DECODE for a record that cannot be
 * used, with errstr saying where and why (the caller may go on);
 * RS_ERR_NOMEM. */
rs_err_t rs_evfile_next(rs_evfile_t *f, rs_event_t *ev, char *errstr,
                        size_t errstr_size);
/* The static reason of the last RS_ERR_DECODE (the codec's for .avro,
 * csvin.h's and rs_event_check_id's otherwise); "none" when there was none. */
const char *rs_evfile_reason(const rs_evfile_t *f);
/* Line (or record) number of the record last read. */
long rs_evfile_line(const rs_evfile_t *f);
/* Share of the file read so far, 0..1 (0 when unknown). */
double rs_evfile_progress(const rs_evfile_t *f);

#endif
