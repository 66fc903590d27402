#!/bin/sh
# Runs each libFuzzer target for FUZZ_SECONDS on a temporary copy of its
# seed corpus tests/fuzz/corpus/<target>/ (what a run finds is never written
# into the repository) and prints one line a target: executions, corpus
# growth, result. A crash, leak, timeout, out-of-memory or sanitizer error
# keeps its input in $BUILD/fuzz-artifacts/<target>/ and its log in
# $BUILD/fuzz-logs/<target>.log, shows the report, and fails the run.
#   tests/fuzz/run.sh TARGET...      (make fuzz builds and runs them all)
set -u
BUILD=${BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
cd "$(dirname "$0")/../.." || exit 2
# In memory where there is /dev/shm: fuzz_csv and fuzz_jsonl write each
# input to a file there (on ext4 each rewrite is flushed to disk).
tmp=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$BUILD/fuzz-logs" "$BUILD/fuzz-artifacts"
pass=0 fail=0

for t in "$@"; do
        bin=$BUILD/fuzz_$t
        seeds=tests/fuzz/corpus/$t
        log=$BUILD/fuzz-logs/$t.log
        art=$BUILD/fuzz-artifacts/$t/
        if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
                echo "fuzz $t: FAIL (no $bin or no $seeds)"
                fail=$((fail + 1))
                continue
        fi
        rm -rf "$art" && mkdir -p "$art" "$tmp/$t"
        cp "$seeds"/* "$tmp/$t"/
        nseeds=$(ls "$tmp/$t" | wc -l | tr -d ' ')
        # Writer schema paths in pipeline inputs are relative to the
        # repository root, where this runs. TMPDIR: fuzz_csv's and
        # fuzz_jsonl's input file.
        TMPDIR=$tmp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
                "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
                -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$art" "$tmp/$t" >"$log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        ncorpus=$(ls "$tmp/$t" | wc -l | tr -d ' ')
        found=$(ls "$art" 2>/dev/null | head -n 1)
        if [ "$rc" = 0 ] && [ -z "$found" ]; then
                result=ok
                pass=$((pass + 1))
        else
                what=$(grep -m 1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*broken promise)' "$log")
                result="FAIL (exit $rc: ${what:-see $log}; input ${art}${found})"
                fail=$((fail + 1))
        fi
        echo "fuzz $t: ${execs:-?} executions in ${FUZZ_SECONDS} s, corpus $nseeds -> $ncorpus, $result"
        if [ "$result" != ok ]; then
                echo "# --- $log (last 60 lines)"
                tail -n 60 "$log" | sed 's/^/# /'
        fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
