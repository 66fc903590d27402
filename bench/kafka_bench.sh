#!/bin/sh
# Kafka end to end and latency on `recstream dev-broker` (librdkafka's mock
# cluster), with the clients of build/bench/kafka_bench (bench/kafka_bench.c),
# and the same for the code before issue 10's split (bench/baseline.sh
# builds commit ff7ba7c into build/baseline: one process, co-occurrence in
# process), so that before and after are measured in the same run.
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
#                   UserRecs to video.recs; both sides in the one process
#                   (role all), through fresh internal topics
#                   (cooc-deltas: 6 partitions, topology.partitions;
#                   item-neighbors: PARTITIONS, for the mock's retention),
#                   changelogs (so that no repetition restores the
#                   users and items the last one learnt) and item group
#                   per repetition; also timed until what
#                   it produced has gone round (rs_worker_settled:
#                   settled_s);
#      and, with the baseline, its passthrough and worker (its own
#      pipelines/video.yaml and passthrough.yaml).
#    Each is timed from its first to its last consumed batch; ratios are
#    per repetition, against the bare run of the same repetition (and the
#    baseline worker's of the same repetition). Both workers' CPU time is
#    also taken for the whole process (start to close: `times` of the
#    driver's children), events per CPU-s compared the same way.
# 2. Latency at half the slower worker's median rate: `recstream run` with
#    pipelines/video.yaml, changed only where the measurement needs it
#    (printed below), while kafka_bench produces events stamped with the
#    wall clock and times each one to the UserRecs that reflects it; then
#    the baseline's `recstream run` the same way, on its own topics of the
#    same broker.
#
# Environment:
#   KAFKA_BENCH_QUICK=1       200,000 events, 3 repetitions, 10 s latency
#   KAFKA_BENCH_EVENTS=N      events for the throughput runs (2,000,000)
#   KAFKA_BENCH_RUNS=N        repetitions (5)
#   KAFKA_BENCH_LATENCY_S=S   seconds of latency load per repetition (20)
#   KAFKA_BENCH_RATE=R        latency load in events/s (default: half the
#                             slower worker's median rate of part 1)
#   KAFKA_BENCH_ONLY=throughput|latency
#   KAFKA_BENCH_BASELINE=DIR  a tree built like bench/baseline.sh's; none:
#                             no baseline (default: bench/baseline.sh)
set -eu
# several workers at once: no HTTP port each unless asked (http.port)
RECSTREAM_HTTP_PORT=${RECSTREAM_HTTP_PORT:-0}
export RECSTREAM_HTTP_PORT
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
. bench/lib.sh

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
PARTITIONS=32    # throughput: 2,000,000 / 32 = 62,500 per partition, all kept
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
BROKER_PID='' WORKER_PID='' KB_PID=''
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

# The baseline: BASE is its tree, empty when there is none.
BASE=${KAFKA_BENCH_BASELINE:-}
if [ -z "$BASE" ]; then
        BASE=$(BUILD=$BUILD sh bench/baseline.sh | tail -n 1)
fi
case $BASE in
none) BASE= ;;
skipped:*)
        echo "kafka_bench: baseline $BASE"
        BASE=
        ;;
esac
if [ -n "$BASE" ] && { [ ! -x "$BASE/build/recstream" ] ||
        [ ! -x "$BASE/build/bench/kafka_bench" ]; }; then
        echo "kafka_bench: $BASE has no build/recstream and build/bench/kafka_bench"
        exit 1
fi
BASE_KB=${BASE:+$BASE/build/bench/kafka_bench}
if [ -n "$BASE" ]; then
        echo "kafka_bench: baseline $(cat "$BASE/.commit" 2>/dev/null || echo "$BASE") in $BASE"
fi

echo "kafka_bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. throughput ------------------------------------------------------------
WORKER_MEDIAN='' BASE_MEDIAN=''
if [ "$ONLY" != latency ]; then
        # cooc-deltas: topology.partitions (6). item-neighbors may have any
        # count (the worker only logs event=topic_differs): 2,000,000
        # events publish ~155 MB of neighbour records, which 6 partitions of
        # the mock's 5 MiB would not keep, and a reader that falls behind
        # their start never settles.
        internal=
        for r in $(seq 1 "$RUNS"); do
                internal="$internal --topic bench.$r.cooc-deltas:6 --topic bench.$r.item-neighbors:$PARTITIONS"
                # changelogs: users with the input's partitions, items with
                # topology.partitions (the worker refuses others)
                internal="$internal --topic bench.$r.users-changelog --topic bench.$r.items-changelog:6"
        done
        # shellcheck disable=SC2086
        start_broker --partitions $PARTITIONS --topic video.behavior \
                --topic video.recs $internal
        echo "\$ kafka_bench load -t video.behavior -n $EVENTS   # $PARTITIONS partitions"
        kb load -b "$BOOTSTRAP" -t video.behavior -n "$EVENTS"
        line=$LINE
        echo "  $line"
        KEPT=$(field kept "$line")
        if [ "$KEPT" -lt "$EVENTS" ]; then
                echo "  the dev broker dropped $((EVENTS - KEPT)) of them: consuming the $KEPT kept"
        fi
        for f in bare pass worker settled per_cpu proc_cpu r_pass r_worker bpass bworker \
                r_bworker bproc_cpu r_bproc_cpu; do
                : >"$TMP/$f"
        done
        export KAFKA_BOOTSTRAP="$BOOTSTRAP" RECSTREAM_LOG_LEVEL=warning
        for r in $(seq 1 "$RUNS"); do
                kb bare -b "$BOOTSTRAP" -t video.behavior -g "bench.bare.$r" -n "$KEPT"
                b=$LINE
                kb worker -c tests/e2e/passthrough.yaml -g "bench.pass.$r" -n "$KEPT"
                p=$LINE
                kb worker -c pipelines/video.yaml -g "bench.worker.$r" -n "$KEPT" \
                        --settle --deltas "bench.$r.cooc-deltas" \
                        --neighbors "bench.$r.item-neighbors" \
                        --items-group "bench.items.$r" \
                        --users-changelog "bench.$r.users-changelog" \
                        --items-changelog "bench.$r.items-changelog"
                w=$LINE
                # events per CPU-s of the whole process (start to close), as
                # for the baseline's worker below
                wproc=$(ratio "$KEPT" "$KB_CPU" %.0f)
                echo "$wproc" >>"$TMP/proc_cpu"
                rb=$(field rate "$b") rp=$(field rate "$p") rw=$(field rate "$w")
                settled=$(field settled_s "$w")
                echo "$rb" >>"$TMP/bare"
                echo "$rp" >>"$TMP/pass"
                echo "$rw" >>"$TMP/worker"
                # settled_s is -1 when it had not settled by the deadline
                settled=${settled:--1}
                if [ "${settled%%.*}" -ge 0 ]; then
                        ratio "$(field measured "$w")" "$settled" %.0f >>"$TMP/settled"
                else
                        settled="never (NOT SETTLED)"
                fi
                ratio "$(field measured "$w")" "$(field cpu_s "$w")" %.0f >>"$TMP/per_cpu"
                ratio "$rp" "$rb" >>"$TMP/r_pass"
                ratio "$rw" "$rb" >>"$TMP/r_worker"
                msg="  run $r: bare $rb/s, passthrough $rp/s, worker $rw/s"
                msg="$msg ($(field produced "$w") UserRecs, $(field deltas "$w") deltas"
                msg="$msg $(field delta_bytes "$w") B, $(field nb "$w") neighbour records"
                msg="$msg $(field nb_bytes "$w") B; settled at $settled s; $(field cpu_s "$w") CPU-s"
                msg="$msg from the first to the last consumed batch, $KB_CPU in all)"
                if [ "$(field deltas_applied "$w")" != "$(field deltas "$w")" ]; then
                        msg="$msg DELTAS NOT ALL APPLIED (the mock keeps 5 MiB a partition)"
                fi
                if [ -n "$BASE" ]; then
                        kb_run "$BASE_KB" worker -c "$BASE/tests/e2e/passthrough.yaml" \
                                -g "bench.basepass.$r" -n "$KEPT"
                        bp=$(field rate "$LINE")
                        kb_run "$BASE_KB" worker -c "$BASE/pipelines/video.yaml" \
                                -g "bench.base.$r" -n "$KEPT"
                        bw=$(field rate "$LINE")
                        bproc=$(ratio "$KEPT" "$KB_CPU" %.0f)
                        echo "$bproc" >>"$TMP/bproc_cpu"
                        ratio "$wproc" "$bproc" >>"$TMP/r_bproc_cpu"
                        echo "$bp" >>"$TMP/bpass"
                        echo "$bw" >>"$TMP/bworker"
                        ratio "$rw" "$bw" >>"$TMP/r_bworker"
                        msg="$msg; baseline: passthrough $bp/s, worker $bw/s ($(field produced "$LINE") UserRecs, $KB_CPU CPU-s in all)"
                fi
                echo "$msg"
        done
        stop_broker
        WORKER_MEDIAN=$(median <"$TMP/worker")
        echo "kafka end to end, $KEPT events x $RUNS runs, medians (events/s, first to last consumed batch):"
        printf '  bare consume + decode           : %9.0f\n' "$(median <"$TMP/bare")"
        printf '  worker, passthrough (Kafka path): %9.0f  (%.2f of bare)\n' \
                "$(median <"$TMP/pass")" "$(median <"$TMP/r_pass")"
        printf '  worker, pipelines/video.yaml    : %9.0f  (%.3f of bare); to settled: %.0f; per CPU-s: %.0f (whole process: %.0f)\n' \
                "$WORKER_MEDIAN" "$(median <"$TMP/r_worker")" "$(median <"$TMP/settled")" \
                "$(median <"$TMP/per_cpu")" "$(median <"$TMP/proc_cpu")"
        if [ -n "$BASE" ]; then
                BASE_MEDIAN=$(median <"$TMP/bworker")
                printf '  baseline passthrough            : %9.0f\n' "$(median <"$TMP/bpass")"
                printf '  baseline worker, its video.yaml : %9.0f  (this tree: %.3f of it); per CPU-s, whole process: %.0f (this tree: %.3f of it)\n' \
                        "$BASE_MEDIAN" "$(median <"$TMP/r_bworker")" \
                        "$(median <"$TMP/bproc_cpu")" "$(median <"$TMP/r_bproc_cpu")"
        fi
fi

# --- 2. latency -------------------------------------------------------------
[ "$ONLY" = throughput ] && exit 0
RATE=${KAFKA_BENCH_RATE:-}
if [ -z "$RATE" ]; then
        if [ -z "$WORKER_MEDIAN" ]; then
                echo "kafka_bench: KAFKA_BENCH_ONLY=latency needs KAFKA_BENCH_RATE"
                exit 2
        fi
        RATE=$(awk -v w="$WORKER_MEDIAN" -v b="${BASE_MEDIAN:-0}" \
                'BEGIN { if (b > 0 && b < w) w = b; printf "%d", w / 2 }')
fi

# librdkafka 2.0.2's mock cluster, unlike a broker: a fetch returns at most
# one message set per partition, finds it by walking the partition's sets
# from the oldest, and an empty fetch is answered only after
# fetch.wait.max.ms even when data arrives meanwhile. So: a fresh broker
# per repetition, LAT_PARTITIONS partitions, the producers' usual batching
# (linger.ms 5 for the load), and a short fetch wait for the worker's
# consumers (a broker answers as soon as data arrives, so this setting
# does not matter there).

# A tree's pipelines/video.yaml ($1: the tree, $2: the topics' prefix, $3:
# the output), publishing promptly, reading a fresh topic from its end;
# each change is checked so a renamed key fails loudly. This tree's also
# gets its internal topics under the prefix.
make_pipeline() {
        sed -e "s/^\(  topics:\) \[video.behavior\]\$/\1 [$2.behavior]/" \
                -e "s/^\(  group:\) video.users\$/\1 bench.$2/" \
                -e 's/^\(  auto_offset_reset:\) earliest$/\1 latest/' \
                -e 's/^\(    session.timeout.ms: "10000"\)$/\1\n    fetch.wait.max.ms: "1"/' \
                -e 's/^\(    min_refresh_interval:\) [0-9a-z]*/\1 0s/' \
                -e "s/^\(  topic:\) video.recs\$/\1 $2.recs/" \
                "$1/pipelines/video.yaml" >"$3"
        for want in "topics: \[$2.behavior\]" "group: bench.$2" \
                "auto_offset_reset: latest" 'fetch.wait.max.ms: "1"' \
                "min_refresh_interval: 0s" "topic: $2.recs"; do
                if ! grep -q "$want" "$3"; then
                        echo "kafka_bench: $1/pipelines/video.yaml changed: cannot set '$want'"
                        exit 1
                fi
        done
        if [ "$1" = . ]; then
                if grep -q '^topology:' "$3"; then
                        echo "kafka_bench: pipelines/video.yaml has a topology section: set its topics here"
                        exit 1
                fi
                printf 'topology:\n  deltas_topic: %s\n  neighbors_topic: %s\n  items_group: %s\n' \
                        "$2.cooc-deltas" "$2.item-neighbors" "bench.$2.items" >>"$3"
                printf 'state:\n  users_topic: %s\n  items_topic: %s\n' \
                        "$2.users-changelog" "$2.items-changelog" >>"$3"
        fi
}

# One repetition of one tree ($1: the tree, $2: its recstream, $3: its
# kafka_bench, $4: the topics' prefix, $5: the seed); appends the
# percentiles to $TMP/<prefix>.p50 etc.
latency_run() {
        make_pipeline "$1" "$4" "$TMP/latency.yaml"
        KAFKA_BOOTSTRAP=$BOOTSTRAP RECSTREAM_LOG_LEVEL=info \
                "$2" run -c "$TMP/latency.yaml" 2>"$TMP/worker.log" &
        WORKER_PID=$!
        # this tree's worker joins two groups: both assigned
        want=1
        [ "$1" = . ] && want=2
        for _ in $(seq 1 300); do
                [ "$(grep -c "event=assigned" "$TMP/worker.log")" -ge $want ] && break
                sleep 0.1
        done
        if [ "$(grep -c "event=assigned" "$TMP/worker.log")" -lt $want ]; then
                echo "kafka_bench: the worker was not assigned in 30 s:"
                tail -n 5 "$TMP/worker.log"
                exit 1
        fi
        kb_run "$3" latency -b "$BOOTSTRAP" -t "$4.behavior" -r "$4.recs" \
                --rate "$RATE" --seconds "$LAT_S" --seed "$5"
        kill "$WORKER_PID"
        wait "$WORKER_PID" || :
        WORKER_PID=
        field p50_ms "$LINE" >>"$TMP/$4.p50"
        field p99_ms "$LINE" >>"$TMP/$4.p99"
        field p999_ms "$LINE" >>"$TMP/$4.p999"
}

make_pipeline . lat "$TMP/latency.yaml"
echo "\$ recstream run -c latency.yaml   # pipelines/video.yaml with:"
diff pipelines/video.yaml "$TMP/latency.yaml" | sed -n 's/^> /    /p'
echo "\$ kafka_bench latency --rate $RATE --seconds $LAT_S   # $LAT_PARTITIONS partitions, producer linger.ms 5"
[ -n "$BASE" ] && echo "  (and the baseline's recstream on topics lat.base.*, its pipelines/video.yaml changed alike but for the topology)"
for r in $(seq 1 "$RUNS"); do
        start_broker --partitions $LAT_PARTITIONS --topic lat.behavior \
                --topic lat.recs --topic lat.cooc-deltas:6 \
                --topic lat.item-neighbors:6 --topic lat.users-changelog \
                --topic lat.items-changelog:6 \
                --topic lat.base.behavior \
                --topic lat.base.recs
        latency_run . "$RS" "$KB" lat "$r"
        msg="  run $r: $LINE"
        if [ -n "$BASE" ]; then
                latency_run "$BASE" "$BASE/build/recstream" "$BASE_KB" lat.base "$r"
                msg="$msg
    baseline: $LINE"
        fi
        stop_broker
        echo "$msg"
done
echo "latency at $RATE events/s, $RUNS runs of $LAT_S s, medians (produce call -> UserRecs read):"
printf '  p50 %.1f ms   p99 %.1f ms   p999 %.1f ms\n' "$(median <"$TMP/lat.p50")" \
        "$(median <"$TMP/lat.p99")" "$(median <"$TMP/lat.p999")"
if [ -n "$BASE" ]; then
        printf '  baseline: p50 %.1f ms   p99 %.1f ms   p999 %.1f ms\n' \
                "$(median <"$TMP/lat.base.p50")" "$(median <"$TMP/lat.base.p99")" \
                "$(median <"$TMP/lat.base.p999")"
fi
