#!/bin/sh
# make bench: builds and runs the benchmark drivers; results with the
# command that produced them go into BENCHMARKS.md.
#   KAFKA_BENCH_QUICK=1 shortens the Kafka part (see bench/kafka_bench.sh),
#   SCALE_BENCH_QUICK=1 the scale-out part (bench/scale_bench.sh),
#   STATE_BENCH_QUICK=1 the state part (bench/state_bench.sh); each
#   driver's header lists its other settings.
set -eu
BUILD=${BUILD:-build}
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -m), $(nproc) cores"
echo "\$ $BUILD/bench/codec_bench"
"$BUILD/bench/codec_bench"
echo "\$ $BUILD/bench/ingest_bench"
"$BUILD/bench/ingest_bench"
# the same events as a live stream of 1M events/s would carry them: each
# user's events a tenth of a second apart, so the 1 s debounce coalesces
live="--modes off,1s,every --events-per-s 1000000 --list-refresh 1s"
echo "\$ $BUILD/bench/ingest_bench $live"
# shellcheck disable=SC2086 # $live is several arguments
"$BUILD/bench/ingest_bench" $live
echo; echo "\$ bench/eval.sh"; bench/eval.sh
echo; echo "\$ bench/kafka_bench.sh"
BUILD=$BUILD sh "$(dirname "$0")/kafka_bench.sh"
echo; echo "\$ bench/scale_bench.sh"
BUILD=$BUILD sh "$(dirname "$0")/scale_bench.sh"
echo; echo "\$ bench/state_bench.sh"
BUILD=$BUILD sh "$(dirname "$0")/state_bench.sh"
