/* config.c — libyaml → node tree with positions; property tables. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "recstream/config.h"

/*
 * Diagnostics.
 */

void rs_diag_init(rs_diag_t *d, const char *file)
{
        rs_buf_init(&d->text);
        d->errors = 0;
        d->file = file;
}

void rs_diag_fini(rs_diag_t *d)
{
        rs_buf_fini(&d->text);
}

static void diag_vat(rs_diag_t *d, int line, int col, const char *path,
                     const char *fmt, va_list ap)
        __attribute__((format(printf, 5, 0)));

static void diag_vat(rs_diag_t *d, int line, int col, const char *path,
                     const char *fmt, va_list ap)
{
        char msg[512];
        rs_buf_t *b = &d->text;
        size_t start = b->len;

        vsnprintf(msg, sizeof(msg), fmt, ap);
        rs_buf_printf(b, "%s:%d:%d: error: %s%s%s",
                      d->file ? d->file : "<config>", line, col, path,
                      *path ? ": " : "", msg);
        /* One error, one line: librdkafka ends some messages with a
         * newline, and a key or a value quoted in the message may hold
         * one. */
        if (b->p && !b->oom) {
                for (size_t i = start; i < b->len; i++)
                        if (b->p[i] == '\n' || b->p[i] == '\r')
                                b->p[i] = ' ';
                while (b->len > start && b->p[b->len - 1] == ' ')
                        b->p[--b->len] = '\0';
        }
        rs_buf_adds(b, "\n");
        d->errors++;
}

void rs_diag_error(rs_diag_t *d, const rs_node_t *at, const char *path,
                   const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        diag_vat(d, at ? at->line : 1, at ? at->col : 1, path ? path : "", fmt,
                 ap);
        va_end(ap);
}

static void diag_at(rs_diag_t *d, int line, int col, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void diag_at(rs_diag_t *d, int line, int col, const char *path,
                    const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        diag_vat(d, line, col, path, fmt, ap);
        va_end(ap);
}

/*
 * Limits and secrets.
 */

const char *rs_config_size_str(size_t bytes, char *buf, size_t size)
{
        if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
                snprintf(buf, size, "%zu MiB", bytes / (1024 * 1024));
        else if (bytes >= 1024 && bytes % 1024 == 0)
                snprintf(buf, size, "%zu KiB", bytes / 1024);
        else
                snprintf(buf, size, "%zu bytes", bytes);
        return buf;
}

int rs_config_is_secret(const char *key)
{
        static const char *const words[] = {"password", "secret", "sasl.jaas",
                                            "key"};

        for (const char *p = key; p && *p; p++)
                for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
                        if (!strncasecmp(p, words[w], strlen(words[w])))
                                return 1;
        return 0;
}

void rs_config_redact(char *s, size_t size, const char *secret)
{
        static const char red[] = RS_REDACTED;
        size_t slen, rlen = sizeof(red) - 1, len;
        char *at = s;

        if (!s || !size || !secret || !*secret)
                return;
        slen = strlen(secret);
        len = strlen(s);
        while ((at = strstr(at, secret))) {
                size_t off = (size_t)(at - s);
                size_t tail = len - off - slen; /* bytes after the secret */
                size_t keep = rlen;
                if (off + keep > size - 1)
                        keep = size - 1 - off;
                /* The tail moves after the marker, cut to fit. */
                size_t move = off + keep + tail > size - 1
                                      ? size - 1 - off - keep
                                      : tail;
                memmove(at + keep, at + slen, move);
                memcpy(at, red, keep);
                len = off + keep + move;
                s[len] = '\0';
                at += keep;
        }
}

/*
 * Documents: every allocation is chained to the document.
 */

typedef struct chunk {
        struct chunk *next;
        max_align_t data[];
} chunk_t;

struct rs_doc {
        chunk_t *chunks;
        rs_node_t *root;
        char *text;
        size_t text_len;
        char *dir;
        size_t max_bytes;   /* file size limit, and of all values expanded */
        size_t nodes;       /* made so far, at most RS_CONFIG_MAX_NODES */
        size_t expanded;    /* bytes of all values after ${VAR} expansion */
        size_t (*spans)[2]; /* [start, end) in text of each secret value */
        size_t nspans, spans_cap;
};

void *rs_doc_alloc(rs_doc_t *doc, size_t size)
{
        chunk_t *c = calloc(1, sizeof(*c) + size);

        if (!c)
                return NULL;
        c->next = doc->chunks;
        doc->chunks = c;
        return c->data;
}

static char *doc_strndup(rs_doc_t *doc, const char *s, size_t len)
{
        char *p = rs_doc_alloc(doc, len + 1);
        if (p)
                memcpy(p, s, len);
        return p;
}

void rs_doc_destroy(rs_doc_t *doc)
{
        if (!doc)
                return;
        for (chunk_t *c = doc->chunks, *next; c; c = next) {
                next = c->next;
                free(c);
        }
        free(doc->text);
        free(doc->dir);
        free(doc->spans);
        free(doc);
}

const rs_node_t *rs_doc_root(const rs_doc_t *doc)
{
        return doc->root;
}

size_t rs_doc_max_bytes(const rs_doc_t *doc)
{
        return doc->max_bytes;
}

int rs_doc_public_text(const rs_doc_t *doc, rs_buf_t *b)
{
        size_t at = 0;

        for (size_t i = 0; i < doc->nspans; i++) {
                if (rs_buf_add(b, doc->text + at, doc->spans[i][0] - at) ||
                    rs_buf_adds(b, RS_REDACTED))
                        return -1;
                at = doc->spans[i][1];
        }
        return rs_buf_add(b, doc->text + at, doc->text_len - at);
}

const char *rs_doc_text(const rs_doc_t *doc, size_t *len)
{
        *len = doc->text_len;
        return doc->text;
}

const char *rs_doc_dir(const rs_doc_t *doc)
{
        return doc->dir ? doc->dir : ".";
}

/* ${VAR} and ${VAR:-default} in scalars; $$ is a literal $. A secret's
 * text is never quoted in a message. NULL on error (in d). */
static char *interpolate(rs_doc_t *doc, const char *s, size_t len, int line,
                         int col, int secret, rs_diag_t *d)
{
        rs_buf_t b;
        char *out = NULL;
        int shown = secret ? 0 : (int)(len < 200 ? len : 200);
        const char *dots = (size_t)shown < len ? "..." : "";

        if (!memchr(s, '$', len))
                return doc_strndup(doc, s, len);
        rs_buf_init(&b);
        for (size_t i = 0; i < len; i++) {
                if (b.len > RS_CONFIG_MAX_SCALAR)
                        break; /* reported by the caller */
                if (s[i] != '$' || i + 1 == len) {
                        rs_buf_add(&b, &s[i], 1);
                        continue;
                }
                if (s[i + 1] == '$') {
                        rs_buf_add(&b, "$", 1);
                        i++;
                        continue;
                }
                if (s[i + 1] != '{') {
                        rs_buf_add(&b, &s[i], 1);
                        continue;
                }
                const char *start = s + i + 2;
                const char *end = memchr(start, '}', len - (i + 2));
                if (!end) {
                        if (secret)
                                diag_at(d, line, col, "",
                                        "unterminated ${ in " RS_REDACTED);
                        else
                                diag_at(d, line, col, "",
                                        "unterminated ${ in '%.*s%s'", shown, s,
                                        dots);
                        goto out;
                }
                const char *dflt = NULL;
                size_t nlen = (size_t)(end - start);
                for (size_t k = 0; k + 1 < nlen; k++)
                        if (start[k] == ':' && start[k + 1] == '-') {
                                dflt = start + k + 2;
                                nlen = k;
                                break;
                        }
                char name[128];
                if (nlen == 0 || nlen >= sizeof(name)) {
                        if (secret)
                                diag_at(d, line, col, "",
                                        "bad variable name in " RS_REDACTED);
                        else
                                diag_at(d, line, col, "",
                                        "bad variable name in '%.*s%s'", shown,
                                        s, dots);
                        goto out;
                }
                memcpy(name, start, nlen);
                name[nlen] = '\0';
                const char *val = getenv(name);
                if (val && *val)
                        rs_buf_adds(&b, val);
                else if (dflt)
                        rs_buf_add(&b, dflt, (size_t)(end - dflt));
                else {
                        diag_at(d, line, col, "",
                                "environment variable %s is not set (write "
                                "${%s:-default} for a default)",
                                name, name);
                        goto out;
                }
                i = (size_t)(end - s);
        }
        out = doc_strndup(doc, b.p ? b.p : "", b.len);
out:
        rs_buf_fini(&b);
        return out;
}

/* Node construction: kids grow in a temporary array, then move to doc. */
typedef struct frame {
        rs_node_t *node;
        rs_node_t **kids;
        size_t n, cap;
        int secret; /* under a key with a secret value */
} frame_t;

static int frame_push_kid(frame_t *f, rs_node_t *kid)
{
        if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 8;
                rs_node_t **k = realloc(f->kids, cap * sizeof(*k));
                if (!k)
                        return -1;
                f->kids = k;
                f->cap = cap;
        }
        f->kids[f->n++] = kid;
        return 0;
}

static void check_duplicates(const rs_node_t *map, rs_diag_t *d)
{
        for (size_t i = 1; i < map->n; i++) {
                const rs_node_t *k = RS_NODE_KEY(map, i);
                if (k->type != RS_NODE_SCALAR)
                        continue;
                for (size_t j = 0; j < i; j++) {
                        const rs_node_t *p = RS_NODE_KEY(map, j);
                        if (p->type == RS_NODE_SCALAR &&
                            !strcmp(p->value, k->value)) {
                                rs_diag_error(d, k, k->value,
                                              "duplicate key (first at "
                                              "line %d)",
                                              p->line);
                                break;
                        }
                }
        }
}

static int frame_close(rs_doc_t *doc, frame_t *f, rs_diag_t *d)
{
        rs_node_t *node = f->node;

        node->kids = rs_doc_alloc(doc, (f->n ? f->n : 1) * sizeof(*node->kids));
        if (!node->kids)
                return -1;
        if (f->n)
                memcpy(node->kids, f->kids, f->n * sizeof(*node->kids));
        node->n = node->type == RS_NODE_MAP ? f->n / 2 : f->n;
        free(f->kids);
        if (node->type == RS_NODE_MAP)
                check_duplicates(node, d);
        return 0;
}

/* Whether the node about to join `parent` (NULL: the root) holds a secret:
 * it is the value of a secret key, or inside one. */
static int under_secret(const frame_t *parent)
{
        if (!parent)
                return 0;
        if (parent->secret)
                return 1;
        if (parent->node->type != RS_NODE_MAP || parent->n % 2 == 0)
                return 0; /* a key, or an item of a list */
        const rs_node_t *key = parent->kids[parent->n - 1];
        return key->type == RS_NODE_SCALAR && rs_config_is_secret(key->value);
}

/* Makes the node of a scalar or collection event at line:col (`secret`:
 * under a secret key); NULL (with the error in d) at a limit or out of
 * memory. */
static rs_node_t *make_node(rs_doc_t *doc, const yaml_event_t *ev, int secret,
                            int line, int col, rs_diag_t *d)
{
        char size[32];
        rs_node_t *node;

        if (++doc->nodes > RS_CONFIG_MAX_NODES) {
                diag_at(d, line, col, "",
                        "more than %d values, lists and maps in one file",
                        RS_CONFIG_MAX_NODES);
                return NULL;
        }
        if (!(node = rs_doc_alloc(doc, sizeof(*node)))) {
                diag_at(d, line, col, "", "out of memory");
                return NULL;
        }
        node->line = line;
        node->col = col;
        if (ev->type == YAML_MAPPING_START_EVENT) {
                node->type = RS_NODE_MAP;
                return node;
        }
        if (ev->type == YAML_SEQUENCE_START_EVENT) {
                node->type = RS_NODE_SEQ;
                return node;
        }
        node->type = RS_NODE_SCALAR;
        node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        if (secret) {
                if (doc->nspans == doc->spans_cap) {
                        size_t cap = doc->spans_cap ? 2 * doc->spans_cap : 8;
                        size_t(*sp)[2] = realloc(doc->spans, cap * sizeof(*sp));
                        if (!sp) {
                                diag_at(d, line, col, "", "out of memory");
                                return NULL;
                        }
                        doc->spans = sp;
                        doc->spans_cap = cap;
                }
                doc->spans[doc->nspans][0] = ev->start_mark.index;
                doc->spans[doc->nspans][1] = ev->end_mark.index;
                doc->nspans++;
        }
        if (ev->data.scalar.length > RS_CONFIG_MAX_SCALAR) {
                diag_at(d, line, col, "", "a value longer than %s",
                        rs_config_size_str(RS_CONFIG_MAX_SCALAR, size,
                                           sizeof(size)));
                return NULL;
        }
        node->value = interpolate(doc, (const char *)ev->data.scalar.value,
                                  ev->data.scalar.length, line, col, secret, d);
        if (!node->value) {
                node->value = ""; /* the error is in d; go on */
                return node;
        }
        size_t len = strlen(node->value);
        if (len > RS_CONFIG_MAX_SCALAR) {
                diag_at(d, line, col, "",
                        "a value longer than %s once ${VAR}s are expanded",
                        rs_config_size_str(RS_CONFIG_MAX_SCALAR, size,
                                           sizeof(size)));
                return NULL;
        }
        doc->expanded += len;
        if (doc->expanded > doc->max_bytes) {
                diag_at(d, line, col, "",
                        "the values are larger than %s once ${VAR}s are "
                        "expanded",
                        rs_config_size_str(doc->max_bytes, size, sizeof(size)));
                return NULL;
        }
        return node;
}

/* Parses text into a document made under the limits of config.h, the
 * expanded values within max_bytes. */
static rs_doc_t *doc_parse(const char *text, size_t len, size_t max_bytes,
                           rs_diag_t *d)
{
        yaml_parser_t parser;
        yaml_event_t ev;
        frame_t stack[RS_CONFIG_MAX_DEPTH];
        int depth = 0, done = 0, docs = 0, ok = 1;
        rs_doc_t *doc = calloc(1, sizeof(*doc));

        if (!doc || !(doc->text = malloc(len + 1))) {
                free(doc);
                rs_diag_error(d, NULL, "", "out of memory");
                return NULL;
        }
        memcpy(doc->text, text, len);
        doc->text[len] = '\0';
        doc->text_len = len;
        doc->max_bytes = max_bytes;

        if (!yaml_parser_initialize(&parser)) {
                rs_doc_destroy(doc);
                rs_diag_error(d, NULL, "", "cannot initialise YAML parser");
                return NULL;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)doc->text,
                                     len);
        while (!done && ok) {
                if (!yaml_parser_parse(&parser, &ev)) {
                        diag_at(d, (int)parser.problem_mark.line + 1,
                                (int)parser.problem_mark.column + 1, "",
                                "YAML syntax: %s%s%s",
                                parser.problem ? parser.problem : "error",
                                parser.context ? " " : "",
                                parser.context ? parser.context : "");
                        ok = 0;
                        break;
                }
                int line = (int)ev.start_mark.line + 1;
                int col = (int)ev.start_mark.column + 1;
                frame_t *parent = depth ? &stack[depth - 1] : NULL;
                rs_node_t *node = NULL;

                switch (ev.type) {
                case YAML_STREAM_END_EVENT: done = 1; break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++docs > 1) {
                                diag_at(d, line, col, "",
                                        "only one YAML document per pipeline "
                                        "file");
                                ok = 0;
                        }
                        break;
                case YAML_ALIAS_EVENT:
                        diag_at(d, line, col, "",
                                "YAML aliases (*%s) are not supported in "
                                "pipeline files",
                                (const char *)ev.data.alias.anchor);
                        ok = 0;
                        break;
                case YAML_SCALAR_EVENT:
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        if (ev.type != YAML_SCALAR_EVENT &&
                            depth == RS_CONFIG_MAX_DEPTH) {
                                diag_at(d, line, col, "",
                                        "lists and maps nested deeper than "
                                        "%d levels",
                                        RS_CONFIG_MAX_DEPTH);
                                ok = 0;
                                break;
                        }
                        int secret = under_secret(parent);
                        if (!(node = make_node(doc, &ev, secret, line, col,
                                               d))) {
                                ok = 0;
                                break;
                        }
                        if (!parent)
                                doc->root = node;
                        else if (frame_push_kid(parent, node))
                                ok = 0;
                        if (node->type != RS_NODE_SCALAR)
                                stack[depth++] =
                                        (frame_t){node, NULL, 0, 0, secret};
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        if (frame_close(doc, &stack[--depth], d))
                                ok = 0;
                        break;
                default: break;
                }
                yaml_event_delete(&ev);
        }
        while (depth > 0)
                free(stack[--depth].kids);
        yaml_parser_delete(&parser);
        if (!ok) {
                rs_doc_destroy(doc);
                return NULL;
        }
        return doc;
}

rs_doc_t *rs_doc_parse(const char *text, size_t len, rs_diag_t *d)
{
        return doc_parse(text, len, RS_CONFIG_MAX_BYTES, d);
}

rs_doc_t *rs_doc_load(const char *path, size_t max_bytes, rs_diag_t *d)
{
        char size[32];
        rs_buf_t b;
        rs_doc_t *doc;

        if (!max_bytes)
                max_bytes = RS_CONFIG_MAX_BYTES;
        rs_buf_init(&b);
        if (rs_buf_read_file_max(&b, path, max_bytes)) {
                if (errno == EFBIG)
                        rs_diag_error(d, NULL, "",
                                      "the file is larger than %s (limit: "
                                      "%zu bytes; RECSTREAM_MAX_CONFIG_BYTES "
                                      "sets it)",
                                      rs_config_size_str(max_bytes, size,
                                                         sizeof(size)),
                                      max_bytes);
                else
                        rs_diag_error(d, NULL, "", "cannot read: %s",
                                      strerror(errno));
                rs_buf_fini(&b);
                return NULL;
        }
        doc = doc_parse(b.p, b.len, max_bytes, d);
        rs_buf_fini(&b);
        if (doc) {
                const char *slash = strrchr(path, '/');
                doc->dir = slash ? strndup(path, (size_t)(slash - path +
                                                          (slash == path)))
                                 : NULL;
        }
        return doc;
}

const rs_node_t *rs_node_get(const rs_node_t *map, const char *key)
{
        if (!map || map->type != RS_NODE_MAP)
                return NULL;
        for (size_t i = 0; i < map->n; i++) {
                const rs_node_t *k = RS_NODE_KEY(map, i);
                if (k->type == RS_NODE_SCALAR && !strcmp(k->value, key))
                        return RS_NODE_VAL(map, i);
        }
        return NULL;
}

/*
 * Property tables.
 */

int64_t rs_duration_parse(const char *s)
{
        static const struct {
                const char *unit;
                int64_t ms;
        } units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
                     {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
        char *end;
        double v;

        /* decimal only: no leading space, sign, hex float, inf or nan */
        if (!((*s >= '0' && *s <= '9') ||
              (*s == '.' && s[1] >= '0' && s[1] <= '9')))
                return -1;
        errno = 0;
        v = strtod(s, &end);
        if (end == s || errno || !isfinite(v) || v < 0 ||
            (size_t)(end - s) > strspn(s, "0123456789.eE+-"))
                return -1;
        if (!*end)
                return v == 0 ? 0 : -1; /* a bare number is only ok as 0 */
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (!strcmp(end, units[i].unit)) {
                        double ms = v * (double)units[i].ms;
                        return ms > 9.2e18 ? -1 : (int64_t)llround(ms);
                }
        return -1;
}

const char *rs_duration_str(int64_t ms, char *buf, size_t size)
{
        static const struct {
                const char *unit;
                int64_t ms;
        } units[] = {
                {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};

        for (size_t i = 0; ms > 0 && i < sizeof(units) / sizeof(units[0]); i++)
                if (ms % units[i].ms == 0) {
                        snprintf(buf, size, "%lld%s",
                                 (long long)(ms / units[i].ms), units[i].unit);
                        return buf;
                }
        snprintf(buf, size, "%lldms", (long long)ms);
        return buf;
}

const char *rs_config_yaml_version(void)
{
        return yaml_get_version_string();
}

int rs_int_parse(const char *s, int64_t *v)
{
        char *end;
        long long x;

        /* as YAML writes an integer: an optional sign, then digits */
        if (!(*s >= '0' && *s <= '9') &&
            !((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9'))
                return -1;
        errno = 0;
        x = strtoll(s, &end, 10);
        if (end == s || *end || errno)
                return -1;
        *v = x;
        return 0;
}

int rs_edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        int d[3][64]; /* rows i-2, i-1, i (mod 3) */

        if (la >= 63 || lb >= 63)
                return 99;
        /* Optimal string alignment: insertions, deletions, substitutions
         * and swaps of two adjacent characters ("tial" → "tail") cost 1. */
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = (int)j;
        for (size_t i = 1; i <= la; i++) {
                int *row = d[i % 3], *up = d[(i - 1) % 3],
                    *up2 = d[(i + 1) % 3];
                row[0] = (int)i;
                for (size_t j = 1; j <= lb; j++) {
                        int sub = up[j - 1] + (a[i - 1] != b[j - 1]);
                        int del = up[j] + 1, ins = row[j - 1] + 1;
                        int v = sub < del ? (sub < ins ? sub : ins)
                                          : (del < ins ? del : ins);
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                            a[i - 2] == b[j - 1] && up2[j - 2] + 1 < v)
                                v = up2[j - 2] + 1;
                        row[j] = v;
                }
        }
        return d[la % 3][lb];
}

static void unknown_key(const rs_prop_t *props, const rs_node_t *key,
                        const char *path, rs_diag_t *d)
{
        const char *best = NULL;
        int best_d = 3;
        char full[256];

        /* Suggest only near misses: at most 2 edits, under half the key. */
        for (const rs_prop_t *p = props; p->name; p++) {
                int dist = rs_edit_distance(key->value, p->name);
                if (dist < best_d && 2 * dist < (int)strlen(key->value)) {
                        best_d = dist;
                        best = p->name;
                }
        }
        snprintf(full, sizeof(full), "%s%s%s", path, *path ? "." : "",
                 key->value);
        if (best)
                rs_diag_error(d, key, full, "unknown key (did you mean '%s'?)",
                              best);
        else
                rs_diag_error(d, key, full, "unknown key");
}

static int is_null(const rs_node_t *n)
{
        return n->type == RS_NODE_SCALAR && !n->quoted &&
               (!strcmp(n->value, "~") || !strcmp(n->value, "null") ||
                !*n->value);
}

static int in_range(const rs_prop_t *p, double v)
{
        return p->min > p->max || (v >= p->min && v <= p->max);
}

/* A value as messages show it: never a secret's. */
static const char *shown(const rs_node_t *n, const char *path)
{
        return rs_config_is_secret(path) ? RS_REDACTED : n->value;
}

static void range_error(const rs_prop_t *p, const rs_node_t *n,
                        const char *path, rs_diag_t *d)
{
        char lo[32], hi[32];

        if (p->type == RS_PROP_DURATION)
                rs_diag_error(d, n, path, "%s is out of range [%s, %s]",
                              shown(n, path),
                              rs_duration_str((int64_t)p->min, lo, sizeof(lo)),
                              rs_duration_str((int64_t)p->max, hi, sizeof(hi)));
        else
                rs_diag_error(d, n, path, "%s is out of range [%.15g, %.15g]",
                              shown(n, path), p->min, p->max);
}

/* Whether a list of cnt items (a map of cnt keys) is within p's bounds;
 * an error at the list's node when not. */
static int count_ok(const rs_prop_t *p, const rs_node_t *n, size_t cnt,
                    const char *path, rs_diag_t *d)
{
        const char *what = n->type == RS_NODE_MAP ? "map" : "list";
        const char *items = n->type == RS_NODE_MAP ? "keys" : "items";

        if (p->min > p->max || ((double)cnt >= p->min && (double)cnt <= p->max))
                return 1;
        if (p->min == p->max)
                rs_diag_error(d, n, path, "a %s of %zu %s; exactly %.0f %s",
                              what, cnt, items, p->min,
                              p->min == 1 ? "is expected" : "are expected");
        else if ((double)cnt > p->max)
                rs_diag_error(d, n, path, "a %s of %zu %s; at most %.0f %s",
                              what, cnt, items, p->max,
                              p->max == 1 ? "is allowed" : "are allowed");
        else
                rs_diag_error(d, n, path, "a %s of %zu %s; at least %.0f %s",
                              what, cnt, items, p->min,
                              p->min == 1 ? "is required" : "are required");
        return 0;
}

/* Converts one value node (or the default text when n is a fake scalar). */
static void apply_one(const rs_prop_t *p, const rs_node_t *n, void *dst,
                      const char *path, rs_doc_t *doc, rs_diag_t *d)
{
        char *field = (char *)dst + p->offset;
        char *end;

        if (p->type != RS_PROP_STRINGS && p->type != RS_PROP_KAFKA &&
            p->type != RS_PROP_NODE && n->type != RS_NODE_SCALAR) {
                rs_diag_error(d, n, path, "expected a single value, not a %s",
                              n->type == RS_NODE_MAP ? "map" : "list");
                return;
        }
        switch (p->type) {
        case RS_PROP_STRING:
                if (is_null(n) && (p->flags & RS_PROP_REQUIRED)) {
                        rs_diag_error(d, n, path, "must not be empty");
                        return;
                }
                *(const char **)field = n->value;
                return;
        case RS_PROP_INT: {
                int64_t v;
                if (n->quoted || rs_int_parse(n->value, &v)) {
                        rs_diag_error(d, n, path,
                                      "expected an integer, got '%s'",
                                      shown(n, path));
                        return;
                }
                if (!in_range(p, (double)v)) {
                        range_error(p, n, path, d);
                        return;
                }
                *(int64_t *)field = v;
                return;
        }
        case RS_PROP_DOUBLE: {
                errno = 0;
                double v = strtod(n->value, &end);
                if (n->quoted || end == n->value || *end || errno ||
                    !isfinite(v)) {
                        rs_diag_error(d, n, path, "expected a number, got '%s'",
                                      shown(n, path));
                        return;
                }
                if (!in_range(p, v)) {
                        range_error(p, n, path, d);
                        return;
                }
                *(double *)field = v;
                return;
        }
        case RS_PROP_BOOL: {
                static const char *const yes[] = {"true", "yes", "on"};
                static const char *const no[] = {"false", "no", "off"};
                for (int i = 0; i < 3; i++) {
                        if (!strcmp(n->value, yes[i])) {
                                *(int *)field = 1;
                                return;
                        }
                        if (!strcmp(n->value, no[i])) {
                                *(int *)field = 0;
                                return;
                        }
                }
                rs_diag_error(d, n, path, "expected true or false, got '%s'",
                              shown(n, path));
                return;
        }
        case RS_PROP_ENUM: {
                rs_buf_t b;
                for (int i = 0; p->enums[i]; i++)
                        if (!strcmp(n->value, p->enums[i])) {
                                *(int *)field = i;
                                return;
                        }
                rs_buf_init(&b);
                for (int i = 0; p->enums[i]; i++)
                        rs_buf_printf(&b, "%s%s", i ? ", " : "", p->enums[i]);
                rs_diag_error(d, n, path, "'%s' is not one of: %s",
                              shown(n, path), b.p ? b.p : "");
                rs_buf_fini(&b);
                return;
        }
        case RS_PROP_DURATION: {
                int64_t ms = rs_duration_parse(n->value);
                if (ms < 0) {
                        rs_diag_error(d, n, path,
                                      "expected a duration like 250ms, 30s, "
                                      "5m, 2h or 7d, got '%s'",
                                      shown(n, path));
                        return;
                }
                if (!in_range(p, (double)ms)) {
                        range_error(p, n, path, d);
                        return;
                }
                *(int64_t *)field = ms;
                return;
        }
        case RS_PROP_STRINGS: {
                rs_strings_t *l = (rs_strings_t *)field;
                size_t cnt = n->type == RS_NODE_SEQ ? n->n : 1;
                if (n->type == RS_NODE_MAP) {
                        rs_diag_error(d, n, path, "expected a list of %s",
                                      p->flags & RS_PROP_NUMBERS ? "numbers"
                                                                 : "strings");
                        return;
                }
                if (!count_ok(p, n, cnt, path, d))
                        return;
                l->v = rs_doc_alloc(doc, (cnt ? cnt : 1) * sizeof(*l->v));
                l->n = 0;
                for (size_t i = 0; l->v && i < cnt; i++) {
                        const rs_node_t *it =
                                n->type == RS_NODE_SEQ ? n->kids[i] : n;
                        if (it->type != RS_NODE_SCALAR || !*it->value) {
                                rs_diag_error(d, it, path,
                                              "expected a non-empty string");
                                continue;
                        }
                        /* Copied: a default's node lives in a scratch doc. */
                        l->v[l->n] =
                                doc_strndup(doc, it->value, strlen(it->value));
                        if (l->v[l->n])
                                l->n++;
                }
                return;
        }
        case RS_PROP_KAFKA: {
                rs_kv_list_t *l = (rs_kv_list_t *)field;
                if (n->type != RS_NODE_MAP) {
                        rs_diag_error(d, n, path,
                                      "expected a map of librdkafka "
                                      "properties");
                        return;
                }
                if (!count_ok(p, n, n->n, path, d))
                        return;
                l->v = rs_doc_alloc(doc, (n->n ? n->n : 1) * sizeof(*l->v));
                l->n = 0;
                for (size_t i = 0; l->v && i < n->n; i++) {
                        const rs_node_t *k = RS_NODE_KEY(n, i);
                        const rs_node_t *v = RS_NODE_VAL(n, i);
                        if (k->type != RS_NODE_SCALAR ||
                            v->type != RS_NODE_SCALAR) {
                                rs_diag_error(d, v, path,
                                              "librdkafka properties take "
                                              "single values");
                                continue;
                        }
                        l->v[l->n++] = (rs_kv_t){k->value, v->value, v};
                }
                return;
        }
        case RS_PROP_NODE:
                if (n->type != RS_NODE_SCALAR && !count_ok(p, n, n->n, path, d))
                        return;
                *(const rs_node_t **)field = n;
                return;
        }
}

int rs_props_apply(const rs_prop_t *props, const rs_node_t *map, void *dst,
                   const char *path, rs_doc_t *doc, rs_diag_t *d)
{
        int before = d->errors;
        char full[256];

        if (map && is_null(map))
                map = NULL;
        if (map && map->type != RS_NODE_MAP) {
                rs_diag_error(d, map, path, "expected a map of settings");
                return d->errors - before;
        }
        for (size_t i = 0; map && i < map->n; i++) {
                const rs_node_t *k = RS_NODE_KEY(map, i);
                const rs_prop_t *p;
                if (k->type != RS_NODE_SCALAR) {
                        rs_diag_error(d, k, path, "keys must be plain strings");
                        continue;
                }
                for (p = props; p->name && strcmp(p->name, k->value); p++)
                        ;
                if (!p->name)
                        unknown_key(props, k, path, d);
        }
        for (const rs_prop_t *p = props; p->name; p++) {
                const rs_node_t *v = rs_node_get(map, p->name);
                snprintf(full, sizeof(full), "%s%s%s", path, *path ? "." : "",
                         p->name);
                if (v && !(is_null(v) && p->type != RS_PROP_STRING)) {
                        apply_one(p, v, dst, full, doc, d);
                        continue;
                }
                if (p->flags & RS_PROP_REQUIRED) {
                        rs_diag_error(d, v ? v : map, full,
                                      "required key is missing");
                        continue;
                }
                if (p->def && p->type == RS_PROP_STRING) {
                        *(const char **)((char *)dst + p->offset) = p->def;
                } else if (p->def) {
                        /* Defaults go through the same conversion as the
                         * file's values; they are the code's own, so an
                         * error here is a bug (caught by test_config). */
                        rs_diag_t own;
                        rs_diag_init(&own, "<default>");
                        rs_doc_t *dd =
                                rs_doc_parse(p->def, strlen(p->def), &own);
                        if (dd && rs_doc_root(dd))
                                apply_one(p, rs_doc_root(dd), dst, full, doc,
                                          &own);
                        d->errors += own.errors;
                        rs_doc_destroy(dd);
                        rs_diag_fini(&own);
                }
        }
        return d->errors - before;
}

static int nodes_equal(const rs_node_t *a, const rs_node_t *b)
{
        if (!a || !b)
                return a == b;
        if (a->type != b->type || a->n != b->n || !a->value != !b->value ||
            (a->value && strcmp(a->value, b->value)))
                return 0;
        size_t kids = a->type == RS_NODE_MAP ? 2 * a->n : a->n;
        for (size_t i = 0; a->kids && i < kids; i++)
                if (!nodes_equal(a->kids[i], b->kids[i]))
                        return 0;
        return 1;
}

static int strs_equal(const char *a, const char *b)
{
        return a && b ? !strcmp(a, b) : a == b;
}

int rs_kv_list_equal(const rs_kv_list_t *a, const rs_kv_list_t *b)
{
        if (a->n != b->n)
                return 0;
        for (size_t i = 0; i < a->n; i++)
                if (!strs_equal(a->v[i].key, b->v[i].key) ||
                    !strs_equal(a->v[i].value, b->v[i].value))
                        return 0;
        return 1;
}

static int prop_equal(const rs_prop_t *p, const char *a, const char *b)
{
        a += p->offset;
        b += p->offset;
        switch (p->type) {
        case RS_PROP_STRING:
                return strs_equal(*(const char *const *)(const void *)a,
                                  *(const char *const *)(const void *)b);
        case RS_PROP_INT:
        case RS_PROP_DURATION: return !memcmp(a, b, sizeof(int64_t));
        case RS_PROP_DOUBLE: return !memcmp(a, b, sizeof(double));
        case RS_PROP_BOOL:
        case RS_PROP_ENUM: return !memcmp(a, b, sizeof(int));
        case RS_PROP_STRINGS: {
                const rs_strings_t *x = (const void *)a, *y = (const void *)b;
                if (x->n != y->n)
                        return 0;
                for (size_t i = 0; i < x->n; i++)
                        if (!strs_equal(x->v[i], y->v[i]))
                                return 0;
                return 1;
        }
        case RS_PROP_KAFKA:
                return rs_kv_list_equal((const void *)a, (const void *)b);
        case RS_PROP_NODE:
                return nodes_equal(*(const rs_node_t *const *)(const void *)a,
                                   *(const rs_node_t *const *)(const void *)b);
        }
        return 0;
}

const char *rs_props_differ(const rs_prop_t *props, const void *a,
                            const void *b)
{
        for (const rs_prop_t *p = props; p->name; p++)
                if (!(p->flags & RS_PROP_RELOAD) && !prop_equal(p, a, b))
                        return p->name;
        return NULL;
}

static const char *type_name(const rs_prop_t *p)
{
        switch (p->type) {
        case RS_PROP_STRING: return "string";
        case RS_PROP_INT: return "integer";
        case RS_PROP_DOUBLE: return "number";
        case RS_PROP_BOOL: return "boolean";
        case RS_PROP_ENUM: return "enum";
        case RS_PROP_DURATION: return "duration";
        case RS_PROP_STRINGS:
                return p->flags & RS_PROP_NUMBERS ? "list of numbers"
                                                  : "list of strings";
        case RS_PROP_KAFKA: return "map (librdkafka)";
        case RS_PROP_NODE: return "structure";
        }
        return "?";
}

static int is_list(const rs_prop_t *p)
{
        return p->type == RS_PROP_STRINGS || p->type == RS_PROP_NODE;
}

/* A structure may be a list or a map: its items or keys are entries. */
static const char *list_unit(const rs_prop_t *p)
{
        return p->type == RS_PROP_STRINGS ? "items" : "entries";
}

static void doc_range(const rs_prop_t *p, rs_buf_t *b)
{
        char lo[32], hi[32];

        if (p->type == RS_PROP_ENUM)
                for (int i = 0; p->enums[i]; i++)
                        rs_buf_printf(b, "%s`%s`", i ? ", " : "", p->enums[i]);
        else if (p->min > p->max)
                return;
        else if (p->type == RS_PROP_KAFKA)
                rs_buf_printf(b, "at most %.0f keys", p->max);
        else if (is_list(p) && p->min == p->max)
                rs_buf_printf(b, "%.0f %s", p->max, list_unit(p));
        else if (is_list(p) && p->min > 0)
                rs_buf_printf(b, "%.0f – %.0f %s", p->min, p->max,
                              list_unit(p));
        else if (is_list(p))
                rs_buf_printf(b, "at most %.0f %s", p->max, list_unit(p));
        else if (p->type == RS_PROP_DURATION)
                rs_buf_printf(b, "%s – %s",
                              rs_duration_str((int64_t)p->min, lo, sizeof(lo)),
                              rs_duration_str((int64_t)p->max, hi, sizeof(hi)));
        else
                rs_buf_printf(b, "%.15g – %.15g", p->min, p->max);
}

/* Whether scalar text `a` (a file's) means the same value of p as `b` (a
 * default): durations and numbers by value, the rest as text. */
static int same_value(const rs_prop_t *p, const char *a, const char *b)
{
        char *ea, *eb;

        if (!b)
                return 0;
        if (p->type == RS_PROP_DURATION)
                return rs_duration_parse(a) == rs_duration_parse(b);
        if (p->type == RS_PROP_INT || p->type == RS_PROP_DOUBLE) {
                double x = strtod(a, &ea), y = strtod(b, &eb);
                if (ea != a && !*ea && eb != b && !*eb)
                        return x == y;
        }
        return !strcmp(a, b);
}

/* s into a Markdown table cell: `|` escaped, line breaks as spaces. */
static void md_cell(rs_buf_t *b, const char *s)
{
        for (; *s; s++)
                if (*s == '|')
                        rs_buf_adds(b, "\\|");
                else
                        rs_buf_add(b, *s == '\n' || *s == '\r' ? " " : s, 1);
}

/* A list's items as `[a, b]`, the way defaults are written. */
static void list_text(const rs_node_t *n, rs_buf_t *b)
{
        if (n->type == RS_NODE_SCALAR) {
                rs_buf_adds(b, n->value);
                return;
        }
        rs_buf_adds(b, "[");
        for (size_t i = 0; i < n->n; i++) {
                rs_buf_adds(b, i ? ", " : "");
                rs_buf_adds(b, n->kids[i]->type == RS_NODE_SCALAR
                                       ? n->kids[i]->value
                                       : "…");
        }
        rs_buf_adds(b, "]");
}

/* What a shipped file sets for p where it differs from the default, as
 * text into b; nothing when it sets nothing or the default. A librdkafka
 * map and a structure are named, not shown (their values may come from
 * the environment, and a structure has no one default). */
static void doc_shipped(const rs_prop_t *p, const rs_node_t *v,
                        const char *name, rs_buf_t *b)
{
        /* after an empty default, no space before the note */
        const char *sp = p->def && !*p->def ? "" : " ";
        rs_buf_t t;

        if (!v)
                return;
        if (p->type == RS_PROP_KAFKA && v->type == RS_NODE_MAP && v->n) {
                rs_buf_printf(b, "%s(%s sets ", sp, name);
                for (size_t i = 0; i < v->n; i++)
                        if (RS_NODE_KEY(v, i)->type == RS_NODE_SCALAR) {
                                rs_buf_printf(b, "%s`", i ? ", " : "");
                                md_cell(b, RS_NODE_KEY(v, i)->value);
                                rs_buf_adds(b, "`");
                        }
                rs_buf_adds(b, ")");
                return;
        }
        if (p->type == RS_PROP_KAFKA || p->type == RS_PROP_NODE)
                return;
        if (p->type == RS_PROP_STRINGS) {
                rs_buf_init(&t);
                list_text(v, &t);
                if (t.p && !(p->def && !strcmp(t.p, p->def))) {
                        rs_buf_printf(b, "%s(%s: ", sp, name);
                        md_cell(b, t.p);
                        rs_buf_adds(b, ")");
                }
                rs_buf_fini(&t);
                return;
        }
        if (v->type != RS_NODE_SCALAR || same_value(p, v->value, p->def))
                return;
        rs_buf_printf(b, "%s(%s: ", sp, name);
        md_cell(b, rs_config_is_secret(p->name) ? RS_REDACTED : v->value);
        rs_buf_adds(b, ")");
}

void rs_props_doc(const rs_prop_t *props, const char *title, const char *intro,
                  const rs_node_t *shipped, const char *shipped_name,
                  rs_buf_t *b)
{
        rs_buf_printf(b, "### %s\n\n", title);
        if (intro)
                rs_buf_printf(b, "%s\n\n", intro);
        rs_buf_adds(b, "| key | type | default | range | meaning |\n"
                       "|---|---|---|---|---|\n");
        for (const rs_prop_t *p = props; p->name; p++) {
                rs_buf_printf(b, "| `%s` | %s | %s", p->name, type_name(p),
                              p->flags & RS_PROP_REQUIRED ? "required"
                              : p->def                    ? p->def
                                                          : "—");
                if (shipped && shipped->type == RS_NODE_MAP)
                        doc_shipped(p, rs_node_get(shipped, p->name),
                                    shipped_name, b);
                rs_buf_adds(b, " | ");
                doc_range(p, b);
                rs_buf_printf(b, " | %s%s |\n", p->doc,
                              p->flags & RS_PROP_RELOAD
                                      ? " Changes on a live reload (SIGHUP)."
                                      : "");
        }
        rs_buf_adds(b, "\n");
}
