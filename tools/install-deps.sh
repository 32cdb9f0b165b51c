#!/usr/bin/env bash
# Installs the Debian packages Fractal builds and tests with. Used by the README and by .ci/run.
# The CUDA toolkit is not installed here: where nvcc is present the build adds the CUDA backend.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libmicrohttpd-dev libhiredis-dev libxxhash-dev libsodium-dev libcurl4-openssl-dev libjansson-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libpng-dev
  redis-server redis-tools ffmpeg
  python3 python3-numpy chromium  # tests: the daemon tests' helpers, the Python package, the dashboard in Chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
