/* codec_bench — decode cost of a BehaviorEvent: recstream's full decode
 * (one padded read + end check + field extraction + interning) against
 * bare avro-c avro_value_read into a reused generic value, the floor, in
 * the same run.
 * Prints the median of RUNS runs of N generated events each. */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "recstream/codec.h"
#include "recstream/gen.h"

#define N    200000
#define RUNS 7

int main(void)
{
        rs_gen_conf_t gc = {.seed = 1,
                            .users = 100000,
                            .series = 2000,
                            .episodes = 8,
                            .standalone = 1000000,
                            .categories = 16,
                            .start_ts = 1767225600000LL};
        rs_gen_t *gen = rs_gen_new(&gc);
        rs_intern_t *in = rs_intern_new();
        char err[256];
        rs_codec_t *codec =
                rs_codec_new(RS_FRAMING_PLAIN, in, err, sizeof(err));
        char **bufs = malloc(N * sizeof(*bufs));
        size_t *lens = malloc(N * sizeof(*lens));
        double bare[RUNS], full[RUNS];
        avro_schema_t schema;
        avro_value_iface_t *iface;
        avro_value_t value;
        avro_reader_t rd = avro_reader_memory("", 0);

        for (int i = 0; i < N; i++) {
                rs_event_fields_t ev;
                const void *b;
                rs_gen_next(gen, &ev);
                rs_codec_encode_event(codec, &ev, &b, &lens[i]);
                bufs[i] = malloc(lens[i]);
                memcpy(bufs[i], b, lens[i]);
        }
        avro_schema_from_json_length(rs_schema_BehaviorEvent,
                                     strlen(rs_schema_BehaviorEvent), &schema);
        iface = avro_generic_class_from_schema(schema);
        avro_generic_value_new(iface, &value);

        for (int r = 0; r < RUNS; r++) {
                double t0 = bench_now_s() * 1e9;
                for (int i = 0; i < N; i++) {
                        avro_reader_memory_set_source(rd, bufs[i],
                                                      (int64_t)lens[i]);
                        if (avro_value_read(rd, &value))
                                return 1;
                }
                double t1 = bench_now_s() * 1e9;
                for (int i = 0; i < N; i++) {
                        rs_event_t ev;
                        if (rs_codec_decode_event(codec, bufs[i], lens[i], &ev))
                                return 1;
                }
                double t2 = bench_now_s() * 1e9;
                bare[r] = (t1 - t0) / N;
                full[r] = (t2 - t1) / N;
        }
        qsort(bare, RUNS, sizeof(double), bench_cmp_double);
        qsort(full, RUNS, sizeof(double), bench_cmp_double);
        printf("codec decode, %d events x %d runs, medians:\n", N, RUNS);
        printf("  avro-c avro_value_read alone : %7.1f ns/event\n",
               bare[RUNS / 2]);
        printf("  recstream decode (full)      : %7.1f ns/event  "
               "(%.2fx the bare read; %.2f M events/s)\n",
               full[RUNS / 2], full[RUNS / 2] / bare[RUNS / 2],
               1e3 / full[RUNS / 2]);
        return 0;
}
