/* ingest_bench — events/s through the worker's path: decode → clean →
 * weight → user_window → cooccur (→ score), and the memory that state
 * takes.
 *
 * Events are generated (Zipf-popular videos, uniform users, timestamps
 * spread over an hour, `--minutes`, or advancing as a live stream of
 * `--events-per-s` would: what a debounce can coalesce depends on how
 * often a user's events arrive in event time), Avro-encoded in memory with
 * plain framing as Kafka would deliver them, then each timed run decodes them
 * with the worker's decode (rs_codec_decode_event) into batches of 2,000 and
 * pushes them through an rs_chain built from pipelines/video.yaml's stage
 * settings. Every run starts from empty state (a new string table, codec
 * and chain). Modes, each a separate timed run, interleaved run by run:
 *
 *   decode   decoding alone: the baseline of the ratios
 *   off      no score stage (refresh off)
 *   1s       score, min_refresh_interval 1s (refresh debounced)
 *   every    score, min_refresh_interval 0 (refresh on every event)
 *
 * Prints each mode's median events/s over the runs with min and max.
 *
 * `--memory` instead streams (generate, encode, decode, process, batch by
 * batch) many events over many users (default 12M events, 1M users, 1M
 * items), without score, and reports bytes per user held, bytes per
 * tracked pair and the process's VmRSS / VmHWM. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "recstream/catalog.h"
#include "recstream/chain.h"
#include "recstream/topology.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/gen.h"
#include "recstream/intern.h"
#include "recstream/pipeline.h"
#include "recstream/user_window.h"
#include "recstream/vec.h"

#define BATCH    2000
#define MAX_RUNS 64

/* pipelines/video.yaml's stages, with cooccur.refresh (how often a changed
 * item's neighbour list is recomputed) from --list-refresh; the score
 * stage is appended per mode. */
static const char pipeline_head[] =
        "name: ingest-bench\n"
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
        "    max_users: 1000000\n"
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

static const char score_fmt[] = "  - type: score\n"
                                "    k: 20\n"
                                "    beta: 0.1\n"
                                "    gamma: 0.05\n"
                                "    min_history: 1\n"
                                "    max_per_category: 8\n"
                                "    min_refresh_interval: %s\n";

enum { M_DECODE, M_OFF, M_DEBOUNCED, M_EVERY, M__COUNT };

static const struct {
        const char *key, *label, *refresh;
} modes[M__COUNT] = {
        [M_DECODE] = {"decode", "decode only (baseline)", NULL},
        [M_OFF] = {"off", "(a) refresh off, no score", NULL},
        [M_DEBOUNCED] = {"1s", "(b) refresh debounced 1s", "1s"},
        [M_EVERY] = {"every", "(c) refresh on every event", "0s"},
};

typedef struct opts {
        unsigned long events;
        uint32_t users, items, gap_us;
        double exponent;
        int runs;
        uint64_t seed;
        int memory;
        int want[M__COUNT];
        const char *list_refresh;
} opts_t;

/* The encoded events, back to back, as a consumed batch would hold them. */
typedef struct corpus {
        char *data;
        size_t *off; /* n + 1 offsets */
        size_t n;
        int64_t first_ts, last_ts;
} corpus_t;

typedef struct result {
        double secs, cpu; /* wall clock; this thread's CPU time */
        unsigned long long emitted;
        size_t users, pairs, uwin_bytes, cooc_bytes;
} result_t;

static void die(const char *what)
{
        fprintf(stderr, "ingest_bench: %s\n", what);
        exit(1);
}

static rs_gen_t *gen_new(const opts_t *o)
{
        rs_gen_conf_t gc = {.seed = o->seed,
                            .users = o->users,
                            .categories = 16,
                            .start_ts = 1767225600000LL,
                            .zipf_items = o->items,
                            .zipf_exponent = o->exponent,
                            .gap_us = o->gap_us};
        rs_gen_t *gen = rs_gen_new(&gc);
        if (!gen)
                die("out of memory");
        return gen;
}

static void corpus_make(corpus_t *c, const opts_t *o)
{
        rs_gen_t *gen = gen_new(o);
        rs_intern_t *in = rs_intern_new();
        char err[256];
        rs_codec_t *codec =
                in ? rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err))
                   : NULL;
        size_t cap = (size_t)o->events * 64, used = 0;

        c->n = o->events;
        c->data = malloc(cap);
        c->off = malloc((c->n + 1) * sizeof(*c->off));
        if (!codec || !c->data || !c->off)
                die("out of memory");
        for (size_t i = 0; i < c->n; i++) {
                rs_event_fields_t f;
                const void *b;
                size_t len;
                rs_gen_next(gen, &f);
                if (rs_codec_encode_event(codec, &f, &b, &len))
                        die("encode failed");
                if (used + len > cap) {
                        cap *= 2;
                        if (!(c->data = realloc(c->data, cap)))
                                die("out of memory");
                }
                c->off[i] = used;
                memcpy(c->data + used, b, len);
                used += len;
                if (i == 0)
                        c->first_ts = f.ts;
                c->last_ts = f.ts;
        }
        c->off[c->n] = used;
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        rs_gen_destroy(gen);
}

static rs_pipeline_t *pipeline_new(const opts_t *o, const char *refresh)
{
        char text[4096];
        rs_diag_t d;
        rs_pipeline_t *pl;
        int n = snprintf(text, sizeof(text), pipeline_head, o->list_refresh);

        if (refresh)
                n += snprintf(text + n, sizeof(text) - (size_t)n, score_fmt,
                              refresh);
        rs_diag_init(&d, "<ingest_bench>");
        pl = rs_pipeline_parse(text, (size_t)n, &d);
        if (!pl)
                fprintf(stderr, "%s", d.text.p ? d.text.p : "");
        rs_diag_fini(&d);
        if (!pl)
                die("bad pipeline");
        return pl;
}

static rs_err_t count_recs(void *opaque, const rs_recs_t *recs)
{
        (void)recs;
        ++*(unsigned long long *)opaque;
        return RS_OK;
}

/* Decodes event i of the corpus as the worker does, with its Kafka
 * coordinates and timestamp (the producer's clock: the event time). */
static void decode(rs_codec_t *codec, const corpus_t *c, size_t i,
                   rs_event_t *ev)
{
        if (rs_codec_decode_event(codec, c->data + c->off[i],
                                  c->off[i + 1] - c->off[i], ev))
                die(rs_codec_error(codec));
        ev->partition = 0;
        ev->offset = (int64_t)i;
        ev->ingest_ts = ev->ts;
}

static void run_once(const opts_t *o, const corpus_t *c, int mode,
                     rs_event_t *ev, result_t *r)
{
        rs_pipeline_t *pl =
                mode == M_DECODE ? NULL : pipeline_new(o, modes[mode].refresh);
        rs_intern_t *in = rs_intern_new();
        rs_catalog_t *cat = rs_catalog_new(0, 1000000, in);
        char err[256];
        rs_codec_t *codec =
                in ? rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err))
                   : NULL;
        rs_local_t *local = NULL;
        rs_chain_t *ch = NULL;
        rs_emit_t out = {count_recs, &r->emitted};

        memset(r, 0, sizeof(*r));
        if (!codec || !cat)
                die("out of memory");
        if (pl && !(local = rs_local_new(pl, in, cat, err, sizeof(err))))
                die(err);
        ch = local ? rs_local_chain(local) : NULL;
        double t0 = bench_now_s(), c0 = bench_cpu_s();
        for (size_t i = 0; i < c->n;) {
                size_t n = 0;
                for (; n < BATCH && i < c->n; n++, i++)
                        decode(codec, c, i, &ev[n]);
                if (ch && rs_local_process(local, ev, n, &out))
                        die("a stage failed");
                if (ch) /* as the worker does after each batch */
                        rs_intern_collect(in);
        }
        /* the lists still owed to debounced users are part of the work */
        if (ch && rs_chain_flush(ch, c->last_ts, RS_FLUSH_PENDING, &out))
                die("a stage failed");
        r->secs = bench_now_s() - t0;
        r->cpu = bench_cpu_s() - c0;
        if (ch) {
                rs_uwin_t *win = rs_chain_find(ch, "user_window");
                rs_items_totals_t t = rs_items_totals(rs_local_items(local));
                r->users = rs_uwin_users(win);
                r->uwin_bytes = rs_uwin_bytes(win);
                r->pairs = t.pairs;
                r->cooc_bytes = t.bytes;
        }
        rs_local_destroy(local);
        rs_codec_destroy(codec);
        rs_catalog_destroy(cat);
        rs_intern_destroy(in);
        rs_pipeline_destroy(pl);
}

static int speed(const opts_t *o)
{
        corpus_t c = {0};
        rs_event_t *ev = malloc(BATCH * sizeof(*ev));
        double rate[M__COUNT][MAX_RUNS], crate[M__COUNT][MAX_RUNS];
        result_t last[M__COUNT];
        double t0 = bench_now_s();

        if (!ev)
                die("out of memory");
        corpus_make(&c, o);
        printf("ingest: %lu events (%.1f MB encoded, made in %.1f s): Zipf "
               "%.2f over %u items, %u users, %.1f s of event time; batch "
               "%d, %d runs per mode; cooccur.refresh %s\n",
               o->events, (double)c.off[c.n] / 1e6, bench_now_s() - t0,
               o->exponent, o->items, o->users,
               (double)(c.last_ts - c.first_ts) / 1000.0, BATCH, o->runs,
               o->list_refresh);
        fflush(stdout);
        for (int r = 0; r < o->runs; r++)
                for (int m = 0; m < M__COUNT; m++) {
                        if (!o->want[m])
                                continue;
                        run_once(o, &c, m, ev, &last[m]);
                        rate[m][r] = (double)c.n / last[m].secs;
                        crate[m][r] = (double)c.n / last[m].cpu;
                }
        double base = 0, cbase = 0;
        printf("events/s by the wall clock, median [min, max] of %d runs, "
               "ratio to decode only;\nthen the same per CPU second of the "
               "thread (less exposed to other load):\n",
               o->runs);
        for (int m = 0; m < M__COUNT; m++) {
                if (!o->want[m])
                        continue;
                qsort(rate[m], (size_t)o->runs, sizeof(double),
                      bench_cmp_double);
                qsort(crate[m], (size_t)o->runs, sizeof(double),
                      bench_cmp_double);
                double med = rate[m][o->runs / 2];
                double cmed = crate[m][o->runs / 2];
                if (m == M_DECODE) {
                        base = med;
                        cbase = cmed;
                }
                printf("  %-27s %9.0f [%9.0f, %9.0f] %6.3fx | cpu %9.0f "
                       "%6.3fx",
                       modes[m].label, med, rate[m][0], rate[m][o->runs - 1],
                       med / base, cmed, cmed / cbase);
                if (modes[m].refresh)
                        printf("  (%llu lists)", last[m].emitted);
                printf("\n");
        }
        for (int m = M_OFF; m < M__COUNT; m++)
                if (o->want[m]) {
                        const result_t *r = &last[m];
                        printf("state after a run: %zu users held, %.0f "
                               "B/user; %zu pairs, %.1f B/pair\n",
                               r->users,
                               r->users ? (double)r->uwin_bytes /
                                                  (double)r->users
                                        : 0,
                               r->pairs,
                               r->pairs ? (double)r->cooc_bytes /
                                                  (double)r->pairs
                                        : 0);
                        break;
                }
        free(c.data);
        free(c.off);
        free(ev);
        return 0;
}

/* VmRSS and VmHWM of this process, in kB. */
static void proc_mem(long *rss, long *hwm)
{
        *rss = bench_status_kb("VmRSS:");
        *hwm = bench_status_kb("VmHWM:");
}

static int memory(const opts_t *o)
{
        rs_pipeline_t *pl = pipeline_new(o, NULL);
        rs_intern_t *in = rs_intern_new();
        rs_catalog_t *cat = rs_catalog_new(0, 1000000, in);
        rs_gen_t *gen = gen_new(o);
        char err[256];
        rs_codec_t *enc =
                in ? rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err))
                   : NULL;
        rs_codec_t *dec =
                in ? rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err))
                   : NULL;
        rs_local_t *local = rs_local_new(pl, in, cat, err, sizeof(err));
        rs_chain_t *ch = local ? rs_local_chain(local) : NULL;
        rs_event_t *ev = malloc(BATCH * sizeof(*ev));
        unsigned long long emitted = 0;
        rs_emit_t out = {count_recs, &emitted};
        long rss0, hwm0, rss, hwm;
        double t0 = bench_now_s(), tproc = 0;
        int64_t first_ts = 0, last_ts = 0;

        if (!enc || !dec || !ch || !ev)
                die("out of memory");
        rs_uwin_t *win = rs_chain_find(ch, "user_window");
        rs_items_t *items = rs_local_items(local);
        proc_mem(&rss0, &hwm0);
        for (unsigned long i = 0; i < o->events;) {
                size_t n = 0;
                for (; n < BATCH && i < o->events; n++, i++) {
                        rs_event_fields_t f;
                        const void *b;
                        size_t len;
                        rs_gen_next(gen, &f);
                        if (rs_codec_encode_event(enc, &f, &b, &len) ||
                            rs_codec_decode_event(dec, b, len, &ev[n]))
                                die("codec failed");
                        ev[n].ingest_ts = ev[n].ts;
                        if (i == 0)
                                first_ts = f.ts;
                        last_ts = f.ts;
                }
                double t = bench_now_s();
                if (rs_local_process(local, ev, n, &out))
                        die("a stage failed");
                rs_intern_collect(in);
                tproc += bench_now_s() - t;
                if (i % 1000000 == 0)
                        fprintf(stderr,
                                "  %lu events, %zu users, %zu pairs, %.0f s\n",
                                i, rs_uwin_users(win),
                                rs_items_totals(items).pairs,
                                bench_now_s() - t0);
        }
        proc_mem(&rss, &hwm);
        rs_items_totals_t tot = rs_items_totals(items);
        size_t users = rs_uwin_users(win), pairs = tot.pairs;
        size_t ub = rs_uwin_bytes(win), cb = tot.bytes;
        printf("memory: %lu events (Zipf %.2f over %u items, %u users, %.1f h "
               "of event time), window 50, no score\n",
               o->events, o->exponent, o->items, o->users,
               (double)(last_ts - first_ts) / 3.6e6);
        printf("  users held %zu: user_window %.1f MB, %.0f B/user\n", users,
               (double)ub / 1e6, users ? (double)ub / (double)users : 0);
        printf("  items %u (%zu held, %llu evicted): cooccur %.1f MB; %zu "
               "pairs, %.1f B/pair\n",
               o->items, tot.items, (unsigned long long)tot.evictions,
               (double)cb / 1e6, pairs, pairs ? (double)cb / (double)pairs : 0);
        printf("  string table %.1f MB: %u ids live, id bound %u, %llu "
               "freed\n",
               (double)rs_intern_bytes(in) / 1e6, rs_intern_live(in),
               rs_intern_id_bound(in), (unsigned long long)rs_intern_freed(in));
        printf("  VmRSS %.1f MB, VmHWM %.1f MB (%.1f MB before the first "
               "event)\n",
               (double)rss / 1024, (double)hwm / 1024, (double)rss0 / 1024);
        printf("  %.1f s in all, %.1f s in the stages (%.0f events/s)\n",
               bench_now_s() - t0, tproc, (double)o->events / tproc);
        rs_local_destroy(local);
        rs_codec_destroy(enc);
        rs_codec_destroy(dec);
        rs_gen_destroy(gen);
        rs_catalog_destroy(cat);
        rs_intern_destroy(in);
        rs_pipeline_destroy(pl);
        free(ev);
        return 0;
}

static const char usage[] =
        "usage: ingest_bench [--events N] [--users N] [--items N] "
        "[--exponent S]\n"
        "                    [--minutes M | --events-per-s E] [--runs R] "
        "[--seed S]\n"
        "                    [--list-refresh DURATION (1m)]\n"
        "                    [--modes decode,off,1s,every]\n"
        "       ingest_bench --memory [--events N] [--users N] [--items N]\n";

int main(int argc, char **argv)
{
        static const struct option lo[] = {{"events", 1, NULL, 'n'},
                                           {"users", 1, NULL, 'u'},
                                           {"items", 1, NULL, 'i'},
                                           {"exponent", 1, NULL, 'e'},
                                           {"minutes", 1, NULL, 't'},
                                           {"runs", 1, NULL, 'r'},
                                           {"seed", 1, NULL, 's'},
                                           {"modes", 1, NULL, 'm'},
                                           {"memory", 0, NULL, 'M'},
                                           {"help", 0, NULL, 'h'},
                                           {"events-per-s", 1, NULL, 'E'},
                                           {"list-refresh", 1, NULL, 'L'},
                                           {NULL, 0, NULL, 0}};
        rs_vec_init(); /* as recstream's main(): OpenBLAS on this thread */
        opts_t o = {.events = 0,
                    .users = 0,
                    .items = 1000000,
                    .exponent = 1.0,
                    .runs = 5,
                    .seed = 42,
                    .list_refresh = "1m"};
        double minutes = 60, rate = 0;
        int minutes_set = 0;
        const char *want = "decode,off,1s,every";
        int c;

        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (c) {
                case 'n': o.events = strtoul(optarg, NULL, 10); break;
                case 'u': o.users = (uint32_t)strtoul(optarg, NULL, 10); break;
                case 'i': o.items = (uint32_t)strtoul(optarg, NULL, 10); break;
                case 'e': o.exponent = strtod(optarg, NULL); break;
                case 't':
                        minutes = strtod(optarg, NULL);
                        minutes_set = 1;
                        break;
                case 'E': rate = strtod(optarg, NULL); break;
                case 'L': o.list_refresh = optarg; break;
                case 'r': o.runs = atoi(optarg); break;
                case 's': o.seed = strtoull(optarg, NULL, 10); break;
                case 'm': want = optarg; break;
                case 'M': o.memory = 1; break;
                case 'h': fputs(usage, stdout); return 0;
                default: fputs(usage, stderr); return 2;
                }
        }
        if (!o.events)
                o.events = o.memory ? 12000000 : 2000000;
        if (!o.users)
                o.users = o.memory ? 1000000 : 100000;
        if (optind != argc || o.runs < 1 || o.runs > MAX_RUNS || !o.items ||
            minutes <= 0 || rate < 0 || rate > 1e6 || (rate && rate < 1) ||
            (rate && minutes_set) || strlen(o.list_refresh) > 32) {
                fputs(usage, stderr);
                return 2;
        }
        /* Mean gap so the events span `minutes` of event time, or so
         * that event time advances as fast as a live stream of `rate`. */
        o.gap_us = (uint32_t)(rate ? 1e6 / rate
                                   : minutes * 60e6 / (double)o.events);
        if (!o.gap_us)
                o.gap_us = 1;
        if (o.memory)
                return memory(&o);
        for (int m = 0; m < M__COUNT; m++) {
                const char *p = strstr(want, modes[m].key);
                size_t k = strlen(modes[m].key);
                o.want[m] = p && (p == want || p[-1] == ',') &&
                            (p[k] == ',' || p[k] == '\0');
        }
        o.want[M_DECODE] = 1; /* the baseline is always measured */
        return speed(&o);
}
