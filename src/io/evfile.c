/* evfile.c — CSV, JSON lines and Avro container files of events.
 *
 * JSON lines hold one flat object per line with the canonical CSV names;
 * values are strings, numbers or null. The object is read into the CSV
 * columns' text and converted by the same code as a CSV row. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "recstream/buf.h"
#include "recstream/codec.h"
#include "recstream/csvin.h"
#include "recstream/evfile.h"

enum { F_CSV, F_JSONL, F_AVRO };

struct rs_evfile {
        int kind;
        FILE *f;
        long size, lineno;
        rs_intern_t *strings;
        rs_csv_t *csv;
        rs_ocf_t *ocf;
        size_t max_id;
        const char *reason; /* of the last record that failed */
        int over, nul;      /* jsonl: the line passed RS_ROW_MAX / held NUL */
        rs_buf_t line;      /* jsonl: the current line */
        rs_buf_t buf;       /* jsonl: its values, NUL-separated */
};

static int ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && !strcmp(s + n - k, suffix);
}

rs_evfile_t *rs_evfile_open(const char *path, rs_intern_t *strings,
                            size_t max_id, char *errstr, size_t errstr_size)
{
        rs_evfile_t *f = calloc(1, sizeof(*f));

        if (!f) {
                rs_seterr(errstr, errstr_size, RS_ERR_NOMEM, "out of memory");
                return NULL;
        }
        f->strings = strings;
        f->max_id = max_id;
        rs_buf_init(&f->buf);
        rs_buf_init(&f->line);
        f->kind = ends_with(path, ".avro") ? F_AVRO
                  : ends_with(path, ".jsonl") || ends_with(path, ".json")
                          ? F_JSONL
                          : F_CSV;
        if (f->kind == F_AVRO) {
                if (!(f->ocf = rs_ocf_open(path, strings, max_id, errstr,
                                           errstr_size)))
                        goto fail;
                return f;
        }
        if (!(f->f = strcmp(path, "-") ? fopen(path, "rb") : stdin)) {
                rs_seterr(errstr, errstr_size, RS_ERR_IO, "cannot open %s",
                          path);
                goto fail;
        }
        if (f->f != stdin && !fseek(f->f, 0, SEEK_END)) {
                f->size = ftell(f->f);
                rewind(f->f);
        }
        if (f->kind == F_CSV &&
            !(f->csv = rs_csv_new(f->f, errstr, errstr_size)))
                goto fail;
        return f;
fail:
        rs_evfile_close(f);
        return NULL;
}

void rs_evfile_close(rs_evfile_t *f)
{
        if (!f)
                return;
        rs_csv_destroy(f->csv);
        rs_ocf_close(f->ocf);
        if (f->f && f->f != stdin)
                fclose(f->f);
        rs_buf_fini(&f->buf);
        rs_buf_fini(&f->line);
        free(f);
}

double rs_evfile_progress(const rs_evfile_t *f)
{
        return f->f && f->size > 0 ? (double)ftell(f->f) / (double)f->size : 0;
}

static void skip_ws(const char **p)
{
        while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n')
                (*p)++;
}

static void put_utf8(rs_buf_t *b, unsigned cp)
{
        char u[4];
        size_t n;
        if (cp < 0x80) {
                u[0] = (char)cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (char)(0xC0 | cp >> 6);
                u[1] = (char)(0x80 | (cp & 0x3F));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (char)(0xE0 | cp >> 12);
                u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
        } else {
                u[0] = (char)(0xF0 | cp >> 18);
                u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
                u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
                u[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
        }
        rs_buf_add(b, u, n);
}

/* The four hex digits at s (never past a NUL); -1 when they are not. */
static int hex4(const char *s, unsigned *out)
{
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                char c = s[i];
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (d < 0)
                        return -1;
                v = v << 4 | (unsigned)d;
        }
        *out = v;
        return 0;
}

/* A JSON string at *p (after its opening quote) appended to out,
 * NUL-terminated; -1 when malformed. \u0000 is refused (the string would
 * end there), and so is a surrogate that is not half of a pair (it has no
 * UTF-8 form). */
static int json_string(const char **p, rs_buf_t *out)
{
        const char *s = *p;

        for (;;) {
                char c = *s++;
                if (!c)
                        return -1;
                if (c == '"')
                        break;
                if (c != '\\') {
                        rs_buf_add(out, &c, 1);
                        continue;
                }
                c = *s++;
                const char *simple = strchr("\"\\/bfnrt", c);
                if (c && simple) {
                        rs_buf_add(out,
                                   &"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"],
                                   1);
                        continue;
                }
                if (c != 'u')
                        return -1;
                unsigned cp, lo;
                if (hex4(s, &cp) || cp == 0 || (cp >= 0xDC00 && cp < 0xE000))
                        return -1;
                s += 4;
                if (cp >= 0xD800 && cp < 0xDC00) {
                        if (s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) ||
                            lo < 0xDC00 || lo >= 0xE000)
                                return -1;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        s += 6;
                }
                put_utf8(out, cp);
        }
        rs_buf_add(out, "", 1);
        *p = s;
        return 0;
}

/* One flat JSON object into the canonical columns. */
static rs_err_t json_row(rs_evfile_t *f, const char *line,
                         rs_event_fields_t *ev, const char **reason,
                         char *errstr, size_t errstr_size)
{
        size_t off[RS_CSV_COLUMNS];
        const char *cols[RS_CSV_COLUMNS];
        const char *p = line;
        rs_buf_t *b = &f->buf;

        rs_buf_reset(b);
        rs_buf_add(b, "", 1); /* offset 0: the empty string */
        for (int c = 0; c < RS_CSV_COLUMNS; c++)
                off[c] = 0;
        skip_ws(&p);
        if (*p++ != '{')
                goto bad;
        skip_ws(&p);
        while (*p != '}') {
                size_t key = b->len;
                if (*p++ != '"' || json_string(&p, b))
                        goto bad;
                int c = rs_csv_column(b->p + key);
                if (c < 0 && !strcmp(b->p + key, "ts"))
                        c = rs_csv_column("ts_ms");
                skip_ws(&p);
                if (*p++ != ':')
                        goto bad;
                skip_ws(&p);
                size_t val = b->len;
                if (*p == '"') {
                        p++;
                        if (json_string(&p, b))
                                goto bad;
                } else {
                        size_t n = strcspn(p, ",} \t\r\n");
                        if (!n)
                                goto bad;
                        if (!(n == 4 && !strncmp(p, "null", 4)))
                                rs_buf_add(b, p, n);
                        rs_buf_add(b, "", 1);
                        p += n;
                }
                if (c >= 0)
                        off[c] = val;
                skip_ws(&p);
                if (*p == ',') {
                        p++;
                        skip_ws(&p);
                } else if (*p != '}') {
                        goto bad;
                }
        }
        if (b->oom)
                return RS_ERR_NOMEM;
        for (int c = 0; c < RS_CSV_COLUMNS; c++)
                cols[c] = b->p + off[c];
        return rs_csv_fields(cols, f->lineno, ev, reason, errstr, errstr_size);
bad:
        *reason = "bad_row";
        return rs_seterr(errstr, errstr_size, RS_ERR_DECODE,
                         "line %ld: bad_row: not a flat JSON object",
                         f->lineno);
}

/* The next line of a JSON-lines file into f->line, NUL-terminated,
 * without its end; RS_ERR_NOENT at the end of the file. A line is read to
 * its end whatever it holds, but kept only up to RS_ROW_MAX bytes (f->over
 * beyond) and a NUL byte in it is noted (f->nul): a C string would end
 * there, and nothing of the next line may be taken for it. */
static rs_err_t next_line(rs_evfile_t *f)
{
        rs_buf_t *line = &f->line;
        int c = 0;

        f->over = f->nul = 0;
        do {
                rs_buf_reset(line);
                int any = 0;
                while ((c = getc_unlocked(f->f)) != EOF && c != '\n') {
                        any = 1;
                        if (c == '\0')
                                f->nul = 1;
                        if (line->len >= RS_ROW_MAX) {
                                f->over = 1;
                                continue;
                        }
                        char ch = (char)c;
                        rs_buf_add(line, &ch, 1);
                }
                if (c == EOF && !any)
                        return RS_ERR_NOENT;
                if (rs_buf_reserve(line, 1) || line->oom)
                        return RS_ERR_NOMEM;
                f->lineno++;
                line->p[line->len] = '\0';
                if (line->len && line->p[line->len - 1] == '\r')
                        line->p[--line->len] = '\0';
        } while (!f->over && !f->nul &&
                 !line->p[strspn(line->p, " \t")]); /* blank */
        return RS_OK;
}

rs_err_t rs_evfile_next(rs_evfile_t *f, rs_event_t *ev, char *errstr,
                        size_t errstr_size)
{
        rs_event_fields_t fields;
        rs_err_t err;

        f->reason = NULL;
        if (f->kind == F_AVRO) {
                err = rs_ocf_next(f->ocf, ev);
                if (err == RS_ERR_DECODE) {
                        f->reason = rs_ocf_reason(f->ocf);
                        rs_seterr(errstr, errstr_size, err, "record %ld: %s",
                                  f->lineno + 1, rs_ocf_error(f->ocf));
                }
                if (err != RS_ERR_NOENT)
                        ev->offset = ++f->lineno;
                return err;
        }
        if (f->kind == F_CSV) {
                err = rs_csv_next(f->csv, &fields, &f->reason, errstr,
                                  errstr_size);
                f->lineno = rs_csv_line(f->csv);
        } else if ((err = next_line(f))) {
                return err;
        } else if (f->over || f->nul) {
                f->reason = "bad_row";
                err = rs_seterr(errstr, errstr_size, RS_ERR_DECODE,
                                f->over ? "line %ld: longer than %u bytes"
                                        : "line %ld: a NUL byte in the line",
                                f->lineno, RS_ROW_MAX);
        } else {
                err = json_row(f, f->line.p, &fields, &f->reason, errstr,
                               errstr_size);
        }
        if (err)
                return err;
        err = rs_event_from_fields(&fields, f->strings, f->max_id, ev,
                                   &f->reason);
        if (err == RS_ERR_DECODE)
                rs_seterr(errstr, errstr_size, err, "line %ld: %s", f->lineno,
                          f->reason);
        ev->offset = f->lineno;
        return err;
}

const char *rs_evfile_reason(const rs_evfile_t *f)
{
        return f->reason ? f->reason : "none";
}

long rs_evfile_line(const rs_evfile_t *f)
{
        return f->lineno;
}
