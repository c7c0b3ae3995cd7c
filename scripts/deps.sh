#!/usr/bin/env bash
# Installs the Debian packages Sibyl needs to build, test and demo.
# Idempotent: does nothing when everything is present. Must run as root
# (or with the packages already installed). `deps.sh bench` adds what only
# the benchmarks use (bench/run.sh calls it when that is missing).
set -euo pipefail

PKGS=(build-essential pkg-config clang libclang-rt-14-dev
      librocksdb-dev libraft-dev libbz2-dev libzstd-dev libuv1-dev libh2o-dev libyaml-dev libjansson-dev
      zlib1g-dev liblz4-dev libsnappy-dev libedit-dev
      libcmocka-dev lemon re2c curl faketime
      python3-pytest python3-requests python3-cassandra python3-lz4 prometheus
      chromium   # chromium: the dashboard's browser tests (tests/browser)
      golang-go golang-github-gocql-gocql-dev)  # the gocql checks (tests/drivers/go)
# etcd-server: the consensus benchmark's reference cluster (bench/bench_consensus.py);
# never needed to build, run or test the node
if [ "${1:-}" = bench ]; then
    PKGS+=(etcd-server)
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The dashboard (web/) is built with Node.js and npm (18 or newer). Debian's
# packages are used unless node and npm are already on the PATH.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Debian's prometheus package starts a prometheus service (port 9090,
# scraping localhost). Sibyl wants only the binaries: the tests run their
# own instance on a free port, and `make demo` users run
# deploy/prometheus/prometheus.yml themselves. So the service is kept from
# starting during the install (policy-rc.d answers 101 = "not allowed"
# unless the machine already has its own policy) and disabled afterwards.
new_prometheus=
[[ " ${missing[*]} " == *" prometheus "* ]] && new_prometheus=1
if [ -n "$new_prometheus" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from sibyl scripts/deps.sh\ncase "$1" in prometheus*) exit 101 ;; esac\nexit 0\n' \
        >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
if [ -n "$new_prometheus" ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    else
        service prometheus stop >/dev/null 2>&1 || true
        update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
fi
