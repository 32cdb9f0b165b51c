#!/usr/bin/env bash
# The first minutes on a real GPU, as one script: build for this machine's GPU only, run the gpu tests
# (every op case bit for bit against the CPU, whole jobs' digests on the tiny and small models, a job
# split over ranks on the one device), compute-sanitizer on the op test, fractal-bench's op cases against
# cuBLAS SGEMM (fp32, TF32 off) and the device's copy bandwidth, the exact-integer profile i8x-v1's GEMM-class
# cases against cuBLAS fp32 and the fp16/bf16 tensor cores, and the ms-1.7b-shape job end to end (25
# DPM-Solver++ steps, 16 frames of 256x256, random fp16 weights) with its peak device memory, and 5 steps of it
# in i8x-v1.
# Everything lands as JSON (and one log) in OUT_DIR. Budget: under 8 minutes on one H100 with 16 cores.
#
# Usage: tools/gpu-check.sh [OUT_DIR]          on the GPU machine (default OUT_DIR: $OUT, else gpu-check)
#        tools/gpu-check.sh --prepare DEPS_DIR  on a Debian/Ubuntu machine with apt: downloads the few
#                                               packages a bare GPU machine lacks (jansson, xxhash, pkgconf)
#        tools/gpu-check.sh --emulate [OUT_DIR] a rehearsal without a GPU: the same steps on the emulated
#                                               device (no sanitizers or cuBLAS; the tiny model's job)
# On the GPU machine, a DEPS_DIR named .gpu-deps in the repository root is used when pkg-config cannot
# find jansson and libxxhash; MP4 output and the network tools are left out when their libraries are
# missing (they need no GPU). Exit status: 0 when every check passed, 1 otherwise.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = "--prepare" ]; then
  deps=${2:?usage: tools/gpu-check.sh --prepare DEPS_DIR}
  mkdir -p "$deps" && cd "$deps" || exit 1
  apt-get download libjansson4 libjansson-dev libxxhash0 libxxhash-dev pkgconf-bin libpkgconf3 || exit 1
  echo "gpu-check: $(ls ./*.deb | wc -l) packages in $deps; carry it to the GPU machine as $root/.gpu-deps"
  exit 0
fi

emulate=0
if [ "${1:-}" = "--emulate" ]; then emulate=1; shift; fi
out=${1:-${OUT:-gpu-check}}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 1
log="$out/log.txt"
: > "$log"
steps="$out/steps.tsv"
: > "$steps"
failed=0
say() { printf '%s\n' "$*" | tee -a "$log"; }
# step NAME TIMEOUT_S command...: runs it with its output in the log, and records status and seconds
step() {
  local name=$1 limit=$2 t0 rc
  shift 2
  say "== $name"
  t0=$(date +%s%N)
  timeout "$limit" "$@" >> "$log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))" >> "$steps"
  [ "$rc" -eq 0 ] || { failed=1; say "   $name: exit $rc"; }
  return "$rc"
}
export PATH="/usr/local/cuda/bin:$PATH"
jobs=$(nproc)
t_start=$(date +%s)

# -- the machine
if [ $emulate = 1 ]; then
  gpu="Fractal SIMT emulator, none, emulated, host memory" arch=emu
else
  gpu=$(nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>&1 | head -1)
  arch=$(printf '%s' "$gpu" | awk -F', ' '{print $3}' | tr -d '.')
fi
if [ $emulate = 0 ] && ! printf '%s' "$arch" | grep -qE '^[0-9]+$'; then
  say "gpu-check: no NVIDIA GPU answers nvidia-smi: $gpu"
  exit 1
fi
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
python3 - "$out/gpu.json" "$gpu" "$commit" "$(nvcc --version | tail -2 | tr '\n' ' ')" "$jobs" <<'PY'
import json, sys
name, driver, cc, mem = [s.strip() for s in sys.argv[2].split(",")]
json.dump({"gpu": name, "driver": driver, "compute_capability": cc, "memory": mem, "commit": sys.argv[3],
           "nvcc": sys.argv[4].strip(), "cpu_cores": int(sys.argv[5])}, open(sys.argv[1], "w"), indent=1)
PY
say "gpu-check on $gpu (sm_$arch), commit $commit"

# -- dependencies: carried Debian packages where the machine has none
features=()
if ! pkg-config --exists jansson libxxhash 2>/dev/null; then
  deps="$root/.gpu-deps"
  if ! ls "$deps"/*.deb >/dev/null 2>&1; then
    say "gpu-check: jansson and libxxhash are missing; run tools/gpu-check.sh --prepare .gpu-deps where apt works and carry it"
    exit 1
  fi
  sys="$deps/root"
  for d in "$deps"/*.deb; do dpkg -x "$d" "$sys"; done
  export PKG_CONFIG_PATH="$sys/usr/lib/x86_64-linux-gnu/pkgconfig:$sys/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$sys" LD_LIBRARY_PATH="$sys/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  command -v pkg-config >/dev/null || features+=("-DPKG_CONFIG_EXECUTABLE=$sys/usr/bin/pkgconf")
  say "using the carried packages in $deps"
fi
pc() { pkg-config --exists "$@" 2>/dev/null || { [ -x "${sys:-/nonexistent}/usr/bin/pkgconf" ] && "$sys/usr/bin/pkgconf" --exists "$@"; }; }
pc libavformat libavcodec libavutil libswscale libpng || features+=(-DFRACTAL_VIDEO=OFF)
pc libsodium libcurl libmicrohttpd hiredis || features+=(-DFRACTAL_NETWORK=OFF)
gen=(-G Ninja)
command -v ninja >/dev/null || gen=()

# -- build for this GPU only
build="$root/build-gpu-check"
if [ $emulate = 1 ]; then
  features+=(-DFRACTAL_CUDA=emu)
else
  features+=(-DFRACTAL_CUDA=on -DCMAKE_CUDA_ARCHITECTURES="$arch")
fi
step configure 300 cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "${features[@]}" || exit 1
step build 600 cmake --build "$build" -j "$jobs" || exit 1
bin="$build/bin"
"$bin/fractal-mkmodel" -q "$build/tiny" >/dev/null

# -- correctness: the gpu tests (op cases, whole jobs on tiny and small, ranks on one device, tools)
step ctest_gpu 420 ctest --test-dir "$build" -L gpu --output-on-failure --timeout 400 --output-junit "$out/ctest.xml"
step op_cases_all 300 "$bin/test_cuda" --all
for model in tiny small; do
  flag=; [ $model = small ] && flag=--small
  step "digests_$model" 300 sh -c "'$bin/test_cuda_pipeline' $flag > '$out/digests_$model.txt' 2>&1"
  cat "$out/digests_$model.txt" >> "$log"
done
# a job split over 2 and 4 ranks of the threads communicator, each rank on its own stream of this GPU
for ranks in 2 4; do
  step "ranks_$ranks" 120 "$bin/fractal-bench" -b cuda -m "$build/tiny" --shards 1,$ranks --steps 3 --frames 8 -r 1
done
# compute-sanitizer: memory errors on every op case; races, barrier misuse and uninitialised reads on the
# GEMM-class, attention and norm kernels (racecheck is slow: a subset)
if [ $emulate = 1 ]; then
  say "emulated: compute-sanitizer does not apply (the emulator checks barriers and warp collectives itself)"
elif command -v compute-sanitizer >/dev/null; then
  step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/test_cuda"
  for tool in racecheck synccheck initcheck; do
    for c in linear_m129 conv2d_3x3 conv_frames attention_self attention_causal group_norm_ms layer_norm softmax; do
      step "${tool}_$c" 120 compute-sanitizer --tool "$tool" --error-exitcode 9 "$bin/test_cuda" --case "$c"
    done
  done
else
  say "compute-sanitizer is not on PATH: sanitizer checks skipped"
  failed=1
fi

# -- speed: every op case at the UNet's batch against cuBLAS and the copy bandwidth
if [ $emulate = 1 ]; then
  step bench_ops 300 sh -c "'$bin/fractal-bench' -b cuda -n 1 -r 1 -o linear_320 --json > '$out/bench_ops.json'"
else
  step bench_ops 300 sh -c "'$bin/fractal-bench' -b cuda --cublas --json -r 5 > '$out/bench_ops.json'"
  # the exact-integer profile's GEMM-class cases against cuBLAS fp32 and the fp16/bf16 tensor cores
  for op in linear conv attention; do
    step "bench_i8x_$op" 200 sh -c "'$bin/fractal-bench' -b cuda --numerics i8x-v1 --cublas --json -r 5 -o $op > '$out/bench_i8x_$op.json'"
  done
fi
# -- the ms-1.7b-shape job end to end, with the device memory in use sampled every 100 ms
model="$build/ms17b" preset=ms-1.7b job=(--steps 25 --frames 16)
[ $emulate = 1 ] && preset=small job=(--steps 2 --frames 2)
step mkmodel 300 "$bin/fractal-mkmodel" -q -p $preset -d f16 "$model"
smi=
if [ $emulate = 0 ]; then
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$out/memory.txt" 2>/dev/null &
  smi=$!
fi
step job_ms17b 420 sh -c "'$bin/fractal-bench' -b cuda -m '$model' ${job[*]} -r 1 --json > '$out/job_ms17b.json'"
# the same job in i8x-v1, 5 steps (the step time scales to 25; the emulator runs i8x jobs in test_cuda_pipeline)
[ $emulate = 0 ] && step job_ms17b_i8x 300 sh -c "'$bin/fractal-bench' -b cuda -m '$model' --numerics i8x-v1 --steps 5 --frames 16 -r 1 --json > '$out/job_ms17b_i8x.json'"
[ -n "$smi" ] && kill "$smi" 2>/dev/null && wait "$smi" 2>/dev/null
rm -rf "$model"

# -- the summary
python3 - "$out" "$steps" "$failed" "$(( $(date +%s) - t_start ))" <<'PY'
import json, os, re, sys
import xml.etree.ElementTree as et
out, steps, failed, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = {"passed": failed == 0, "seconds": seconds, "steps": []}
for line in open(steps):
    name, rc, t = line.rstrip("\n").split("\t")
    s["steps"].append({"name": name, "exit": int(rc), "seconds": int(t) / 1000})
for model in ("tiny", "small"):
    p = os.path.join(out, "digests_%s.txt" % model)
    if os.path.exists(p):
        s["digests_" + model] = [{"job": m.group(1).strip(), "digest": m.group(2)}
                                 for m in re.finditer(r"^ok +(.*?) +digest ([0-9a-f]{32})$", open(p).read(), re.M)]
        os.remove(p)
junit = os.path.join(out, "ctest.xml")
if os.path.exists(junit):
    s["ctest"] = [{"test": c.get("name"), "status": c.get("status"), "seconds": float(c.get("time") or 0)}
                  for c in et.parse(junit).getroot().iter("testcase")]
    os.remove(junit)
mem = os.path.join(out, "memory.txt")
if os.path.exists(mem):
    used = [int(v) for v in open(mem).read().split() if v.isdigit()]
    s["ms17b_peak_memory_mib"] = max(used) if used else None
    os.remove(mem)
job = os.path.join(out, "job_ms17b.json")
if os.path.exists(job) and os.path.getsize(job):
    s["ms17b_job"] = json.loads(open(job).read().strip().splitlines()[-1])
bench = os.path.join(out, "bench_ops.json")
if os.path.exists(bench):
    rows = [json.loads(l) for l in open(bench) if l.startswith("{")]
    s["gemm_vs_cublas"] = {r["case"]: r.get("vs_cublas") for r in rows if "vs_cublas" in r}
json.dump(s, open(os.path.join(out, "summary.json"), "w"), indent=1)
print("gpu-check: %s in %d s; see %s" % ("passed" if s["passed"] else "FAILED", seconds, out))
PY
rm -f "$steps"
exit $failed
