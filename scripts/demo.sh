#!/usr/bin/env bash
# `make demo`: one Sibyl node plus the sensor simulator writing into it.
# Runs until Ctrl-C; DEMO_SECONDS=N stops it after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

HTTP=${SIBYL_HTTP:-127.0.0.1:8080}
DATA=${SIBYL_DATA:-build/demo-data}
BIN=build/sibyl
mkdir -p "$DATA"

"$BIN" node --data "$DATA" --http "$HTTP" >build/demo-node.log 2>&1 &
node_pid=$!
sim_pid=
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
    kill "$node_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
    curl -fsS "http://$HTTP/health" >/dev/null 2>&1 && break
    if ! kill -0 "$node_pid" 2>/dev/null; then
        echo "sibyl node failed to start:"; cat build/demo-node.log; exit 1
    fi
    sleep 0.1
done

cat <<TXT
Sibyl is running (node log: build/demo-node.log, data: $DATA).

  Health:        curl http://$HTTP/health
  Metrics:       curl http://$HTTP/metrics
  Query (CQL):   curl -s http://$HTTP/api/v1/cql -d '{"query": "SELECT * FROM sensors.readings LIMIT 5"}'
  Count:         curl -s http://$HTTP/api/v1/cql -d '{"query": "SELECT count(*) FROM sensors.readings"}'
  Write a point: curl -i "http://$HTTP/api/v2/write?bucket=sensors&precision=s" --data-binary 'readings,location=lab,device_type=env,sensor_id=manual temperature=21.5'

The simulator writes 100 sensors at ~100 readings/s. Press Ctrl-C to stop.
TXT

"$BIN" sim --target "$HTTP" --bucket sensors ${DEMO_SECONDS:+--duration $DEMO_SECONDS} &
sim_pid=$!
wait "$sim_pid"
