#!/bin/sh
# Runs the test suites and ends with one summary line: N passed, N failed.
#   tests/run.sh [unit|config|cli|golden|eval|memory|interop|e2e|docker|long]...
# (default: all but long, which `make test-long` runs)
# Every suite prints TAP (`ok N - name` / `not ok N - name`); this script
# counts those lines, so one failing case never hides the others.
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
# Workers start an HTTP port unless told otherwise (http.port): tests run
# many at once, so the shipped pipelines get none unless a test sets one.
RECSTREAM_HTTP_PORT=${RECSTREAM_HTTP_PORT:-0}
export BUILD PYTHON RECSTREAM_HTTP_PORT
cd "$(dirname "$0")/.." || exit 2
suites=${*:-unit config cli golden eval memory interop e2e docker}
log=$(mktemp)
trap 'rm -f "$log" "$log.out" "$log.want"' EXIT
pass=0 fail=0 skip=0

# Echoes TAP lines from stdin and keeps them for tally.
count() {
        tee -a "$log"
}

tally() {
        p=$(grep -c '^ok ' "$log" | tr -d ' ')
        s=$(grep -c '^ok .*# SKIP' "$log" | tr -d ' ')
        f=$(grep -c '^not ok ' "$log" | tr -d ' ')
        pass=$((pass + p - s)) skip=$((skip + s)) fail=$((fail + f))
        : >"$log"
}

for suite in $suites; do
        case $suite in
        unit)
                for t in "$BUILD"/tests/test_*; do
                        [ -x "$t" ] || continue
                        echo "# --- unit: $(basename "$t")"
                        if ! CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log.out" 2>&1; then
                                grep -q '^not ok ' "$log.out" ||
                                        echo "not ok - $(basename "$t") exited non-zero" >>"$log.out"
                        fi
                        count <"$log.out"
                        tally
                done
                ;;
        config)
                echo "# --- config: bad pipeline files and their exact errors"
                n=0
                for f in tests/config/*.yaml; do
                        n=$((n + 1))
                        out=$("$BUILD/recstream" validate -c "$f" 2>&1)
                        rc=$?
                        ok=1
                        [ $rc -eq 2 ] || ok=0
                        grep '^# expect: ' "$f" | sed 's/^# expect: //' >"$log.want"
                        [ -s "$log.want" ] || ok=0
                        while IFS= read -r want; do
                                printf '%s\n' "$out" | grep -qxF "$f:$want" || ok=0
                        done <"$log.want"
                        if [ $ok = 1 ]; then
                                echo "ok $n - $f" | count
                        else
                                echo "not ok $n - $f (exit $rc)" | count
                                printf '%s\n' "$out" | sed 's/^/# got: /'
                                sed 's/^/# want: /' "$log.want"
                        fi
                done
                n=$((n + 1))
                if out=$(sh scripts/check-layers.sh 2>&1); then
                        echo "ok $n - src/ layers: no include runs upward" | count
                else
                        echo "not ok $n - src/ layers" | count
                        printf '%s\n' "$out" | sed 's/^/# /'
                fi
                n=$((n + 1))
                if out=$(sh scripts/check-docs.sh 2>&1); then
                        echo "ok $n - docs/pipeline.md matches recstream doc --compare pipelines/video.yaml" | count
                else
                        echo "not ok $n - docs/pipeline.md is stale: make docs" | count
                        printf '%s\n' "$out" | sed 's/^/# /'
                fi
                # pipelines/secure.yaml reads its credentials from the
                # environment, with no defaults: stand-ins here, as in CI.
                for p in pipelines/*.yaml tests/e2e/*.yaml; do
                        n=$((n + 1))
                        out=$(KAFKA_SASL_USERNAME=ci-user \
                                KAFKA_SASL_PASSWORD=ci-password \
                                KAFKA_SSL_KEY_PASSWORD=ci-key-password \
                                "$BUILD/recstream" validate -c "$p" 2>&1)
                        if [ "$out" = "configuration OK" ]; then
                                echo "ok $n - $p: configuration OK" | count
                        else
                                echo "not ok $n - $p: $out" | count
                        fi
                done
                tally
                ;;
        cli | golden | eval | memory | interop | e2e | docker | long)
                for t in tests/"$suite"/*.py; do
                        [ -f "$t" ] || continue
                        echo "# --- $suite: $t"
                        if ! "$PYTHON" "$t" >"$log.out" 2>&1; then
                                grep -q '^not ok ' "$log.out" ||
                                        echo "not ok - $t exited non-zero" >>"$log.out"
                        fi
                        count <"$log.out" >/dev/null
                        cat "$log.out"
                        tally
                done
                ;;
        *)
                echo "unknown suite: $suite" >&2
                exit 2
                ;;
        esac
done
rm -f "$log.out" "$log.want"
echo
if [ $skip -gt 0 ]; then
        echo "$pass passed, $fail failed, $skip skipped"
else
        echo "$pass passed, $fail failed"
fi
[ $fail -eq 0 ]
