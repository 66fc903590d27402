/* fuzz_codec.c — libFuzzer target: one Kafka record value through the
 * codec's decoders, as the worker and `tail` read their topics.
 *
 * Compiled once per framing (-DFRAMING=RS_FRAMING_PLAIN, _CONFLUENT or
 * _SINGLE_OBJECT), so each framing's header paths are exercised. Every
 * input is decoded as a BehaviorEvent (rs_codec_decode_event, and
 * rs_codec_event_to_json as `tail --events` does), as an ItemMeta (then
 * applied to a catalog, as the worker does with the ItemMeta topic) and as
 * a UserRecs. With Confluent and single-object framing the header picks
 * the schema: the built-in ones (ids 1, 2, 3) and two more BehaviorEvent
 * writers, a newer and an older one (tests/fuzz/schemas, ids 10 and 11),
 * bound to the reader contract. With plain framing a codec reads with the
 * writer added last, so there is one codec per event writer.
 *
 * Besides the sanitizers, what each decoder promises is checked: a decoded
 * record holds interned ids and in-range enums; a failure has a reason and
 * a message. A broken promise aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/catalog.h"
#include "recstream/codec.h"
#include "recstream/event.h"
#include "recstream/intern.h"

#ifndef FRAMING
#error "compile with -DFRAMING=RS_FRAMING_..."
#endif

extern const char rs_schema_BehaviorEventNewer[];
extern const char rs_schema_BehaviorEventOlder[];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EMB_DIM 4
/* The string table and catalog grow with every new id; they are made
 * anew after this many inputs so a long run stays bounded. */
#define RESET_EVERY 4096

enum { W_BUILTIN, W_NEWER, W_OLDER, W__COUNT };

static struct {
        rs_intern_t *strings;
        rs_catalog_t *cat;
        rs_codec_t *codec[W__COUNT]; /* only [0] unless plain framing */
        int ncodecs;
} st;
static unsigned inputs;

#define CHECK(cond)                                                            \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "%s:%d: broken promise: %s\n",         \
                                __FILE__, __LINE__, #cond);                    \
                        abort();                                               \
                }                                                              \
        } while (0)

static void die(const char *what, const char *errstr)
{
        fprintf(stderr, "fuzz_codec: %s: %s\n", what, errstr);
        abort();
}

static void add_writer(rs_codec_t *codec, const char *json, int32_t id)
{
        char errstr[256];

        if (rs_codec_add_event_writer(codec, json, strlen(json), id, errstr,
                                      sizeof(errstr)))
                die("writer schema", errstr);
}

static rs_codec_t *new_codec(void)
{
        char errstr[256];
        rs_codec_t *codec =
                rs_codec_new(FRAMING, st.strings, errstr, sizeof(errstr));

        if (!codec)
                die("rs_codec_new", errstr);
        return codec;
}

static void state_fini(void)
{
        for (int i = 0; i < st.ncodecs; i++)
                rs_codec_destroy(st.codec[i]);
        rs_catalog_destroy(st.cat);
        rs_intern_destroy(st.strings);
        memset(&st, 0, sizeof(st));
}

static void state_init(void)
{
        if (!(st.strings = rs_intern_new()) ||
            !(st.cat = rs_catalog_new(EMB_DIM, 1u << 16, st.strings)))
                die("init", "out of memory");
        st.codec[0] = new_codec();
        if (FRAMING == RS_FRAMING_PLAIN) {
                st.codec[W_NEWER] = new_codec();
                add_writer(st.codec[W_NEWER], rs_schema_BehaviorEventNewer, -1);
                st.codec[W_OLDER] = new_codec();
                add_writer(st.codec[W_OLDER], rs_schema_BehaviorEventOlder, -1);
                st.ncodecs = W__COUNT;
        } else {
                add_writer(st.codec[0], rs_schema_BehaviorEventNewer, 10);
                add_writer(st.codec[0], rs_schema_BehaviorEventOlder, 11);
                st.ncodecs = 1;
        }
}

static void check_id(uint32_t id, int nullable)
{
        if (nullable && id == RS_ID_NONE)
                return;
        CHECK(rs_intern_str(st.strings, id, NULL) != NULL);
}

static void check_failure(const rs_codec_t *codec, rs_err_t err)
{
        CHECK(err == RS_ERR_DECODE || err == RS_ERR_NOMEM);
        CHECK(strcmp(rs_codec_reason(codec), "none") != 0);
        CHECK(rs_codec_error(codec)[0] != '\0');
}

static void decode_event(rs_codec_t *codec, const uint8_t *data, size_t size)
{
        rs_event_t ev;
        rs_err_t err = rs_codec_decode_event(codec, data, size, &ev);
        char *json = NULL;

        if (err) {
                check_failure(codec, err);
        } else {
                check_id(ev.user, 0);
                check_id(ev.item, 0);
                check_id(ev.category, 1);
                CHECK(ev.type < RS_EV__COUNT);
                CHECK(ev.drop == RS_DROP_NONE);
        }
        /* The same bytes as `tail --events` shows them. */
        err = rs_codec_event_to_json(codec, data, size, &json);
        if (err)
                check_failure(codec, err);
        else
                CHECK(json != NULL);
        free(json);
}

static void decode_item(rs_codec_t *codec, const uint8_t *data, size_t size)
{
        rs_item_meta_t m;
        rs_err_t err = rs_codec_decode_item(codec, data, size, &m);

        if (err) {
                check_failure(codec, err);
                return;
        }
        check_id(m.item, 0);
        check_id(m.category, 1);
        CHECK(m.removed == 0 || m.removed == 1);
        CHECK(m.dim <= size / sizeof(float));
        CHECK(!m.dim || m.embedding);
        err = rs_catalog_apply(st.cat, &m);
        CHECK(err == RS_OK || (err == RS_ERR_INVALID && m.dim != EMB_DIM));
        if (!err) {
                CHECK(rs_catalog_category(st.cat, m.item) == m.category);
                CHECK(rs_catalog_removed(st.cat, m.item) == m.removed);
        }
}

static void decode_recs(rs_codec_t *codec, const uint8_t *data, size_t size)
{
        static rs_recs_t recs; /* 4.8 KB: not on the stack */
        rs_err_t err = rs_codec_decode_recs(codec, data, size, &recs);

        if (err) {
                check_failure(codec, err);
                return;
        }
        check_id(recs.user, 0);
        CHECK(recs.n <= RS_RECS_MAX);
        for (uint32_t i = 0; i < recs.n; i++) {
                check_id(recs.items[i].item, 0);
                check_id(recs.items[i].because_of, 1);
                CHECK(recs.items[i].reason < RS_REASON__COUNT);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (inputs++ % RESET_EVERY == 0) {
                if (st.strings)
                        state_fini();
                else
                        atexit(state_fini);
                state_init();
        }
        for (int i = 0; i < st.ncodecs; i++)
                decode_event(st.codec[i], data, size);
        decode_item(st.codec[0], data, size);
        decode_recs(st.codec[0], data, size);
        return 0;
}
