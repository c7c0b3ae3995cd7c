#!/usr/bin/env bash
# Installs the Debian packages Sibyl needs to build, test and demo.
# Idempotent: does nothing when everything is present. Must run as root
# (or with the packages already installed).
set -euo pipefail

PKGS=(build-essential pkg-config clang libclang-rt-14-dev
      librocksdb-dev libbz2-dev libzstd-dev libuv1-dev libh2o-dev libyaml-dev libjansson-dev
      zlib1g-dev liblz4-dev libsnappy-dev libedit-dev
      libcmocka-dev lemon re2c curl
      python3-pytest python3-requests python3-cassandra python3-lz4 prometheus)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
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
apt-get install -y -q --no-install-recommends "${missing[@]}"
