#!/bin/sh
# State that survives (issue 11): what the changelogs cost and how fast
# state comes back. Four parts:
#
# 1. Restore time and throughput.
#    (a) In process (build/bench/state_bench, bench/state_bench.c): a
#        state of USERS users and ITEMS items learnt from generated events,
#        every key through the changelog codec and back into a fresh
#        process's stages; encode and decode + load timed apart.
#    (b) Over Kafka on `recstream dev-broker`, for each size of SIZES users
#        (EVENTS_PER_USER events each, Zipf over KITEMS videos, 32 input
#        partitions): a first worker (kafka_bench worker, video.yaml with
#        state.commit_interval 600s, so that its one commit, at its close,
#        writes each user and item once) learns them; what the changelogs
#        kept is counted (kafka_bench kept); then REPS cycles of part 4,
#        each starting with a `recstream run` whose log says when each
#        partition was restored (event=restored: records, bytes, seconds).
# 2. Changelog bytes per input event at state.commit_interval 1s, 5s
#    (shipped) and 30s: `recstream run` under RATE events/s of
#    `kafka_bench latency` (LUSERS users, Zipf over KITEMS videos; it also
#    gives the event -> list latency), and `kafka_bench tally` counts the
#    input and both changelogs by producer timestamp over SPAN seconds
#    (a multiple of every interval) after WARM seconds; as a check, the
#    worker's own counters over the same span (its event=stats lines,
#    every 10 s: changelog bytes and records over events consumed), which
#    a lagging worker does not skew, and the commits in the span. 2 input
#    partitions, as kafka_bench.sh's latency runs: over 32, the mock's
#    one message set per partition and fetch throttles the consumer into
#    seconds of lag at this rate.
# 3. What changelogging costs ingest: kafka_bench worker over TEVENTS
#    preloaded events (kafka_bench.sh's load: 100,000 users, series and
#    standalone videos), pipelines/video.yaml as shipped against the same
#    with `state: {changelog: false}`, interleaved, RUNS each, fresh groups
#    and topics every run (changelogs included: a run must not restore
#    the last one's); events/s by the wall clock (a replica of role all
#    mostly waits on poll_timeout: BENCHMARKS.md, scale-out) and per
#    CPU-second of the worker.
# 4. Recovery after SIGKILL, for each size of part 1b, REPS cycles: the
#    worker that restored goes on under RRATE events/s of background load
#    for KILL_AFTER s (two commits), is killed (kill -9), and a new one
#    starts at once; `kafka_bench first` (an independent reader of
#    video.recs, from the end offsets after the kill) times the first list
#    the new one publishes; once it has restored it is stopped (SIGTERM:
#    it commits and leaves) and the next cycle's worker restores what it
#    left. Medians of the cycles.
#
# What the mock (librdkafka 2.0.2's) hides or adds, all printed with the
# figures: it answers no CreateTopics, and the worker's Admin call waits
# its 10 s timeout at every start (on a broker: an immediate "exists");
# a fetch returns one message set per partition (a restore is bound by
# round trips, not bytes); an empty fetch is answered after
# fetch.wait.max.ms (1 ms for the workers' consumers here, as in
# kafka_bench.sh's latency runs; the restorer uses 10 ms); it keeps a
# partition's newest ~100,000 messages / 5 MiB and does not compact
# (sizes are chosen to fit; what was dropped is counted); the killed
# member stays in its groups until session.timeout.ms (10 s) as on a
# broker.
#
# Environment:
#   STATE_BENCH_QUICK=1      100,000 users / items in process, sizes 20k
#                            and 50k with 2 cycles, 30 s spans, 2 runs of
#                            150,000 events (about 10 minutes; the full
#                            run about 35)
#   STATE_BENCH_USERS=U      part 1a users (1,000,000); _ITEMS (1,000,000);
#                            _PER_USER events each (20); _RUNS1A (3)
#   STATE_BENCH_SIZES="…"    users of parts 1b and 4 (50000 100000 200000)
#   STATE_BENCH_RUNS=N       repetitions of part 3 (5); _EVENTS events
#                            each (500,000)
#   STATE_BENCH_RATE=R       events/s of part 2 (5000)
#   STATE_BENCH_ONLY=1a|1b|2|3   one part (1b includes 4)
#   STATE_BENCH_KEEP=DIR     keep the workers' logs there
set -eu
# a worker restarted while the killed one's port may linger: no HTTP port
# unless asked (http.port)
RECSTREAM_HTTP_PORT=${RECSTREAM_HTTP_PORT:-0}
export RECSTREAM_HTTP_PORT
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
. bench/lib.sh

if [ "${STATE_BENCH_QUICK:-}" = 1 ]; then
        USERS=${STATE_BENCH_USERS:-100000}
        ITEMS=${STATE_BENCH_ITEMS:-100000}
        SIZES=${STATE_BENCH_SIZES:-20000 50000}
        RUNS=${STATE_BENCH_RUNS:-2}
        TEVENTS=${STATE_BENCH_EVENTS:-150000} REPS=2
        WARM=10 SPAN=30
else
        USERS=${STATE_BENCH_USERS:-1000000}
        ITEMS=${STATE_BENCH_ITEMS:-1000000}
        SIZES=${STATE_BENCH_SIZES:-50000 100000 200000}
        RUNS=${STATE_BENCH_RUNS:-5}
        TEVENTS=${STATE_BENCH_EVENTS:-500000} REPS=3
        WARM=20 SPAN=90
fi
PER_USER=${STATE_BENCH_PER_USER:-20}
RUNS1A=${STATE_BENCH_RUNS1A:-3}
ONLY=${STATE_BENCH_ONLY:-}
EVENTS_PER_USER=10 # parts 1b and 4
KITEMS=5000        # videos over Kafka: the items changelog fits 5 MiB a partition
RATE=${STATE_BENCH_RATE:-5000} # part 2
LUSERS=50000       # part 2: a user every 10 s, as in a session
RRATE=1000         # part 4: the load the killed worker was under
KILL_AFTER=12      # part 4: seconds of it before the kill (two commits)
PARTITIONS=32
LPARTITIONS=2      # part 2
RS=$BUILD/recstream
KB=$BUILD/bench/kafka_bench
SB=$BUILD/bench/state_bench

for f in "$RS" "$KB" "$SB"; do
        if [ ! -x "$f" ]; then
                echo "state_bench: skipped: $f is not built (make bench builds it)"
                exit 0
        fi
done
for tool in sed awk sort mktemp date; do
        if ! command -v $tool >/dev/null 2>&1; then
                echo "state_bench: skipped: $tool is not installed"
                exit 0
        fi
done

TMP=$(mktemp -d)
# FIRST_PID: kafka_bench first or tally, in the background
BROKER_PID='' KB_PID='' WORKER_PID='' LOAD_PID='' FIRST_PID=
cleanup() {
        for p in $FIRST_PID $LOAD_PID $KB_PID $WORKER_PID $BROKER_PID; do
                kill "$p" 2>/dev/null || :
        done
        for p in $FIRST_PID $LOAD_PID $KB_PID $WORKER_PID $BROKER_PID; do
                wait "$p" 2>/dev/null || :
        done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() {
        date +%s%3N
}

# Milliseconds since the epoch of the ts= of the first (or, with $3 =
# last, the last) line of log $1 matching $2; empty when none.
log_ms() {
        t=$(grep -e "$2" "$1" | if [ "${3:-}" = last ]; then tail -n 1; else head -n 1; fi |
                sed -n 's/^ts=\([^ ]*\) .*/\1/p')
        if [ -n "$t" ]; then date -u -d "$t" +%s%3N; fi
}

# As log_ms, in ms from T_START; fails saying so when no line matches.
since_start() {
        t=$(log_ms "$@")
        if [ -z "$t" ]; then
                echo "state_bench: no '$2' in $1; it ends:" >&2
                tail -n 5 "$1" >&2
                exit 1
        fi
        echo $((t - T_START))
}

# Sum of field $2 over the lines of log $1 matching $3.
log_sum() {
        grep -e "$3" "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" |
                awk '{ s += $1 } END { printf "%.3f\n", s }'
}

if grep -q '^state:' pipelines/video.yaml; then
        echo "state_bench: pipelines/video.yaml has a state section: set it here"
        exit 1
fi
FETCH='s/^\(    session.timeout.ms: "10000"\)$/\1\n    fetch.wait.max.ms: "1"/'
derive "$TMP/run.yaml" "$FETCH" 'fetch.wait.max.ms: "1"'
derive "$TMP/once.yaml" "$FETCH" 'fetch.wait.max.ms: "1"' \
        "\$a state: {commit_interval: 600s}" 'commit_interval: 600s'
for ci in 1s 5s 30s; do
        derive "$TMP/ci$ci.yaml" "$FETCH" 'fetch.wait.max.ms: "1"' \
                "\$a state: {commit_interval: $ci}" "commit_interval: $ci"
done
derive "$TMP/off.yaml" "\$a state: {changelog: false}" 'changelog: false'

# Starts `recstream run -c $1` with its log in $2: WORKER_PID, and T_START
# (ms) just before.
start_worker() {
        T_START=$(now_ms)
        KAFKA_BOOTSTRAP=$BOOTSTRAP RECSTREAM_LOG_LEVEL=info \
                "$RS" run -c "$1" 2>"$2" &
        WORKER_PID=$!
}

stop_worker() {
        kill "$WORKER_PID" 2>/dev/null || :
        wait "$WORKER_PID" 2>/dev/null || :
        WORKER_PID=
}

# With STATE_BENCH_KEEP, keeps log $1 there as $2.
keep() {
        if [ -n "${STATE_BENCH_KEEP:-}" ]; then
                mkdir -p "$STATE_BENCH_KEEP"
                cp "$1" "$STATE_BENCH_KEEP/$2"
        fi
}

# Waits (at most $3 s) until log $1 has $2 lines of event=restored.
wait_restored() {
        for _ in $(seq 1 $(($3 * 10))); do
                [ "$(grep -c 'event=restored' "$1" || :)" -ge "$2" ] && return 0
                sleep 0.1
        done
        echo "state_bench: only $(grep -c 'event=restored' "$1" || :) of $2 partitions restored in $3 s:"
        grep -v 'event=restore' "$1" | tail -n 5
        exit 1
}

# The figures of a worker's start in log $1 (started at T_START), in ms
# from it: STARTED (event=started; ADMIN_MS of it waiting for
# CreateTopics), U_ASSIGNED and I_ASSIGNED (the users and the items
# group's assignment), U_RESTORED and I_RESTORED (each side's last
# partition restored), FIRST_RESTORE (the first restore_start), RESTORED
# (the last partition restored); and the restored records, bytes, seconds
# of each changelog.
start_figures() {
        admin=$(log_ms "$1" 'component=admin event=create_topics_')
        ADMIN_MS=$((${admin:-$T_START} - T_START))
        STARTED=$(since_start "$1" 'component=worker event=started')
        U_ASSIGNED=$(since_start "$1" 'event=assigned group=video.users ')
        I_ASSIGNED=$(since_start "$1" 'event=assigned group=video.items ')
        U_RESTORED=$(since_start "$1" 'event=restored topic=video.users-changelog' last)
        I_RESTORED=$(since_start "$1" 'event=restored topic=video.items-changelog' last)
        RESTORED=$(since_start "$1" 'event=restored' last)
        FIRST_RESTORE=$(since_start "$1" 'event=restore_start')
        U_REC=$(log_sum "$1" records 'event=restored topic=video.users-changelog' | cut -d. -f1)
        U_BYTES=$(log_sum "$1" bytes 'event=restored topic=video.users-changelog' | cut -d. -f1)
        U_SECS=$(log_sum "$1" seconds 'event=restored topic=video.users-changelog')
        I_REC=$(log_sum "$1" records 'event=restored topic=video.items-changelog' | cut -d. -f1)
        I_BYTES=$(log_sum "$1" bytes 'event=restored topic=video.items-changelog' | cut -d. -f1)
        I_SECS=$(log_sum "$1" seconds 'event=restored topic=video.items-changelog')
}

loadavg() {
        echo "  (load average $(cut -d' ' -f1-3 /proc/loadavg))"
}
echo "state_bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
trap 'echo "state_bench: done, load average $(cut -d" " -f1-3 /proc/loadavg)"; cleanup' EXIT

# --- 1a. in process -------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = 1a ]; then
        echo
        echo "1a. in process: encode, then decode + load into a fresh process"
        loadavg
        echo "\$ $SB --users $USERS --items $ITEMS --events-per-user $PER_USER --runs $RUNS1A"
        "$SB" --users "$USERS" --items "$ITEMS" --events-per-user "$PER_USER" \
                --runs "$RUNS1A"
fi

BROKER_TOPICS="--topic video.behavior --topic video.recs --topic video.users-changelog --topic video.cooc-deltas:6 --topic video.item-neighbors:6 --topic video.items-changelog:6"

# Median of column $3 of file $1's rows whose first column is $2.
col_median() {
        awk -v u="$2" -v c="$3" '$1 == u { print $c }' "$1" | median
}

# --- 1b and 4. restore over Kafka, recovery after SIGKILL ----------------------
if [ -z "$ONLY" ] || [ "$ONLY" = 1b ]; then
        echo
        echo "1b. restore over Kafka, and 4. recovery after SIGKILL ($EVENTS_PER_USER events a user, Zipf over $KITEMS videos, $PARTITIONS input partitions; $REPS cycles a size)"
        loadavg
        echo "\$ recstream dev-broker --partitions $PARTITIONS $BROKER_TOPICS"
        echo "\$ kafka_bench load -t video.behavior -n USERS*$EVENTS_PER_USER --users USERS --items $KITEMS"
        echo "\$ kafka_bench worker -c once.yaml -n USERS*$EVENTS_PER_USER --settle   # pipelines/video.yaml with:"
        diff pipelines/video.yaml "$TMP/once.yaml" | sed -n 's/^> /    /p'
        echo "\$ kafka_bench kept -t video.users-changelog; kafka_bench kept -t video.items-changelog"
        echo "then $REPS cycles of:"
        echo "\$ recstream run -c run.yaml   # restores; pipelines/video.yaml with:"
        diff pipelines/video.yaml "$TMP/run.yaml" | sed -n 's/^> /    /p'
        echo "\$ kafka_bench latency -t video.behavior -r video.recs --rate $RRATE --seconds 120 --users USERS --items $KITEMS &"
        echo "  $KILL_AFTER s later: kill -9 the worker; kafka_bench first -t video.recs &; recstream run -c run.yaml"
        echo "  once it has restored: SIGTERM to it and the load"
        : >"$TMP/restore" && : >"$TMP/recovery"
        for users in $SIZES; do
                n=$((users * EVENTS_PER_USER))
                # shellcheck disable=SC2086
                start_broker --partitions $PARTITIONS $BROKER_TOPICS
                kb load -b "$BOOTSTRAP" -t video.behavior -n "$n" --users "$users" --items "$KITEMS"
                if [ "$(field kept "$LINE")" != "$n" ]; then
                        echo "state_bench: the dev broker kept $(field kept "$LINE") of $n events: lower the size"
                        exit 1
                fi
                KAFKA_BOOTSTRAP=$BOOTSTRAP RECSTREAM_LOG_LEVEL=warning \
                        kb worker -c "$TMP/once.yaml" -n "$n" --settle
                learnt=$LINE
                kb kept -b "$BOOTSTRAP" -t video.users-changelog
                ukept=$LINE
                kb kept -b "$BOOTSTRAP" -t video.items-changelog
                ikept=$LINE
                echo "  $users users: learnt at $(field rate "$learnt") events/s; changelogs kept:" \
                        "users $(field records "$ukept") records $(field bytes "$ukept") B" \
                        "(dropped $(field dropped "$ukept")), items $(field records "$ikept") records" \
                        "$(field bytes "$ikept") B (dropped $(field dropped "$ikept"))"
                for rep in $(seq 1 "$REPS"); do
                        # 1b: a new worker restores them (and, from the
                        # second cycle, what the last cycle's load added)
                        start_worker "$TMP/run.yaml" "$TMP/w2.log"
                        wait_restored "$TMP/w2.log" $((PARTITIONS + 6)) 300
                        start_figures "$TMP/w2.log"
                        rwall=$((RESTORED - FIRST_RESTORE))
                        rbytes=$((U_BYTES + I_BYTES))
                        rrec=$((U_REC + I_REC))
                        echo "    cycle $rep restore: start -> restored $RESTORED ms (CreateTopics wait $ADMIN_MS ms;" \
                                "event=started at $STARTED; users group assigned at $U_ASSIGNED, restored at $U_RESTORED;" \
                                "items group assigned at $I_ASSIGNED, restored at $I_RESTORED); restoring $rwall ms:" \
                                "users $U_REC records $U_BYTES B in $U_SECS s, items $I_REC records $I_BYTES B in $I_SECS s;" \
                                "$(ratio "$rbytes" "$((rwall * 1000))" %.1f) MB/s, $(ratio "$((rrec * 1000))" "$rwall" %.0f) keys/s"
                        echo "$users $RESTORED $ADMIN_MS $U_ASSIGNED $U_RESTORED $I_RESTORED $rwall $U_REC $U_BYTES $U_SECS $I_REC $I_BYTES" \
                                "$(ratio "$rbytes" "$((rwall * 1000))")" "$(ratio "$((rrec * 1000))" "$rwall" %.0f)" \
                                "$(ratio "$U_BYTES" "$(awk -v s="$U_SECS" 'BEGIN { print s * 1e6 }')")" \
                                "$(ratio "$U_REC" "$U_SECS" %.0f)" >>"$TMP/restore"

                        # 4: on under load, killed, a new one at once
                        "$KB" latency -b "$BOOTSTRAP" -t video.behavior -r video.recs \
                                --rate "$RRATE" --seconds 120 --users "$users" --items "$KITEMS" \
                                --seed "$rep" >"$TMP/load.out" 2>&1 &
                        LOAD_PID=$!
                        sleep "$KILL_AFTER"
                        kill -KILL "$WORKER_PID"
                        t_kill=$(now_ms)
                        wait "$WORKER_PID" 2>/dev/null || :
                        WORKER_PID=
                        "$KB" first -b "$BOOTSTRAP" -t video.recs --seconds 120 >"$TMP/first.out" &
                        FIRST_PID=$!
                        for _ in $(seq 1 100); do
                                grep -q ready "$TMP/first.out" && break
                                sleep 0.05
                        done
                        start_worker "$TMP/run.yaml" "$TMP/w3.log"
                        wait "$FIRST_PID" || :
                        FIRST_PID=
                        first=$(field first_ms "$(tail -n 1 "$TMP/first.out")")
                        if [ "${first:--1}" -lt 0 ]; then
                                echo "state_bench: no list within 120 s of the restart"
                                exit 1
                        fi
                        wait_restored "$TMP/w3.log" $((PARTITIONS + 6)) 120
                        start_figures "$TMP/w3.log"
                        stop_worker
                        kill "$LOAD_PID" 2>/dev/null || :
                        wait "$LOAD_PID" 2>/dev/null || :
                        LOAD_PID=
                        kb kept -b "$BOOTSTRAP" -t video.users-changelog
                        udrop=$(field dropped "$LINE")
                        kb kept -b "$BOOTSTRAP" -t video.items-changelog
                        idrop=$(field dropped "$LINE")
                        keep "$TMP/w2.log" "restore.$users.$rep.log"
                        keep "$TMP/w3.log" "recovery.$users.$rep.log"
                        rec=$((first - t_kill))
                        echo "    cycle $rep recovery: kill -> first list $rec ms (restart $((T_START - t_kill)) ms after the kill;" \
                                "from the restart: CreateTopics wait $ADMIN_MS ms, users group assigned at $U_ASSIGNED," \
                                "restored at $U_RESTORED ($U_REC records $U_BYTES B in $U_SECS s), first list at $((first - T_START));" \
                                "items group assigned at $I_ASSIGNED, restored at $I_RESTORED ($I_REC records $I_BYTES B));" \
                                "by then the mock had dropped $udrop users and $idrop items changelog records"
                        if [ "$udrop" != 0 ] || [ "$idrop" != 0 ]; then
                                echo "    (THE MOCK DROPPED CHANGELOG RECORDS: what it dropped was not restored; lower the sizes)"
                        fi
                        echo "$users $rec $((T_START - t_kill)) $ADMIN_MS $U_ASSIGNED $U_RESTORED $((U_RESTORED - U_ASSIGNED))" \
                                "$((first - T_START)) $U_REC $U_BYTES $I_RESTORED $I_REC" >>"$TMP/recovery"
                done
                stop_broker
        done
        echo "restore over Kafka, medians of $REPS cycles, ms from the worker's start (admin: of it, the mock's"
        echo "CreateTopics timeout); restoring: first restore_start to last restored, both sides; MB/s and keys/s"
        echo "over it, and the users side's alone over the sum of its partitions' seconds:"
        printf '  %7s %8s %6s %9s %9s %9s %9s %9s %8s %9s %8s %6s %8s %7s %8s\n' users "restored" admin "u assign" \
                "u done" "i done" restoring "user recs" "user MB" "item recs" "item MB" "MB/s" "keys/s" "u MB/s" "u keys/s"
        for u in $SIZES; do
                set -- "$u"
                for c in 2 3 4 5 6 7 8 9 11 12 13 14 15 16; do
                        set -- "$@" "$(col_median "$TMP/restore" "$u" $c)"
                done
                printf '  %7d %8.0f %6.0f %9.0f %9.0f %9.0f %9.0f %9.0f %8.1f %9.0f %8.1f %6.1f %8.0f %7.1f %8.0f\n' \
                        "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$(ratio "$9" 1000000)" "${10}" \
                        "$(ratio "${11}" 1000000)" "${12}" "${13}" "${14}" "${15}"
        done
        echo "recovery after kill -9, medians of $REPS cycles, ms (the restart at once; the new worker's steps from"
        echo "its start: u restore = users group assigned -> users restored; the first list needs only the users side):"
        printf '  %7s %11s %8s %6s %9s %9s %10s %11s %10s %8s %9s %10s\n' users "kill->list" restart admin "u assign" \
                "u done" "u restore" "first list" "user recs" "user MB" "i done" "item recs"
        for u in $SIZES; do
                set -- "$u"
                for c in 2 3 4 5 6 7 8 9 10 11 12; do
                        set -- "$@" "$(col_median "$TMP/recovery" "$u" $c)"
                done
                printf '  %7d %11.0f %8.0f %6.0f %9.0f %9.0f %10.0f %11.0f %10.0f %8.1f %9.0f %10.0f\n' "$1" "$2" "$3" \
                        "$4" "$5" "$6" "$7" "$8" "$9" "$(ratio "${10}" 1000000)" "${11}" "${12}"
        done
fi

# The worker's counters between the first of its event=stats lines in log
# $1 at or after $2 (ms since the epoch) and the last at or before $3:
# S_EV events consumed, S_REC changelog records and S_BYTES bytes,
# S_COMMITS commits, over S_MS ms.
stats_span() {
        grep 'component=worker event=stats' "$1" >"$TMP/stats" || :
        a='' b='' ta=0 tb=0
        while read -r line; do
                t=$(date -u -d "$(field ts "$line")" +%s%3N)
                if [ "$t" -ge "$2" ] && [ "$t" -le "$3" ]; then
                        [ -z "$a" ] && a=$line ta=$t
                        b=$line tb=$t
                fi
        done <"$TMP/stats"
        if [ -z "$a" ] || [ "$a" = "$b" ]; then
                echo "state_bench: fewer than two stats lines in the span of $1"
                exit 1
        fi
        S_EV=$(($(field consumed "$b") - $(field consumed "$a")))
        S_REC=$(($(field changelog_produced "$b") - $(field changelog_produced "$a")))
        S_BYTES=$(($(field changelog_bytes "$b") - $(field changelog_bytes "$a")))
        S_COMMITS=$(($(field commits "$b") - $(field commits "$a")))
        S_MS=$((tb - ta))
}

# --- 2. changelog bytes per input event ------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = 2 ]; then
        echo
        echo "2. changelog bytes per input event ($RATE events/s, $LUSERS users, Zipf over $KITEMS videos, $LPARTITIONS input partitions; counted over $SPAN s after $WARM s)"
        loadavg
        echo "\$ recstream dev-broker --partitions $LPARTITIONS $BROKER_TOPICS"
        echo "\$ recstream run -c ciX.yaml   # pipelines/video.yaml with run.yaml's fetch.wait.max.ms and:"
        diff pipelines/video.yaml "$TMP/ci5s.yaml" | sed -n 's/^> /    /p' | grep commit_interval | sed 's/5s/1s | 5s | 30s/'
        echo "\$ kafka_bench latency -t video.behavior -r video.recs --rate $RATE --seconds $((WARM + SPAN + 5)) --users $LUSERS --items $KITEMS --warmup $WARM"
        echo "\$ kafka_bench tally -t video.behavior,video.users-changelog,video.items-changelog --warmup $WARM --seconds $SPAN"
        for ci in 1s 5s 30s; do
                # shellcheck disable=SC2086
                start_broker --partitions $LPARTITIONS $BROKER_TOPICS
                start_worker "$TMP/ci$ci.yaml" "$TMP/ci.log"
                wait_restored "$TMP/ci.log" $((LPARTITIONS + 6)) 60
                "$KB" tally -b "$BOOTSTRAP" -t video.behavior,video.users-changelog,video.items-changelog \
                        --warmup "$WARM" --seconds "$SPAN" >"$TMP/tally.out" &
                FIRST_PID=$!
                t_load=$(now_ms)
                kb_run "$KB" latency -b "$BOOTSTRAP" -t video.behavior -r video.recs --rate "$RATE" \
                        --seconds $((WARM + SPAN + 5)) --users "$LUSERS" --items "$KITEMS" --warmup "$WARM"
                lat=$LINE
                wait "$FIRST_PID"
                FIRST_PID=
                stop_worker
                stop_broker
                keep "$TMP/ci.log" "interval.$ci.log"
                ev=$(field records "$(grep 'topic=video.behavior ' "$TMP/tally.out")")
                ul=$(grep 'topic=video.users-changelog ' "$TMP/tally.out")
                il=$(grep 'topic=video.items-changelog ' "$TMP/tally.out")
                st=$(grep 'event=stats' "$TMP/ci.log" | tail -n 1)
                stats_span "$TMP/ci.log" $((t_load + WARM * 1000)) $((t_load + (WARM + SPAN) * 1000))
                echo "  commit_interval $ci: $ev events; users changelog $(field records "$ul") records" \
                        "$(field bytes "$ul") B, items changelog $(field records "$il") records $(field bytes "$il") B;" \
                        "commits $(field commits "$st"); latency p50 $(field p50_ms "$lat") p99 $(field p99_ms "$lat") ms;" \
                        "the worker's counters over $((S_MS / 1000)) s of the span: $S_EV events, $S_REC changelog records" \
                        "$S_BYTES B, $S_COMMITS commits"
                echo "$ci $ev $(field records "$ul") $(field bytes "$ul") $(field records "$il") $(field bytes "$il") $(field p50_ms "$lat") $(field p99_ms "$lat")" \
                        "$S_EV $S_REC $S_BYTES" >>"$TMP/perevent"
        done
        echo "changelog bytes per input event (key + value, before compression):"
        echo "(by producer time; 'worker': its own counters, changelog bytes and records over events consumed)"
        printf '  %-9s %12s %12s %12s %14s %14s %12s %9s %9s %13s %13s\n' interval "users B/ev" "items B/ev" "total B/ev" \
                "user recs/ev" "item recs/ev" "B/user rec" "p50 ms" "p99 ms" "worker B/ev" "worker rec/ev"
        while read -r ci ev ur ub ir ib p50 p99 sev srec sbytes; do
                printf '  %-9s %12.1f %12.1f %12.1f %14.3f %14.3f %12.0f %9s %9s %13.1f %13.3f\n' "$ci" "$(ratio "$ub" "$ev")" \
                        "$(ratio "$ib" "$ev")" "$(ratio "$((ub + ib))" "$ev")" "$(ratio "$ur" "$ev")" \
                        "$(ratio "$ir" "$ev")" "$(ratio "$ub" "$ur")" "$p50" "$p99" "$(ratio "$sbytes" "$sev")" \
                        "$(ratio "$srec" "$sev")"
        done <"$TMP/perevent"
fi

# --- 3. ingest with and without the changelogs ----------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = 3 ]; then
        echo
        echo "3. ingest with state.changelog true (shipped) and false, $TEVENTS events, $RUNS runs each, interleaved"
        loadavg
        topics=
        for r in $(seq 1 "$RUNS"); do
                for m in on off; do
                        topics="$topics --topic bench.$r.$m.cooc-deltas:6 --topic bench.$r.$m.item-neighbors:6"
                done
                topics="$topics --topic bench.$r.on.users-changelog --topic bench.$r.on.items-changelog:6"
        done
        # shellcheck disable=SC2086
        start_broker --partitions $PARTITIONS --topic video.behavior --topic video.recs $topics
        echo "\$ kafka_bench load -t video.behavior -n $TEVENTS   # $PARTITIONS partitions"
        kb load -b "$BOOTSTRAP" -t video.behavior -n "$TEVENTS"
        if [ "$(field kept "$LINE")" != "$TEVENTS" ]; then
                echo "state_bench: the dev broker kept $(field kept "$LINE") of $TEVENTS events"
                exit 1
        fi
        echo "\$ kafka_bench worker -c pipelines/video.yaml -g bench.on.R -n $TEVENTS --deltas bench.R.on.cooc-deltas --neighbors bench.R.on.item-neighbors --items-group bench.items.on.R --users-changelog bench.R.on.users-changelog --items-changelog bench.R.on.items-changelog"
        echo "\$ kafka_bench worker -c off.yaml -g bench.off.R -n $TEVENTS --deltas bench.R.off.cooc-deltas ...   # pipelines/video.yaml with:"
        diff pipelines/video.yaml "$TMP/off.yaml" | sed -n 's/^> /    /p'
        : >"$TMP/on" && : >"$TMP/off" && : >"$TMP/ratio"
        : >"$TMP/cpu_on" && : >"$TMP/cpu_off" && : >"$TMP/cpu_ratio"
        export KAFKA_BOOTSTRAP="$BOOTSTRAP" RECSTREAM_LOG_LEVEL=warning
        for r in $(seq 1 "$RUNS"); do
                for m in on off; do
                        yaml=pipelines/video.yaml
                        [ $m = off ] && yaml=$TMP/off.yaml
                        kb worker -c "$yaml" -g "bench.$m.$r" -n "$TEVENTS" \
                                --deltas "bench.$r.$m.cooc-deltas" --neighbors "bench.$r.$m.item-neighbors" \
                                --items-group "bench.items.$m.$r" \
                                --users-changelog "bench.$r.$m.users-changelog" \
                                --items-changelog "bench.$r.$m.items-changelog"
                        if [ $m = on ]; then w_on=$LINE; else w_off=$LINE; fi
                done
                ron=$(field rate "$w_on") roff=$(field rate "$w_off")
                con=$(ratio "$(field measured "$w_on")" "$(field cpu_s "$w_on")" %.0f)
                coff=$(ratio "$(field measured "$w_off")" "$(field cpu_s "$w_off")" %.0f)
                echo "$ron" >>"$TMP/on"
                echo "$roff" >>"$TMP/off"
                ratio "$ron" "$roff" >>"$TMP/ratio"
                echo "$con" >>"$TMP/cpu_on"
                echo "$coff" >>"$TMP/cpu_off"
                ratio "$con" "$coff" >>"$TMP/cpu_ratio"
                echo "  run $r: changelog on $ron events/s ($(field commits "$w_on") commits," \
                        "$(field changelog_produced "$w_on") changelog records $(field changelog_bytes "$w_on") B," \
                        "$(field cpu_s "$w_on") CPU-s), off $roff events/s ($(field commits "$w_off") commits," \
                        "$(field cpu_s "$w_off") CPU-s)"
        done
        unset KAFKA_BOOTSTRAP RECSTREAM_LOG_LEVEL
        stop_broker
        echo "ingest with and without the changelogs, medians of $RUNS (events/s, first to last consumed batch;"
        echo "events per CPU-second of the worker over the same span):"
        printf '  %-24s %9s %9s\n' "" "events/s" "per CPU-s"
        printf '  %-24s %9.0f %9.0f\n' "changelog on (shipped)" "$(median <"$TMP/on")" "$(median <"$TMP/cpu_on")"
        printf '  %-24s %9.0f %9.0f\n' "changelog off" "$(median <"$TMP/off")" "$(median <"$TMP/cpu_off")"
        printf '  %-24s %9.3f %9.3f\n' "on / off (per run)" "$(median <"$TMP/ratio")" "$(median <"$TMP/cpu_ratio")"
fi
