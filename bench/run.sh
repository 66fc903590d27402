#!/bin/sh
# make bench: builds and runs the benchmark drivers; results with the
# command that produced them go into BENCHMARKS.md.
set -eu
BUILD=${BUILD:-build}
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -m), $(nproc) cores"
echo "\$ $BUILD/bench/codec_bench"
"$BUILD/bench/codec_bench"
echo "\$ $BUILD/bench/ingest_bench"
"$BUILD/bench/ingest_bench"
echo; echo "\$ bench/eval.sh"; bench/eval.sh
