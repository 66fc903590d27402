/* config.h — YAML pipeline files: a node tree that keeps file/line/column,
 * property tables that drive parsing, validation, defaults and docs, and a
 * diagnostics list that collects every error before anyone exits.
 *
 * The only module that sees libyaml. Nothing here prints: errors go into
 * an rs_diag_t and main() decides what to do with them. */
#ifndef RECSTREAM_CONFIG_H
#define RECSTREAM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "recstream/buf.h"

typedef enum rs_node_type {
        RS_NODE_SCALAR,
        RS_NODE_SEQ,
        RS_NODE_MAP,
} rs_node_type_t;

typedef struct rs_node {
        rs_node_type_t type;
        int line, col; /* 1-based */
        char *value;   /* scalar, after ${VAR} interpolation */
        int quoted;    /* scalar was quoted: never null, never a number */
        size_t n;      /* seq: items; map: pairs */
        struct rs_node **kids; /* seq: n items; map: key0, val0, key1, ... */
} rs_node_t;

/* A map's i-th key and value. */
#define RS_NODE_KEY(map, i) ((map)->kids[2 * (i)])
#define RS_NODE_VAL(map, i) ((map)->kids[2 * (i) + 1])

/* Errors as `file:line:col: error: path.to.key: message`, one a line. */
typedef struct rs_diag {
        rs_buf_t text;
        int errors;
        const char *file; /* borrowed, for the messages */
} rs_diag_t;

void rs_diag_init(rs_diag_t *d, const char *file);
void rs_diag_fini(rs_diag_t *d);
/* `at` may be NULL (no position: line 1, column 1); `path` may be "". */
void rs_diag_error(rs_diag_t *d, const rs_node_t *at, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A parsed document; owns every node, string and list made from it. */
typedef struct rs_doc rs_doc_t;

/* Reads and parses `path`. The text is also kept for the config hash.
 * NULL when the file cannot be read or is not YAML (errors in d). */
rs_doc_t *rs_doc_load(const char *path, rs_diag_t *d);
/* Parses YAML text (messages name d->file). */
rs_doc_t *rs_doc_parse(const char *text, size_t len, rs_diag_t *d);
void rs_doc_destroy(rs_doc_t *doc);
const rs_node_t *rs_doc_root(const rs_doc_t *doc);
/* The raw file text and its directory ("." when none). Owned by doc. */
const char *rs_doc_text(const rs_doc_t *doc, size_t *len);
const char *rs_doc_dir(const rs_doc_t *doc);
/* Memory that lives as long as the document (zeroed); NULL on failure. */
void *rs_doc_alloc(rs_doc_t *doc, size_t size);

/* The value under `key` in a map, or NULL. */
const rs_node_t *rs_node_get(const rs_node_t *map, const char *key);

/*
 * Property tables.
 */

typedef enum rs_prop_type {
        RS_PROP_STRING,   /* const char *        */
        RS_PROP_INT,      /* int64_t             */
        RS_PROP_DOUBLE,   /* double              */
        RS_PROP_BOOL,     /* int                 */
        RS_PROP_ENUM,     /* int: index in enums */
        RS_PROP_DURATION, /* int64_t ms: 250ms, 30s, 5m, 2h, 7d */
        RS_PROP_STRINGS,  /* rs_strings_t: a list, or one scalar */
        RS_PROP_KAFKA,    /* rs_kv_list_t: librdkafka properties */
        RS_PROP_NODE,     /* const rs_node_t *: checked by the owner */
} rs_prop_type_t;

typedef struct rs_strings {
        const char **v;
        size_t n;
} rs_strings_t;

typedef struct rs_kv {
        const char *key, *value;
        const rs_node_t *at; /* the value node, for error positions */
} rs_kv_t;

typedef struct rs_kv_list {
        rs_kv_t *v;
        size_t n;
} rs_kv_list_t;

#define RS_PROP_REQUIRED 1u

typedef struct rs_prop {
        const char *name;
        rs_prop_type_t type;
        size_t offset;   /* into the destination struct */
        const char *def; /* default as YAML text; NULL: none */
        double min, max; /* INT, DOUBLE, DURATION(ms); min > max: unbounded */
        const char *const *enums; /* ENUM symbols, NULL-terminated */
        unsigned flags;
        const char *doc;
} rs_prop_t;

/* Fills `dst` from `map` by `props` (terminated by a NULL name): every key
 * must be known and well-typed, required keys present, defaults applied.
 * Errors go to d under `path` (e.g. "source"); returns the error count.
 * `map` may be NULL (all defaults). Strings and lists live in doc. */
int rs_props_apply(const rs_prop_t *props, const rs_node_t *map, void *dst,
                   const char *path, rs_doc_t *doc, rs_diag_t *d);

/* Appends a Markdown table of props to b, for `recstream doc`. */
void rs_props_doc(const rs_prop_t *props, const char *title, rs_buf_t *b);

/* Parses "30s" style durations into ms; -1 when malformed. */
int64_t rs_duration_parse(const char *s);

#endif
