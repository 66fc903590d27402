# bench/lib.sh — helpers of the Kafka benchmark drivers (kafka_bench.sh,
# scale_bench.sh), sourced: the dev broker, kafka_bench runs, result
# fields and medians. The caller sets RS, KB and TMP, and kills
# BROKER_PID and KB_PID on exit.

# Starts the dev broker with its arguments; sets BOOTSTRAP and BROKER_PID.
start_broker() {
        "$RS" dev-broker "$@" >"$TMP/broker.out" 2>"$TMP/broker.err" &
        BROKER_PID=$!
        BOOTSTRAP=
        for _ in $(seq 1 100); do
                BOOTSTRAP=$(head -n 1 "$TMP/broker.out" 2>/dev/null || :)
                [ -n "$BOOTSTRAP" ] && break
                sleep 0.1
        done
        if [ -z "$BOOTSTRAP" ]; then
                echo "bench: the dev broker did not start:"
                cat "$TMP/broker.err"
                exit 1
        fi
}

stop_broker() {
        kill "$BROKER_PID" 2>/dev/null || :
        wait "$BROKER_PID" 2>/dev/null || :
        BROKER_PID=
}

# A kafka_bench binary ($1) with the other arguments, in the background so
# that a signal stops it at once; its result line in LINE. Fails when it
# fails.
kb_run() {
        bin=$1
        shift
        "$bin" "$@" >"$TMP/kb.out" &
        KB_PID=$!
        wait "$KB_PID"
        KB_PID=
        LINE=$(tail -n 1 "$TMP/kb.out")
}

# This tree's kafka_bench.
kb() {
        kb_run "$KB" "$@"
}

# The value of key=... in a key=value line ($2).
field() {
        printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | tail -n 1
}

# Median of the numbers on stdin, one a line.
median() {
        sort -g | awk '{v[NR] = $1} END {
                if (NR == 0) { print "nan"; exit }
                if (NR % 2) print v[(NR + 1) / 2];
                else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints $1 / $2 with format $3 (default %.3f); nan when $2 is 0.
ratio() {
        awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" \
                'BEGIN { if (b == 0) print "nan"; else printf f "\n", a / b }'
}
