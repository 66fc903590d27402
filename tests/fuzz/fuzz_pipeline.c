/* fuzz_pipeline.c — libFuzzer target: YAML pipeline text through
 * rs_pipeline_parse(), as `recstream validate` and `run` load a file.
 *
 * Writer schema files are opened relative to the working directory (make
 * fuzz runs from the repository root, so the .avsc files of schemas/ and
 * tests/fuzz/schemas/ resolve). Two kinds of input are not run,
 * because what they do is not the loader's code and not bounded by the
 * text: a path into /dev, /proc or /sys (a writer schema of /dev/zero is
 * read until memory runs out, /dev/stdin blocks), and librdkafka's
 * plugin.library.paths (dlopen() of any path the input names).
 *
 * Besides the sanitizers, the loader's promises are checked: a pipeline
 * comes back exactly when no error was reported, and every error line
 * reads `file:line:col: error: ...`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/codec.h"
#include "recstream/config.h"
#include "recstream/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_NAME "fuzz.yaml"

#define CHECK(cond)                                                            \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "%s:%d: broken promise: %s\n",         \
                                __FILE__, __LINE__, #cond);                    \
                        abort();                                               \
                }                                                              \
        } while (0)

/* Byte by byte and not traced: with memcmp(), which libFuzzer intercepts,
 * or with coverage, this loop took half of the run. */
__attribute__((no_sanitize("coverage"))) static int
contains(const uint8_t *data, size_t size, const char *word)
{
        size_t n = strlen(word), k;

        for (size_t i = 0; i + n <= size; i++) {
                for (k = 0; k < n && data[i + k] == (uint8_t)word[k]; k++)
                        ;
                if (k == n)
                        return 1;
        }
        return 0;
}

/* Every line of the diagnostics is `fuzz.yaml:LINE:COL: error: ...`. */
static void check_diag(const rs_diag_t *d)
{
        const char *p = d->text.p;
        int lines = 0;

        CHECK(p != NULL);
        while (*p) {
                const char *nl = strchr(p, '\n');
                int line = 0, col = 0, n = 0;
                CHECK(nl != NULL);
                CHECK(!strncmp(p, FILE_NAME ":", sizeof(FILE_NAME)));
                CHECK(sscanf(p + sizeof(FILE_NAME), "%d:%d: error: %n", &line,
                             &col, &n) == 2);
                CHECK(n > 0 && line >= 1 && col >= 1);
                lines++;
                p = nl + 1;
        }
        CHECK(lines >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        rs_diag_t d;
        rs_pipeline_t *pl;

        if (contains(data, size, "/dev") || contains(data, size, "/proc") ||
            contains(data, size, "/sys") ||
            contains(data, size, "plugin.library"))
                return -1; /* not run, not kept in the corpus */
        rs_diag_init(&d, FILE_NAME);
        pl = rs_pipeline_parse((const char *)data, size, &d);
        if (pl) {
                CHECK(d.errors == 0);
                CHECK(pl->name != NULL && pl->nstages >= 1);
                CHECK(pl->source.framing >= 0 &&
                      pl->source.framing < RS_FRAMING__COUNT);
                CHECK(pl->sink.framing >= 0 &&
                      pl->sink.framing < RS_FRAMING__COUNT);
                CHECK(pl->items.framing >= 0 &&
                      pl->items.framing < RS_FRAMING__COUNT);
        } else {
                CHECK(d.errors > 0);
                check_diag(&d);
        }
        rs_pipeline_destroy(pl);
        rs_diag_fini(&d);
        return 0;
}
