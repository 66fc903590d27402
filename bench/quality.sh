#!/bin/sh
# Quality on MovieLens 100K (microsoft/recommenders' split): replay the
# train split through pipelines/movielens.yaml, score top-10 (seen items
# removed) against the test split with bench/score_recs.py.
#   bench/quality.sh [PIPELINE]      (default pipelines/movielens.yaml)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
DATA=${DATA:-../shared/data}
PIPELINE=${1:-pipelines/movielens.yaml}
split=$DATA/ml-100k/split
if [ ! -f "$split/train.csv" ]; then
        echo "quality: $split not found (the shared data folder is absent); skipped"
        exit 0
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s.%N)
"$BUILD/recstream" replay -c "$PIPELINE" --input "$split/train.csv" --output "$out"
end=$(date +%s.%N)
echo "\$ $BUILD/recstream replay -c $PIPELINE --input $split/train.csv"
"$PYTHON" bench/score_recs.py "$out" "$split/test.csv" --k 10
echo "replay_s=$(echo "$end - $start" | bc)"
