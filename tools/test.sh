#!/usr/bin/env bash
# The test suite on a fresh machine: install the dependencies, then
#  1. the normal build in BUILD_DIR and every test but the `slow` label (`gpu` tests skip themselves where
#     there is no GPU; with nvcc present the CUDA backend is compiled, in a new BUILD_DIR for sm_75 only
#     unless FRACTAL_TEST_CUDA_ARCHS says otherwise: without a GPU no test runs it, and the contract test
#     checks its PTX for sm_75, sm_86 and sm_90; an existing BUILD_DIR keeps its architectures);
#  2. the emulated CUDA build in BUILD_DIR-emu (docs/cuda.md) and its `gpu` tests, each in the forward,
#     reverse and a random thread order;
#  3. the emulated CUDA build under AddressSanitizer and UBSan in BUILD_DIR-emu-asan: the emulator's own
#     test, its out-of-bounds report, the op test and whole jobs.
# Usage: tools/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
jobs=$(nproc)
"$root/tools/install-deps.sh"

stage() { printf '\n== tools/test.sh: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

stage "normal build"
archs=()
[ -f "$build/CMakeCache.txt" ] || archs=(-DCMAKE_CUDA_ARCHITECTURES="${FRACTAL_TEST_CUDA_ARCHS:-75}")
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "${archs[@]}"
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -LE slow -j "$jobs"

stage "emulated CUDA build: the gpu tests in three thread orders"
cmake -S "$root" -B "$build-emu" -DCMAKE_BUILD_TYPE=Release -DFRACTAL_CUDA=emu
cmake --build "$build-emu" -j "$jobs"
ctest --test-dir "$build-emu" --output-on-failure -L gpu -LE slow -j "$jobs"

stage "emulated CUDA build under AddressSanitizer and UBSan"
san="-fsanitize=address,undefined -fno-omit-frame-pointer"
cmake -S "$root" -B "$build-emu-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRACTAL_CUDA=emu -DFRACTAL_NETWORK=OFF \
  "-DCMAKE_C_FLAGS=$san" "-DCMAKE_CXX_FLAGS=$san" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined"
cmake --build "$build-emu-asan" -j "$jobs" --target test_emu test_cuda test_cuda_pipeline
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir "$build-emu-asan" --output-on-failure -j "$jobs" -R '^(test_emu|test_emu_out_of_bounds|test_cuda|test_cuda_pipeline)$'
stage "all passed"
