#!/bin/sh
# Kafka end to end and latency on `recstream dev-broker` (librdkafka's mock
# cluster), with the clients of build/bench/kafka_bench (bench/kafka_bench.c).
#
# 1. Throughput. EVENTS generated BehaviorEvents on PARTITIONS partitions
#    (the mock keeps only a partition's newest ~100,000 messages / 5 MiB, so
#    what was kept is counted and consumed). Each repetition, with fresh
#    consumer groups on the same topic:
#      bare         consume (rd_kafka_consume_batch_queue) + the worker's
#                   codec decode: the physical limit;
#      passthrough  the worker with tests/e2e/passthrough.yaml: video.yaml's
#                   Kafka settings, one UserRecs per event, no model: the
#                   worker's Kafka path alone;
#      worker       the worker with pipelines/video.yaml: every stage,
#                   UserRecs to video.recs.
#    Each is timed from its first to its last consumed batch; ratios are
#    per repetition, against the bare run of the same repetition.
# 2. Latency at half the worker's median rate: `recstream run` with
#    pipelines/video.yaml, changed only where the measurement needs it
#    (printed below), while kafka_bench produces events stamped with the
#    wall clock and times each one to the UserRecs that reflects it.
#
# Environment:
#   KAFKA_BENCH_QUICK=1       200,000 events, 3 repetitions, 10 s latency
#   KAFKA_BENCH_EVENTS=N      events for the throughput runs (2,000,000)
#   KAFKA_BENCH_RUNS=N        repetitions (5)
#   KAFKA_BENCH_LATENCY_S=S   seconds of latency load per repetition (20)
#   KAFKA_BENCH_RATE=R        latency load in events/s (default: half the
#                             worker's median rate of part 1)
#   KAFKA_BENCH_ONLY=throughput|latency
set -eu
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."

if [ "${KAFKA_BENCH_QUICK:-}" = 1 ]; then
        EVENTS=${KAFKA_BENCH_EVENTS:-200000}
        RUNS=${KAFKA_BENCH_RUNS:-3}
        LAT_S=${KAFKA_BENCH_LATENCY_S:-10}
else
        EVENTS=${KAFKA_BENCH_EVENTS:-2000000}
        RUNS=${KAFKA_BENCH_RUNS:-5}
        LAT_S=${KAFKA_BENCH_LATENCY_S:-20}
fi
ONLY=${KAFKA_BENCH_ONLY:-}
PARTITIONS=32   # throughput: 2,000,000 / 32 = 62,500 per partition, all kept
LAT_PARTITIONS=2 # latency: see the mock's limits below
RS=$BUILD/recstream
KB=$BUILD/bench/kafka_bench

for f in "$RS" "$KB"; do
        if [ ! -x "$f" ]; then
                echo "kafka_bench: skipped: $f is not built (make bench builds it)"
                exit 0
        fi
done
for tool in sed awk sort mktemp; do
        if ! command -v $tool >/dev/null 2>&1; then
                echo "kafka_bench: skipped: $tool is not installed"
                exit 0
        fi
done

TMP=$(mktemp -d)
BROKER_PID= WORKER_PID= KB_PID=
cleanup() {
        for p in $KB_PID $WORKER_PID $BROKER_PID; do
                kill "$p" 2>/dev/null || :
        done
        for p in $KB_PID $WORKER_PID $BROKER_PID; do
                wait "$p" 2>/dev/null || :
        done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts the dev broker with its arguments; sets BOOTSTRAP.
start_broker() {
        "$RS" dev-broker "$@" >"$TMP/broker.out" 2>"$TMP/broker.err" &
        BROKER_PID=$!
        BOOTSTRAP=
        for _ in $(seq 1 100); do
                BOOTSTRAP=$(head -n 1 "$TMP/broker.out")
                [ -n "$BOOTSTRAP" ] && break
                sleep 0.1
        done
        if [ -z "$BOOTSTRAP" ]; then
                echo "kafka_bench: the dev broker did not start:"
                cat "$TMP/broker.err"
                exit 1
        fi
}

stop_broker() {
        kill "$BROKER_PID" 2>/dev/null || :
        wait "$BROKER_PID" 2>/dev/null || :
        BROKER_PID=
}

# kafka_bench with these arguments, in the background so that a signal
# stops it at once; its result line in LINE. Fails when it fails.
kb() {
        "$KB" "$@" >"$TMP/kb.out" &
        KB_PID=$!
        wait "$KB_PID"
        KB_PID=
        LINE=$(tail -n 1 "$TMP/kb.out")
}

# The value of key=... in a kafka_bench result line.
field() {
        printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# Median of the numbers on stdin, one a line.
median() {
        sort -g | awk '{v[NR] = $1} END {
                if (NR == 0) { print "nan"; exit }
                if (NR % 2) print v[(NR + 1) / 2];
                else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "kafka_bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. throughput ------------------------------------------------------------
WORKER_MEDIAN=
if [ "$ONLY" != latency ]; then
        start_broker --partitions $PARTITIONS --topic video.behavior \
                --topic video.recs
        echo "\$ kafka_bench load -t video.behavior -n $EVENTS   # $PARTITIONS partitions"
        kb load -b "$BOOTSTRAP" -t video.behavior -n "$EVENTS"
        line=$LINE
        echo "  $line"
        KEPT=$(field kept "$line")
        if [ "$KEPT" -lt "$EVENTS" ]; then
                echo "  the dev broker dropped $((EVENTS - KEPT)) of them: consuming the $KEPT kept"
        fi
        : >"$TMP/bare" ; : >"$TMP/pass" ; : >"$TMP/worker"
        : >"$TMP/r_pass" ; : >"$TMP/r_worker"
        for r in $(seq 1 "$RUNS"); do
                kb bare -b "$BOOTSTRAP" -t video.behavior -g "bench.bare.$r" -n "$KEPT"
                b=$LINE
                export KAFKA_BOOTSTRAP="$BOOTSTRAP" RECSTREAM_LOG_LEVEL=warning
                kb worker -c tests/e2e/passthrough.yaml -g "bench.pass.$r" -n "$KEPT"
                p=$LINE
                kb worker -c pipelines/video.yaml -g "bench.worker.$r" -n "$KEPT"
                w=$LINE
                rb=$(field rate "$b") rp=$(field rate "$p") rw=$(field rate "$w")
                echo "$rb" >>"$TMP/bare"
                echo "$rp" >>"$TMP/pass"
                echo "$rw" >>"$TMP/worker"
                awk -v a="$rp" -v b="$rb" 'BEGIN { print a / b }' >>"$TMP/r_pass"
                awk -v a="$rw" -v b="$rb" 'BEGIN { print a / b }' >>"$TMP/r_worker"
                echo "  run $r: bare $rb/s, passthrough $rp/s, worker $rw/s" \
                        "($(field produced "$w") UserRecs)"
        done
        stop_broker
        WORKER_MEDIAN=$(median <"$TMP/worker")
        echo "kafka end to end, $KEPT events x $RUNS runs, medians (events/s, first to last consumed batch):"
        printf '  bare consume + decode           : %9.0f\n' "$(median <"$TMP/bare")"
        printf '  worker, passthrough (Kafka path): %9.0f  (%.2f of bare)\n' \
                "$(median <"$TMP/pass")" "$(median <"$TMP/r_pass")"
        printf '  worker, pipelines/video.yaml    : %9.0f  (%.3f of bare)\n' \
                "$WORKER_MEDIAN" "$(median <"$TMP/r_worker")"
fi

# --- 2. latency -------------------------------------------------------------
[ "$ONLY" = throughput ] && exit 0
RATE=${KAFKA_BENCH_RATE:-}
if [ -z "$RATE" ]; then
        if [ -z "$WORKER_MEDIAN" ]; then
                echo "kafka_bench: KAFKA_BENCH_ONLY=latency needs KAFKA_BENCH_RATE"
                exit 2
        fi
        RATE=$(awk -v w="$WORKER_MEDIAN" 'BEGIN { printf "%d", w / 2 }')
fi

# librdkafka 2.0.2's mock cluster, unlike a broker: a fetch returns at most
# one message set per partition, finds it by walking the partition's sets
# from the oldest, and an empty fetch is answered only after
# fetch.wait.max.ms even when data arrives meanwhile. So: fresh topics per
# repetition, LAT_PARTITIONS partitions, the producers' usual batching
# (linger.ms 5 for the load), and a short fetch wait for the worker's
# consumer (a broker answers as soon as data arrives, so this setting does
# not matter there).
TOPICS=
for r in $(seq 1 "$RUNS"); do
        TOPICS="$TOPICS --topic lat.$r.behavior --topic lat.$r.recs"
done
# shellcheck disable=SC2086
start_broker --partitions $LAT_PARTITIONS $TOPICS

# pipelines/video.yaml, publishing promptly, reading a fresh topic from its
# end; each change is checked so a renamed key fails loudly.
make_pipeline() {
        sed -e "s/^\(  topics:\) \[video.behavior\]\$/\1 [lat.$1.behavior]/" \
                -e "s/^\(  group:\) video.users\$/\1 bench.latency.$1/" \
                -e 's/^\(  auto_offset_reset:\) earliest$/\1 latest/' \
                -e 's/^\(    session.timeout.ms: "10000"\)$/\1\n    fetch.wait.max.ms: "1"/' \
                -e 's/^\(    min_refresh_interval:\) [0-9a-z]*/\1 0s/' \
                -e "s/^\(  topic:\) video.recs\$/\1 lat.$1.recs/" \
                pipelines/video.yaml >"$TMP/latency.yaml"
        for want in "topics: \[lat.$1.behavior\]" "group: bench.latency.$1" \
                "auto_offset_reset: latest" 'fetch.wait.max.ms: "1"' \
                "min_refresh_interval: 0s" "topic: lat.$1.recs"; do
                if ! grep -q "$want" "$TMP/latency.yaml"; then
                        echo "kafka_bench: pipelines/video.yaml changed: cannot set '$want'"
                        exit 1
                fi
        done
}

make_pipeline 1
echo "\$ recstream run -c latency.yaml   # pipelines/video.yaml with:"
diff pipelines/video.yaml "$TMP/latency.yaml" | sed -n 's/^> /    /p'
echo "\$ kafka_bench latency --rate $RATE --seconds $LAT_S   # $LAT_PARTITIONS partitions, producer linger.ms 5"
: >"$TMP/p50" ; : >"$TMP/p99" ; : >"$TMP/p999"
for r in $(seq 1 "$RUNS"); do
        make_pipeline "$r"
        KAFKA_BOOTSTRAP=$BOOTSTRAP RECSTREAM_LOG_LEVEL=info \
                "$RS" run -c "$TMP/latency.yaml" 2>"$TMP/worker.log" &
        WORKER_PID=$!
        for _ in $(seq 1 300); do
                grep -q "event=assigned" "$TMP/worker.log" && break
                sleep 0.1
        done
        if ! grep -q "event=assigned" "$TMP/worker.log"; then
                echo "kafka_bench: the worker was not assigned in 30 s:"
                tail -n 5 "$TMP/worker.log"
                exit 1
        fi
        kb latency -b "$BOOTSTRAP" -t "lat.$r.behavior" -r "lat.$r.recs" \
                --rate "$RATE" --seconds "$LAT_S" --seed "$r"
        line=$LINE
        kill "$WORKER_PID"
        wait "$WORKER_PID" || :
        WORKER_PID=
        echo "  run $r: $line"
        field p50_ms "$line" >>"$TMP/p50"
        field p99_ms "$line" >>"$TMP/p99"
        field p999_ms "$line" >>"$TMP/p999"
done
stop_broker
echo "latency at $RATE events/s, $RUNS runs of $LAT_S s, medians (produce call -> UserRecs read):"
printf '  p50 %.1f ms   p99 %.1f ms   p999 %.1f ms\n' "$(median <"$TMP/p50")" \
        "$(median <"$TMP/p99")" "$(median <"$TMP/p999")"
