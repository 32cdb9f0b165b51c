#!/usr/bin/env bash
# The test suite on a fresh machine: install the dependencies, configure, build, run ctest.
# Runs every test except the `slow` label (exhaustive checks); `gpu` tests skip themselves where no
# GPU is present. Usage: tools/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -LE slow -j "$(nproc)"
