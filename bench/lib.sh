# bench/lib.sh — helpers of the benchmark drivers (kafka_bench.sh,
# scale_bench.sh, state_bench.sh, video_bench.sh), sourced: the dev
# broker, kafka_bench runs, result fields and medians, pipelines derived
# from video.yaml.
# The caller sets RS, KB and TMP, and kills BROKER_PID and KB_PID on exit.

# Starts the dev broker with its arguments; sets BOOTSTRAP and BROKER_PID.
start_broker() {
        : >"$TMP/broker.out" # not the last broker's address
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

# CPU seconds (user + system) of this shell's children waited for so far,
# into file $1: `times` runs in this shell (in a $(...) it would count the
# subshell's children), its second line "0m1.230000s 0m0.450000s".
children_cpu() {
        times >"$1.times"
        awk 'NR == 2 {
                for (i = 1; i <= 2; i++) {
                        f = $i; sub(/s$/, "", f); split(f, t, "m")
                        s += t[1] * 60 + t[2]
                }
                printf "%.2f\n", s }' "$1.times" >"$1"
}

# A kafka_bench binary ($1) with the other arguments, in the background so
# that a signal stops it at once; its result line in LINE and its CPU time
# (the whole process, user + system) in KB_CPU. Fails when it fails,
# saying so when the dev broker is gone.
# shellcheck disable=SC2034 # LINE and KB_CPU are for the caller
kb_run() {
        bin=$1
        shift
        children_cpu "$TMP/cpu0"
        "$bin" "$@" >"$TMP/kb.out" &
        KB_PID=$!
        rc=0
        wait "$KB_PID" || rc=$?
        KB_PID=
        children_cpu "$TMP/cpu1"
        KB_CPU=$(awk -v a="$(cat "$TMP/cpu0")" -v b="$(cat "$TMP/cpu1")" \
                'BEGIN { printf "%.2f", b - a }')
        LINE=$(tail -n 1 "$TMP/kb.out")
        if [ "$rc" -ne 0 ] && [ -n "$BROKER_PID" ]; then
                # gone: reaped by the shell meanwhile, or a zombie
                state=$(cut -d' ' -f3 "/proc/$BROKER_PID/stat" 2>/dev/null || :)
                if [ -d /proc/self ] && { [ -z "$state" ] || [ "$state" = Z ]; }; then
                        st=0
                        wait "$BROKER_PID" || st=$?
                        BROKER_PID=
                        echo "bench: $(basename "$bin") $1 failed; the dev broker exited meanwhile (status $st; 128+N: signal N); its stderr ends:"
                else
                        echo "bench: $(basename "$bin") $1 failed; the dev broker runs (state ${state:-?}); its stderr ends:"
                fi
                tail -n 5 "$TMP/broker.err"
        fi
        return "$rc"
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

# Writes $1: pipelines/video.yaml with each following pair applied, a sed
# script then a pattern the result must hold (else the driver stops: the
# shipped file changed under it).
derive() {
        out=$1
        shift
        cp pipelines/video.yaml "$out"
        while [ $# -ge 2 ]; do
                sed -i -e "$1" "$out"
                if ! grep -q -e "$2" "$out"; then
                        echo "$(basename "$0" .sh): pipelines/video.yaml changed: cannot set '$2'"
                        exit 1
                fi
                shift 2
        done
}
