#!/usr/bin/env bash
# How many challenges one verifier sustains against fast provers, and what each costs in Redis.
# Starts redis-server (password), PROVERS provers on the tiny model answering the smallest job
# (1 step, 1 frame, 16x16), and a verifier with step_seconds 0 in spot mode; measures for SECONDS and
# prints steps/s, challenges/s, Redis commands and round trips per recorded challenge, from the
# verifier's /metrics. Usage: perf/verifier_throughput.sh BIN_DIR [SECONDS] [PROVERS]
set -eu
bin=$(cd "$1" && pwd)
secs=${2:-15}
nprov=${3:-3}
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null || true; { wait $p; } 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
cd "$tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export FRACTAL_REDIS_PASSWORD=bench-$RANDOM$RANDOM
redis-server --port "$port" --bind 127.0.0.1 --requirepass "$FRACTAL_REDIS_PASSWORD" --save "" --appendonly no > redis.log 2>&1 &
pids+=($!)
"$bin/fractal-mkmodel" -q tiny
V=$("$bin/fractal-keygen" -o v.key)
printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1}]}\n' "$V" > p.json
nodes="{\"hotkey\": \"$V\", \"role\": \"verifier\", \"endpoint\": \"http://127.0.0.1:1\", \"stake\": 1}"
for i in $(seq "$nprov"); do
  K=$("$bin/fractal-keygen" -o p$i.key)
  "$bin/fractald" --key p$i.key --registry p.json --model tiny --backend cpu --threads 1 --listen 127.0.0.1:0 > p$i.log 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do url=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' p$i.log); [ -n "$url" ] && break; sleep 0.1; done
  nodes="$nodes, {\"hotkey\": \"$K\", \"role\": \"prover\", \"endpoint\": \"$url\", \"stake\": 1}"
done
echo "{\"nodes\": [$nodes]}" > reg.json
"$bin/fractald" --role verifier --key v.key --registry reg.json --model tiny --backend cpu --threads 1 --listen 127.0.0.1:0 \
  --redis_port "$port" --journal v.journal --step_seconds 0 --sample_size "$nprov" --verify_mode spot --decode_check_p 0.1 \
  --challenge_steps 1 --challenge_frames 1 --challenge_height 16 --challenge_width 16 --log_level info > v.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do vurl=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' v.log); [ -n "$vurl" ] && break; sleep 0.1; done
[ -n "$vurl" ] || { cat v.log; exit 1; }
metric() { "$bin/fractal-client" "$vurl" GET /metrics 2>/dev/null | awk -v m="$1" '$1 == m {print $2}'; }
sleep 2 # warm-up
s0=$(metric fractal_verifier_steps_total) c0=$(metric fractal_verifier_challenges_total)
r0=$(metric fractal_verifier_records_total) k0=$(metric fractal_verifier_redis_commands_total) t0=$(metric fractal_verifier_redis_round_trips_total)
sleep "$secs"
s1=$(metric fractal_verifier_steps_total) c1=$(metric fractal_verifier_challenges_total)
r1=$(metric fractal_verifier_records_total) k1=$(metric fractal_verifier_redis_commands_total) t1=$(metric fractal_verifier_redis_round_trips_total)
python3 - "$secs" "$s0" "$s1" "$c0" "$c1" "$r0" "$r1" "$k0" "$k1" "$t0" "$t1" "$nprov" <<'PY'
import sys
secs, s0, s1, c0, c1, r0, r1, k0, k1, t0, t1, n = map(float, sys.argv[1:])
print("provers %d, %g s measured (after 2 s warm-up), 1-step 1-frame 16x16 challenges, spot mode" % (n, secs))
print("steps/s        %.1f" % ((s1 - s0) / secs))
print("challenges/s   %.1f" % ((c1 - c0) / secs))
print("redis commands per recorded step  %.2f (%.2f per challenge)" % ((k1 - k0) / (r1 - r0), (k1 - k0) / (c1 - c0)))
print("redis round trips per recorded step  %.2f" % ((t1 - t0) / (r1 - r0)))
PY
