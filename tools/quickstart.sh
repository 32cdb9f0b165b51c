#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, then run what exists end to end.
# Today that is the op library: every op is timed at the model's shapes on the best backend and its
# output compared bit for bit with the CPU reference. Usage: tools/quickstart.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
"$build/bin/fractal-bench" --check
