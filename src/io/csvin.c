/* csvin.c — canonical event CSV reader (RFC 4180 quoting). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/csvin.h"

enum {
        C_EVENT_ID,
        C_USER_ID,
        C_ITEM_ID,
        C_EVENT_TYPE,
        C_TS,
        C_WATCH,
        C_DURATION,
        C_CATEGORY,
        C_VALUE,
        C__COUNT
};

static const char *const names[C__COUNT] = {
        "event_id", "user_id",     "item_id",  "event_type", "ts_ms",
        "watch_ms", "duration_ms", "category", "value",
};

#define MAX_FIELDS 64

struct rs_csv {
        FILE *f;
        long line;
        int col[C__COUNT];      /* field index of each column, -1 absent */
        rs_buf_t row;           /* the row, fields NUL-separated in place */
        size_t off[MAX_FIELDS]; /* field starts while the row grows */
        char *field[MAX_FIELDS];
        int nfields;
        int over; /* the record passed RS_ROW_MAX: skipped to its line end */
        int nul;  /* the record holds a NUL byte (a C string would end there) */
};

/* Reads one record (which may span lines inside quotes) into csv->row and
 * splits it. 0 ok, -1 EOF. A record longer than RS_ROW_MAX is cut there
 * and read on to the end of its line, quotes or not (an unclosed quote
 * must not swallow the rest of the file): csv->over. */
static int read_record(rs_csv_t *csv)
{
        int c, quoted = 0, start = 1, any = 0;
        size_t fstart = 0;

        rs_buf_reset(&csv->row);
        csv->nfields = 0;
        csv->over = 0;
        csv->nul = 0;
        for (;;) {
                c = getc_unlocked(csv->f);
                if (c == EOF) {
                        if (!any)
                                return -1;
                        break;
                }
                any = 1;
                if (c == '\0')
                        csv->nul = 1;
                if (csv->row.len >= RS_ROW_MAX) {
                        csv->over = 1;
                        if (c == '\n')
                                break;
                        continue;
                }
                if (quoted) {
                        if (c == '"') {
                                int d = getc_unlocked(csv->f);
                                if (d == '"') {
                                        rs_buf_add(&csv->row, "\"", 1);
                                        continue;
                                }
                                quoted = 0;
                                if (d == EOF)
                                        break;
                                c = d;
                        } else {
                                if (c == '\n')
                                        csv->line++;
                                char ch = (char)c;
                                rs_buf_add(&csv->row, &ch, 1);
                                continue;
                        }
                }
                if (c == '"' && start) {
                        quoted = 1;
                        start = 0;
                        continue;
                }
                if (c == '\r')
                        continue;
                if (c == ',' || c == '\n') {
                        if (csv->nfields < MAX_FIELDS)
                                csv->off[csv->nfields++] = fstart;
                        rs_buf_add(&csv->row, "", 1); /* NUL */
                        fstart = csv->row.len;
                        start = 1;
                        if (c == '\n')
                                break;
                        continue;
                }
                start = 0;
                char ch = (char)c;
                rs_buf_add(&csv->row, &ch, 1);
        }
        if (c == EOF &&
            (csv->row.len > fstart || csv->nfields == 0 || !start)) {
                if (csv->nfields < MAX_FIELDS)
                        csv->off[csv->nfields++] = fstart;
                rs_buf_add(&csv->row, "", 1);
        }
        csv->line++;
        if (csv->row.oom)
                return -1;
        for (int i = 0; i < csv->nfields; i++)
                csv->field[i] = csv->row.p + csv->off[i];
        return 0;
}

rs_csv_t *rs_csv_new(FILE *f, char *errstr, size_t errstr_size)
{
        rs_csv_t *csv = calloc(1, sizeof(*csv));

        if (!csv) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        csv->f = f;
        rs_buf_init(&csv->row);
        if (read_record(csv)) {
                rs_seterr(errstr, errstr_size, RS_ERR_DECODE,
                          "empty file: no CSV header");
                goto fail;
        }
        if (csv->nul) {
                rs_seterr(errstr, errstr_size, RS_ERR_DECODE,
                          "line 1: a NUL byte in the header");
                goto fail;
        }
        for (int c = 0; c < C__COUNT; c++) {
                csv->col[c] = -1;
                for (int i = 0; i < csv->nfields; i++)
                        if (!strcmp(csv->field[i], names[c]))
                                csv->col[c] = i;
                if (csv->col[c] < 0 && c <= C_TS) {
                        rs_seterr(errstr, errstr_size, RS_ERR_DECODE,
                                  "line 1: the header lacks column '%s'",
                                  names[c]);
                        goto fail;
                }
        }
        return csv;
fail:
        rs_csv_destroy(csv);
        return NULL;
}

void rs_csv_destroy(rs_csv_t *csv)
{
        if (!csv)
                return;
        rs_buf_fini(&csv->row);
        free(csv);
}

long rs_csv_line(const rs_csv_t *csv)
{
        return csv->line;
}

static const char *col(const rs_csv_t *csv, int c)
{
        int i = csv->col[c];
        return i >= 0 && i < csv->nfields ? csv->field[i] : "";
}

static int parse_i64(const char *s, int64_t *out)
{
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || errno)
                return -1;
        *out = v;
        return 0;
}

/* A bad field: errstr names the line, what is wrong and (cut short) the
 * field's text. */
static rs_err_t bad_field(const char **reason, const char *why, long line,
                          const char *what, const char *s, char *errstr,
                          size_t errstr_size)
{
        *reason = why;
        return rs_seterr(errstr, errstr_size, RS_ERR_DECODE,
                         "line %ld: %s '%.40s%s'", line, what, s,
                         strlen(s) > 40 ? "..." : "");
}

rs_err_t rs_csv_fields(const char *const cols[RS_CSV_COLUMNS], long line,
                       rs_event_fields_t *ev, const char **reason, char *errstr,
                       size_t errstr_size)
{
        const char *s;

        memset(ev, 0, sizeof(*ev));
        *reason = NULL;
        /* ids are checked where every input's are: rs_event_from_fields */
        ev->event_id = cols[C_EVENT_ID];
        ev->user_id = cols[C_USER_ID];
        ev->item_id = cols[C_ITEM_ID];
        s = cols[C_EVENT_TYPE];
        ev->type = rs_event_type_parse(s, strlen(s));
        if (ev->type < 0)
                return bad_field(reason, "unknown_event_type", line,
                                 "unknown event_type", s, errstr, errstr_size);
        if (parse_i64(cols[C_TS], &ev->ts))
                return bad_field(reason, "bad_field", line, "bad ts_ms",
                                 cols[C_TS], errstr, errstr_size);
        s = cols[C_WATCH];
        if (!*s)
                ev->watch_ms = 0;
        else if (parse_i64(s, &ev->watch_ms))
                return bad_field(reason, "bad_field", line, "bad watch_ms", s,
                                 errstr, errstr_size);
        s = cols[C_DURATION];
        if (!*s)
                ev->duration_ms = RS_NONE_I64;
        else if (parse_i64(s, &ev->duration_ms))
                return bad_field(reason, "bad_field", line, "bad duration_ms",
                                 s, errstr, errstr_size);
        s = cols[C_CATEGORY];
        ev->category = *s ? s : NULL;
        s = cols[C_VALUE];
        ev->value = NAN;
        if (*s) {
                char *end;
                ev->value = strtod(s, &end);
                if (*end)
                        return bad_field(reason, "bad_field", line, "bad value",
                                         s, errstr, errstr_size);
                if (!isfinite(ev->value))
                        return bad_field(reason, "bad_value", line, "bad value",
                                         s, errstr, errstr_size);
        }
        return RS_OK;
}

int rs_csv_column(const char *name)
{
        for (int c = 0; c < C__COUNT; c++)
                if (!strcmp(name, names[c]))
                        return c;
        return -1;
}

rs_err_t rs_csv_next(rs_csv_t *csv, rs_event_fields_t *ev, const char **reason,
                     char *errstr, size_t errstr_size)
{
        const char *cols[C__COUNT];

        do {
                if (read_record(csv))
                        return RS_ERR_NOENT;
        } while (!csv->over && !csv->nul && csv->nfields == 1 &&
                 !*csv->field[0]); /* blank line */
        if (csv->over || csv->nul) {
                *reason = "bad_row";
                return rs_seterr(errstr, errstr_size, RS_ERR_DECODE,
                                 csv->over ? "line %ld: longer than %u bytes"
                                           : "line %ld: a NUL byte in the row",
                                 csv->line, RS_ROW_MAX);
        }
        for (int c = 0; c < C__COUNT; c++)
                cols[c] = col(csv, c);
        return rs_csv_fields(cols, csv->line, ev, reason, errstr, errstr_size);
}
