#!/usr/bin/env bash
# --backend cuda in every tool, against --backend cpu: fractal-gen (the digest and the MP4's bytes, also
# with the job split over 2 ranks of the one device), fractal-replay (a CPU-made job replayed, and one
# step recomputed, on the GPU), fractal-bench (an op checked bit for bit, a model timed), and fractald as
# a prover answering a signed challenge with the CPU's hashes. Skips (77) where the build has no CUDA
# device: in the emulated build it runs on the emulated one. Usage: tools_cuda.sh BIN_DIR
set -u
bin=$(cd "$1" && pwd) || exit 2
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
cd "$tmp"

"$bin/fractal-mkmodel" -q tiny >/dev/null
probe=$("$bin/fractal-gen" -m tiny -q --backend cuda --steps 1 --frames 1 --height 16 --width 16 -o p.mp4 x 2>&1)
if printf '%s' "$probe" | grep -qE "no CUDA backend|not available \(0 devices"; then
  echo "SKIP: no CUDA device here: $probe"
  exit 77
fi

gen() { "$bin/fractal-gen" -m tiny -q --steps 3 --frames 3 --height 64 --width 48 "$@" "a lighthouse in a storm"; }
dc=$(gen --backend cpu -o cpu.mp4 --json)
dg=$(gen --backend cuda -o cuda.mp4 --json)
digest() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['result']['digest'])" "$1" 2>/dev/null; }
want=$(digest "$dc")
if printf '%s' "$want" | grep -qE '^[0-9a-f]{32}$' && [ "$want" = "$(digest "$dg")" ] && cmp -s cpu.mp4 cuda.mp4; then
  ok "fractal-gen --backend cuda: the CPU's digest $(digest "$dc") and the same MP4 bytes"
else
  bad "fractal-gen: cpu $dc / cuda $dg"
fi
ds=$(gen --backend cuda --shards 2 -o shards.mp4)
[ -n "$want" ] && [ "$ds" = "$want" ] && ok "fractal-gen --backend cuda --shards 2: the same digest" || bad "--shards 2 on cuda: $ds"

# a record of the CPU's job, replayed on the GPU: whole, and one second-order step from its latents
M=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['result']['model'])" "$dc" 2>/dev/null)
JOB='{"job_id":"t1","model":"'$M'","numerics":"f32-v1","prompt":"a lighthouse in a storm","seed":0,"steps":3,"frames":3,"height":64,"width":48}'
printf '%s\n' "$dc" > rec.json # fractal-gen --json writes a record
out=$("$bin/fractal-replay" -m tiny --backend cuda rec.json 2>&1) && ok "fractal-replay --backend cuda: the CPU's job matches" ||
  bad "fractal-replay whole job: $out"
gen --backend cpu -o d.mp4 --dump dump >/dev/null
out=$("$bin/fractal-replay" -m tiny --backend cuda --step 1 --latent dump/latents_001.npy --prev dump/latents_000.npy rec.json 2>&1) &&
  ok "fractal-replay --backend cuda: step 1 (second order) recomputes" || bad "fractal-replay step 1: $out"

out=$("$bin/fractal-bench" -b cuda -n 1 -r 1 -o linear_320_b32 --check 2>&1) && printf '%s' "$out" | grep -q "same bits" &&
  ! printf '%s' "$out" | grep -q "DIFFER" && ok "fractal-bench -b cuda --check: same bits" || bad "fractal-bench op check: $out"
out=$("$bin/fractal-bench" -b cuda -m tiny --steps 1 --frames 2 --height 32 --width 32 -r 1 2>&1) &&
  ok "fractal-bench -b cuda -m: a job timed" || bad "fractal-bench model mode: $out"

# a prover on the GPU answers a signed challenge with the CPU's hashes
P=$("$bin/fractal-keygen" -o prover.key)
V=$("$bin/fractal-keygen" -o verifier.key)
printf '{"nodes": [{"hotkey": "%s", "role": "prover", "endpoint": "http://127.0.0.1:1", "stake": 5},
  {"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:2", "stake": 100}]}\n' "$P" "$V" > registry.json
"$bin/fractald" --key prover.key --registry registry.json --model tiny --backend cuda --listen 127.0.0.1:0 > prover.log 2>&1 &
pids+=($!)
URL=
for _ in $(seq 200); do
  URL=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' prover.log)
  [ -n "$URL" ] && break
  sleep 0.1
done
if [ -z "$URL" ]; then
  bad "fractald --backend cuda did not start: $(cat prover.log)"
else
  "$bin/fractal-client" -k verifier.key -p "$P" "$URL" -d "$JOB" POST /v1/challenge > res.json 2>client.err
  same=$(python3 -c "import json,sys; a=json.load(open('res.json')); b=json.loads(sys.argv[1])['result']; print(all(a[f]==b[f] for f in ('step_hashes','frames_hash','digest')))" "$dc" 2>&1)
  [ "$same" = True ] && ok "fractald --backend cuda: a challenge answered with the CPU's hashes" ||
    bad "prover on cuda: $same $(cat client.err) $(cat prover.log | tail -5)"
fi

[ $fails -eq 0 ] && echo "tools_cuda: all passed" || echo "tools_cuda: $fails FAILED"
exit $((fails > 0))
