#!/usr/bin/env bash
# The test suite on a fresh machine: install the dependencies, then
#  1. the normal build in BUILD_DIR and every test but the `slow` label (`gpu` tests skip themselves where
#     there is no GPU; with nvcc present the CUDA backend is compiled, in a new BUILD_DIR for sm_75 only
#     unless FRACTAL_TEST_CUDA_ARCHS says otherwise: without a GPU no test runs it, and the contract test
#     checks its PTX for sm_75, sm_86 and sm_90; an existing BUILD_DIR keeps its architectures);
#  2. the emulated CUDA build in BUILD_DIR-emu (docs/cuda.md) and its `gpu` tests, each in the forward,
#     reverse and a random thread order;
#  3. the emulated CUDA build under AddressSanitizer and UBSan in BUILD_DIR-emu-asan: the emulator's own
#     test, its out-of-bounds report, the op test and whole jobs;
#  4. the host code under AddressSanitizer and UBSan (-DFRACTAL_SANITIZE=address, BUILD_DIR-asan): the unit
#     and daemon tests; any report fails the test;
#  5. the host code under ThreadSanitizer (-DFRACTAL_SANITIZE=thread, BUILD_DIR-tsan): the unit tests;
#  6. the libFuzzer targets (clang, -DFRACTAL_FUZZ=ON, BUILD_DIR-fuzz), each for a few seconds from its seed
#     corpus (docs/fuzzing.md has the long runs).
#  0. (before them) every source in .clang-format's layout (tools/dev/format.sh --check);
#  1b. (after the normal build) cppcheck and clang-tidy on its compile_commands.json (tools/dev/lint.sh).
# Usage: tools/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
jobs=$(nproc)
"$root/tools/install-deps.sh"
# The fuzz stage's compiler and libFuzzer (Debian's libclang-rt-dev), valgrind for the MP4 encoder's test,
# the clang-format whose layout the sources follow, and the static checkers.
extra=()
for p in clang libclang-rt-dev valgrind clang-format-14 clang-tidy-14 cppcheck; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || extra+=("$p")
done
if [ ${#extra[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
fi

stage() { printf '\n== tools/test.sh: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

stage "layout: tools/dev/format.sh --check"
"$root/tools/dev/format.sh" --check

stage "normal build"
archs=()
[ -f "$build/CMakeCache.txt" ] || archs=(-DCMAKE_CUDA_ARCHITECTURES="${FRACTAL_TEST_CUDA_ARCHS:-75}")
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "${archs[@]}"
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -LE slow -j "$jobs"

stage "static checks: tools/dev/lint.sh (cppcheck, clang-tidy)"
"$root/tools/dev/lint.sh" "$build"

stage "emulated CUDA build: the gpu tests in three thread orders"
cmake -S "$root" -B "$build-emu" -DCMAKE_BUILD_TYPE=Release -DFRACTAL_CUDA=emu
cmake --build "$build-emu" -j "$jobs"
ctest --test-dir "$build-emu" --output-on-failure -L gpu -LE slow -j "$jobs"

stage "emulated CUDA build under AddressSanitizer and UBSan"
cmake -S "$root" -B "$build-emu-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRACTAL_CUDA=emu -DFRACTAL_NETWORK=OFF \
  -DFRACTAL_SANITIZE=address
cmake --build "$build-emu-asan" -j "$jobs" --target test_emu test_cuda test_cuda_pipeline
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir "$build-emu-asan" --output-on-failure -j "$jobs" -R '^(test_emu|test_emu_out_of_bounds|test_cuda|test_cuda_pipeline)$'
# Stages 4-6 build without CUDA: they check the host code (the device code is stages 2 and 3's).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
stage "AddressSanitizer and UBSan: the unit and daemon tests"
cmake -S "$root" -B "$build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRACTAL_CUDA=off -DFRACTAL_SANITIZE=address
cmake --build "$build-asan" -j "$jobs"
# Reports also go to files: a process whose exit status no test looks at (a daemon killed at the end, an
# error exit whose status a leak report does not change) still fails the stage. Left out: contract (it
# checks compile lines, which stage 1 does) and daemon_load (it asserts the prover's RSS stays flat, and
# ASan's quarantine of freed memory grows it by design). tools runs without leak detection: fractal-gen's
# error exits (tools/fractal_gen.c main, `return die(...)` after the backend or model is open) leave them
# unfreed, and LeakSanitizer reports each; its other checks stay on.
reports="$build-asan/sanitizer-reports"
rm -rf "$reports" && mkdir -p "$reports"
rc=0
asan="log_path=$reports/asan" ubsan="$UBSAN_OPTIONS:log_path=$reports/ubsan"
ASAN_OPTIONS=$asan UBSAN_OPTIONS=$ubsan ctest --test-dir "$build-asan" --output-on-failure -L 'unit|daemon' \
  -E '^(contract|daemon_load|tools)$' -j "$jobs" || rc=$?
ASAN_OPTIONS=$asan:detect_leaks=0 UBSAN_OPTIONS=$ubsan ctest --test-dir "$build-asan" --output-on-failure -R '^tools$' ||
  rc=$?
for f in "$reports"/*; do [ -e "$f" ] && { printf '\n== %s\n' "$f"; cat "$f"; rc=1; }; done
[ "$rc" -eq 0 ] || { echo "tools/test.sh: AddressSanitizer/UBSan stage failed"; exit 1; }

stage "ThreadSanitizer: the unit tests"
cmake -S "$root" -B "$build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRACTAL_CUDA=off -DFRACTAL_SANITIZE=thread
cmake --build "$build-tsan" -j "$jobs"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir "$build-tsan" --output-on-failure -L unit -E '^contract$' -j "$jobs"

stage "fuzz targets: a smoke run of each"
CC=clang CXX=clang++ cmake -S "$root" -B "$build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRACTAL_CUDA=off -DFRACTAL_FUZZ=ON
cmake --build "$build-fuzz" -j "$jobs" --target fuzz
ctest --test-dir "$build-fuzz" --output-on-failure -L fuzz -j "$jobs"
stage "all passed"
