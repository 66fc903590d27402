#!/bin/sh
# Quality on a realistic short-video stream (issue 13): the generator's
# platform world (`recstream produce --generate --world platform`, gen.h:
# releases, sessions, a play before every watch, series, drifting tastes,
# bots), evaluated prequentially (first touch) with pipelines/video.yaml
# beside the three reference models of the same run, then the ratios.
#   VIDEO_BENCH_USERS=5000 VIDEO_BENCH_ITEMS=22000 VIDEO_BENCH_DAYS=14
#   VIDEO_BENCH_SEED=42    the world (defaults: the issue's realistic size)
#   VIDEO_BENCH_ABLATE=1   also video.yaml with each recency / sequence
#                          setting set back, two runs at a time
# About 4 minutes a run at the default size (1M events, 300k targets).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
users=${VIDEO_BENCH_USERS:-5000}
items=${VIDEO_BENCH_ITEMS:-22000}
days=${VIDEO_BENCH_DAYS:-14}
seed=${VIDEO_BENCH_SEED:-42}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. bench/lib.sh # field, ratio, derive

gen="produce --generate 1000000000 --world platform --users $users --items $items --days $days --seed $seed"
echo "\$ $BUILD/recstream $gen --output world.csv"
# shellcheck disable=SC2086 # $gen is several arguments
"$BUILD/recstream" $gen --output "$tmp/world.csv"

echo "\$ $BUILD/recstream eval -c pipelines/video.yaml --input world.csv"
"$BUILD/recstream" eval -c pipelines/video.yaml --input "$tmp/world.csv" >"$tmp/out"
cat "$tmp/out"
last=$(tail -n 1 "$tmp/out")
hr=$(field hr@10 "$last")
for ref in pop succ covisit; do
        r=$(field "${ref}_hr@10" "$last")
        echo "video.yaml / $ref: $(ratio "$hr" "$r") (HR@10 $hr vs $r)"
done

[ "${VIDEO_BENCH_ABLATE:-0}" = 1 ] || exit 0
# video.yaml with one setting back at its value before issue 13 (or off):
# derive's sed script and the pattern it must then hold
ablate() {
        name=$1
        shift
        derive "$tmp/$name.yaml" "$@"
        "$BUILD/recstream" eval -c "$tmp/$name.yaml" --input "$tmp/world.csv" \
                --baselines none >"$tmp/$name.out"
}
ablate position_0 's/position_exponent: 1 /position_exponent: 0 /' 'position_exponent: 0 ' &
ablate gamma_0.05 's/gamma: 0.3 /gamma: 0.05 /' 'gamma: 0.05 ' &
wait
ablate transition_0 's/transition_weight: 0.5 /transition_weight: 0 /' 'transition_weight: 0 ' &
ablate transition_2 's/transition_weight: 0.5 /transition_weight: 2 /' 'transition_weight: 2 ' &
wait
ablate damping_sqrt 's/damping: log /damping: sqrt /' 'damping: sqrt ' &
ablate pair_gap_1h 's/pair_gap: 1d /pair_gap: 1h /' 'pair_gap: 1h ' &
wait
for name in position_0 gamma_0.05 transition_0 transition_2 damping_sqrt pair_gap_1h; do
        line=$(tail -n 1 "$tmp/$name.out")
        case $line in
        *hr@10=*) echo "ablation $name: hr@10=$(field hr@10 "$line") (video.yaml $hr)" ;;
        *) echo "ablation $name: no figures: $line"; exit 1 ;;
        esac
done
