/* avro_strict.c — the strict walk of avro_strict.h.
 *
 * A schema is compiled into an array of nodes; a record's fields, a
 * union's branches and an array's or map's item are node indices in
 * `kids`. Named types are compiled once, so a recursive schema is a cycle
 * of indices and its walk is bounded by MAX_DEPTH. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "avro_strict.h"
#include "recstream/utf8.h"

#define MAX_DEPTH 64
/* Items of an array or map whose encoding can take no bytes (null, an
 * empty record): at most this many per array, else a few bytes could make
 * avro-c allocate billions of them. */
#define MAX_EMPTY_ITEMS 65536

enum {
        N_NULL,
        N_BOOLEAN,
        N_INT,
        N_LONG,
        N_FLOAT,
        N_DOUBLE,
        N_BYTES,
        N_STRING,
        N_RECORD,
        N_ENUM,
        N_FIXED,
        N_ARRAY,
        N_MAP,
        N_UNION,
};

typedef struct node {
        uint8_t type;
        uint8_t empty;    /* array/map: the item can encode to no bytes */
        uint32_t n;       /* record fields, union branches, enum symbols,
                           * fixed size; array/map: 1 */
        uint32_t kid;     /* first of n entries of kids */
        const char *name; /* of the field holding it, for messages */
} node_t;

struct rs_avro_prog {
        node_t *nodes;
        uint32_t nnodes, cap;
        uint32_t *kids;
        uint32_t nkids, kids_cap;
        /* named schemas compiled so far, for links and reuse */
        avro_schema_t *named;
        uint32_t *named_at;
        uint32_t nnamed, named_cap;
};

static int grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
        if (need <= *cap)
                return 0;
        uint32_t c = *cap ? *cap : 16;
        while (c < need)
                c *= 2;
        void *q = realloc(*p, (size_t)c * size);
        if (!q)
                return -1;
        *p = q;
        *cap = c;
        return 0;
}

static int64_t node_new(rs_avro_prog_t *p, uint8_t type)
{
        if (grow((void **)&p->nodes, &p->cap, p->nnodes + 1, sizeof(node_t)))
                return -1;
        p->nodes[p->nnodes] = (node_t){.type = type};
        return p->nnodes++;
}

static int64_t kids_new(rs_avro_prog_t *p, uint32_t n)
{
        if (grow((void **)&p->kids, &p->kids_cap, p->nkids + n,
                 sizeof(uint32_t)))
                return -1;
        uint32_t at = p->nkids;
        p->nkids += n;
        return at;
}

static int64_t compile(rs_avro_prog_t *p, avro_schema_t s);

static int64_t named_find(const rs_avro_prog_t *p, avro_schema_t s)
{
        for (uint32_t i = 0; i < p->nnamed; i++)
                if (p->named[i] == s)
                        return p->named_at[i];
        return -1;
}

static int named_add(rs_avro_prog_t *p, avro_schema_t s, uint32_t at)
{
        uint32_t cap = p->named_cap;
        if (grow((void **)&p->named, &cap, p->nnamed + 1, sizeof(*p->named)) ||
            grow((void **)&p->named_at, &p->named_cap, p->nnamed + 1,
                 sizeof(*p->named_at)))
                return -1;
        p->named[p->nnamed] = s;
        p->named_at[p->nnamed++] = at;
        return 0;
}

/* Compiles the n children of node `at` (got(i) is the i-th schema). */
static int compile_kids(rs_avro_prog_t *p, uint32_t at, uint32_t n,
                        avro_schema_t (*got)(avro_schema_t, uint32_t),
                        avro_schema_t s, int fields)
{
        int64_t k = kids_new(p, n);

        if (k < 0)
                return -1;
        p->nodes[at].n = n;
        p->nodes[at].kid = (uint32_t)k;
        for (uint32_t i = 0; i < n; i++) {
                int64_t c = compile(p, got(s, i));
                if (c < 0)
                        return -1;
                p->kids[k + i] = (uint32_t)c;
                if (fields && !p->nodes[c].name)
                        p->nodes[c].name =
                                avro_schema_record_field_name(s, (int)i);
        }
        return 0;
}

static avro_schema_t field_at(avro_schema_t s, uint32_t i)
{
        return avro_schema_record_field_get_by_index(s, (int)i);
}

static avro_schema_t branch_at(avro_schema_t s, uint32_t i)
{
        return avro_schema_union_branch(s, (int)i);
}

static avro_schema_t items_of(avro_schema_t s, uint32_t i)
{
        (void)i;
        return avro_typeof(s) == AVRO_ARRAY ? avro_schema_array_items(s)
                                            : avro_schema_map_values(s);
}

/* Whether a datum of node i can take no bytes (cycles count as not). */
static int can_be_empty(const rs_avro_prog_t *p, uint32_t i, int depth)
{
        const node_t *nd = &p->nodes[i];

        if (depth > MAX_DEPTH)
                return 0;
        switch (nd->type) {
        case N_NULL: return 1;
        case N_FIXED: return nd->n == 0;
        case N_RECORD:
                for (uint32_t k = 0; k < nd->n; k++)
                        if (!can_be_empty(p, p->kids[nd->kid + k], depth + 1))
                                return 0;
                return 1;
        default: return 0;
        }
}

static int64_t compile(rs_avro_prog_t *p, avro_schema_t s)
{
        int64_t at;

        while (avro_typeof(s) == AVRO_LINK)
                s = avro_schema_link_target(s);
        if ((at = named_find(p, s)) >= 0)
                return at;
        switch (avro_typeof(s)) {
        case AVRO_NULL: return node_new(p, N_NULL);
        case AVRO_BOOLEAN: return node_new(p, N_BOOLEAN);
        case AVRO_INT32: return node_new(p, N_INT);
        case AVRO_INT64: return node_new(p, N_LONG);
        case AVRO_FLOAT: return node_new(p, N_FLOAT);
        case AVRO_DOUBLE: return node_new(p, N_DOUBLE);
        case AVRO_BYTES: return node_new(p, N_BYTES);
        case AVRO_STRING: return node_new(p, N_STRING);
        case AVRO_ENUM:
                if ((at = node_new(p, N_ENUM)) < 0 ||
                    named_add(p, s, (uint32_t)at))
                        return -1;
                p->nodes[at].n =
                        (uint32_t)avro_schema_enum_number_of_symbols(s);
                return at;
        case AVRO_FIXED:
                if ((at = node_new(p, N_FIXED)) < 0 ||
                    named_add(p, s, (uint32_t)at))
                        return -1;
                p->nodes[at].n = (uint32_t)avro_schema_fixed_size(s);
                return at;
        case AVRO_RECORD:
                if ((at = node_new(p, N_RECORD)) < 0 ||
                    named_add(p, s, (uint32_t)at) ||
                    compile_kids(p, (uint32_t)at,
                                 (uint32_t)avro_schema_record_size(s), field_at,
                                 s, 1))
                        return -1;
                return at;
        case AVRO_UNION:
                if ((at = node_new(p, N_UNION)) < 0 ||
                    compile_kids(p, (uint32_t)at,
                                 (uint32_t)avro_schema_union_size(s), branch_at,
                                 s, 0))
                        return -1;
                return at;
        case AVRO_ARRAY:
        case AVRO_MAP:
                if ((at = node_new(p, avro_typeof(s) == AVRO_ARRAY ? N_ARRAY
                                                                   : N_MAP)) <
                            0 ||
                    compile_kids(p, (uint32_t)at, 1, items_of, s, 0))
                        return -1;
                return at;
        default: return -1;
        }
}

void rs_avro_prog_destroy(rs_avro_prog_t *p)
{
        if (!p)
                return;
        free(p->nodes);
        free(p->kids);
        free(p->named);
        free(p->named_at);
        free(p);
}

rs_avro_prog_t *rs_avro_prog_new(avro_schema_t s)
{
        rs_avro_prog_t *p = calloc(1, sizeof(*p));

        if (!p || compile(p, s) != 0) { /* the root is node 0 */
                rs_avro_prog_destroy(p);
                return NULL;
        }
        for (uint32_t i = 0; i < p->nnodes; i++)
                if (p->nodes[i].type == N_ARRAY || p->nodes[i].type == N_MAP)
                        p->nodes[i].empty = (uint8_t)can_be_empty(
                                p, p->kids[p->nodes[i].kid], 0);
        /* the named table is only needed while compiling */
        free(p->named);
        free(p->named_at);
        p->named = NULL;
        p->named_at = NULL;
        p->nnamed = p->named_cap = 0;
        return p;
}

/*
 * The walk.
 */

typedef struct cur {
        const rs_avro_prog_t *p;
        const unsigned char *at, *end;
        const char *field; /* innermost named field, for messages */
        const char *reason;
        char *detail;
        size_t detail_size;
} cur_t;

static int bad(cur_t *c, const char *reason, const char *what, long long v)
{
        c->reason = reason;
        if (c->detail_size)
                snprintf(c->detail, c->detail_size, "%s%s%s%s %lld",
                         c->field ? "field '" : "", c->field ? c->field : "",
                         c->field ? "': " : "", what, v);
        return -1;
}

/* A varint of at most max bytes whose last byte is at most last_max. */
static int varint(cur_t *c, uint64_t *out, int max, unsigned last_max)
{
        uint64_t v = 0;

        for (int i = 0; i < max; i++) {
                if (c->at == c->end)
                        return bad(c, "truncated",
                                   "the record ends inside a varint, byte", i);
                unsigned b = *c->at++;
                if (i == max - 1 && b > last_max)
                        return bad(c, "bad_varint", "overlong varint, byte",
                                   i + 1);
                v |= (uint64_t)(b & 0x7F) << (7 * i);
                if (!(b & 0x80)) {
                        *out = v;
                        return 0;
                }
        }
        return bad(c, "bad_varint", "varint longer than bytes", max);
}

static int read_long(cur_t *c, int64_t *out)
{
        uint64_t v;

        if (varint(c, &v, 10, 0x01))
                return -1;
        *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
        return 0;
}

/* A length or count: 0 <= v <= what is left of the record. */
static int read_length(cur_t *c, int64_t *out, const char *what)
{
        if (read_long(c, out))
                return -1;
        if (*out < 0 || *out > c->end - c->at)
                return bad(c, "bad_length", what, *out);
        return 0;
}

static int skip(cur_t *c, size_t n)
{
        if ((size_t)(c->end - c->at) < n)
                return bad(c, "truncated",
                           "needs bytes past the end:", (long long)n);
        c->at += n;
        return 0;
}

static int walk(cur_t *c, uint32_t i, int depth);

/* The blocks of an array or map: count (negative: followed by the
 * block's byte size), items, until a count of 0. */
static int walk_blocks(cur_t *c, const node_t *nd, int depth)
{
        uint32_t item = c->p->kids[nd->kid];
        int64_t total = 0, count;

        for (;;) {
                if (read_long(c, &count))
                        return -1;
                if (count == 0)
                        return 0;
                if (count < 0) {
                        int64_t size;
                        if (count == INT64_MIN)
                                return bad(c, "bad_length", "block count",
                                           count);
                        count = -count;
                        if (read_length(c, &size, "block size"))
                                return -1;
                }
                /* compared before adding: counts read may be up to
                 * INT64_MAX, and total must not overflow */
                if (nd->empty ? count > MAX_EMPTY_ITEMS - total
                              : count > c->end - c->at)
                        return bad(c, "bad_length", "block count", count);
                total += count;
                for (int64_t k = 0; k < count; k++) {
                        if (nd->type == N_MAP) {
                                int64_t len;
                                if (read_length(c, &len, "map key length"))
                                        return -1;
                                if (!rs_utf8_valid(c->at, (size_t)len))
                                        return bad(c, "invalid_utf8",
                                                   "map key of bytes", len);
                                c->at += len;
                        }
                        if (walk(c, item, depth + 1))
                                return -1;
                }
        }
}

static int walk(cur_t *c, uint32_t i, int depth)
{
        const node_t *nd = &c->p->nodes[i];
        const char *outer = c->field;
        int64_t v;
        int rc = 0;

        if (depth > MAX_DEPTH)
                return bad(c, "too_deep", "nested deeper than", MAX_DEPTH);
        if (nd->name)
                c->field = nd->name;
        switch (nd->type) {
        case N_NULL: break;
        case N_BOOLEAN:
                if (c->at == c->end)
                        rc = bad(c, "truncated", "boolean at byte",
                                 c->end - c->at);
                else if (*c->at > 1)
                        rc = bad(c, "bad_boolean", "boolean byte", *c->at);
                else
                        c->at++;
                break;
        case N_INT: {
                uint64_t u;
                /* a zigzag int is 32 bits: 5 bytes, the last one 4 bits */
                rc = varint(c, &u, 5, 0x0F);
                break;
        }
        case N_LONG: rc = read_long(c, &v); break;
        case N_FLOAT: rc = skip(c, 4); break;
        case N_DOUBLE: rc = skip(c, 8); break;
        case N_BYTES:
                if (!(rc = read_length(c, &v, "bytes length")))
                        c->at += v;
                break;
        case N_STRING:
                if ((rc = read_length(c, &v, "string length")))
                        break;
                if (!rs_utf8_valid(c->at, (size_t)v))
                        rc = bad(c, "invalid_utf8", "string of bytes", v);
                else
                        c->at += v;
                break;
        case N_FIXED: rc = skip(c, nd->n); break;
        case N_ENUM:
                if (!(rc = read_long(c, &v)) && (v < 0 || v >= nd->n))
                        rc = bad(c, "bad_enum", "enum index", v);
                break;
        case N_UNION:
                if (!(rc = read_long(c, &v)) && (v < 0 || v >= nd->n))
                        rc = bad(c, "bad_union", "union branch", v);
                else if (!rc)
                        rc = walk(c, c->p->kids[nd->kid + v], depth + 1);
                break;
        case N_RECORD:
                for (uint32_t k = 0; k < nd->n && !rc; k++)
                        rc = walk(c, c->p->kids[nd->kid + k], depth + 1);
                break;
        case N_ARRAY:
        case N_MAP: rc = walk_blocks(c, nd, depth); break;
        }
        if (!rc)
                c->field = outer;
        return rc;
}

int rs_avro_check(const rs_avro_prog_t *p, const void *buf, size_t len,
                  const char **reason, char *detail, size_t detail_size)
{
        cur_t c = {p,          buf,  (const unsigned char *)buf + len,
                   NULL,       NULL, detail,
                   detail_size};

        if (!walk(&c, 0, 0) && c.at != c.end)
                bad(&c, "trailing_bytes",
                    "bytes after the record:", c.end - c.at);
        *reason = c.reason;
        return c.reason ? -1 : 0;
}
