/* fuzz_evfile.c — libFuzzer target: an event file read as `recstream
 * replay` reads it: rs_evfile_open() on a path, rs_evfile_next() until the
 * end (a bad row is skipped, as replay does), which turns each row into an
 * interned event with the same code.
 *
 * Compiled once per format: -DSUFFIX='".csv"' (the canonical CSV,
 * src/io/csvin.c) or -DSUFFIX='".jsonl"' (JSON lines, src/io/evfile.c). The
 * input is written to a temporary file with that suffix, which is how
 * rs_evfile_open() picks the reader.
 *
 * Besides the sanitizers, the reader's promises are checked: an event
 * holds interned ids and a known type; a bad row has a message naming its
 * line; the reader ends. JSON lines are independent, so a bad line loses
 * nothing else: a sound line written after the input is always read, as
 * the last event. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recstream/event.h"
#include "recstream/evfile.h"
#include "recstream/intern.h"

#ifndef SUFFIX
#error "compile with -DSUFFIX='\".csv\"' or '\".jsonl\"'"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "%s:%d: broken promise: %s\n",         \
                                __FILE__, __LINE__, #cond);                    \
                        abort();                                               \
                }                                                              \
        } while (0)

static char path[4096];

/* Appended to every JSON-lines input. */
static const char sentinel[] =
        "\n{\"event_id\":\"fuzz-e\",\"user_id\":\"fuzz-u\","
        "\"item_id\":\"fuzz-i\",\"event_type\":\"like\",\"ts\":1}\n";

static void remove_file(void)
{
        unlink(path);
}

static void make_file(void)
{
        const char *dir = getenv("TMPDIR");
        int fd;

        snprintf(path, sizeof(path), "%s/recstream-fuzz-XXXXXX%s",
                 dir && *dir ? dir : "/tmp", SUFFIX);
        fd = mkstemps(path, (int)strlen(SUFFIX));
        if (fd < 0) {
                perror("fuzz_evfile: mkstemps");
                abort();
        }
        close(fd);
        atexit(remove_file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char errstr[512];
        rs_intern_t *in;
        rs_evfile_t *f;
        FILE *out;
        rs_event_t ev;
        rs_err_t err;
        size_t rows = 0;
        int jsonl = !strcmp(SUFFIX, ".jsonl");
        uint32_t last_user = RS_ID_NONE, last_item = RS_ID_NONE;

        if (!path[0])
                make_file();
        out = fopen(path, "wb");
        CHECK(out != NULL);
        CHECK(fwrite(data, 1, size, out) == size);
        if (jsonl)
                CHECK(fputs(sentinel, out) >= 0);
        CHECK(fclose(out) == 0);

        in = rs_intern_new();
        CHECK(in != NULL);
        errstr[0] = '\0';
        f = rs_evfile_open(path, in, RS_ID_MAX_DEFAULT, errstr, sizeof(errstr));
        if (!f) {
                CHECK(errstr[0] != '\0');
                rs_intern_destroy(in);
                return 0;
        }
        while ((err = rs_evfile_next(f, &ev, errstr, sizeof(errstr))) !=
               RS_ERR_NOENT) {
                CHECK(rows++ <= size + 2); /* every row takes a byte */
                last_user = last_item = RS_ID_NONE;
                if (err == RS_OK) {
                        last_user = ev.user;
                        last_item = ev.item;
                        CHECK(rs_intern_str(in, ev.user, NULL) != NULL);
                        CHECK(rs_intern_str(in, ev.item, NULL) != NULL);
                        CHECK(ev.category == RS_ID_NONE ||
                              rs_intern_str(in, ev.category, NULL) != NULL);
                        CHECK(ev.type < RS_EV__COUNT);
                        continue;
                }
                CHECK(err == RS_ERR_DECODE);
                CHECK(!strncmp(errstr, "line ", 5));
                errstr[0] = '\0';
                CHECK(rs_evfile_progress(f) >= 0);
        }
        CHECK(rs_evfile_progress(f) >= 0 && rs_evfile_progress(f) <= 1);
        if (jsonl) {
                CHECK(last_user == rs_intern_find(in, "fuzz-u", 6));
                CHECK(last_item == rs_intern_find(in, "fuzz-i", 6));
        }
        rs_evfile_close(f);
        rs_intern_destroy(in);
        return 0;
}
