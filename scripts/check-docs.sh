#!/bin/sh
# docs/pipeline.md is generated: `recstream doc --compare pipelines/video.yaml`
# (`make docs` writes it). This regenerates it and compares it with the
# committed file; a stale file prints the difference and exits 1.
#   scripts/check-docs.sh [FILE]   (from the repository root; BUILD=build;
#                                   FILE defaults to docs/pipeline.md)
set -u
BUILD=${BUILD:-build}
file=${1:-docs/pipeline.md}
new=$(mktemp)
trap 'rm -f "$new"' EXIT
# the shipped pipeline reads the environment: the reference must not
env -u KAFKA_BOOTSTRAP -u RECSTREAM_HTTP_PORT "$BUILD/recstream" doc --compare pipelines/video.yaml \
        >"$new" || {
        echo "recstream doc failed" >&2
        exit 1
}
if cmp -s "$new" "$file"; then
        exit 0
fi
echo "$file is stale: run make docs (recstream doc --compare pipelines/video.yaml > docs/pipeline.md)"
diff -u "$file" "$new" | head -60
exit 1
