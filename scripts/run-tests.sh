#!/usr/bin/env bash
# Runs Sibyl's test suites and prints one summary line at the end.
#   run-tests.sh            unit + fuzz (short) + integration
#   run-tests.sh unit       unit tests only
#   run-tests.sh fuzz [S]   each fuzz target for S seconds (default 5)
#   run-tests.sh integration
set -uo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
fuzz_seconds=${2:-5}
pass=0
fail=0
failed=()

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_unit() {
    local t
    for t in $(find build/asan/tests -type f -perm -u+x 2>/dev/null | sort); do
        echo "== unit: $t"
        if timeout 300 "$t"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1)); failed+=("$t")
        fi
    done
}

run_fuzz() {
    local f name corpus
    for f in $(find build/fuzz -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort); do
        name=$(basename "$f")
        corpus=tests/fuzz/corpus/${name#fuzz_}
        echo "== fuzz: $name for ${fuzz_seconds}s"
        local work; work=$(mktemp -d)
        if [ -d "$corpus" ]; then cp -r "$corpus"/. "$work"/; fi
        if timeout $((fuzz_seconds + 60)) "$f" -max_total_time="$fuzz_seconds" -max_len=65536 \
                -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 "$work" >"$work.log" 2>&1; then
            pass=$((pass + 1))
        else
            tail -40 "$work.log"
            fail=$((fail + 1)); failed+=("$name")
        fi
        rm -rf "$work" "$work.log"
    done
}

run_integration() {
    echo "== integration (pytest)"
    if SIBYL_BIN=${SIBYL_BIN:-build/asan/sibyl} /usr/bin/python3 -m pytest -q -p no:cacheprovider \
            tests/integration; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); failed+=("integration")
    fi
}

case "$what" in
    unit) run_unit ;;
    fuzz) run_fuzz ;;
    integration) run_integration ;;
    all) run_unit; run_fuzz; run_integration ;;
    *) echo "usage: $0 [all|unit|fuzz [SECONDS]|integration]" >&2; exit 2 ;;
esac

echo
if [ "$fail" -eq 0 ]; then
    echo "== test summary: $pass suites passed, 0 failed =="
else
    echo "== test summary: $pass suites passed, $fail failed: ${failed[*]} =="
    exit 1
fi
