#!/bin/sh
# Scale-out over Kafka (issue 10) on `recstream dev-broker`: replicas of
# pipelines/video.yaml as separate `recstream run` processes, observed
# from outside (bench/kafka_bench.c: watch, internal, nbdelay).
#
# 1. Throughput and costs. EVENTS generated events of USERS users are
#    produced first to video.behavior (6 partitions; video.cooc-deltas and
#    video.item-neighbors have 6 too, video.yaml's topology.partitions) on a
#    fresh broker; then the replicas start together, in the groups
#    video.users and video.items, and `kafka_bench watch` times them through
#    the groups' committed offsets: from the first input offset committed
#    to when all EVENTS are committed by the users group (rate_users) and
#    every delta by the items group (rate: the item side has applied all
#    of it); then it waits until the neighbour topic has been quiet for 2 s
#    (settled). CPU time and RSS of every replica come from /proc over the
#    measured span, the bytes and state sizes from each replica's final
#    stats line, and `kafka_bench internal` decodes both internal topics
#    (updates by kind, neighbours). Configurations, interleaved run by run:
#      all-1, all-2, all-3   1, 2, 3 replicas `--role all`
#      split                 one `--role users` and one `--role items`
#      split/p12             the same with topology.partitions 12 (and
#                            12 partitions of cooc-deltas, item-neighbors):
#                            what a partition more costs the item side
#      all-1/poll10, all-3/poll10   source.poll_timeout 10ms instead of
#                            100ms (see BENCHMARKS.md: a replica of role
#                            all waits half of it on an idle side)
#    The pipeline is video.yaml with state.commit_interval 100ms for the
#    consumers (printed below), so that committed offsets follow closely.
# 2. Delay from an event to the neighbour update it causes, as another
#    replica's follower sees it: 2 replicas `--role all` under RATE
#    events/s of background load, and `kafka_bench nbdelay` probes (a
#    fresh user watches fresh items a then b; b's first neighbour record
#    lists a) timed from the produce call of b's event to the arrival of
#    that record at an independent reader of video.item-neighbors. A run
#    in which a replica was assigned twice (a rebalance) is repeated, as in
#    part 1.
#
# Sized for the mock's limits (DESIGN.md, *The dev broker*): it keeps only
# a partition's newest ~100,000 messages / 5 MiB and does not compact.
# Each run checks that every event was kept and that no delta was dropped.
#
# Environment:
#   SCALE_BENCH_QUICK=1      40,000 events of 3,200 users, 1 run, 8 s delay
#   SCALE_BENCH_EVENTS=N     events (100,000; 12.5 per user, as USERS)
#   SCALE_BENCH_USERS=U      users (8,000)
#   SCALE_BENCH_RUNS=N       repetitions (3)
#   SCALE_BENCH_CONFIGS="…"  configurations of part 1 (all of the above)
#   SCALE_BENCH_DELAY_S=S    seconds of probes per delay run (15)
#   SCALE_BENCH_RATE=R       background load of part 2 (default: half the
#                            median rate of all-2, or 2,000 without it)
#   SCALE_BENCH_ONLY=throughput|delay
#   SCALE_BENCH_KEEP=DIR     keep every replica's log there
set -eu
# several workers at once: no HTTP port each unless asked (http.port)
RECSTREAM_HTTP_PORT=${RECSTREAM_HTTP_PORT:-0}
export RECSTREAM_HTTP_PORT
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
. bench/lib.sh

if [ "${SCALE_BENCH_QUICK:-}" = 1 ]; then
        EVENTS=${SCALE_BENCH_EVENTS:-40000}
        USERS=${SCALE_BENCH_USERS:-3200}
        RUNS=${SCALE_BENCH_RUNS:-1}
        DELAY_S=${SCALE_BENCH_DELAY_S:-8}
else
        EVENTS=${SCALE_BENCH_EVENTS:-100000}
        USERS=${SCALE_BENCH_USERS:-8000}
        RUNS=${SCALE_BENCH_RUNS:-3}
        DELAY_S=${SCALE_BENCH_DELAY_S:-15}
fi
CONFIGS=${SCALE_BENCH_CONFIGS:-all-1 all-2 all-3 split split/p12 all-1/poll10 all-3/poll10}
ONLY=${SCALE_BENCH_ONLY:-}
PARTITIONS=6
PROBES=50 # per second
RS=$BUILD/recstream
KB=$BUILD/bench/kafka_bench

for f in "$RS" "$KB"; do
        if [ ! -x "$f" ]; then
                echo "scale_bench: skipped: $f is not built (make bench builds it)"
                exit 0
        fi
done
if [ ! -r /proc/self/stat ]; then
        echo "scale_bench: skipped: no /proc (CPU time and RSS come from it)"
        exit 0
fi

TMP=$(mktemp -d)
BROKER_PID= KB_PID= REPLICAS=
cleanup() {
        for p in $KB_PID $REPLICAS $BROKER_PID; do
                kill "$p" 2>/dev/null || :
        done
        for p in $KB_PID $REPLICAS $BROKER_PID; do
                wait "$p" 2>/dev/null || :
        done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

COMMIT='$a state: {commit_interval: 100ms}'
derive "$TMP/scale.yaml" "$COMMIT" 'commit_interval: 100ms'
derive "$TMP/scale-poll10.yaml" "$COMMIT" 'commit_interval: 100ms' \
        's/^\(  poll_timeout:\) 100ms/\1 10ms/' 'poll_timeout: 10ms'
derive "$TMP/scale-p12.yaml" "$COMMIT" 'commit_interval: 100ms'
if grep -q '^topology:' "$TMP/scale-p12.yaml"; then
        echo "scale_bench: pipelines/video.yaml has a topology section: set partitions here"
        exit 1
fi
printf 'topology:\n  partitions: 12\n' >>"$TMP/scale-p12.yaml"
derive "$TMP/delay.yaml" \
        's/^\(  client.id: recstream-video\)$/\1\n  fetch.wait.max.ms: "1"/' \
        '^  fetch.wait.max.ms: "1"'

# Starts the replicas of configuration $1 with pipeline $2: REPLICAS (pids,
# space separated), PIDS (comma separated), NREP, and the logs
# $TMP/rep.<i>.log.
start_replicas() {
        case $1 in
        all-*) roles=$(seq 1 "${1#all-}" | sed 's/.*/all/') ;;
        split) roles="users items" ;;
        esac
        REPLICAS= PIDS= NREP=0
        for role in $roles; do
                NREP=$((NREP + 1))
                KAFKA_BOOTSTRAP=$BOOTSTRAP RECSTREAM_LOG_LEVEL=info \
                        "$RS" run -c "$2" --role "$role" \
                        2>"$TMP/rep.$NREP.log" &
                REPLICAS="$REPLICAS $!"
                PIDS="$PIDS${PIDS:+,}$!"
        done
}

# Stops the replicas; with SCALE_BENCH_KEEP, keeps their logs as
# $SCALE_BENCH_KEEP/$1.<i>.log.
stop_replicas() {
        for p in $REPLICAS; do
                kill "$p" 2>/dev/null || :
        done
        for p in $REPLICAS; do
                wait "$p" 2>/dev/null || :
        done
        REPLICAS=
        if [ -n "${SCALE_BENCH_KEEP:-}" ]; then
                mkdir -p "$SCALE_BENCH_KEEP"
                for i in $(seq 1 "$NREP"); do
                        cp "$TMP/rep.$i.log" "$SCALE_BENCH_KEEP/$1.$i.log"
                done
        fi
}

# The last stats line of replica $1.
stats_of() {
        grep 'component=worker event=stats' "$TMP/rep.$1.log" | tail -n 1
}

# Sum over the replicas' final stats of field $1.
sum_stats() {
        s=0
        for i in $(seq 1 "$NREP"); do
                v=$(field "$1" "$(stats_of "$i")")
                s=$((s + ${v:-0}))
        done
        echo "$s"
}

# Comma-separated list over the replicas of field $1 (from their stats),
# divided by $2 (default 1) and printed with format $3 (default %d); "-"
# for a replica without that state (the item side holds no neighbour
# table, the user side no cooccur).
list_stats() {
        l=
        for i in $(seq 1 "$NREP"); do
                v=$(field "$1" "$(stats_of "$i")")
                l="$l${l:+,}$(awk -v v="$v" -v d="${2:-1}" -v f="${3:-%d}" \
                        'BEGIN { if (v == "") printf "-"; else printf f, v / d }')"
        done
        echo "$l"
}

# Mean of a comma-separated list, over the replicas that have the value.
mean_list() {
        echo "$1" | tr ',' '\n' | awk '$1 != "-" { s += $1; n++ }
                END { if (n) printf "%.1f\n", s / n; else print "nan" }'
}

echo "scale_bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# One run of configuration $1 (repetition $2, try $3): prints its line; appends
# its figures to $TMP/<config>.* unless it rebalanced or lost deltas, then
# OK=0.
run_config() {
        c=$1 r=$2 OK=1 try=$3
        name=$(echo "$c" | tr '/' '_')
        yaml=$TMP/scale.yaml
        parts=$PARTITIONS
        case $c in
        */poll10) yaml=$TMP/scale-poll10.yaml ;;
        */p12) yaml=$TMP/scale-p12.yaml parts=12 ;;
        esac
        start_broker --partitions $PARTITIONS --topic video.behavior \
                --topic video.recs --topic video.cooc-deltas:$parts \
                --topic video.item-neighbors:$parts \
                --topic video.users-changelog \
                --topic video.items-changelog:$parts
        kb load -b "$BOOTSTRAP" -t video.behavior -n "$EVENTS" \
                --users "$USERS" --seed "$r"
        if [ "$(field kept "$LINE")" != "$EVENTS" ]; then
                echo "scale_bench: the dev broker kept $(field kept "$LINE") of $EVENTS events: lower SCALE_BENCH_EVENTS"
                exit 1
        fi
        start_replicas "${c%/*}" "$yaml"
        kb watch -b "$BOOTSTRAP" -t video.behavior -g video.users \
                -n "$EVENTS" --deltas video.cooc-deltas \
                --items-group video.items \
                --neighbors video.item-neighbors --pids "$PIDS" \
                --broker-pid "$BROKER_PID" --seconds 300
        w=$LINE
        stop_replicas "$r.$name.$try"
        kb internal -b "$BOOTSTRAP" --deltas video.cooc-deltas \
                --neighbors video.item-neighbors
        in=$LINE
        stop_broker
        # every replica joined its groups once: no rebalance
        assigned=0
        for i in $(seq 1 "$NREP"); do
                assigned=$((assigned + $(grep -c 'event=assigned' "$TMP/rep.$i.log" || :)))
        done
        want=$NREP
        [ "${c%%-*}" = all ] && want=$((2 * NREP))
        note=
        [ "$assigned" -ne "$want" ] && note=" REBALANCED ($assigned assignments, $want expected): repeated"
        processed=$(sum_stats processed)
        dprod=$(sum_stats deltas_produced)
        dapp=$(sum_stats deltas_applied)
        [ "$dapp" -ne "$dprod" ] && note="$note DELTAS LOST OR REPEATED ($dapp applied of $dprod): repeated"
        [ "$(field deltas_dropped "$w")" != 0 ] && note="$note (the mock dropped $(field deltas_dropped "$w") old deltas)"
        dbytes=$(sum_stats delta_bytes)
        nbytes=$(sum_stats nb_bytes)
        cpu=$(field cpu_s "$w")
        cpusum=$(echo "$cpu" | tr ',' '\n' | awk '{ s += $1 } END { printf "%.2f\n", s }')
        measured=$(field measured "$w")
        rate=$(field rate "$w")
        nbb=$(list_stats neighbor_bytes 1000000 %.1f)
        nbi=$(list_stats neighbor_items)
        ub=$(list_stats users_bytes 1000000 %.1f)
        cb=$(list_stats cooc_bytes 1000000 %.1f)
        rss=$(field rss_mb "$w")
        echo "  run $r $c: $rate events/s (users side done at $(field rate_users "$w")/s)," \
                "replica CPU $cpu s (broker $(field broker_cpu_s "$w") s) over $(field seconds "$w") s," \
                "$(ratio "$measured" "$cpusum" %.0f) events per replica CPU-s;" \
                "RSS $rss MB; neighbour table $nbb MB ($nbi items);" \
                "users $ub MB, cooccur $cb MB; deltas $(ratio "$dbytes" "$processed" %.1f) B/event," \
                "neighbour records $(ratio "$nbytes" "$processed" %.1f) B/event$note"
        echo "    $in"
        if echo "$note" | grep -q ': repeated'; then
                OK=0
                return 0
        fi
        echo "$rate" >>"$TMP/$name.rate"
        field rate_users "$w" >>"$TMP/$name.rate_users"
        ratio "$measured" "$cpusum" %.0f >>"$TMP/$name.per_cpu"
        field broker_cpu_s "$w" >>"$TMP/$name.broker_cpu"
        echo "$cpusum" >>"$TMP/$name.cpu"
        ratio "$cpusum" "$(field seconds "$w")" %.2f >>"$TMP/$name.cores"
        ratio "$dbytes" "$processed" %.1f >>"$TMP/$name.dbytes"
        ratio "$nbytes" "$processed" %.1f >>"$TMP/$name.nbytes"
        mean_list "$rss" >>"$TMP/$name.rss"
        mean_list "$nbb" >>"$TMP/$name.nbb"
        mean_list "$nbi" >>"$TMP/$name.nbi"
        # per side, from the split runs: each process's CPU-s and sizes
        case $c in split*)
                echo "$cpu" | cut -d, -f1 >>"$TMP/$name.cpu_users"
                echo "$cpu" | cut -d, -f2 >>"$TMP/$name.cpu_items"
                for k in updates pair_updates marginal_updates; do
                        field $k "$in" >>"$TMP/$name.$k"
                done
                echo "$rss" | cut -d, -f1 >>"$TMP/$name.rss_users"
                echo "$rss" | cut -d, -f2 >>"$TMP/$name.rss_items"
                echo "$ub" | cut -d, -f1 >>"$TMP/$name.users_mb"
                list_stats cooc_bytes | cut -d, -f2 >>"$TMP/$name.cooc_bytes"
                list_stats items | cut -d, -f2 >>"$TMP/$name.items"
                list_stats users | cut -d, -f1 >>"$TMP/$name.users"
                ratio "$(sum_stats produced)" "$processed" %.4f >>"$TMP/$name.lists"
                ;;
        esac
        if [ "$c" = all-1 ]; then
                for k in updates pair_updates marginal_updates popularity_updates delta_records nb_items nb_neighbors nb_records; do
                        field "$k" "$in" >>"$TMP/in.$k"
                done
                echo "$processed" >>"$TMP/in.processed"
        fi
}

# --- 1. throughput and costs ------------------------------------------------------
ALL2_MEDIAN=
if [ "$ONLY" != delay ]; then
        echo "\$ recstream dev-broker --partitions $PARTITIONS   # video.behavior, video.cooc-deltas, video.item-neighbors: $PARTITIONS each"
        echo "\$ kafka_bench load -t video.behavior -n $EVENTS --users $USERS"
        echo "\$ recstream run -c scale.yaml --role ROLE   # each replica; pipelines/video.yaml with:"
        diff pipelines/video.yaml "$TMP/scale.yaml" | sed -n 's/^> /    /p'
        echo "  (the poll10 configurations also: $(diff pipelines/video.yaml "$TMP/scale-poll10.yaml" | sed -n 's/^> *//p' | grep poll_timeout))"
        echo "\$ kafka_bench watch -t video.behavior -g video.users -n $EVENTS --deltas video.cooc-deltas --items-group video.items --neighbors video.item-neighbors"
        echo "\$ kafka_bench internal --deltas video.cooc-deltas --neighbors video.item-neighbors"
        REPEATED=0
        for r in $(seq 1 "$RUNS"); do
                for c in $CONFIGS; do
                        for try in 1 2 3; do
                                run_config "$c" "$r" "$try"
                                [ "$OK" = 1 ] && break
                                REPEATED=$((REPEATED + 1))
                        done
                done
        done
        echo "scale-out, $EVENTS events of $USERS users x $RUNS runs, medians (on $(nproc) cores shared by the broker and every replica):"
        printf '  %-13s %9s %11s %9s %7s %9s %8s %9s %9s %10s\n' config "events/s" "users done" "ev/CPU-s" cores "broker s" "RSS MB" "table MB" "delta B/e" "nb rec B/e"
        for c in $CONFIGS; do
                name=$(echo "$c" | tr '/' '_')
                printf '  %-13s %9.0f %11.0f %9.0f %7.2f %9.2f %8.1f %9.2f %9.1f %10.1f\n' "$c" \
                        "$(median <"$TMP/$name.rate")" "$(median <"$TMP/$name.rate_users")" \
                        "$(median <"$TMP/$name.per_cpu")" "$(median <"$TMP/$name.cores")" \
                        "$(median <"$TMP/$name.broker_cpu")" "$(median <"$TMP/$name.rss")" \
                        "$(median <"$TMP/$name.nbb")" "$(median <"$TMP/$name.dbytes")" \
                        "$(median <"$TMP/$name.nbytes")"
        done
        [ "$REPEATED" -gt 0 ] && echo "  ($REPEATED runs rebalanced or re-applied deltas and were repeated: not in the medians)"
        echo "  (events/s: first input offset committed to every delta committed by the item side;"
        echo "   users done: to every input offset committed; ev/CPU-s: events per CPU-second of all replicas;"
        echo "   cores: replica CPU-s per wall second; RSS: per replica, mean; table (neighbor_bytes):"
        echo "   per replica that holds one, mean)"
        if [ -s "$TMP/in.processed" ]; then
                p=$(median <"$TMP/in.processed")
                echo "internal records of all-1, per input event (medians):"
                printf '  delta records %.4f, updates %.2f: pairs %.2f (%.2f pairs), marginals %.2f, popularity %.2f\n' \
                        "$(ratio "$(median <"$TMP/in.delta_records")" "$p" %.6f)" \
                        "$(ratio "$(median <"$TMP/in.updates")" "$p" %.4f)" \
                        "$(ratio "$(median <"$TMP/in.pair_updates")" "$p" %.4f)" \
                        "$(ratio "$(median <"$TMP/in.pair_updates")" "$((2 * p))" %.4f)" \
                        "$(ratio "$(median <"$TMP/in.marginal_updates")" "$p" %.4f)" \
                        "$(ratio "$(median <"$TMP/in.popularity_updates")" "$p" %.4f)"
                printf '  neighbour records %.4f (items %.4f, %.1f neighbours each)\n' \
                        "$(ratio "$(median <"$TMP/in.nb_records")" "$p" %.6f)" \
                        "$(ratio "$(median <"$TMP/in.nb_items")" "$p" %.6f)" \
                        "$(ratio "$(median <"$TMP/in.nb_neighbors")" "$(median <"$TMP/in.nb_items")" %.2f)"
        fi
        mev=$(awk -v e="$EVENTS" 'BEGIN { print e / 1e6 }')
        for name in split split_p12; do
                [ -s "$TMP/$name.cpu_users" ] || continue
                cu=$(median <"$TMP/$name.cpu_users") ci=$(median <"$TMP/$name.cpu_items")
                echo "per side, $name (medians): users process $cu CPU-s, items process $ci CPU-s for $EVENTS events:"
                printf '  users side %.2f us/event (%.3f UserRecs per event); items side %.2f us/event, %.3f us/update (%s updates, %s of them marginals)\n' \
                        "$(ratio "$cu" "$mev" %.4f)" "$(median <"$TMP/$name.lists")" "$(ratio "$ci" "$mev" %.4f)" \
                        "$(ratio "$ci" "$(awk -v u="$(median <"$TMP/$name.updates")" 'BEGIN { print u / 1e6 }')" %.5f)" \
                        "$(median <"$TMP/$name.updates")" "$(median <"$TMP/$name.marginal_updates")"
                printf '  RSS users %.1f MB (user_window %s MB, %s users), items %.1f MB (cooccur %.2f MB, %s item records)\n' \
                        "$(median <"$TMP/$name.rss_users")" "$(median <"$TMP/$name.users_mb")" \
                        "$(median <"$TMP/$name.users")" "$(median <"$TMP/$name.rss_items")" \
                        "$(ratio "$(median <"$TMP/$name.cooc_bytes")" 1000000 %.3f)" \
                        "$(median <"$TMP/$name.items")"
        done
        if [ -s "$TMP/split.cpu_items" ] && [ -s "$TMP/split_p12.cpu_items" ]; then
                dc=$(awk -v a="$(median <"$TMP/split_p12.cpu_items")" -v b="$(median <"$TMP/split.cpu_items")" 'BEGIN { print a - b }')
                dm=$(awk -v a="$(median <"$TMP/split_p12.marginal_updates")" -v b="$(median <"$TMP/split.marginal_updates")" 'BEGIN { print (a - b) / 1e6 }')
                db=$(awk -v a="$(median <"$TMP/split_p12.cooc_bytes")" -v b="$(median <"$TMP/split.cooc_bytes")" 'BEGIN { print a - b }')
                di=$(awk -v a="$(median <"$TMP/split_p12.items")" -v b="$(median <"$TMP/split.items")" 'BEGIN { print a - b }')
                printf '6 -> 12 partitions: item side +%.2f CPU-s for +%.0f marginal updates: %.3f us each; cooccur +%.0f B for +%d item records: %.0f B each\n' \
                        "$dc" "$(awk -v m="$dm" 'BEGIN { print m * 1e6 }')" "$(ratio "$dc" "$dm" %.4f)" \
                        "$db" "$di" "$(ratio "$db" "$di" %.1f)"
        fi
        [ -s "$TMP/all-2.rate" ] && ALL2_MEDIAN=$(median <"$TMP/all-2.rate")
fi

# --- 2. delay to another replica ---------------------------------------------
[ "$ONLY" = throughput ] && exit 0
RATE=${SCALE_BENCH_RATE:-}
if [ -z "$RATE" ]; then
        RATE=2000
        [ -n "$ALL2_MEDIAN" ] && RATE=$(awk -v w="$ALL2_MEDIAN" 'BEGIN { printf "%d", w / 2 }')
fi
# The mock answers an empty fetch only after fetch.wait.max.ms even when
# data arrives meanwhile (see kafka_bench.sh): every client of the replicas
# gets 1 ms, as kafka_bench's reader has; a broker answers at once.
echo "\$ recstream run -c delay.yaml --role all   # 2 replicas; pipelines/video.yaml with:"
diff pipelines/video.yaml "$TMP/delay.yaml" | sed -n 's/^> /    /p'
echo "\$ kafka_bench nbdelay -t video.behavior --neighbors video.item-neighbors --rate $RATE --probes $PROBES --seconds $DELAY_S --warmup 3"
# One delay run (repetition $1): prints its line; appends its percentiles
# to $TMP/d.* unless a replica was assigned more than once, then OK=0.
delay_run() {
        OK=1
        start_broker --partitions $PARTITIONS
        start_replicas all-2 "$TMP/delay.yaml"
        # both replicas in both groups
        for _ in $(seq 1 300); do
                n=0
                for i in 1 2; do
                        n=$((n + $(grep -c 'event=assigned' "$TMP/rep.$i.log" || :)))
                done
                [ "$n" -ge 4 ] && break
                sleep 0.1
        done
        if [ "$n" -lt 4 ]; then
                echo "scale_bench: the replicas were not assigned in 30 s:"
                tail -n 3 "$TMP/rep.1.log" "$TMP/rep.2.log"
                exit 1
        fi
        kb nbdelay -b "$BOOTSTRAP" -t video.behavior --neighbors video.item-neighbors \
                --rate "$RATE" --probes $PROBES --seconds "$DELAY_S" --warmup 3 --seed "$1"
        d=$LINE
        n=0
        for i in 1 2; do
                n=$((n + $(grep -c 'event=assigned' "$TMP/rep.$i.log" || :)))
        done
        stop_replicas "$1.delay"
        stop_broker
        if [ "$n" -ne 4 ]; then
                echo "  run $1: $d REBALANCED ($n assignments, 4 expected): repeated"
                OK=0
                return 0
        fi
        echo "  run $1: $d"
        field p50_ms "$d" >>"$TMP/d.p50"
        field p90_ms "$d" >>"$TMP/d.p90"
        field p99_ms "$d" >>"$TMP/d.p99"
        field max_ms "$d" >>"$TMP/d.max"
}
REPEATED=0
for r in $(seq 1 "$RUNS"); do
        for try in 1 2 3; do
                delay_run "$r"
                [ "$OK" = 1 ] && break
                REPEATED=$((REPEATED + 1))
        done
done
echo "event -> neighbour record at another replica's reader, $RATE events/s background, $RUNS runs of $DELAY_S s, medians:"
printf '  p50 %.1f ms   p90 %.1f ms   p99 %.1f ms   max %.1f ms\n' "$(median <"$TMP/d.p50")" \
        "$(median <"$TMP/d.p90")" "$(median <"$TMP/d.p99")" "$(median <"$TMP/d.max")"
[ "$REPEATED" -gt 0 ] && echo "  ($REPEATED runs rebalanced and were repeated: not in the medians)"
exit 0
