#!/usr/bin/env bash
# Runs Sibyl's test suites and prints one summary line at the end.
#   run-tests.sh            unit + fuzz (short) + integration
#   run-tests.sh unit       unit tests and simulator tests (every binary under
#                           build/asan/tests, tests/sim/ in build/asan/tests/sim-dsim/)
#   run-tests.sh fuzz [S]   each fuzz target for S seconds (default 5)
#   run-tests.sh integration
#   run-tests.sh prometheus promtool checks and alert-rule tests (deploy/prometheus)
#   run-tests.sh browser    the dashboard in headless chromium (tests/browser)
#   run-tests.sh layers     includes between src/ folders run one way (check-layers.py)
set -uo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
fuzz_seconds=${2:-5}
pass=0
fail=0
failed=()
cases=0   # individual test cases passed (cmocka tests, pytest tests, fuzz runs)

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_unit() {
    local t
    for t in $(find build/asan/tests -type f -perm -u+x 2>/dev/null | sort); do
        echo "== unit: $t"
        local log; log=$(mktemp)
        if timeout 300 "$t" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
            pass=$((pass + 1))
            cases=$((cases + $(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)))
            rm -f "$log"
        else
            rm -f "$log"
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
            pass=$((pass + 1)); cases=$((cases + 1))
        else
            tail -40 "$work.log"
            fail=$((fail + 1)); failed+=("$name")
        fi
        rm -rf "$work" "$work.log"
    done
}

run_integration() {
    echo "== integration (pytest)"
    local log; log=$(mktemp)
    if SIBYL_BIN=${SIBYL_BIN:-build/asan/sibyl} /usr/bin/python3 -m pytest -q -p no:cacheprovider \
            tests/integration 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
        pass=$((pass + 1))
        cases=$((cases + $(grep -Eo '[0-9]+ passed' "$log" | tail -1 | cut -d' ' -f1)))
        rm -f "$log"
    else
        rm -f "$log"
        fail=$((fail + 1)); failed+=("integration")
    fi
}

run_prometheus() {
    # deploy/prometheus: the config and alert rules parse, and every rule's
    # unit tests (alerts_test.yml) pass. promtool comes with Debian's
    # prometheus package (scripts/deps.sh).
    echo "== prometheus (promtool)"
    if ! command -v promtool >/dev/null 2>&1; then
        echo "promtool is missing; run scripts/deps.sh as root"
        fail=$((fail + 1)); failed+=("prometheus"); return
    fi
    if promtool check config deploy/prometheus/prometheus.yml &&
            promtool check rules deploy/prometheus/alerts.yml &&
            promtool test rules deploy/prometheus/alerts_test.yml; then
        pass=$((pass + 1))
        cases=$((cases + 2 + $(grep -c '^  - name:' deploy/prometheus/alerts_test.yml)))
    else
        fail=$((fail + 1)); failed+=("prometheus")
    fi
}

run_layers() {
    # Includes between src/ folders run one way (README, Layout).
    echo "== layers (scripts/check-layers.py)"
    if /usr/bin/python3 scripts/check-layers.py; then
        pass=$((pass + 1)); cases=$((cases + 1))
    else
        fail=$((fail + 1)); failed+=("layers")
    fi
}

run_browser() {
    # The dashboard in Debian's headless chromium against a real 3-node demo
    # (tests/browser/README.md). A missing browser is a failure, not a skip.
    echo "== browser (node --test, chromium)"
    if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
        echo "browser tests: ${CHROMIUM:-/usr/bin/chromium} is missing; run scripts/deps.sh as root"
        fail=$((fail + 1)); failed+=("browser"); return
    fi
    if [ ! -d tests/browser/node_modules ] ||
            [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
        (cd tests/browser && npm ci --no-audit --no-fund) || {
            fail=$((fail + 1)); failed+=("browser (npm ci)"); return; }
        touch tests/browser/node_modules
    fi
    local log; log=$(mktemp)
    if SIBYL_BIN=${SIBYL_BIN:-build/asan/sibyl} timeout 300 node --test --test-reporter=spec \
            tests/browser/dashboard.test.mjs 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
        pass=$((pass + 1))
        cases=$((cases + $(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -1)))
    else
        echo "browser tests: screenshots in build/artifacts/browser/"
        fail=$((fail + 1)); failed+=("browser")
    fi
    rm -f "$log"
}

case "$what" in
    unit) run_unit ;;
    fuzz) run_fuzz ;;
    integration) run_integration ;;
    prometheus) run_prometheus ;;
    browser) run_browser ;;
    layers) run_layers ;;
    all) run_layers; run_unit; run_fuzz; run_prometheus; run_integration; run_browser ;;
    *) echo "usage: $0 [all|unit|fuzz [SECONDS]|integration|prometheus|browser|layers]" >&2; exit 2 ;;
esac

echo
if [ "$fail" -eq 0 ]; then
    echo "== test summary: $cases tests passed in $pass suites, 0 suites failed =="
else
    echo "== test summary: $cases tests passed in $pass suites, $fail suites FAILED: ${failed[*]} =="
    exit 1
fi
