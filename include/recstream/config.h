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

/*
 * Limits: what a pipeline file may make, whatever it holds. A file is read
 * up to its size limit and no further (a FIFO, /dev/zero); each limit is
 * an error at the offending node, never a hang or a large allocation.
 */
#define RS_CONFIG_MAX_BYTES  (1024 * 1024) /* default file size limit */
#define RS_CONFIG_MAX_DEPTH  64            /* nested lists and maps */
#define RS_CONFIG_MAX_NODES  20000         /* scalars, lists and maps */
#define RS_CONFIG_MAX_SCALAR 65536         /* bytes of one value, expanded */

/* "1 MiB", "64 KiB" or "1000 bytes" into buf; returns buf. */
const char *rs_config_size_str(size_t bytes, char *buf, size_t size);

/*
 * Secrets: a key whose name holds `password`, `secret`, `sasl.jaas` or
 * `key` (any case) has a secret value. No message, log line or output
 * shows such a value; it is written as RS_REDACTED.
 */
#define RS_REDACTED "[redacted]"

/* Whether the value of `key` (a name or a dotted path) is secret. */
int rs_config_is_secret(const char *key);
/* Replaces every occurrence of `secret` (when not empty) in the
 * NUL-terminated s, of `size` bytes, with RS_REDACTED (cut to fit). */
void rs_config_redact(char *s, size_t size, const char *secret);

/* A parsed document; owns every node, string and list made from it. */
typedef struct rs_doc rs_doc_t;

/* Reads and parses `path`, reading at most max_bytes + 1 bytes (0: the
 * RS_CONFIG_MAX_BYTES default); a larger file is one error at 1:1. The
 * text is also kept for the config hash. NULL when the file cannot be
 * read, is too large or is not YAML (errors in d). */
rs_doc_t *rs_doc_load(const char *path, size_t max_bytes, rs_diag_t *d);
/* Parses YAML text (messages name d->file), under the default limits. */
rs_doc_t *rs_doc_parse(const char *text, size_t len, rs_diag_t *d);
void rs_doc_destroy(rs_doc_t *doc);
const rs_node_t *rs_doc_root(const rs_doc_t *doc);
/* The size limit the document was read under: for files it names. */
size_t rs_doc_max_bytes(const rs_doc_t *doc);
/* Appends the text with each secret value's source replaced by
 * RS_REDACTED: what may be hashed into the published config hash. 0, or
 * -1 when memory ran out. */
int rs_doc_public_text(const rs_doc_t *doc, rs_buf_t *b);
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
/* STRINGS whose items the owner reads as numbers: documented and
 * reported as a list of numbers. */
#define RS_PROP_NUMBERS 2u

/* The longest duration a property takes: 3650d. */
#define RS_DURATION_MAX_MS (3650.0 * 86400000.0)
/* May change on a live reload (SIGHUP): read where it is used, never
 * cached in a stage's state. */
#define RS_PROP_RELOAD 4u

typedef struct rs_prop {
        const char *name;
        rs_prop_type_t type;
        size_t offset;   /* into the destination struct */
        const char *def; /* default as YAML text; NULL: none */
        /* INT, DOUBLE, DURATION(ms): the value's range. STRINGS, KAFKA and
         * NODE: how many items a list (or keys a map) may hold; every
         * STRINGS and KAFKA property has one. min > max: unbounded. */
        double min, max;
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

/* Whether two kafka maps hold the same keys and values in the same
 * order. */
int rs_kv_list_equal(const rs_kv_list_t *a, const rs_kv_list_t *b);

/* The first property of props (not RS_PROP_RELOAD) whose values in a and
 * b differ, or NULL when they agree on all of them. */
const char *rs_props_differ(const rs_prop_t *props, const void *a,
                            const void *b);

/* Appends to b, for `recstream doc`, a Markdown section: `title` as its
 * heading, then `intro` (NULL: none), then a table of props. `shipped`
 * (may be NULL) is the same section's map in a shipped pipeline file
 * named `shipped_name` (e.g. "video.yaml"): where it sets a value other
 * than the default, the default cell says so. Borrows everything. */
void rs_props_doc(const rs_prop_t *props, const char *title, const char *intro,
                  const rs_node_t *shipped, const char *shipped_name,
                  rs_buf_t *b);

/* libyaml's version at run time (yaml_get_version_string); static. */
const char *rs_config_yaml_version(void);

/* Parses "30s" style durations into ms; -1 when malformed. */
int64_t rs_duration_parse(const char *s);
/* ms as the largest unit that divides it ("250ms", "30s", "10m", "1h",
 * "3650d"; "0ms") into buf; returns buf. */
const char *rs_duration_str(int64_t ms, char *buf, size_t size);
/* A whole decimal integer as an INT property takes it: 0, or -1 when s
 * is malformed or out of int64_t's range. */
int rs_int_parse(const char *s, int64_t *v);
/* Levenshtein distance of two names (99 for names over 62 bytes): for
 * "did you mean" suggestions. */
int rs_edit_distance(const char *a, const char *b);

#endif
