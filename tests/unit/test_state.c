/* State that survives (issue 11), the users side: what a user's state
 * record carries comes back exactly in another process (a fresh string
 * table and chain), events a restored state holds are marked replayed,
 * and a damaged record is refused before avro-c reads it. The expected
 * windows are the events fed, written out by hand; the CRC is computed
 * here by a table of its own. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recstream/chain.h"
#include "recstream/clean.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/pipeline.h"
#include "recstream/topology.h"
#include "recstream/user_window.h"

#define STAGES                                                                 \
        "  - type: clean\n    max_user_rate: 60\n    burst: 10\n"              \
        "  - type: weight\n    weights: {watch: 1, like: 3}\n"                 \
        "  - type: user_window\n    max_events: 3\n    interest_dim: 4\n"      \
        "  - type: pairs\n"                                                    \
        "  - type: cooccur\n    transition_weight: 1\n"                        \
        "  - type: score\n    k: 5\n"

typedef struct proc {
        rs_pipeline_t *pl;
        rs_intern_t *in;
        rs_catalog_t *cat;
        rs_local_t *local;
        rs_chain_t *ch;
        rs_codec_t *codec;
} proc_t;

static rs_pipeline_t *load_stages(const char *stages)
{
        char path[256];
        const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        rs_diag_t d;
        rs_pipeline_t *pl;
        int fd;

        snprintf(path, sizeof(path), "%s/rs_state_XXXXXX", dir);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fprintf(f,
                "name: t\nsource: {}\nsink: {}\ntopology: {partitions: 1}\n"
                "stages:\n%s",
                stages);
        fclose(f);
        rs_diag_init(&d, path);
        pl = rs_pipeline_load(path, 0, &d);
        if (!pl)
                fprintf(stderr, "%s", d.text.p);
        rs_diag_fini(&d);
        unlink(path);
        assert_non_null(pl);
        return pl;
}

static void proc_init_stages(proc_t *p, const char *stages)
{
        char err[256];

        p->pl = load_stages(stages);
        p->in = rs_intern_new();
        p->cat = rs_catalog_new(0, 1000, p->in);
        p->local = rs_local_new(p->pl, p->in, p->cat, err, sizeof(err));
        assert_non_null(p->local);
        p->ch = rs_local_chain(p->local);
        p->codec = rs_codec_new(RS_FRAMING_PLAIN, p->in, err, sizeof(err));
        assert_non_null(p->codec);
}

static void proc_init(proc_t *p)
{
        proc_init_stages(p, STAGES);
}

static void proc_fini(proc_t *p)
{
        rs_codec_destroy(p->codec);
        rs_local_destroy(p->local);
        rs_catalog_destroy(p->cat);
        rs_intern_destroy(p->in);
        rs_pipeline_destroy(p->pl);
}

static uint32_t sid(proc_t *p, const char *s)
{
        return rs_intern_id(p->in, s, strlen(s));
}

/* One event at partition 2, offset off. */
static void feed(proc_t *p, const char *user, const char *item, int type,
                 int64_t ts, int64_t off)
{
        char eid[32];
        snprintf(eid, sizeof(eid), "e%lld", (long long)off);
        rs_event_fields_t f = {.event_id = eid,
                               .user_id = user,
                               .item_id = item,
                               .type = type,
                               .ts = ts,
                               .duration_ms = RS_NONE_I64,
                               .category = "c1",
                               .value = NAN};
        rs_event_t ev;
        const char *why;

        assert_int_equal(
                rs_event_from_fields(&f, p->in, RS_ID_MAX_DEFAULT, &ev, &why),
                RS_OK);
        ev.partition = 2;
        ev.offset = off;
        ev.ingest_ts = RS_NONE_I64;
        assert_int_equal(rs_local_process(p->local, &ev, 1, NULL), RS_OK);
        rs_intern_collect(p->in);
}

/* u's state record as bytes (copied into buf). */
static size_t save(proc_t *p, const char *user, unsigned char *buf, size_t size)
{
        rs_user_state_t s;
        const void *out;
        size_t len;

        assert_int_equal(rs_chain_save_user(p->ch, sid(p, user), &s), 1);
        assert_int_equal(rs_codec_encode_user_state(p->codec, &s, &out, &len),
                         RS_OK);
        assert_true(len <= size);
        memcpy(buf, out, len);
        return len;
}

static rs_err_t restore(proc_t *p, const char *user, const unsigned char *buf,
                        size_t len)
{
        rs_user_state_t s;
        rs_err_t err = rs_codec_decode_user_state(p->codec, buf, len, &s);

        if (err)
                return err;
        s.user = sid(p, user);
        return rs_chain_load_user(p->ch, &s);
}

static void feed_history(proc_t *a)
{
        /* u: a, b, c, d (max_events 3 keeps b, c, d), then a again */
        feed(a, "u", "a", RS_EV_WATCH, 1000, 10);
        feed(a, "u", "b", RS_EV_LIKE, 2000, 11);
        feed(a, "u", "c", RS_EV_WATCH, 3000, 12);
        feed(a, "u", "d", RS_EV_LIKE, 4000, 13);
        feed(a, "v", "a", RS_EV_WATCH, 1500, 14);
        feed(a, "v", "b", RS_EV_WATCH, 2500, 15);
}

static void test_round_trip(void **state)
{
        proc_t a, b;
        unsigned char r1[4096], r2[4096];
        rs_win_entry_t e[8];
        float va[4], vb[4];

        (void)state;
        proc_init(&a);
        feed_history(&a);
        size_t n1 = save(&a, "u", r1, sizeof(r1));

        /* another process: ids are others (x first takes id 0) */
        proc_init(&b);
        sid(&b, "x");
        assert_int_equal(restore(&b, "u", r1, n1), RS_OK);
        rs_uwin_t *win = rs_chain_find(b.ch, "user_window");
        uint32_t u = sid(&b, "u");
        assert_int_equal(rs_uwin_get(win, u, 4000, e, 8), 3);
        assert_int_equal(e[0].item, sid(&b, "b"));
        assert_int_equal(e[0].ts, 2000);
        assert_true(e[0].w == 3.0f);
        assert_int_equal(e[1].item, sid(&b, "c"));
        assert_int_equal(e[2].item, sid(&b, "d"));
        assert_int_equal(e[2].ts, 4000);
        /* seen: all four, a too though it left the window */
        assert_true(rs_uwin_seen(win, u, sid(&b, "a")));
        assert_true(rs_uwin_seen(win, u, sid(&b, "d")));
        assert_false(rs_uwin_seen(win, u, sid(&b, "x")));
        assert_int_equal(rs_uwin_touched(win, u), 4);
        assert_int_equal(rs_uwin_last_ts(win, u), 4000);
        assert_int_equal(rs_uwin_partition(win, u), 2);
        assert_int_equal(rs_uwin_interest(rs_chain_find(a.ch, "user_window"),
                                          sid(&a, "u"), 5000, va),
                         4);
        assert_int_equal(rs_uwin_interest(win, u, 5000, vb), 4);
        for (int i = 0; i < 4; i++)
                assert_true(fabsf(va[i] - vb[i]) <= 1e-6f * fabsf(va[i]));
        /* everything saved came back: the same bytes again */
        size_t n2 = save(&b, "u", r2, sizeof(r2));
        assert_int_equal(n1, n2);
        assert_memory_equal(r1, r2, n1);
        proc_fini(&b);
        proc_fini(&a);
}

static void test_replayed(void **state)
{
        proc_t a, b;
        unsigned char r[4096];
        rs_event_t ev[3];
        const char *why;

        (void)state;
        proc_init(&a);
        feed_history(&a);
        size_t n = save(&a, "u", r, sizeof(r));
        proc_init(&b);
        assert_int_equal(restore(&b, "u", r, n), RS_OK);
        /* u's events at offsets 13 (held), 14 (new) on partition 2, and
         * 13 on partition 1 (another partition's offset: new) */
        int64_t offs[3] = {13, 14, 13};
        int32_t parts[3] = {2, 2, 1};
        for (int i = 0; i < 3; i++) {
                rs_event_fields_t f = {.event_id = "z",
                                       .user_id = "u",
                                       .item_id = "q",
                                       .type = RS_EV_WATCH,
                                       .ts = 5000,
                                       .duration_ms = RS_NONE_I64,
                                       .value = NAN};
                assert_int_equal(rs_event_from_fields(&f, b.in,
                                                      RS_ID_MAX_DEFAULT, &ev[i],
                                                      &why),
                                 RS_OK);
                ev[i].partition = parts[i];
                ev[i].offset = offs[i];
        }
        assert_int_equal(rs_chain_mark_replayed(b.ch, ev, 3), 1);
        assert_int_equal(ev[0].drop, RS_DROP_REPLAYED);
        assert_int_equal(ev[1].drop, 0);
        assert_int_equal(ev[2].drop, 0);
        proc_fini(&b);
        proc_fini(&a);
}

/* One event (id eid) of u at ts, partition 2, offset off, through b's
 * chain; returns its drop reason. */
static int process_one(proc_t *b, const char *eid, int64_t ts, int64_t off)
{
        rs_event_fields_t f = {.event_id = eid,
                               .user_id = "u",
                               .item_id = "q",
                               .type = RS_EV_WATCH,
                               .ts = ts,
                               .duration_ms = RS_NONE_I64,
                               .value = NAN};
        rs_event_t ev;
        const char *why;

        assert_int_equal(
                rs_event_from_fields(&f, b->in, RS_ID_MAX_DEFAULT, &ev, &why),
                RS_OK);
        ev.partition = 2;
        ev.offset = off;
        ev.ingest_ts = RS_NONE_I64;
        rs_chain_mark_replayed(b->ch, &ev, 1);
        assert_int_equal(rs_local_process(b->local, &ev, 1, NULL), RS_OK);
        return ev.drop;
}

/* A producer's duplicate that straddles a restart: u's events e10..e13
 * are saved, restored elsewhere, and the same ids arrive again at new
 * offsets — dropped as duplicates (the dedupe set is restored state);
 * new ids are not. Without the event ids in the record the restored
 * process takes them as new. */
static void test_dedupe_restored(void **state)
{
        proc_t a, b;
        unsigned char r[4096];
        rs_user_state_t s;

        (void)state;
        proc_init(&a);
        feed_history(&a); /* u: e10..e13, v: e14, e15 */
        size_t n = save(&a, "u", r, sizeof(r));
        assert_int_equal(rs_codec_decode_user_state(a.codec, r, n, &s), RS_OK);
        assert_int_equal(s.nevent_ids, 4);
        proc_init(&b);
        assert_int_equal(restore(&b, "u", r, n), RS_OK);
        assert_int_equal(process_one(&b, "e13", 5000, 20), RS_DROP_DUPLICATE);
        assert_int_equal(process_one(&b, "e10", 5000, 21), RS_DROP_DUPLICATE);
        assert_int_equal(process_one(&b, "e14", 5000, 22),
                         0); /* v's, not u's */
        assert_int_equal(process_one(&b, "e99", 5000, 23), 0);
        assert_int_equal(process_one(&b, "e99", 5000, 24), RS_DROP_DUPLICATE);
        /* at most the newest RS_USER_EIDS are kept: 12 more events, e88
         * to e98 then e87, 2 s apart (under max_user_rate), leave e92..e98
         * and e87 of u's ids in its record; restored once more, those are
         * duplicates and the older e91 is not */
        for (int k = 0; k < 12; k++) {
                char eid[16];
                snprintf(eid, sizeof(eid), "e%d", k < 11 ? 88 + k : 87);
                assert_int_equal(process_one(&b, eid, 10000 + 2000 * k, 30 + k),
                                 0);
        }
        size_t m = save(&b, "u", r, sizeof(r));
        assert_int_equal(rs_codec_decode_user_state(b.codec, r, m, &s), RS_OK);
        assert_int_equal(s.nevent_ids, RS_USER_EIDS);
        proc_t c;
        proc_init(&c);
        assert_int_equal(restore(&c, "u", r, m), RS_OK);
        assert_int_equal(process_one(&c, "e87", 40000, 50), RS_DROP_DUPLICATE);
        assert_int_equal(process_one(&c, "e92", 42000, 51), RS_DROP_DUPLICATE);
        assert_int_equal(process_one(&c, "e98", 44000, 52), RS_DROP_DUPLICATE);
        assert_int_equal(process_one(&c, "e91", 46000, 53), 0);
        assert_int_equal(process_one(&c, "e13", 48000, 54), 0);
        proc_fini(&c);
        proc_fini(&b);
        proc_fini(&a);
}

/* Restored users' event ids count against dedupe_max like any others:
 * 300 users of 8 ids each (2,400) restored with dedupe_max 1024 leave
 * between 512 (a generation) and 1024 remembered (they were all added
 * to one set, unbounded, before). */
static void test_dedupe_restored_bounded(void **state)
{
        proc_t a, b;
        unsigned char r[4096];
        rs_user_state_t s;
        rs_clean_state_t cs;
        uint64_t ids[RS_USER_EIDS];

        (void)state;
        proc_init(&a);
        feed_history(&a);
        size_t n = save(&a, "u", r, sizeof(r));
        proc_init_stages(&b, "  - type: clean\n    dedupe_max: 1024\n"
                             "  - type: weight\n    weights: {watch: 1}\n"
                             "  - type: user_window\n");
        for (int k = 0; k < 300; k++) {
                char user[16];
                snprintf(user, sizeof(user), "r%d", k);
                assert_int_equal(rs_codec_decode_user_state(a.codec, r, n, &s),
                                 RS_OK);
                for (size_t i = 0; i < RS_USER_EIDS; i++)
                        ids[i] = 1000003ULL * (uint64_t)k + i + 1;
                s.event_ids = ids;
                s.nevent_ids = RS_USER_EIDS;
                s.user = sid(&b, user);
                assert_int_equal(rs_chain_load_user(b.ch, &s), RS_OK);
        }
        rs_clean_state(rs_chain_find(b.ch, "clean"), &cs);
        assert_true(cs.dedupe_ids <= 1024);
        assert_true(cs.dedupe_ids >= 512);
        proc_fini(&b);
        proc_fini(&a);
}

/* CRC-32 (IEEE), by table: independent of the codec's bit loop. */
static uint32_t crc32_table(const unsigned char *p, size_t n)
{
        static uint32_t t[256];
        uint32_t c = 0xFFFFFFFFu;

        if (!t[1])
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t k = i;
                        for (int j = 0; j < 8; j++)
                                k = k & 1 ? 0xEDB88320u ^ (k >> 1) : k >> 1;
                        t[i] = k;
                }
        for (size_t i = 0; i < n; i++)
                c = t[(c ^ p[i]) & 0xFF] ^ (c >> 8);
        return ~c;
}

static void put_crc(unsigned char *r, size_t n)
{
        uint32_t c = crc32_table(r, n - 4);
        for (int i = 0; i < 4; i++)
                r[n - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

static void test_damaged(void **state)
{
        proc_t a, b;
        unsigned char r[4096], bad[4096];
        rs_user_state_t s;

        (void)state;
        proc_init(&a);
        feed_history(&a);
        size_t n = save(&a, "u", r, sizeof(r));
        proc_init(&b);
        /* the checksum is the table's CRC of the rest, little-endian */
        memcpy(bad, r, n);
        put_crc(bad, n);
        assert_memory_equal(bad, r, n);
        /* every single flipped byte is refused by its checksum */
        for (size_t i = 0; i < n; i++) {
                memcpy(bad, r, n);
                bad[i] ^= 0x20;
                assert_int_equal(
                        rs_codec_decode_user_state(b.codec, bad, n, &s),
                        RS_ERR_DECODE);
                assert_string_equal(rs_codec_reason(b.codec), "checksum");
        }
        /* truncated anywhere */
        for (size_t k = 0; k < n; k++)
                assert_int_equal(rs_codec_decode_user_state(b.codec, r, k, &s),
                                 RS_ERR_DECODE);
        /* version 1 (zigzag 2) with a good checksum: unknown_version */
        memcpy(bad, r, n);
        assert_int_equal(bad[0], 4); /* version 2 */
        bad[0] = 2;
        put_crc(bad, n);
        assert_int_equal(rs_codec_decode_user_state(b.codec, bad, n, &s),
                         RS_ERR_DECODE);
        assert_string_equal(rs_codec_reason(b.codec), "unknown_version");
        /* a good checksum over bytes that are no UserState: the strict
         * check refuses it */
        memset(bad, 0xFF, 40);
        bad[0] = 4;
        put_crc(bad, 40);
        assert_int_equal(rs_codec_decode_user_state(b.codec, bad, 40, &s),
                         RS_ERR_DECODE);
        /* and the good record still restores */
        assert_int_equal(restore(&b, "u", r, n), RS_OK);
        proc_fini(&b);
        proc_fini(&a);
}

/* The item side: every partition's state saved from a, each record
 * through bytes into b. */
typedef struct copy {
        proc_t *a, *b;
        size_t records, tombstones;
} copy_t;

static rs_err_t copy_item(void *opaque, const rs_item_state_t *s)
{
        copy_t *c = opaque;
        const void *buf;
        size_t len;
        rs_item_state_t t;
        unsigned char bytes[65536];

        if (s->deleted) { /* a tombstone: no value */
                size_t n;
                const char *id = rs_intern_str(c->a->in, s->item, &n);
                t = *s;
                t.item = rs_intern_id(c->b->in, id, n);
                c->records++;
                c->tombstones++;
                return rs_items_load(rs_local_items(c->b->local), &t);
        }
        assert_int_equal(rs_codec_encode_item_state(c->a->codec, s, &buf, &len),
                         RS_OK);
        assert_true(len <= sizeof(bytes));
        memcpy(bytes, buf, len);
        assert_int_equal(
                rs_codec_decode_item_state(c->b->codec, bytes, len, &t), RS_OK);
        if (t.kind == RS_ISTATE_ITEM) {
                size_t n;
                const char *id = rs_intern_str(c->a->in, s->item, &n);
                t.item = rs_intern_id(c->b->in, id, n);
        }
        c->records++;
        return rs_items_load(rs_local_items(c->b->local), &t);
}

static void test_items_round_trip(void **state)
{
        proc_t a, b;
        const char *items[] = {"a", "b", "c", "d", "e"};
        char user[16];

        (void)state;
        proc_init(&a);
        proc_init(&b);
        /* ten users over five items: pairs of different weights */
        for (int u = 0; u < 10; u++) {
                snprintf(user, sizeof(user), "u%d", u);
                for (int k = 0; k <= u % 5; k++)
                        feed(&a, user, items[(u + k) % 5],
                             k % 2 ? RS_EV_LIKE : RS_EV_WATCH,
                             1000 + 1000 * u + 100 * k, 100 + 10 * u + k);
        }
        assert_int_equal(rs_items_publish(rs_local_items(a.local), 1), RS_OK);
        copy_t c = {&a, &b, 0, 0};
        assert_int_equal(rs_items_save(rs_local_items(a.local), copy_item, &c),
                         RS_OK);
        assert_true(c.records >= 6); /* five items and the partition */
        /* nothing changed since: nothing more to save */
        c.records = 0;
        assert_int_equal(rs_items_save(rs_local_items(a.local), copy_item, &c),
                         RS_OK);
        assert_int_equal(c.records, 0);
        rs_cooc_t *ca = rs_items_partition(rs_local_items(a.local), 0),
                  *cb = rs_items_partition(rs_local_items(b.local), 0);
        int64_t now = 20000;
        size_t directed = 0;
        for (int i = 0; i < 5; i++) {
                uint32_t ia = sid(&a, items[i]), ib = sid(&b, items[i]);
                double ma = rs_cooc_marginal(ca, ia, now),
                       mb = rs_cooc_marginal(cb, ib, now);
                assert_true(ma > 0);
                assert_true(fabs(ma - mb) <= 1e-6 * ma);
                for (int j = 0; j < 5; j++) {
                        double x = rs_cooc_count(ca, ia, sid(&a, items[j]),
                                                 now),
                               y = rs_cooc_count(cb, ib, sid(&b, items[j]),
                                                 now);
                        assert_true(fabs(x - y) <= 1e-5 * (x > 0 ? x : 1));
                        /* the directed counts too (ItemState 2) */
                        x = rs_cooc_directed(ca, ia, sid(&a, items[j]), now);
                        y = rs_cooc_directed(cb, ib, sid(&b, items[j]), now);
                        assert_true(fabs(x - y) <= 1e-5 * (x > 0 ? x : 1));
                        directed += x > 0;
                }
                /* the published list came back as it was */
                const rs_neighbor_t *na, *nb;
                size_t n = rs_cooc_neighbors(ca, ia, &na);
                assert_int_equal(rs_cooc_neighbors(cb, ib, &nb), n);
                for (size_t k = 0; k < n; k++) {
                        assert_string_equal(
                                rs_intern_str(a.in, na[k].item, NULL),
                                rs_intern_str(b.in, nb[k].item, NULL));
                        assert_true(na[k].sim == nb[k].sim);
                }
        }
        /* each user's items a tenth of a second apart: transitions */
        assert_true(directed >= 5);
        proc_fini(&b);
        proc_fini(&a);
}

/* A delta of events at offsets first..last of input partition 4, one
 * pair update (x, y) of weight 1 each, all at time 1000 s. */
static void delta_of_events(proc_t *p, rs_delta_t *d, int64_t first,
                            int64_t last)
{
        rs_delta_reset(d);
        d->partition = 0;
        for (int64_t off = first; off <= last; off++) {
                int32_t src;
                assert_int_equal(rs_delta_add(d, sid(p, "x"), sid(p, "y"),
                                              1000000, 1.0f),
                                 RS_OK);
                assert_int_equal(rs_delta_add_source(d, "in", 4, off, &src),
                                 RS_OK);
                d->upd[d->n - 1].src = src;
                d->upd[d->n - 1].offset = off;
        }
}

/* A delta sent again, whole or in part (a user side that crashed and
 * replays from its commit), adds each event once: through the codec, as
 * the item side reads it, and after its watermarks are restored. */
static void test_deltas_applied_once(void **state)
{
        proc_t a, b;
        rs_delta_t d = {0};
        const rs_delta_t *got;
        const void *buf;
        size_t len;
        unsigned char bytes[4096];

        (void)state;
        proc_init(&a);
        rs_items_t *items = rs_local_items(a.local);
        rs_cooc_t *co = rs_items_partition(items, 0);
        uint32_t x = sid(&a, "x"), y = sid(&a, "y");
        /* events 10..14, then 12..17 again and 10..11 again: 10..17 */
        int64_t runs[3][2] = {{10, 14}, {12, 17}, {10, 11}};
        for (int r = 0; r < 3; r++) {
                delta_of_events(&a, &d, runs[r][0], runs[r][1]);
                assert_int_equal(rs_codec_encode_delta(a.codec, &d, &buf, &len),
                                 RS_OK);
                memcpy(bytes, buf, len);
                assert_int_equal(
                        rs_codec_decode_delta(a.codec, bytes, len, &got),
                        RS_OK);
                assert_int_equal(rs_items_apply(items, got), RS_OK);
        }
        /* no decay at one time: 8 events of weight 1 */
        assert_true(fabs(rs_cooc_count(co, x, y, 1000000) - 8.0) < 1e-6);
        assert_int_equal(rs_cooc_skipped(co), 3 + 2);
        /* the watermark survives with the partition's record */
        proc_init(&b);
        copy_t c = {&a, &b, 0, 0};
        assert_int_equal(rs_items_save(items, copy_item, &c), RS_OK);
        rs_items_t *bi = rs_local_items(b.local);
        rs_cooc_t *cb = rs_items_partition(bi, 0);
        delta_of_events(&b, &d, 16, 19); /* 16, 17 applied in a: 2 new */
        assert_int_equal(rs_items_apply(bi, &d), RS_OK);
        assert_true(
                fabs(rs_cooc_count(cb, sid(&b, "x"), sid(&b, "y"), 1000000) -
                     10.0) < 1e-5);
        assert_int_equal(rs_cooc_skipped(cb), 2);
        rs_delta_fini(&d);
        proc_fini(&b);
        proc_fini(&a);
}

/* An item evicted beyond cooccur.max_items leaves the changelog too: a
 * tombstone, which drops it where it was restored before. */
static void test_item_tombstones(void **state)
{
        proc_t a, b;

        (void)state;
        proc_init_stages(&a, "  - type: weight\n    weights: {watch: 1}\n"
                             "  - type: user_window\n"
                             "  - type: pairs\n"
                             "  - type: cooccur\n    max_items: 2\n"
                             "  - type: score\n");
        proc_init_stages(&b, "  - type: weight\n    weights: {watch: 1}\n"
                             "  - type: user_window\n"
                             "  - type: pairs\n"
                             "  - type: cooccur\n    max_items: 2\n"
                             "  - type: score\n");
        rs_items_t *ia = rs_local_items(a.local);
        copy_t c = {&a, &b, 0, 0};
        feed(&a, "u", "p", RS_EV_WATCH, 1000, 1);
        feed(&a, "u", "q", RS_EV_WATCH, 2000, 2);
        assert_int_equal(rs_items_save(ia, copy_item, &c), RS_OK);
        rs_cooc_t *cb = rs_items_partition(rs_local_items(b.local), 0);
        assert_int_equal(rs_cooc_items(cb), 2);
        assert_int_equal(c.tombstones, 0);
        /* r takes the place of one of them (the least recently touched:
         * q, as p was touched again by the pair q made) */
        feed(&a, "v", "r", RS_EV_WATCH, 3000, 3);
        rs_cooc_t *ca = rs_items_partition(ia, 0);
        assert_int_equal(rs_cooc_evictions(ca), 1);
        const char *gone =
                rs_cooc_marginal(ca, sid(&a, "p"), 4000) == 0 ? "p" : "q";
        const char *kept = gone[0] == 'p' ? "q" : "p";
        assert_true(rs_cooc_marginal(ca, sid(&a, gone), 4000) == 0);
        assert_int_equal(rs_items_save(ia, copy_item, &c), RS_OK);
        assert_int_equal(c.tombstones, 1);
        assert_int_equal(rs_cooc_items(cb), 2);
        assert_true(rs_cooc_marginal(cb, sid(&b, gone), 4000) == 0);
        assert_true(rs_cooc_marginal(cb, sid(&b, kept), 4000) > 0);
        assert_true(rs_cooc_marginal(cb, sid(&b, "r"), 4000) > 0);
        proc_fini(&b);
        proc_fini(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_replayed),
                cmocka_unit_test(test_dedupe_restored),
                cmocka_unit_test(test_dedupe_restored_bounded),
                cmocka_unit_test(test_damaged),
                cmocka_unit_test(test_items_round_trip),
                cmocka_unit_test(test_deltas_applied_once),
                cmocka_unit_test(test_item_tombstones),
        };
        return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
