#!/usr/bin/env bash
# `make demo`: a local Sibyl cluster plus the sensor simulator writing
# through every node (`sibyl demo`, see docs/cluster-cli.md).
# Runs until Ctrl-C; knobs:
#   DEMO_SECONDS=N   stop after N seconds
#   DEMO_NODES=N     nodes (default 3), on 127.0.0.1..N
#   DEMO_DCS=D       datacenters (default 1)
#   DEMO_SENSORS=K   simulated sensors (default 100)
#   SIBYL_DATA=DIR   data and logs (default build/demo-data)
set -euo pipefail
cd "$(dirname "$0")/.."

args=(--nodes "${DEMO_NODES:-3}" --dcs "${DEMO_DCS:-1}" --data "${SIBYL_DATA:-build/demo-data}")
[ -n "${DEMO_SECONDS:-}" ] && args+=(--seconds "$DEMO_SECONDS")
[ -n "${DEMO_SENSORS:-}" ] && args+=(--sensors "$DEMO_SENSORS")
exec build/sibyl demo "${args[@]}"
