/* csvin.h — the canonical event CSV of shared/data/README.md:
 *
 *   event_id,user_id,item_id,event_type,ts_ms,watch_ms,duration_ms,category,value
 *
 * Columns are found by header name (order free, extra columns ignored);
 * watch_ms, duration_ms, category and value may be empty. */
#ifndef RECSTREAM_CSVIN_H
#define RECSTREAM_CSVIN_H

#include <stdio.h>

#include "recstream/codec.h"
#include "recstream/err.h"

/* Bytes of one row (CSV record or JSON line) at most: a longer one is a
 * bad_row, skipped to its end without being held whole. */
#define RS_ROW_MAX (1u << 20)

typedef struct rs_csv rs_csv_t;

/* Reads the header from f (borrowed). NULL with errstr when it lacks a
 * required column. */
rs_csv_t *rs_csv_new(FILE *f, char *errstr, size_t errstr_size);
void rs_csv_destroy(rs_csv_t *csv);

/* The next row into *ev (strings owned by csv, valid until the next call).
 * RS_OK; RS_ERR_NOENT at end of file; RS_ERR_DECODE for a bad row, with a
 * static reason (bad_row, unknown_event_type, bad_field, bad_value) and
 * errstr naming the line — the caller may go on to the next row. Ids are
 * not checked here (rs_event_from_fields does). */
rs_err_t rs_csv_next(rs_csv_t *csv, rs_event_fields_t *ev, const char **reason,
                     char *errstr, size_t errstr_size);
/* The canonical columns, in the order above. */
#define RS_CSV_COLUMNS 9
/* The column index of a canonical name, -1 if none. */
int rs_csv_column(const char *name);
/* Fields from the canonical columns' text ("" for empty), as a CSV row
 * would give them; strings point into cols. `line` is for messages. */
rs_err_t rs_csv_fields(const char *const cols[RS_CSV_COLUMNS], long line,
                       rs_event_fields_t *ev, const char **reason, char *errstr,
                       size_t errstr_size);

/* Line number of the row last read (the header is line 1). */
long rs_csv_line(const rs_csv_t *csv);

#endif
