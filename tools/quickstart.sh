#!/usr/bin/env bash
# The main job on a fresh machine: install the dependencies, build, and generate a video.
# Usage: tools/quickstart.sh ["PROMPT"] [fractal-gen options...]
# The model is $FRACTAL_MODEL if set, else fractal-gen's built-in random-weight demo model (see README).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FRACTAL_BUILD_DIR:-$root/build}
prompt=${1:-"a red panda eating bamboo in the snow, cinematic"}
shift || true
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
"$build/bin/fractal-gen" -o video.mp4 --sheet video.png "$@" "$prompt"
echo "quickstart: wrote video.mp4 and video.png"
