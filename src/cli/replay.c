/* replay.c — `recstream replay`: a pipeline's stages over a file, no
 * Kafka: backfills and offline checks. Writes every user's final UserRecs
 * as JSON lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "recstream/buf.h"
#include "recstream/catalog.h"
#include "recstream/chain.h"
#include "recstream/topology.h"
#include "recstream/codec.h"
#include "recstream/cooccur.h"
#include "recstream/evfile.h"
#include "recstream/pipeline.h"
#include "recstream/user_window.h"

#define BATCH 4096

static const rs_cmd_info_t replay_cmd = {
        .name = "replay",
        .synopsis = "-c PIPELINE --input EVENTS [--output recs.jsonl]"
                    "\n       [--dlq dead.jsonl]",
        .about = "Runs the pipeline's stages over a file of events (no "
                 "Kafka): the canonical\nCSV (.csv), JSON lines (.jsonl, "
                 ".json: one flat object a line with the\nCSV's or "
                 "BehaviorEvent's field names, what `tail --events` prints) "
                 "or an Avro\ncontainer (.avro); '-' reads CSV from stdin. "
                 "Writes each user's final\nrecommendations as one JSON "
                 "object a line (default stdout). Records that\ncannot be "
                 "used are dead letters, as the worker's: with --dlq each is "
                 "one JSON\nline (stage, reason, line, detail); without, "
                 "the first ten are reported on\nstderr. The summary on "
                 "stderr balances the books: records = processed + dead\n"
                 "letters + duplicates + rate-limited. A progress line on "
                 "stderr when it is a\nterminal.\n",
        .signals = "none handled: SIGINT and SIGTERM end it at once (the "
                   "output is partial).",
        .exits = "0  replayed and written\n"
                 "1  the input cannot be read, the output cannot be "
                 "written, out of memory\n"
                 "2  usage error, or the pipeline has errors",
        .config = 1,
};

/* Dead letters of a replay: counted, written to --dlq as JSON lines. */
typedef struct dlq {
        FILE *f;
        const char *input;
        rs_buf_t line;
        unsigned long long n;
} dlq_t;

static int dead_letter(dlq_t *q, const char *stage, const char *reason,
                       long line, const char *detail)
{
        q->n++;
        if (!q->f) {
                if (q->n <= 10)
                        fprintf(stderr,
                                "recstream: replay: %s: line %ld: %s%s%s "
                                "(dead letter)\n",
                                q->input, line, reason, *detail ? ": " : "",
                                detail);
                return 0;
        }
        rs_buf_reset(&q->line);
        rs_buf_printf(&q->line,
                      "{\"stage\":\"%s\",\"reason\":\"%s\","
                      "\"line\":%ld,\"detail\":",
                      stage, reason, line);
        rs_buf_json_str(&q->line, detail, strlen(detail));
        rs_buf_adds(&q->line, "}");
        return q->line.oom || fprintf(q->f, "%s\n", q->line.p) < 0 ? -1 : 0;
}

typedef struct sink {
        FILE *f;
        const rs_intern_t *in;
        rs_buf_t line;
        unsigned long long written;
} sink_t;

static rs_err_t write_recs(void *opaque, const rs_recs_t *recs)
{
        sink_t *s = opaque;

        rs_buf_reset(&s->line);
        if (rs_buf_recs_json(&s->line, recs, s->in) ||
            fprintf(s->f, "%s\n", s->line.p) < 0)
                return RS_ERR_IO;
        s->written++;
        return RS_OK;
}

int rs_cmd_replay(int argc, char **argv)
{
        const char *path = NULL, *input = NULL, *output = NULL, *dlq = NULL;
        char errstr[512] = "out of memory"; /* unless a constructor says */
        int c, rc = RS_EXIT_FAIL, tty = isatty(2);
        rs_pipeline_t *pl = NULL;
        rs_intern_t *in = NULL;
        rs_local_t *local = NULL; /* both sides, the shuffle in memory */
        rs_chain_t *ch = NULL;
        rs_catalog_t *cat = NULL;
        rs_evfile_t *f = NULL;
        rs_event_t *ev = NULL;
        sink_t out = {0};
        dlq_t dl = {0};
        unsigned long long nread = 0, records = 0,
                           dropped[RS_DROP__COUNT] = {0};
        int64_t now = INT64_MIN;
        double t0 = rs_cli_now(), next_progress = t0 + 0.2;

        const rs_opt_t opts[] = {
                RS_OPT_CONFIG(&path),
                {.name = "input",
                 .short_name = 'i',
                 .kind = RS_OPT_STRING,
                 .dst = &input,
                 .arg = "EVENTS",
                 .doc = "the events: .csv, .jsonl/.json, .avro, or -\n(CSV on "
                        "stdin)",
                 .flags = RS_OPT_REQUIRED},
                {.name = "output",
                 .short_name = 'o',
                 .kind = RS_OPT_STRING,
                 .dst = &output,
                 .arg = "FILE",
                 .doc = "where the UserRecs JSON lines go (default stdout)"},
                {.name = "dlq",
                 .short_name = 'd',
                 .kind = RS_OPT_STRING,
                 .dst = &dlq,
                 .arg = "FILE",
                 .doc = "every dead letter as one JSON line"},
                {.name = NULL}};
        if ((c = rs_cli_parse(&replay_cmd, opts, argc, argv)))
                return RS_CLI_EXIT(c);
        if (!(pl = rs_cli_load_pipeline(path)))
                return RS_EXIT_USAGE;

        rs_buf_init(&out.line);
        rs_buf_init(&dl.line);
        dl.input = input;
        out.f = output ? fopen(output, "w") : stdout;
        if (!out.f || (dlq && !(dl.f = fopen(dlq, "w")))) {
                fprintf(stderr, "recstream: replay: cannot write %s\n",
                        out.f ? dlq : output);
                goto out;
        }
        if (!(in = rs_intern_new()) || !(ev = malloc(BATCH * sizeof(*ev))) ||
            !(f = rs_evfile_open(input, in, (size_t)pl->source.max_id_bytes,
                                 errstr, sizeof(errstr))) ||
            !(cat = rs_catalog_new((size_t)pl->items.embedding_dim,
                                   (size_t)pl->items.max_items, in)) ||
            !(local = rs_local_new(pl, in, cat, errstr, sizeof(errstr)))) {
                fprintf(stderr, "recstream: replay: %s\n", errstr);
                goto out;
        }
        ch = rs_local_chain(local);
        out.in = in;
        rs_emit_t emit = {write_recs, &out};
        for (int eof = 0; !eof;) {
                size_t n = 0;
                while (n < BATCH) {
                        rs_err_t err = rs_evfile_next(f, &ev[n], errstr,
                                                      sizeof(errstr));
                        if (err == RS_ERR_NOENT) {
                                eof = 1;
                                break;
                        }
                        if (err == RS_ERR_NOMEM)
                                goto nomem;
                        records++;
                        if (err) {
                                if (dead_letter(&dl, "decode",
                                                rs_evfile_reason(f),
                                                rs_evfile_line(f), errstr))
                                        goto io;
                                continue;
                        }
                        if (ev[n].ts > now)
                                now = ev[n].ts;
                        n++;
                }
                nread += n;
                if (rs_local_process(local, ev, n, NULL))
                        goto nomem;
                for (size_t i = 0; i < n; i++) {
                        char detail[64];
                        dropped[ev[i].drop]++;
                        if (!rs_drop_dead_letter(ev[i].drop))
                                continue;
                        snprintf(detail, sizeof(detail), "ts=%lld",
                                 (long long)ev[i].ts);
                        if (dead_letter(&dl, rs_drop_stage(ev[i].drop),
                                        rs_drop_name(ev[i].drop),
                                        (long)ev[i].offset, detail))
                                goto io;
                }
                rs_intern_collect(in); /* ids no state holds any more */
                if (tty && rs_cli_now() >= next_progress) {
                        double pct = 100.0 * rs_evfile_progress(f);
                        fprintf(stderr,
                                "\rreplay: %5.1f%%  %llu events  "
                                "%.0f events/s",
                                pct, nread,
                                (double)nread / (rs_cli_now() - t0));
                        next_progress = rs_cli_now() + 0.2;
                }
        }
        if (rs_local_settle(local))
                goto nomem;
        if (rs_chain_flush(ch, now, RS_FLUSH_ALL, &emit) || fflush(out.f) ||
            (dl.f && fflush(dl.f)))
                goto io;
        if (tty)
                fprintf(stderr, "\r%60s\r", "");
        rs_uwin_t *win = rs_chain_find(ch, "user_window");
        rs_items_t *items = rs_local_items(local);
        unsigned long long skipped =
                dropped[RS_DROP_DUPLICATE] + dropped[RS_DROP_RATE_LIMIT];
        fprintf(stderr,
                "recstream: replay: %llu records: %llu processed, %llu dead "
                "letters, %llu duplicates, %llu rate-limited; %llu users "
                "written, %.2f s",
                records, records - dl.n - skipped, dl.n,
                dropped[RS_DROP_DUPLICATE], dropped[RS_DROP_RATE_LIMIT],
                out.written, rs_cli_now() - t0);
        for (int r = 1; r < RS_DROP__COUNT; r++)
                if (dropped[r])
                        fprintf(stderr, ", %s %llu", rs_drop_name(r),
                                dropped[r]);
        if (win)
                fprintf(stderr, ", %zu users held (%llu evicted)",
                        rs_uwin_users(win),
                        (unsigned long long)rs_uwin_evictions(win));
        for (int32_t p = 0; items && p < rs_items_partitions(items); p++) {
                const rs_cooc_t *co = rs_items_partition(items, p);
                fprintf(stderr,
                        "%s %zu items (%llu evicted), %zu pairs, %llu lists "
                        "made (%llu partially)",
                        p ? ";" : ", item partitions:", rs_cooc_items(co),
                        (unsigned long long)rs_cooc_evictions(co),
                        rs_cooc_pairs(co),
                        (unsigned long long)rs_cooc_refreshes(co, 0),
                        (unsigned long long)rs_cooc_refreshes(co, 1));
        }
        fprintf(stderr, ", %u ids (%llu freed)", rs_intern_live(in),
                (unsigned long long)rs_intern_freed(in));
        fprintf(stderr, "\n");
        rc = RS_EXIT_OK;
        goto out;
io:
        fprintf(stderr, "recstream: replay: cannot write the output\n");
        goto out;
nomem:
        fprintf(stderr, "recstream: replay: out of memory\n");
out:
        rs_local_destroy(local);
        rs_catalog_destroy(cat);
        rs_evfile_close(f);
        if (out.f && out.f != stdout)
                fclose(out.f);
        if (dl.f)
                fclose(dl.f);
        rs_buf_fini(&out.line);
        rs_buf_fini(&dl.line);
        free(ev);
        rs_intern_destroy(in);
        rs_pipeline_destroy(pl);
        return rc;
}
