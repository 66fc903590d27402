/* state_bench — what state that survives (issue 11) costs in process:
 * every user's and every item's state through the changelog codec and
 * back into a fresh process's stages, without Kafka.
 *
 * 1. Build. A state is learnt by feeding generated events through
 *    rs_local (both sides in process, as replay runs them) with
 *    pipelines/video.yaml's stages but score (a list per event would
 *    take hours; score's part of a user — last list hash, its time,
 *    pending — is then zero, ≈ 12 of a record's bytes): users×E events
 *    (default 1,000,000 users × 20), uniform users, Zipf(1.0)-popular
 *    videos over `--items`, spread over `--minutes` of event time (120:
 *    a user every ≈ 6 minutes, so most of a user's events pair within
 *    pairs.pair_gap 1h), each user owned by input partition
 *    user % 32. Then everything the item side holds back is published
 *    (rs_local_settle), so items carry the list last published as a
 *    running item side's do. The events are made as fields
 *    (rs_event_from_fields), not Avro: the build is not what is timed.
 * 2. Encode, RUNS times: every held user as the worker's commit writes it
 *    (rs_chain_save_user, rs_codec_encode_user_state, key and value
 *    copied out as the producer copies them) into an in-memory log of
 *    records; every item's record in every cooc-deltas partition
 *    (topology.partitions 6: an item's own partition holds its counts,
 *    the others its marginal) and each partition's own record, the same
 *    way from a copy taken by one rs_items_save (saving clears what
 *    changed, so a second save would write nothing; its walk and copy
 *    are timed once, apart).
 * 3. Decode + load, RUNS times, each into a fresh string table, catalog
 *    and rs_local (a new process), record by record as the worker's
 *    restore does: key interned, rs_codec_decode_user_state / _item_state,
 *    rs_chain_load_user / rs_items_load, the string table collected every
 *    10,000 records. Then checked: the same users held, the same items
 *    and pairs, and every 1,000th user saved again gives the bytes it was
 *    restored from.
 *
 * Prints the medians (with min and max) of bytes, keys, seconds, MB/s
 * (10^6 bytes of key and value) and keys/s, by the wall clock. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "recstream/buf.h"
#include "recstream/catalog.h"
#include "recstream/chain.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/gen.h"
#include "recstream/intern.h"
#include "recstream/pipeline.h"
#include "recstream/topology.h"
#include "recstream/user_window.h"
#include "recstream/vec.h"

#define BATCH          2000
#define MAX_RUNS       16
#define OWNERS         32    /* input partitions owning the users */
#define COLLECT_EVERY  10000 /* as the worker's restore */
#define CHECK_EVERY    1000  /* users re-encoded after a load */
#define MAX_PARTITIONS 64

/* pipelines/video.yaml's stages but score. */
static const char pipeline_text[] =
        "name: state-bench\n"
        "source: {}\n"
        "sink: {}\n"
        "stages:\n"
        "  - type: clean\n"
        "    max_age: 7d\n"
        "    max_future: 10m\n"
        "    dedupe_ttl: 1h\n"
        "    dedupe_max: 1000000\n"
        "    max_user_rate: 600\n"
        "    burst: 60\n"
        "  - type: weight\n"
        "    weights: {impression: 0, play: 0.1, click: 0.3, watch: 1, "
        "like: 2, share: 3, comment: 2, add_to_cart: 3, purchase: 4, "
        "skip: -0.5, dislike: -2}\n"
        "    watch_skip_below: 0.1\n"
        "    watch_full_at: 0.8\n"
        "    watch_min_factor: 0.2\n"
        "    rate_weights: [-1, -0.5, 0.25, 1, 1.5]\n"
        "  - type: user_window\n"
        "    max_events: 50\n"
        "    horizon: 7d\n"
        "    half_life: 1d\n"
        "    max_users: %lu\n"
        "    max_seen: 1000\n"
        "    interest_dim: 32\n"
        "  - type: pairs\n"
        "    pair_gap: 1h\n"
        "    max_pairs: 50\n"
        "    damping: sqrt\n"
        "  - type: cooccur\n"
        "    similarity: cosine\n"
        "    alpha: 0.5\n"
        "    half_life: 7d\n"
        "    horizon: 30d\n"
        "    max_neighbors_tracked: 200\n"
        "    max_neighbors: 50\n"
        "    refresh: %s\n"
        "    min_count: 0\n"
        "    trending_half_life: 6h\n"
        "    trending_size: 200\n";

typedef struct opts {
        unsigned long users, items, per_user;
        double minutes, exponent;
        int runs;
        uint64_t seed;
        const char *list_refresh;
} opts_t;

/* One process's stages, as test_state.c builds them. */
typedef struct proc {
        rs_intern_t *in;
        rs_catalog_t *cat;
        rs_local_t *local;
        rs_chain_t *ch;
        rs_items_t *items;
        rs_codec_t *codec;
} proc_t;

/* A changelog in memory: records back to back, each a header (partition,
 * key length, value length) then the key and the value. */
typedef struct rec_hdr {
        int32_t partition;
        uint32_t key_len, len;
} rec_hdr_t;

typedef struct clog {
        rs_buf_t b;
        size_t n;
        uint64_t bytes;      /* keys and values, as a restore counts them */
        uint64_t by_kind[3]; /* items': own, marginal only, partition */
} clog_t;

/* What one rs_items_save gave, copied (its arrays are valid only during
 * the call); cp and nb point into cps and nbs once the save is over. */
typedef struct item_copy {
        rs_item_state_t *s;
        size_t n, cap;
        rs_cp_state_t *cps;
        size_t ncps, cps_cap;
        rs_neighbor_t *nbs;
        size_t nnbs, nbs_cap;
        rs_watermark_t *wms;
        size_t nwms, wms_cap;
} item_copy_t;

typedef struct timing {
        double secs[MAX_RUNS];
        uint64_t bytes, keys;
} timing_t;

static void die(const char *what)
{
        fprintf(stderr, "state_bench: %s\n", what);
        exit(1);
}

/* VmRSS of this process in MB (10^6 B), -1 unknown. */
static double rss_mb(void)
{
        long kb = bench_status_kb("VmRSS:");
        return kb < 0 ? -1 : (double)kb * 1024 / 1e6;
}

static void grow(void **arr, size_t *cap, size_t need, size_t size)
{
        if (need <= *cap)
                return;
        size_t cap2 = *cap ? *cap : 1024;
        while (cap2 < need)
                cap2 *= 2;
        if (rs_resize(arr, cap2, size))
                die("out of memory");
        *cap = cap2;
}

static void proc_init(proc_t *p, const rs_pipeline_t *pl)
{
        char err[256];

        p->in = rs_intern_new();
        p->cat = p->in ? rs_catalog_new(0, 1000, p->in) : NULL;
        if (!p->cat)
                die("out of memory");
        if (!(p->local = rs_local_new(pl, p->in, p->cat, err, sizeof(err))))
                die(err);
        p->ch = rs_local_chain(p->local);
        p->items = rs_local_items(p->local);
        if (!(p->codec =
                      rs_codec_new(RS_FRAMING_PLAIN, p->in, err, sizeof(err))))
                die(err);
}

static void proc_fini(proc_t *p)
{
        rs_codec_destroy(p->codec);
        rs_local_destroy(p->local);
        rs_catalog_destroy(p->cat);
        rs_intern_destroy(p->in);
        memset(p, 0, sizeof(*p));
}

static void clog_add(clog_t *l, int32_t partition, const char *key,
                     size_t key_len, const void *val, size_t len)
{
        rec_hdr_t h = {partition, (uint32_t)key_len, (uint32_t)len};

        if (rs_buf_add(&l->b, &h, sizeof(h)) ||
            rs_buf_add(&l->b, key, key_len) || rs_buf_add(&l->b, val, len))
                die("out of memory");
        l->n++;
        l->bytes += key_len + len;
}

/* Record at *pos (advanced past it). */
static void clog_next(const clog_t *l, size_t *pos, rec_hdr_t *h,
                      const char **key, const unsigned char **val)
{
        memcpy(h, l->b.p + *pos, sizeof(*h));
        *key = l->b.p + *pos + sizeof(*h);
        *val = (const unsigned char *)*key + h->key_len;
        *pos += sizeof(*h) + h->key_len + h->len;
}

/*
 * 1. Build
 */

static void feed(const opts_t *o, proc_t *p, double *secs)
{
        rs_gen_conf_t gc = {.seed = o->seed,
                            .users = (uint32_t)o->users,
                            .categories = 16,
                            .start_ts = 1767225600000LL,
                            .zipf_items = (uint32_t)o->items,
                            .zipf_exponent = o->exponent};
        unsigned long total = o->users * o->per_user;
        int64_t offsets[OWNERS] = {0};
        rs_event_t *ev = malloc(BATCH * sizeof(*ev));
        rs_gen_t *gen;
        double t0 = bench_now_s();

        gc.gap_us = (uint32_t)(o->minutes * 60e6 / (double)total);
        if (!gc.gap_us)
                gc.gap_us = 1;
        if (!ev || !(gen = rs_gen_new(&gc)))
                die("out of memory");
        for (unsigned long i = 0; i < total;) {
                size_t n = 0;
                for (; n < BATCH && i < total; i++) {
                        rs_event_fields_t f;
                        const char *why;
                        rs_gen_next(gen, &f);
                        if (rs_event_from_fields(&f, p->in, RS_ID_MAX_DEFAULT,
                                                 &ev[n], &why))
                                die(why);
                        int32_t part =
                                (int32_t)(strtoul(f.user_id + 1, NULL, 10) %
                                          OWNERS);
                        ev[n].partition = part;
                        ev[n].offset = offsets[part]++;
                        ev[n].ingest_ts = ev[n].ts;
                        n++;
                }
                if (rs_local_process(p->local, ev, n, NULL))
                        die("a stage failed");
                rs_intern_collect(p->in);
                if (i % 2000000 == 0)
                        fprintf(stderr, "state_bench: %lu events, %.0f s\n", i,
                                bench_now_s() - t0);
        }
        if (rs_local_settle(p->local))
                die("settle failed");
        rs_intern_collect(p->in);
        *secs = bench_now_s() - t0;
        rs_gen_destroy(gen);
        free(ev);
}

/* The held users' ids, "u0".."u<users-1>" looked up. */
static uint32_t *held_users(const opts_t *o, proc_t *p, size_t *n)
{
        uint32_t *ids = malloc(o->users * sizeof(*ids));
        rs_user_state_t s;
        char name[32];

        if (!ids)
                die("out of memory");
        *n = 0;
        for (unsigned long u = 0; u < o->users; u++) {
                int len = snprintf(name, sizeof(name), "u%lu", u);
                uint32_t id = rs_intern_find(p->in, name, (size_t)len);
                if (id != RS_ID_NONE && rs_chain_save_user(p->ch, id, &s) == 1)
                        ids[(*n)++] = id;
        }
        return ids;
}

/*
 * 2. Encode
 */

static void encode_users(proc_t *p, const uint32_t *ids, size_t n, clog_t *l)
{
        rs_user_state_t s;
        const void *buf;
        size_t len, klen;

        for (size_t i = 0; i < n; i++) {
                const char *key = rs_intern_str(p->in, ids[i], &klen);
                if (rs_chain_save_user(p->ch, ids[i], &s) != 1)
                        die("a held user was not saved");
                if (rs_codec_encode_user_state(p->codec, &s, &buf, &len))
                        die(rs_codec_error(p->codec));
                clog_add(l, s.partition, key, klen, buf, len);
        }
}

static rs_err_t copy_item(void *opaque, const rs_item_state_t *s)
{
        item_copy_t *c = opaque;
        rs_item_state_t *d;

        grow((void **)&c->s, &c->cap, c->n + 1, sizeof(*c->s));
        d = &c->s[c->n++];
        *d = *s;
        /* offsets until the save is over (the arrays move as they grow) */
        grow((void **)&c->cps, &c->cps_cap, c->ncps + s->ncp, sizeof(*c->cps));
        memcpy(c->cps + c->ncps, s->cp, s->ncp * sizeof(*s->cp));
        d->cp = (const rs_cp_state_t *)(uintptr_t)c->ncps;
        c->ncps += s->ncp;
        grow((void **)&c->nbs, &c->nbs_cap, c->nnbs + s->nnb, sizeof(*c->nbs));
        memcpy(c->nbs + c->nnbs, s->nb, s->nnb * sizeof(*s->nb));
        d->nb = (const rs_neighbor_t *)(uintptr_t)c->nnbs;
        c->nnbs += s->nnb;
        /* watermarks' topics are the item side's own strings: borrowed */
        grow((void **)&c->wms, &c->wms_cap, c->nwms + s->nwm, sizeof(*c->wms));
        memcpy(c->wms + c->nwms, s->wm, s->nwm * sizeof(*s->wm));
        d->wm = (const rs_watermark_t *)(uintptr_t)c->nwms;
        c->nwms += s->nwm;
        return RS_OK;
}

static void copy_items(proc_t *p, item_copy_t *c)
{
        memset(c, 0, sizeof(*c));
        if (rs_items_save(p->items, copy_item, c))
                die("rs_items_save failed");
        for (size_t i = 0; i < c->n; i++) {
                rs_item_state_t *d = &c->s[i];
                d->cp = c->cps + (uintptr_t)d->cp;
                d->nb = c->nbs + (uintptr_t)d->nb;
                d->wm = c->wms + (uintptr_t)d->wm;
        }
}

static void copy_fini(item_copy_t *c)
{
        free(c->s);
        free(c->cps);
        free(c->nbs);
        free(c->wms);
}

static void encode_items(proc_t *p, const item_copy_t *c, clog_t *l)
{
        char pkey[16];
        const void *buf;
        size_t len, klen;

        for (size_t i = 0; i < c->n; i++) {
                const rs_item_state_t *s = &c->s[i];
                const char *key = pkey;
                if (s->kind == RS_ISTATE_PARTITION)
                        klen = rs_nb_partition_key(s->partition, pkey);
                else
                        key = rs_intern_str(p->in, s->item, &klen);
                if (rs_codec_encode_item_state(p->codec, s, &buf, &len))
                        die(rs_codec_error(p->codec));
                clog_add(l, s->partition, key, klen, buf, len);
                int kind = s->kind == RS_ISTATE_PARTITION ? 2 : !s->own;
                l->by_kind[kind] += klen + len;
        }
}

/*
 * 3. Decode + load
 */

static void load_users(proc_t *p, const clog_t *l)
{
        rs_user_state_t s;
        size_t pos = 0;

        for (size_t i = 0; i < l->n; i++) {
                rec_hdr_t h;
                const char *key;
                const unsigned char *val;
                clog_next(l, &pos, &h, &key, &val);
                uint32_t user = rs_intern_id(p->in, key, h.key_len);
                if (user == RS_ID_NONE ||
                    rs_codec_decode_user_state(p->codec, val, h.len, &s))
                        die("a user's record did not decode");
                s.user = user;
                if (rs_chain_load_user(p->ch, &s))
                        die("a user's record did not load");
                if ((i + 1) % COLLECT_EVERY == 0)
                        rs_intern_collect(p->in);
        }
        rs_intern_collect(p->in);
}

static void load_items(proc_t *p, const clog_t *l)
{
        rs_item_state_t s;
        char pkey[16];
        size_t pos = 0;

        for (size_t i = 0; i < l->n; i++) {
                rec_hdr_t h;
                const char *key;
                const unsigned char *val;
                clog_next(l, &pos, &h, &key, &val);
                size_t plen = rs_nb_partition_key(h.partition, pkey);
                int part = h.key_len == plen && !memcmp(key, pkey, plen);
                uint32_t item =
                        part ? RS_ID_NONE : rs_intern_id(p->in, key, h.key_len);
                if (!part && item == RS_ID_NONE)
                        die("an item's key is no id");
                if (rs_codec_decode_item_state(p->codec, val, h.len, &s))
                        die("an item's record did not decode");
                s.item = item;
                if (rs_items_load(p->items, &s))
                        die("an item's record did not load");
                if ((i + 1) % COLLECT_EVERY == 0)
                        rs_intern_collect(p->in);
        }
        rs_intern_collect(p->in);
}

/* Every CHECK_EVERY-th user of the log, saved again from p: how many
 * differ from the bytes they were restored from. */
static size_t check_users(proc_t *p, const clog_t *l, size_t *checked)
{
        rs_user_state_t s;
        size_t pos = 0, bad = 0;
        const void *buf;
        size_t len;

        *checked = 0;
        for (size_t i = 0; i < l->n; i++) {
                rec_hdr_t h;
                const char *key;
                const unsigned char *val;
                clog_next(l, &pos, &h, &key, &val);
                if (i % CHECK_EVERY)
                        continue;
                ++*checked;
                uint32_t user = rs_intern_find(p->in, key, h.key_len);
                if (user == RS_ID_NONE ||
                    rs_chain_save_user(p->ch, user, &s) != 1 ||
                    rs_codec_encode_user_state(p->codec, &s, &buf, &len) ||
                    len != h.len || memcmp(buf, val, len))
                        bad++;
        }
        return bad;
}

/*
 * Report
 */

static void print_timing(const char *what, timing_t *t, int runs)
{
        double v[MAX_RUNS];

        memcpy(v, t->secs, (size_t)runs * sizeof(double));
        qsort(v, (size_t)runs, sizeof(double), bench_cmp_double);
        double med = v[runs / 2];
        printf("  %-26s %10.1f MB %9llu keys  %7.3f s [%.3f, %.3f]  "
               "%7.1f MB/s  %9.0f keys/s\n",
               what, (double)t->bytes / 1e6, (unsigned long long)t->keys, med,
               v[0], v[runs - 1], (double)t->bytes / 1e6 / med,
               (double)t->keys / med);
}

static void timing_sum(timing_t *sum, const timing_t *a, const timing_t *b,
                       int runs)
{
        sum->bytes = a->bytes + b->bytes;
        sum->keys = a->keys + b->keys;
        for (int r = 0; r < runs; r++)
                sum->secs[r] = a->secs[r] + b->secs[r];
}

static void usage(void)
{
        fputs("usage: state_bench [--users U] [--items I] "
              "[--events-per-user E]\n"
              "                   [--minutes M] [--exponent X] [--runs R] "
              "[--seed S]\n"
              "                   [--list-refresh D]\n",
              stderr);
        exit(2);
}

int main(int argc, char **argv)
{
        static const struct option lopts[] = {{"users", 1, NULL, 'u'},
                                              {"items", 1, NULL, 'i'},
                                              {"events-per-user", 1, NULL, 'e'},
                                              {"minutes", 1, NULL, 'm'},
                                              {"exponent", 1, NULL, 'x'},
                                              {"runs", 1, NULL, 'r'},
                                              {"seed", 1, NULL, 's'},
                                              {"list-refresh", 1, NULL, 'l'},
                                              {NULL, 0, NULL, 0}};
        opts_t o = {.users = 1000000,
                    .items = 1000000,
                    .per_user = 20,
                    .minutes = 120,
                    .exponent = 1.0,
                    .runs = 3,
                    .seed = 1,
                    .list_refresh = "2h"};
        char text[sizeof(pipeline_text) + 64];
        rs_diag_t d;
        rs_pipeline_t *pl;
        proc_t a, b;
        clog_t ul = {0}, il = {0};
        item_copy_t copy;
        timing_t enc_u = {0}, enc_i = {0}, dec_u = {0}, dec_i = {0}, all;
        int c;

        while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
                switch (c) {
                case 'u': o.users = strtoul(optarg, NULL, 10); break;
                case 'i': o.items = strtoul(optarg, NULL, 10); break;
                case 'e': o.per_user = strtoul(optarg, NULL, 10); break;
                case 'm': o.minutes = strtod(optarg, NULL); break;
                case 'x': o.exponent = strtod(optarg, NULL); break;
                case 'r': o.runs = atoi(optarg); break;
                case 's': o.seed = strtoull(optarg, NULL, 10); break;
                case 'l': o.list_refresh = optarg; break;
                default: usage();
                }
        }
        if (optind != argc || !o.users || o.users > 100000000 || !o.items ||
            !o.per_user || o.minutes <= 0 || o.runs < 1 || o.runs > MAX_RUNS ||
            strlen(o.list_refresh) > 32)
                usage();
        rs_vec_init();
        rs_buf_init(&ul.b);
        rs_buf_init(&il.b);

        int n = snprintf(text, sizeof(text), pipeline_text, o.users,
                         o.list_refresh);
        rs_diag_init(&d, "<state_bench>");
        if (!(pl = rs_pipeline_parse(text, (size_t)n, &d))) {
                fprintf(stderr, "%s", d.text.p ? d.text.p : "");
                die("bad pipeline");
        }
        rs_diag_fini(&d);

        /* 1. build */
        double build_s, walk_s;
        proc_init(&a, pl);
        feed(&o, &a, &build_s);
        size_t nusers;
        uint32_t *ids = held_users(&o, &a, &nusers);
        rs_uwin_t *win = rs_chain_find(a.ch, "user_window");
        rs_items_totals_t ta = rs_items_totals(a.items);
        size_t win_entries = 0;
        for (size_t i = 0; i < nusers; i++) {
                rs_user_state_t s;
                rs_chain_save_user(a.ch, ids[i], &s);
                win_entries += s.nwindow;
        }
        printf("state_bench: %lu users x %lu events (%lu events, Zipf %.2f "
               "over %lu items, %.0f min of event time), built in %.1f s "
               "(%.0f events/s); %d runs\n",
               o.users, o.per_user, o.users * o.per_user, o.exponent, o.items,
               o.minutes, build_s, (double)(o.users * o.per_user) / build_s,
               o.runs);
        printf("  held: %zu users (%.1f window entries each, user_window "
               "%.0f MB); %zu item records in %d partitions, %zu pairs "
               "(cooccur %.0f MB); RSS %.0f MB\n",
               nusers, (double)win_entries / (double)nusers,
               (double)rs_uwin_bytes(win) / 1e6, ta.items,
               (int)rs_items_partitions(a.items), ta.pairs,
               (double)ta.bytes / 1e6, rss_mb());
        fflush(stdout);

        /* 2. encode */
        double t0 = bench_now_s();
        copy_items(&a, &copy);
        walk_s = bench_now_s() - t0;
        for (int r = 0; r < o.runs; r++) {
                rs_buf_reset(&ul.b);
                rs_buf_reset(&il.b);
                ul.n = il.n = 0;
                ul.bytes = il.bytes = 0;
                t0 = bench_now_s();
                encode_users(&a, ids, nusers, &ul);
                enc_u.secs[r] = bench_now_s() - t0;
                memset(il.by_kind, 0, sizeof(il.by_kind));
                t0 = bench_now_s();
                encode_items(&a, &copy, &il);
                enc_i.secs[r] = bench_now_s() - t0;
        }
        enc_u.bytes = dec_u.bytes = ul.bytes;
        enc_u.keys = dec_u.keys = ul.n;
        enc_i.bytes = dec_i.bytes = il.bytes;
        enc_i.keys = dec_i.keys = il.n;
        size_t own = 0, marg = 0, parts = 0, cps = 0;
        for (size_t i = 0; i < copy.n; i++) {
                const rs_item_state_t *s = &copy.s[i];
                parts += s->kind == RS_ISTATE_PARTITION;
                own += s->kind == RS_ISTATE_ITEM && s->own;
                marg += s->kind == RS_ISTATE_ITEM && !s->own;
                cps += s->ncp;
        }
        printf("  item records: %zu own (%.1f counterparts, %.1f "
               "neighbours each; %.1f MB), %zu marginal only (%.1f MB), "
               "%zu partition; rs_items_save walk + copy %.3f s\n",
               own, own ? (double)cps / (double)own : 0.0,
               own ? (double)copy.nnbs / (double)own : 0.0,
               (double)il.by_kind[0] / 1e6, marg, (double)il.by_kind[1] / 1e6,
               parts, walk_s);
        size_t held = nusers, uwin_a = rs_uwin_bytes(win);
        copy_fini(&copy);
        free(ids);
        proc_fini(&a); /* the old process is gone: only the logs remain */

        /* 3. decode + load */
        size_t checked = 0, bad = 0, held_b = 0, uwin_b = 0;
        rs_items_totals_t tb = {0};
        for (int r = 0; r < o.runs; r++) {
                proc_init(&b, pl);
                t0 = bench_now_s();
                load_users(&b, &ul);
                dec_u.secs[r] = bench_now_s() - t0;
                t0 = bench_now_s();
                load_items(&b, &il);
                dec_i.secs[r] = bench_now_s() - t0;
                held_b = rs_uwin_users(rs_chain_find(b.ch, "user_window"));
                uwin_b = rs_uwin_bytes(rs_chain_find(b.ch, "user_window"));
                tb = rs_items_totals(b.items);
                if (r == 0)
                        bad = check_users(&b, &ul, &checked);
                proc_fini(&b);
        }

        printf("medians of %d runs [min, max], wall clock; MB = 10^6 bytes "
               "of key + value:\n",
               o.runs);
        print_timing("encode, users", &enc_u, o.runs);
        print_timing("encode, items", &enc_i, o.runs);
        timing_sum(&all, &enc_u, &enc_i, o.runs);
        print_timing("encode, both", &all, o.runs);
        print_timing("decode + load, users", &dec_u, o.runs);
        print_timing("decode + load, items", &dec_i, o.runs);
        timing_sum(&all, &dec_u, &dec_i, o.runs);
        print_timing("decode + load, both", &all, o.runs);
        printf("  per record: user %.0f B, item %.0f B\n",
               (double)ul.bytes / (double)ul.n,
               (double)il.bytes / (double)il.n);
        printf("restored: %zu users (of %zu), %zu item records, %zu pairs "
               "(of %zu, %zu); %zu of %zu users re-encoded differ; "
               "user_window %.0f MB (built: %.0f), cooccur %.0f MB (%.0f)\n",
               held_b, held, tb.items, tb.pairs, ta.items, ta.pairs, bad,
               checked, (double)uwin_b / 1e6, (double)uwin_a / 1e6,
               (double)tb.bytes / 1e6, (double)ta.bytes / 1e6);
        rs_buf_fini(&ul.b);
        rs_buf_fini(&il.b);
        rs_pipeline_destroy(pl);
        return bad || held_b != held || tb.items != ta.items ||
               tb.pairs != ta.pairs;
}
