#!/bin/sh
# Quality and speed of `recstream eval` on the shared data (issue 4), each
# timing the median of $RUNS runs (default 5):
#   - ml-100k split (SAR's protocol) with pipelines/movielens.yaml and two
#     cheaper settings on the speed/quality frontier, against SAR's 0.50 s;
#   - ml-100k prequential with pipelines/movielens-next.yaml (movielens.yaml
#     scores 200 window items x 500 neighbours per target: minutes, not run);
#   - Taobao sample prequential with pipelines/video.yaml.
# Skips with a message when ../shared/data is absent.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-../shared/data}
RUNS=${RUNS:-5}
ml=$DATA/ml-100k
if [ ! -f "$ml/events.csv" ]; then
        echo "eval bench: $ml not found (the shared data folder is absent); skipped"
        exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median of the time_s= field over $RUNS runs; prints the last output line
# and the median. usage: timed LABEL recstream-args...
timed() {
        label=$1
        shift
        : >"$tmp/times"
        i=0
        while [ $i -lt "$RUNS" ]; do
                "$BUILD/recstream" "$@" >"$tmp/out"
                grep -o 'time_s=[0-9.]*' "$tmp/out" | cut -d= -f2 >>"$tmp/times"
                i=$((i + 1))
        done
        echo "\$ $BUILD/recstream $*"
        tail -1 "$tmp/out"
        echo "$label: time_s median $(sort -n "$tmp/times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') (runs: $(tr '\n' ' ' <"$tmp/times"))"
}

# A variant of movielens.yaml: cheaper pair and neighbour budgets.
variant() {
        sed -e "s/max_pairs: 200/max_pairs: $1/" \
            -e "s/max_neighbors: 500$/max_neighbors: $2/" \
            pipelines/movielens.yaml >"$tmp/ml-$1-$2.yaml"
        echo "$tmp/ml-$1-$2.yaml"
}

split="--input $ml/split/train.csv --test $ml/split/test.csv"
timed "split movielens.yaml" eval -c pipelines/movielens.yaml $split
timed "split max_pairs 20, max_neighbors 100" eval -c "$(variant 20 100)" $split
timed "split max_pairs 20, max_neighbors 50" eval -c "$(variant 20 50)" $split
timed "prequential movielens-next.yaml" eval -c pipelines/movielens-next.yaml --input "$ml/events.csv"
tb=$DATA/taobao-sample/events.csv
if [ -f "$tb" ]; then
        timed "prequential taobao video.yaml" eval -c pipelines/video.yaml --input "$tb"
fi
