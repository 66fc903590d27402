#!/bin/sh
# How long `recstream eval` takes on ml-100k with movielens-next.yaml, for
# this checkout and for earlier revisions measured in the same run (each
# built in a temporary worktree), interleaved round by round so that a
# busy machine slows them alike; prints each one's time_s and the median
# of $RUNS rounds (default 5). Revisions that predate --baselines run with
# their default (popularity beside the pipeline).
#   bench/eval_speed.sh [REV...]     e.g. bench/eval_speed.sh 2b62d0b HEAD~1
# Skips with a message when ../shared/data is absent.
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
RUNS=${RUNS:-5}
input=$(pwd)/$DATA/ml-100k/events.csv
if [ ! -f "$input" ]; then
        echo "eval speed: $input not found (the shared data folder is absent); skipped"
        exit 0
fi
tmp=$(mktemp -d)
trap 'for d in "$tmp"/rev-*; do [ -d "$d" ] && git worktree remove --force "$d"; done; rm -rf "$tmp"' EXIT

make -s build/recstream
labels="this"
echo "this $(pwd)" >"$tmp/dirs"
for rev in "$@"; do
        d=$tmp/rev-$rev
        git worktree add -q --detach "$d" "$rev"
        make -s -C "$d" build/recstream >/dev/null
        labels="$labels $rev"
        echo "$rev $d" >>"$tmp/dirs"
done

r=0
while [ $r -lt "$RUNS" ]; do
        while read -r label dir; do
                base=""
                if "$dir/build/recstream" eval --help 2>&1 | grep -q -- --baselines; then
                        base="--baselines none"
                fi
                t=$(cd "$dir" && ./build/recstream eval -c pipelines/movielens-next.yaml \
                        --input "$input" $base 2>&1 | grep -o 'time_s=[0-9.]*' | cut -d= -f2)
                echo "$t" >>"$tmp/t-$label"
        done <"$tmp/dirs"
        r=$((r + 1))
done
echo "\$ bench/eval_speed.sh $*   # ml-100k, movielens-next.yaml, $RUNS rounds"
for label in $labels; do
        echo "$label: time_s median $(sort -n "$tmp/t-$label" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') (runs: $(tr '\n' ' ' <"$tmp/t-$label"))"
done
