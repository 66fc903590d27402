/* stream_rss — the worker's memory under a stream of ever new users: a
 * generated stream goes through an rs_chain of pipelines/video.yaml's
 * stages (score publishing into a counter), batch by batch with a collect
 * of the string table after each, as the worker runs them, and the
 * process's resident memory (/proc/self/statm) is printed at checkpoints
 * of distinct users, with what each store holds and has evicted.
 *
 * Users start one after another and stay active for a while: event i is
 * by one of the `--active` most recently started users, so every user
 * has about `--events-per-user` events and the distinct users grow
 * linearly. Items are Zipf(1)-popular over `--items`, and `--new-items`
 * never seen before are spread over the stream. Every `--rejected`-th
 * record is one that clean drops (too old), with ids of its own, as bad
 * records from a producer would be. Event time advances 1 ms an event.
 *
 * Output: one line per checkpoint, `key=value` fields; rss_kb is what the
 * checkpoint measures. tests/memory/test_rss.py and BENCHMARKS.md use it. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "recstream/catalog.h"
#include "recstream/chain.h"
#include "recstream/topology.h"
#include "recstream/clean.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/intern.h"
#include "recstream/pipeline.h"
#include "recstream/score.h"
#include "recstream/user_window.h"
#include "recstream/vec.h"

#define BATCH     500 /* video.yaml's source.batch_size */
#define MAX_CHECK 16

/* pipelines/video.yaml's stages, with user_window.max_users and the
 * bounds that default in video.yaml (clean.dedupe_max, clean.max_rate_users,
 * cooccur.max_items) from the options. */
static const char pipeline_fmt[] =
        "name: stream-rss\n"
        "source: {}\n"
        "sink: {}\n"
        "stages:\n"
        "  - type: clean\n"
        "    max_age: 7d\n"
        "    max_future: 10m\n"
        "    dedupe_ttl: 1h\n"
        "    dedupe_max: %lu\n"
        "    max_user_rate: 600\n"
        "    burst: 60\n"
        "    max_rate_users: %lu\n"
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
        "    refresh: 1m\n"
        "    min_count: 0\n"
        "    trending_half_life: 6h\n"
        "    trending_size: 200\n"
        "    max_items: %lu\n"
        "  - type: score\n"
        "    k: 20\n"
        "    beta: 0.1\n"
        "    gamma: 0.05\n"
        "    min_history: 1\n"
        "    max_per_category: 8\n"
        "    min_refresh_interval: 5s\n";

typedef struct opts {
        unsigned long checks[MAX_CHECK];
        int nchecks;
        unsigned long items, new_items, max_users, active, rejected;
        unsigned long dedupe_max, max_rate_users, max_items;
        double per_user;
        int codec;
} opts_t;

static const char usage[] =
        "usage: stream_rss [--users N[,N...] (1000000,3000000)] "
        "[--events-per-user E (2)]\n"
        "                  [--active A (500)] [--items N (100000)] "
        "[--new-items N (0)]\n"
        "                  [--max-users N (1000)] [--rejected K (10)] "
        "[--codec]\n"
        "                  [--dedupe-max N] [--max-rate-users N] "
        "[--max-items N] (1000000)\n"
        "A line per checkpoint of distinct users: rss_kb and what each "
        "store holds.\n";

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return rng * 0x2545F4914F6CDD1DULL;
}

static double unit(void)
{
        return (double)(next_rand() >> 11) / 9007199254740992.0;
}

static long rss_kb(void)
{
        long size = 0, resident = 0;
        FILE *f = fopen("/proc/self/statm", "r");

        if (!f)
                return -1;
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
                resident = -1;
        fclose(f);
        return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* VmHWM of /proc/self/status: the peak resident memory, in kB. */
static long hwm_kb(void)
{
        char line[256];
        long kb = -1;
        FILE *f = fopen("/proc/self/status", "r");

        while (f && fgets(line, sizeof(line), f))
                if (!strncmp(line, "VmHWM:", 6))
                        kb = atol(line + 6);
        if (f)
                fclose(f);
        return kb;
}

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rs_err_t count_recs(void *opaque, const rs_recs_t *recs)
{
        (void)recs;
        ++*(unsigned long long *)opaque;
        return RS_OK;
}

static int parse_checks(opts_t *o, char *s)
{
        o->nchecks = 0;
        for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) {
                if (o->nchecks == MAX_CHECK)
                        return -1;
                o->checks[o->nchecks] = strtoul(t, NULL, 10);
                if (!o->checks[o->nchecks] ||
                    (o->nchecks &&
                     o->checks[o->nchecks] <= o->checks[o->nchecks - 1]))
                        return -1;
                o->nchecks++;
        }
        return o->nchecks ? 0 : -1;
}

/* The fields of event i. Strings live in the static buffers. */
static void make_event(const opts_t *o, unsigned long i, rs_event_fields_t *f,
                       unsigned long *fresh)
{
        static char eid[32], user[32], item[32], cat[16];
        static const int types[] = {
                RS_EV_IMPRESSION, RS_EV_IMPRESSION, RS_EV_PLAY, RS_EV_WATCH,
                RS_EV_WATCH,      RS_EV_WATCH,      RS_EV_LIKE, RS_EV_SKIP,
                RS_EV_SHARE,      RS_EV_CLICK};
        /* the users started so far: one a per_user events */
        unsigned long started = (unsigned long)((double)i / o->per_user) + 1;
        unsigned long span = started < o->active ? started : o->active;
        unsigned long u = started - 1 - next_rand() % span;
        const int64_t ts = 1767225600000LL + (int64_t)i;

        *f = (rs_event_fields_t){.event_id = eid,
                                 .user_id = user,
                                 .item_id = item,
                                 .ts = ts,
                                 .duration_ms = 30000,
                                 .category = cat,
                                 .value = NAN};
        snprintf(eid, sizeof(eid), "e%lu", i);
        if (o->rejected && i % o->rejected == o->rejected - 1) {
                /* 8 days old: clean drops it as too old */
                snprintf(user, sizeof(user), "bad-user-%lu", i);
                snprintf(item, sizeof(item), "bad-item-%lu", i);
                snprintf(cat, sizeof(cat), "c%lu", i % 16);
                f->type = RS_EV_WATCH;
                f->ts = ts - 8 * 86400000LL;
                return;
        }
        snprintf(user, sizeof(user), "u%lu", u);
        /* the new items evenly over the events up to the last checkpoint */
        double events = (double)o->checks[o->nchecks - 1] * o->per_user;
        unsigned long r;
        if (o->new_items &&
            (double)(i + 1) * (double)o->new_items / events > (double)*fresh) {
                r = (*fresh)++;
                snprintf(item, sizeof(item), "n%lu", r);
        } else {
                /* Zipf(1), continuous: rank = (N + 1)^u − 1 */
                r = (unsigned long)(exp(unit() * log((double)o->items + 1)) -
                                    1);
                if (r >= o->items)
                        r = o->items - 1;
                snprintf(item, sizeof(item), "v%lu", r);
        }
        snprintf(cat, sizeof(cat), "c%lu", r % 16);
        f->type = types[next_rand() % 10];
        f->watch_ms =
                f->type == RS_EV_WATCH ? (int64_t)(next_rand() % 30000) : 0;
}

int main(int argc, char **argv)
{
        static const struct option lo[] = {{"users", 1, NULL, 'u'},
                                           {"events-per-user", 1, NULL, 'e'},
                                           {"active", 1, NULL, 'a'},
                                           {"items", 1, NULL, 'i'},
                                           {"new-items", 1, NULL, 'n'},
                                           {"max-users", 1, NULL, 'm'},
                                           {"rejected", 1, NULL, 'r'},
                                           {"codec", 0, NULL, 'c'},
                                           {"dedupe-max", 1, NULL, 'D'},
                                           {"max-rate-users", 1, NULL, 'R'},
                                           {"max-items", 1, NULL, 'I'},
                                           {"help", 0, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        char checks[] = "1000000,3000000", text[4096], err[256];
        opts_t o = {.items = 100000,
                    .max_users = 1000,
                    .active = 500,
                    .rejected = 10,
                    .dedupe_max = 1000000,
                    .max_rate_users = 1000000,
                    .max_items = 1000000,
                    .per_user = 2};
        int c, check = 0;

        rs_vec_init();
        parse_checks(&o, checks);
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (c) {
                case 'u':
                        if (parse_checks(&o, optarg)) {
                                fputs(usage, stderr);
                                return 2;
                        }
                        break;
                case 'e': o.per_user = strtod(optarg, NULL); break;
                case 'a': o.active = strtoul(optarg, NULL, 10); break;
                case 'i': o.items = strtoul(optarg, NULL, 10); break;
                case 'n': o.new_items = strtoul(optarg, NULL, 10); break;
                case 'm': o.max_users = strtoul(optarg, NULL, 10); break;
                case 'r': o.rejected = strtoul(optarg, NULL, 10); break;
                case 'c': o.codec = 1; break;
                case 'D': o.dedupe_max = strtoul(optarg, NULL, 10); break;
                case 'R': o.max_rate_users = strtoul(optarg, NULL, 10); break;
                case 'I': o.max_items = strtoul(optarg, NULL, 10); break;
                case 'h': fputs(usage, stdout); return 0;
                default: fputs(usage, stderr); return 2;
                }
        }
        if (optind != argc || o.per_user < 1 || !o.active || !o.items ||
            !o.max_users) {
                fputs(usage, stderr);
                return 2;
        }

        rs_diag_t d;
        int len = snprintf(text, sizeof(text), pipeline_fmt, o.dedupe_max,
                           o.max_rate_users, o.max_users, o.max_items);
        rs_diag_init(&d, "<stream_rss>");
        rs_pipeline_t *pl = rs_pipeline_parse(text, (size_t)len, &d);
        if (!pl) {
                fprintf(stderr, "%s", d.text.p ? d.text.p : "");
                return 2;
        }
        rs_diag_fini(&d);
        rs_intern_t *in = rs_intern_new();
        rs_catalog_t *cat =
                in ? rs_catalog_new(0, (size_t)pl->items.max_items, in) : NULL;
        rs_local_t *local =
                cat ? rs_local_new(pl, in, cat, err, sizeof(err)) : NULL;
        rs_chain_t *ch = local ? rs_local_chain(local) : NULL;
        rs_codec_t *enc = ch && o.codec ? rs_codec_new(RS_FRAMING_PLAIN, in,
                                                       err, sizeof(err))
                                        : NULL;
        rs_codec_t *dec =
                enc ? rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err))
                    : NULL;
        rs_event_t *ev = malloc(BATCH * sizeof(*ev));
        if (!ch || !ev || (o.codec && !dec)) {
                fprintf(stderr, "stream_rss: %s\n", ch ? err : "out of memory");
                return 1;
        }
        const void *cl = rs_chain_find(ch, "clean");
        rs_uwin_t *win = rs_chain_find(ch, "user_window");
        rs_items_t *items = rs_local_items(local);
        rs_score_t *sc = rs_chain_find(ch, "score");
        unsigned long long lists = 0;
        rs_emit_t out = {count_recs, &lists};
        unsigned long fresh = 0, i = 0;
        double t0 = now_s();

        printf("stream_rss: max_users=%lu items=%lu new_items=%lu "
               "events_per_user=%g active=%lu rejected_every=%lu codec=%d "
               "dedupe_max=%lu max_rate_users=%lu max_items=%lu "
               "start_rss_kb=%ld\n",
               o.max_users, o.items, o.new_items, o.per_user, o.active,
               o.rejected, o.codec, o.dedupe_max, o.max_rate_users, o.max_items,
               rss_kb());
        fflush(stdout);
        while (check < o.nchecks) {
                size_t n = 0;
                for (; n < BATCH; n++, i++) {
                        rs_event_fields_t f;
                        const char *reason;
                        make_event(&o, i, &f, &fresh);
                        if (o.codec) {
                                const void *b;
                                size_t blen;
                                if (rs_codec_encode_event(enc, &f, &b, &blen) ||
                                    rs_codec_decode_event(dec, b, blen,
                                                          &ev[n])) {
                                        fprintf(stderr, "stream_rss: codec\n");
                                        return 1;
                                }
                        } else if (rs_event_from_fields(&f, in,
                                                        RS_ID_MAX_DEFAULT,
                                                        &ev[n], &reason)) {
                                fprintf(stderr, "stream_rss: out of memory\n");
                                return 1;
                        }
                        ev[n].ingest_ts = ev[n].ts;
                }
                if (rs_local_process(local, ev, n, &out)) {
                        fprintf(stderr, "stream_rss: a stage failed\n");
                        return 1;
                }
                rs_intern_collect(in);
                unsigned long users = (unsigned long)((double)i / o.per_user);
                if (users < o.checks[check])
                        continue;
                long rss = rss_kb();
                rs_clean_state_t cs;
                rs_clean_state(cl, &cs);
                printf("users=%lu events=%lu rss_kb=%ld peak_rss_kb=%ld "
                       "secs=%.1f lists=%llu uwin_users=%zu uwin_bytes=%zu "
                       "uwin_evictions=%llu cooc_items=%zu cooc_bytes=%zu "
                       "cooc_pairs=%zu cooc_evictions=%llu fresh_items=%lu "
                       "intern_live=%u intern_bound=%u intern_bytes=%zu "
                       "intern_freed=%llu score_users=%zu score_bytes=%zu "
                       "dedupe_ids=%zu dedupe_bytes=%zu "
                       "rate_users=%zu rate_bytes=%zu rate_evictions=%llu "
                       "too_old=%llu\n",
                       users, i, rss, hwm_kb(), now_s() - t0, lists,
                       rs_uwin_users(win), rs_uwin_bytes(win),
                       (unsigned long long)rs_uwin_evictions(win),
                       rs_items_totals(items).items,
                       rs_items_totals(items).bytes,
                       rs_items_totals(items).pairs,
                       (unsigned long long)rs_items_totals(items).evictions,
                       fresh, rs_intern_live(in), rs_intern_id_bound(in),
                       rs_intern_bytes(in),
                       (unsigned long long)rs_intern_freed(in),
                       rs_score_users(sc), rs_score_bytes(sc), cs.dedupe_ids,
                       cs.dedupe_bytes, cs.rate_users, cs.rate_bytes,
                       (unsigned long long)cs.rate_evictions,
                       (unsigned long long)rs_clean_drops(cl, RS_DROP_TOO_OLD));
                fflush(stdout);
                check++;
        }
        rs_local_destroy(local);
        rs_catalog_destroy(cat);
        rs_codec_destroy(enc);
        rs_codec_destroy(dec);
        rs_intern_destroy(in);
        rs_pipeline_destroy(pl);
        free(ev);
        return 0;
}
