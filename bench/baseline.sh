#!/bin/sh
# Builds recstream as it was before issue 10's topology (commit
# BENCH_BASELINE, default ff7ba7c: one process, co-occurrence in process)
# into $BUILD/baseline, from `git archive` of that commit, with its own
# Makefile: $BUILD/baseline/build/recstream and build/bench/kafka_bench,
# its own pipelines/ and tests/e2e/passthrough.yaml beside them. Reused
# while it was built from the same commit. The last line on stdout is
# the directory, or `skipped: WHY` (not a git clone with that history,
# or the build failed), and the exit status is 0 either way.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
COMMIT=${BENCH_BASELINE:-ff7ba7c}
DIR=$BUILD/baseline

if ! command -v git >/dev/null 2>&1 ||
        ! full=$(git rev-parse --verify -q "$COMMIT^{commit}" 2>/dev/null); then
        echo "skipped: commit $COMMIT is not in this checkout's history (a fresh export or a shallow clone)"
        exit 0
fi
if [ -x "$DIR/build/recstream" ] && [ -x "$DIR/build/bench/kafka_bench" ] &&
        [ "$(cat "$DIR/.commit" 2>/dev/null)" = "$full" ]; then
        echo "$DIR"
        exit 0
fi
rm -rf "$DIR"
mkdir -p "$DIR"
git archive "$full" | tar -x -C "$DIR"
# ff7ba7c's bench client calls rs_worker_new without the stop argument its
# worker.h had gained (fixed by a6322bd): the same one-line fix, to the
# bench client only.
if grep -q 'rs_worker_new(pl, errstr, sizeof(errstr))' "$DIR/bench/kafka_bench.c"; then
        sed -i 's/rs_worker_new(pl, errstr, sizeof(errstr))/rs_worker_new(pl, NULL, errstr, sizeof(errstr))/' \
                "$DIR/bench/kafka_bench.c"
        echo "baseline: bench/kafka_bench.c given a6322bd's rs_worker_new(pl, NULL, ...) fix" >&2
fi
echo "baseline: building $COMMIT ($full) in $DIR" >&2
if ! make -C "$DIR" -j2 BUILD=build build/recstream build/bench/kafka_bench \
        >"$DIR/build.log" 2>&1; then
        tail -n 5 "$DIR/build.log" >&2
        echo "skipped: the baseline $COMMIT did not build (see $DIR/build.log)"
        exit 0
fi
# its dependency files would otherwise be found by this tree's Makefile
# (it includes every .d under build/)
find "$DIR/build" -name '*.d' -delete
echo "$full" >"$DIR/.commit"
echo "$DIR"
