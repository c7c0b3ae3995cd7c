#!/usr/bin/env bash
# Sibyl benchmarks (see docs/benchmarks.md). Run through `make bench`, which
# builds build/sibyl and build/bench/* first; this script builds nothing.
#
#   1. line-protocol ingestion throughput and the node's CPU per point
#   2. on-disk bytes per point after a full compaction
#   3. idle RSS and start-to-accepting-requests time
#   4. prepared single-row inserts over the CQL native protocol (bench_cql)
#   5. point-select latency at a fixed rate over the native protocol
#   6. the same inserts measured through the Python driver (bench_driver.py)
#   7. token-ring ownership balance and replica-lookup cost (bench_ring)
#   8. a real 3-node local cluster (bench_cluster.py): inserts at QUORUM and
#      ONE with RF 3, failure-detection times, hint replay rate (~7 min)
#   9. the dashboard and the metrics endpoints on a 10-node demo
#      (bench_dashboard.mjs): /metrics and /api/v1/stats render time and
#      size, the page's CPU, JS heap and DOM nodes in headless chromium, its
#      poll round trips, the time from a node stopped to its row down (~2 min)
#  10. the linearizability checker on random register histories (bench_lincheck)
#  11. consensus (bench_consensus.py): LWT throughput and latency on a real
#      3-node cluster, the time from SIGKILL of the Raft leader to a new
#      leader and to the next committed DDL, and the same for 3 etcd members
#      as the anchor (~4 min; needs /usr/bin/etcd: scripts/deps.sh bench)
#  12. range streaming between two local nodes (bench_stream.py): MB/s and
#      rows/s unthrottled, and the rate achieved under a throttle
#
# `bash bench/run.sh SECTION...` (or `make bench BENCH="SECTION..."`) runs
# only the named sections, as BENCH_ONLY does.
# Prints one figure line per benchmark and writes them to
# build/bench/results.txt. Knobs (environment):
#   BENCH_SECONDS=20      ingestion run length
#   BENCH_CONNECTIONS=16  concurrent keep-alive connections
#   BENCH_BATCH=5000      points per request
#   BENCH_POINTS=2000000  points written for the size benchmark
#   BENCH_STARTUP_RUNS=10 start-up runs (median reported)
#   BENCH_CQL_CONNECTIONS=4  native-protocol connections (cql, select)
#   BENCH_CQL_INFLIGHT=256   requests in flight per connection (cql)
#   BENCH_SELECT_RATE=2000   point selects per second (select)
#   BENCH_SELECT_ROWS=100000 rows written before the selects (select)
#   BENCH_ONLY="ingest size startup cql select driver ring cluster dashboard lincheck consensus stream"  a subset
#   (bench_stream.py: BENCH_STREAM_ROWS, BENCH_STREAM_THROTTLE; see its header)
#   (bench_cluster.py has its own knobs: BENCH_CLUSTER_*, BENCH_FD_RUNS,
#   BENCH_HINT_SECONDS, BENCH_SIM_RATE, BENCH_SIM_BATCH; see its header)
#   (bench_consensus.py's knobs: BENCH_CONSENSUS_*; see its header)
#   BENCH_DASHBOARD_SECONDS=30    measurement window of the page (dashboard)
#   BENCH_DASHBOARD_REQUESTS=200  requests per endpoint (dashboard)
#   CHROMIUM=/usr/bin/chromium    the browser (dashboard; needs Node.js and
#                         tests/browser's playwright-core, npm ci run here)
#   BENCH_TASKSET=1       pin the node to CPU 0 and the load generator to
#                         CPU 1 (default when the machine has >= 2 CPUs)
# Only loopback addresses are used; every loop is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."

SIBYL=${SIBYL:-build/sibyl} # another binary can be measured the same way
BIN=build/bench
OUT=$BIN/results.txt
SECONDS_RUN=${BENCH_SECONDS:-20}
CONNS=${BENCH_CONNECTIONS:-16}
BATCH=${BENCH_BATCH:-5000}
POINTS=${BENCH_POINTS:-2000000}
RUNS=${BENCH_STARTUP_RUNS:-10}
CQL_CONNS=${BENCH_CQL_CONNECTIONS:-4}
CQL_INFLIGHT=${BENCH_CQL_INFLIGHT:-256}
SELECT_RATE=${BENCH_SELECT_RATE:-2000}
SELECT_ROWS=${BENCH_SELECT_ROWS:-100000}
ONLY=${*:-${BENCH_ONLY:-ingest size startup cql select driver ring cluster dashboard lincheck consensus stream}}

for f in "$SIBYL" "$BIN/bench_ingest" "$BIN/bench_http" "$BIN/bench_startup" "$BIN/bench_cql" \
    "$BIN/bench_ring" "$BIN/bench_lincheck"; do
    [ -x "$f" ] || { echo "bench: $f is missing; run 'make bench'" >&2; exit 2; }
done

NODE_CPU=() GEN_CPU=()
if [ "${BENCH_TASKSET:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    NODE_CPU=(taskset -c 0)
    GEN_CPU=(taskset -c 1)
fi

# Three free loopback ports (HTTP, CQL, node-to-node), so nothing else
# running on this machine (another node, a test) is disturbed.
read -r HTTP_PORT CQL_PORT LISTEN_PORT < <(/usr/bin/python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)
TARGET=127.0.0.1:$HTTP_PORT
TMP=$(mktemp -d /tmp/sibyl-bench-XXXXXX)
NODE_PID=

cleanup() {
    stop_node
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_node() { # $1 = data dir
    "${NODE_CPU[@]}" "$SIBYL" node --data "$1" --http "$TARGET" --cql "127.0.0.1:$CQL_PORT" \
        --listen "127.0.0.1:$LISTEN_PORT" >"$TMP/node.log" 2>&1 &
    NODE_PID=$!
    local i
    for i in $(seq 1 200); do # at most 20 s
        if "$BIN/bench_http" GET "$TARGET" /health >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$NODE_PID" 2>/dev/null; then
            echo "bench: the node exited during start-up:" >&2
            tail -20 "$TMP/node.log" >&2
            NODE_PID=
            return 1
        fi
        sleep 0.1
    done
    echo "bench: the node did not answer /health within 20 s" >&2
    return 1
}

stop_node() {
    [ -n "$NODE_PID" ] || return 0
    kill -TERM "$NODE_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do # at most 30 s
        kill -0 "$NODE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
    NODE_PID=
}

result() { # $1 = RESULT line, $2 = key
    sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}

verdict() { # $1 = value, $2 = op (le|ge), $3 = target
    if awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { exit !((op == "le") ? v <= t : v >= t) }'; then
        echo "meets target"
    else
        echo "MISSES target"
    fi
}

LINES=()
figure() {
    echo "$1"
    LINES+=("$1")
}

want() { [[ " $ONLY " == *" $1 "* ]]; }

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "== Sibyl benchmarks ($rev, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ))"

# --- 1. ingestion -----------------------------------------------------------
if want ingest; then
    echo "-- ingestion: $CONNS connections x $BATCH-point batches for ${SECONDS_RUN}s (group commit)"
    start_node "$TMP/ingest"
    out=$("${GEN_CPU[@]}" "$BIN/bench_ingest" --target "$TARGET" --bucket bench \
        --connections "$CONNS" --batch "$BATCH" --duration "$SECONDS_RUN" --warmup 2 \
        --node-pid "$NODE_PID") || { echo "$out"; echo "bench: ingestion run failed" >&2; exit 1; }
    echo "$out" | grep -v '^RESULT'
    r=$(grep '^RESULT' <<<"$out")
    pps=$(result "$r" points_per_s)
    cpu=$(result "$r" node_cpu_s)
    secs=$(result "$r" seconds)
    per_core=$(awk -v p="$(result "$r" points)" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0) ? p / c : 0 }')
    cores=$(awk -v c="$cpu" -v s="$secs" 'BEGIN { printf "%.2f", (s > 0) ? c / s : 0 }')
    # bench_ingest exits 0 when the node answered every request, timeouts
    # (504) and overload (503) included: those are part of the figure.
    figure "ingest: $pps points/s, node CPU $cores cores, $per_core points/s per core of node CPU (target >= 300000 on one core: $(verdict "$per_core" ge 300000)); p50 $(result "$r" p50_ms) ms, p99 $(result "$r" p99_ms) ms per $BATCH-point request; $(result "$r" errors) of $(result "$r" requests) requests failed ($(result "$r" timeouts) timeouts, $(result "$r" overloaded) overloaded)"
    stop_node
fi

# --- 2. bytes per point ---------------------------------------------------
if want size; then
    echo "-- on-disk size: $POINTS simulator points (100 sensors, 5 fields, 1 reading/s), flush + full compaction"
    start_node "$TMP/size"
    out=$("${GEN_CPU[@]}" "$BIN/bench_ingest" --target "$TARGET" --bucket sensors --fresh \
        --connections 4 --batch "$BATCH" --points "$POINTS") ||
        { echo "$out"; echo "bench: writing points failed" >&2; exit 1; }
    echo "$out" | grep -v '^RESULT'
    r=$(grep '^RESULT' <<<"$out")
    written=$(result "$r" points)
    lp=$(result "$r" lp_bytes_per_point)
    if ! "$BIN/bench_http" POST "$TARGET" /api/v1/admin/compact >"$TMP/compact.out" 2>&1; then
        cat "$TMP/compact.out" >&2
        echo "bench: POST /api/v1/admin/compact failed" >&2
        exit 1
    fi
    stop_node
    sst=$(find "$TMP/size" -name '*.sst' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    if [ "$sst" -eq 0 ]; then
        echo "bench: no SST files under $TMP/size after compaction; cannot measure" >&2
        exit 1
    fi
    bpp=$(awk -v s="$sst" -v n="$written" 'BEGIN { printf "%.2f", s / n }')
    bpf=$(awk -v s="$sst" -v n="$written" 'BEGIN { printf "%.2f", s / n / 5 }')
    figure "size: $bpp bytes/point on disk after full compaction, $bpf bytes/field value ($sst SST bytes for $written points; line protocol was $lp bytes/point) (target <= 8 bytes/point: $(verdict "$bpp" le 8))"
fi

# --- 3. start-up and idle memory ------------------------------------------
if want startup; then
    echo "-- start-up: $RUNS runs of spawn -> GET /health 200, then VmRSS after 1 s idle"
    out=$("$BIN/bench_startup" --sibyl "$SIBYL" --http-port "$HTTP_PORT" --cql-port "$CQL_PORT" \
        --listen-port "$LISTEN_PORT" --runs "$RUNS" --idle-ms 1000 2>"$TMP/startup.err") ||
        { cat "$TMP/startup.err"; echo "bench: start-up benchmark failed" >&2; exit 1; }
    r=$(grep '^RESULT' <<<"$out")
    ms=$(result "$r" startup_ms_median)
    rss_b=$(result "$r" rss_bytes_median)
    rss=$(awk -v b="$rss_b" 'BEGIN { printf "%.2f", b / 1048576 }')
    figure "startup: $ms ms median from spawn to accepting requests ($RUNS runs) (target <= 200 ms: $(verdict "$ms" le 200))"
    figure "idle rss: $rss MB VmRSS of an idle node (target <= 16 MB: $(verdict "$rss_b" le 16777216))"
fi

# --- 4. CQL prepared inserts ----------------------------------------------
if want cql; then
    echo "-- cql inserts: $CQL_CONNS connections x $CQL_INFLIGHT prepared INSERTs in flight for ${SECONDS_RUN}s (group commit)"
    start_node "$TMP/cql"
    out=$("${GEN_CPU[@]}" "$BIN/bench_cql" --target "127.0.0.1:$CQL_PORT" --mode insert \
        --connections "$CQL_CONNS" --inflight "$CQL_INFLIGHT" --duration "$SECONDS_RUN" --warmup 2 \
        --node-pid "$NODE_PID") || { echo "$out"; echo "bench: cql insert run failed" >&2; exit 1; }
    echo "$out" | grep -v '^RESULT'
    r=$(grep '^RESULT' <<<"$out")
    cpu=$(result "$r" node_cpu_s)
    secs=$(result "$r" seconds)
    per_core=$(awk -v p="$(result "$r" ops)" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0) ? p / c : 0 }')
    cores=$(awk -v c="$cpu" -v s="$secs" 'BEGIN { printf "%.2f", (s > 0) ? c / s : 0 }')
    figure "cql: $(result "$r" ops_per_s) prepared inserts/s over the native protocol, node CPU $cores cores, $per_core inserts/s per core of node CPU (target >= 50000 per core: $(verdict "$per_core" ge 50000)); p50 $(result "$r" p50_ms) ms, p99 $(result "$r" p99_ms) ms"
    stop_node
fi

# --- 5. CQL point-select latency ----------------------------------------
if want select; then
    echo "-- cql selects: $SELECT_ROWS rows, then $SELECT_RATE prepared point SELECTs/s (open loop) for ${SECONDS_RUN}s"
    start_node "$TMP/select"
    out=$("${GEN_CPU[@]}" "$BIN/bench_cql" --target "127.0.0.1:$CQL_PORT" --mode select \
        --connections "$CQL_CONNS" --rows "$SELECT_ROWS" --rate "$SELECT_RATE" \
        --duration "$SECONDS_RUN" --warmup 2 --node-pid "$NODE_PID" 2>"$TMP/select.err") ||
        { echo "$out"; cat "$TMP/select.err"; echo "bench: cql select run failed" >&2; exit 1; }
    echo "$out" | grep -v '^RESULT'
    r=$(grep '^RESULT' <<<"$out")
    figure "select: p50 $(result "$r" p50_ms) ms, p99 $(result "$r" p99_ms) ms per prepared point SELECT at $(result "$r" ops_per_s)/s (open loop, $SELECT_ROWS rows)"
    stop_node
fi

# --- 6. driver-measured inserts ------------------------------------------
if want driver; then
    echo "-- driver inserts: the Python driver's execute_concurrent_with_args, prepared INSERT, for ${SECONDS_RUN}s"
    start_node "$TMP/driver"
    out=$("${GEN_CPU[@]}" /usr/bin/python3 bench/bench_driver.py --target "127.0.0.1:$CQL_PORT" \
        --duration "$SECONDS_RUN" --warmup 2 --node-pid "$NODE_PID" 2>"$TMP/driver.err") ||
        { echo "$out"; cat "$TMP/driver.err"; echo "bench: driver run failed" >&2; exit 1; }
    echo "$out" | grep -v '^RESULT'
    r=$(grep '^RESULT' <<<"$out")
    figure "driver: $(result "$r" ops_per_s) prepared inserts/s measured by the Python driver (one client process; node CPU $(result "$r" node_cpu_s) s)"
    stop_node
fi

# --- 7. token ring ----------------------------------------------------------
if want ring; then
    echo "-- ring: nodes joining one by one with sb_ring_allocate (seed 42); replica lookups"
    out=$("$BIN/bench_ring" --seed 42) || { echo "$out"; echo "bench: ring benchmark failed" >&2; exit 1; }
    echo "$out" | grep -v '^RESULT'
    r=$(grep '^RESULT' <<<"$out")
    figure "ring: max/min primary ownership with 16 tokens $(result "$r" spread16_3) (3 nodes), $(result "$r" spread16_5) (5), $(result "$r" spread16_10) (10); 256 tokens $(result "$r" spread256_10) (10); replica lookup $(result "$r" lookup_simple_ns) ns (SimpleStrategy rf 3), $(result "$r" lookup_nts_ns) ns (NTS 2 dcs x rf 3) on 10 nodes x 16 tokens"
fi

# --- 8. a 3-node local cluster ---------------------------------------------
if want cluster; then
    echo "-- cluster: 3 local nodes on 127.0.0.1-3 (bench/bench_cluster.py; nodes and generator share the CPUs)"
    rm -f "$TMP/cluster.txt"
    /usr/bin/python3 bench/bench_cluster.py --sibyl "$SIBYL" --bench-cql "$BIN/bench_cql" \
        --out "$TMP/cluster.txt" || { echo "bench: cluster benchmark failed" >&2; exit 1; }
    while IFS= read -r l; do LINES+=("$l"); done <"$TMP/cluster.txt"
fi

# --- 9. dashboard and metrics endpoints ------------------------------------
if want dashboard; then
    echo "-- dashboard: a 10-node demo (100 sensors, 100 readings/s), the page in headless chromium (bench/bench_dashboard.mjs; nodes and browser share the CPUs)"
    if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
        echo "bench: ${CHROMIUM:-/usr/bin/chromium} is missing; run scripts/deps.sh as root" >&2
        exit 1
    fi
    # playwright-core comes from the browser tests' install (as run-tests.sh does)
    if [ ! -d tests/browser/node_modules ] ||
            [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then
        (cd tests/browser && npm ci --no-audit --no-fund) || { echo "bench: npm ci in tests/browser failed" >&2; exit 1; }
        touch tests/browser/node_modules
    fi
    rm -f "$TMP/dashboard.txt"
    timeout 900 node bench/bench_dashboard.mjs --sibyl "$SIBYL" --out "$TMP/dashboard.txt" \
        --seconds "${BENCH_DASHBOARD_SECONDS:-30}" --requests "${BENCH_DASHBOARD_REQUESTS:-200}" ||
        { echo "bench: dashboard benchmark failed" >&2; exit 1; }
    while IFS= read -r l; do LINES+=("$l"); done <"$TMP/dashboard.txt"
fi

# --- 10. linearizability checker ------------------------------------------
if want lincheck; then
    echo "-- lincheck: random register histories (8 clients, 3% failed, 3% indeterminate), median of 5 checks"
    out=$("$BIN/bench_lincheck" --runs 5) || { echo "$out"; echo "bench: lincheck benchmark failed" >&2; exit 1; }
    echo "$out" | grep -v '^RESULT'
    r=$(grep '^RESULT' <<<"$out")
    figure "lincheck: 2,000 ops over 10 keys $(result "$r" small_ms) ms ($(result "$r" small_steps) steps), 20,000 ops over 10 keys $(result "$r" large_ms) ms, 2,000 ops on one key $(result "$r" hot_ms) ms, a violation in 2,000 ops found in $(result "$r" bad_ms) ms"
fi

# --- 11. consensus: LWTs, Raft failover, etcd as the anchor ---------------
if want consensus; then
    echo "-- consensus: LWTs and Raft failover on 3 local nodes, the same failover on 3 etcd members (bench/bench_consensus.py)"
    # etcd is this benchmark's reference only; deps.sh installs it on request
    [ -x /usr/bin/etcd ] || bash scripts/deps.sh bench ||
        { echo "bench: /usr/bin/etcd is missing; run 'scripts/deps.sh bench' as root" >&2; exit 1; }
    rm -f "$TMP/consensus.txt"
    timeout 1800 /usr/bin/python3 bench/bench_consensus.py --sibyl "$SIBYL" --out "$TMP/consensus.txt" ||
        { echo "bench: consensus benchmark failed" >&2; exit 1; }
    while IFS= read -r l; do LINES+=("$l"); done <"$TMP/consensus.txt"
fi

# --- 12. range streaming ---------------------------------------------------
if want stream; then
    echo "-- stream: node 2 pulls node 1's rows of an RF=1 keyspace (bench/bench_stream.py)"
    rm -f "$TMP/stream.txt"
    /usr/bin/python3 bench/bench_stream.py --sibyl "$SIBYL" --out "$TMP/stream.txt" ||
        { echo "bench: stream benchmark failed" >&2; exit 1; }
    while IFS= read -r l; do LINES+=("$l"); done <"$TMP/stream.txt"
fi

{
    echo "# Sibyl benchmarks, $rev, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs"
    printf '%s\n' "${LINES[@]}"
} >"$OUT"
echo "== results written to $OUT"
