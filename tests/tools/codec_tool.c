/* codec_tool — the codec over hex lines, for interop tests against
 * python3-avro. Not part of recstream's CLI.
 *
 *   codec_tool decode-events FRAMING [WRITER.avsc ID]...
 *       stdin: one hex-encoded framed record a line
 *       stdout: one JSON object a line with the decoded fields, or
 *               {"error":"<reason>"}
 *   codec_tool decode-recs FRAMING   (hex lines in; tail's JSON out)
 *   codec_tool encode-recs FRAMING PIPELINE HASH [stamp]
 *     (stamp: published_ts and list_id as the worker writes them)
 *       stdin: "user ts item:score:reason:because_of ..." a line
 *              (because_of "-" for null)
 *       stdout: one hex-encoded framed UserRecs a line
 *   codec_tool decode-items FRAMING
 *       stdin: one hex-encoded framed ItemMeta a line
 *       stdout: one JSON object a line, or {"error":"<reason>"}
 *   codec_tool fingerprint FILE.avsc
 *       stdout: the canonical form, then the fingerprint as 16 hex digits
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recstream/buf.h"
#include "recstream/codec.h"

static char *slurp(const char *path, size_t *len)
{
        rs_buf_t b;

        rs_buf_init(&b);
        if (rs_buf_read_file(&b, path)) {
                rs_buf_fini(&b);
                return NULL;
        }
        *len = b.len;
        return b.p;
}

static size_t unhex(const char *s, unsigned char *out, size_t max)
{
        size_t n = 0;
        unsigned v;

        while (n < max && sscanf(s, "%2x", &v) == 1) {
                out[n++] = (unsigned char)v;
                s += 2;
        }
        return n;
}

static void id_json(rs_buf_t *b, const rs_intern_t *in, uint32_t id)
{
        size_t len;
        const char *s = id == RS_ID_NONE ? NULL : rs_intern_str(in, id, &len);
        if (s)
                rs_buf_json_str(b, s, len);
        else
                rs_buf_adds(b, "null");
}

static int decode_events(int argc, char **argv, rs_codec_t *codec,
                         rs_intern_t *in)
{
        char line[65536], err[256];
        unsigned char bin[32768];
        rs_buf_t b;

        for (int i = 0; i + 1 < argc; i += 2) {
                size_t len;
                char *json = slurp(argv[i], &len);
                if (!json || rs_codec_add_event_writer(codec, json, len,
                                                       atoi(argv[i + 1]), err,
                                                       sizeof(err))) {
                        fprintf(stderr, "%s: %s\n", argv[i],
                                json ? err : "cannot read");
                        return 1;
                }
                free(json);
        }
        rs_buf_init(&b);
        while (fgets(line, sizeof(line), stdin)) {
                size_t n = unhex(line, bin, sizeof(bin));
                rs_event_t ev;
                rs_buf_reset(&b);
                if (rs_codec_decode_event(codec, bin, n, &ev)) {
                        printf("{\"error\":\"%s\"}\n", rs_codec_reason(codec));
                        continue;
                }
                rs_buf_printf(&b, "{\"event_hash\":\"%016llx\",\"user_id\":",
                              (unsigned long long)ev.event_hash);
                id_json(&b, in, ev.user);
                rs_buf_adds(&b, ",\"item_id\":");
                id_json(&b, in, ev.item);
                rs_buf_printf(&b,
                              ",\"event_type\":\"%s\",\"ts\":%lld,"
                              "\"watch_ms\":%lld,\"duration_ms\":",
                              rs_event_type_name(ev.type), (long long)ev.ts,
                              (long long)ev.watch_ms);
                if (ev.duration_ms == RS_NONE_I64)
                        rs_buf_adds(&b, "null");
                else
                        rs_buf_printf(&b, "%lld", (long long)ev.duration_ms);
                rs_buf_adds(&b, ",\"category\":");
                id_json(&b, in, ev.category);
                if (isnan(ev.value))
                        rs_buf_adds(&b, ",\"value\":null}");
                else
                        rs_buf_printf(&b, ",\"value\":%.17g}", ev.value);
                puts(b.p);
        }
        rs_buf_fini(&b);
        return 0;
}

static int decode_items(rs_codec_t *codec, rs_intern_t *in)
{
        char line[65536];
        unsigned char bin[32768];
        rs_buf_t b;

        rs_buf_init(&b);
        while (fgets(line, sizeof(line), stdin)) {
                size_t n = unhex(line, bin, sizeof(bin));
                rs_item_meta_t m;
                rs_buf_reset(&b);
                if (rs_codec_decode_item(codec, bin, n, &m)) {
                        printf("{\"error\":\"%s\"}\n", rs_codec_reason(codec));
                        continue;
                }
                rs_buf_adds(&b, "{\"item_id\":");
                id_json(&b, in, m.item);
                rs_buf_adds(&b, ",\"category\":");
                id_json(&b, in, m.category);
                rs_buf_adds(&b, ",\"duration_ms\":");
                if (m.duration_ms == RS_NONE_I64)
                        rs_buf_adds(&b, "null");
                else
                        rs_buf_printf(&b, "%lld", (long long)m.duration_ms);
                rs_buf_adds(&b, ",\"embedding\":");
                if (!m.embedding) {
                        rs_buf_adds(&b, "null");
                } else {
                        rs_buf_adds(&b, "[");
                        for (size_t i = 0; i < m.dim; i++)
                                rs_buf_printf(&b, "%s%.9g", i ? "," : "",
                                              m.embedding[i]);
                        rs_buf_adds(&b, "]");
                }
                rs_buf_printf(&b, ",\"removed\":%s,\"updated_ts\":%lld}",
                              m.removed ? "true" : "false",
                              (long long)m.updated_ts);
                puts(b.p);
        }
        rs_buf_fini(&b);
        return 0;
}

static int decode_recs(rs_codec_t *codec)
{
        static unsigned char bin[65536];
        char line[2 * sizeof(bin) + 2];

        while (fgets(line, sizeof(line), stdin)) {
                size_t n = unhex(line, bin, sizeof(bin));
                static rs_recs_t recs;
                char *json = NULL;
                if (rs_codec_decode_recs(codec, bin, n, &recs) ||
                    rs_codec_recs_to_json(codec, bin, n, &json)) {
                        printf("{\"error\":\"%s\"}\n", rs_codec_reason(codec));
                        continue;
                }
                printf("%s\n", json);
                free(json);
        }
        return 0;
}

static int encode_recs(rs_codec_t *codec, rs_intern_t *in)
{
        char line[65536];

        while (fgets(line, sizeof(line), stdin)) {
                rs_recs_t recs = {0};
                char *save = NULL, *tok;
                const void *buf;
                size_t len;

                line[strcspn(line, "\n")] = '\0';
                if (!(tok = strtok_r(line, " ", &save)))
                        continue;
                recs.user = rs_intern_id(in, tok, strlen(tok));
                tok = strtok_r(NULL, " ", &save);
                recs.generated_ts = tok ? atoll(tok) : 0;
                while ((tok = strtok_r(NULL, " ", &save)) &&
                       recs.n < RS_RECS_MAX) {
                        char item[256], reason[32], because[256];
                        double score;
                        if (sscanf(tok, "%255[^:]:%lf:%31[^:]:%255s", item,
                                   &score, reason, because) != 4)
                                return 1;
                        rs_rec_t *r = &recs.items[recs.n++];
                        r->item = rs_intern_id(in, item, strlen(item));
                        r->score = score;
                        r->reason = (uint8_t)rs_reason_parse(reason,
                                                             strlen(reason));
                        r->because_of = strcmp(because, "-")
                                                ? rs_intern_id(in, because,
                                                               strlen(because))
                                                : RS_ID_NONE;
                }
                if (rs_codec_encode_recs(codec, &recs, &buf, &len)) {
                        fprintf(stderr, "encode: %s\n", rs_codec_error(codec));
                        return 1;
                }
                for (size_t i = 0; i < len; i++)
                        printf("%02x", ((const unsigned char *)buf)[i]);
                printf("\n");
        }
        return 0;
}

int main(int argc, char **argv)
{
        char err[256];
        int rc;

        if (argc == 3 && !strcmp(argv[1], "fingerprint")) {
                size_t len;
                char *json = slurp(argv[2], &len), *canon = NULL;
                uint64_t fp;
                if (!json || rs_codec_canonical_form(json, len, &canon, &fp,
                                                     err, sizeof(err)))
                        return 1;
                printf("%s\n%016llx\n", canon, (unsigned long long)fp);
                free(json);
                free(canon);
                return 0;
        }
        if (argc < 3)
                return 2;
        int framing = rs_framing_parse(argv[2]);
        rs_intern_t *in = rs_intern_new();
        rs_codec_t *codec =
                framing < 0 ? NULL
                            : rs_codec_new(framing, in, err, sizeof(err));
        if (!codec)
                return 2;
        if (!strcmp(argv[1], "decode-events")) {
                rc = decode_events(argc - 3, argv + 3, codec, in);
        } else if (!strcmp(argv[1], "decode-items")) {
                rc = decode_items(codec, in);
        } else if (!strcmp(argv[1], "decode-recs")) {
                rc = decode_recs(codec);
        } else if (!strcmp(argv[1], "encode-recs") &&
                   (argc == 5 || (argc == 6 && !strcmp(argv[5], "stamp")))) {
                rs_codec_set_pipeline(codec, argv[3], argv[4]);
                rs_codec_set_stamp(codec, argc == 6);
                rc = encode_recs(codec, in);
        } else {
                rc = 2;
        }
        rs_codec_destroy(codec);
        rs_intern_destroy(in);
        return rc;
}
