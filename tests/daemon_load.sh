#!/usr/bin/env bash
# Load and soak on loopback: many concurrent signed challenges against a prover on the tiny model.
# The queue limit must give 429s and never lose or mix up a request; the prover's RSS must stay flat
# over a few thousand requests. Prints the numbers the README quotes. Usage: daemon_load.sh BIN_DIR
set -u
bin=$1
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && { wait "$pid"; } 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cd "$tmp"
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }

"$bin/fractal-mkmodel" -q tiny
P=$("$bin/fractal-keygen" -o prover.key)
mkdir keys
printf '{"nodes": [{"hotkey": "%s", "role": "prover", "endpoint": "http://127.0.0.1:1", "stake": 1}' "$P" > registry.json
for i in $(seq -w 1 24); do
  h=$("$bin/fractal-keygen" -o keys/c$i.key)
  printf ',\n {"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:2", "stake": 10}' "$h" >> registry.json
done
printf ']}\n' >> registry.json

"$bin/fractald" --key prover.key --registry registry.json --model tiny --backend cpu --listen 127.0.0.1:0 \
  --queue_size 8 --max_batch 4 > prover.log 2>&1 &
pid=$!
for _ in $(seq 100); do
  url=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' prover.log); [ -n "$url" ] && break; sleep 0.1
done
[ -n "$url" ] || { cat prover.log; echo "the prover did not start"; exit 1; }
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }

echo "== load: 24 clients, queue 8, 20 s of 2-step 2-frame 32x32 challenges"
"$bin/fractal-load" --url "$url" --peer "$P" --keys keys --duration 20 | tee load.txt
grep -q "no answer: 0" load.txt && grep -q "not matching their request: 0" load.txt && ok "no request lost or mixed up" || bad "lost or mixed answers"
grep -q "HTTP 200" load.txt && ok "challenges answered" || bad "no 200s"
grep -q "HTTP 429" load.txt && ok "the full queue answered 429" || bad "no 429 with 24 clients and a queue of 8"
others=$(grep "HTTP " load.txt | grep -v -e "HTTP 200" -e "HTTP 429" | wc -l)
[ "$others" -eq 0 ] && ok "no other statuses" || bad "other statuses: $(grep HTTP load.txt)"

echo "== soak: 3000 one-step 16x16 challenges from 8 clients, RSS of the prover"
mkdir keys8 && cp keys/c0[1-8].key keys8/
job='{"job_id":"load-%d","prompt":"soak","seed":%d,"steps":1,"frames":1,"height":16,"width":16}'
"$bin/fractal-load" --url "$url" --peer "$P" --keys keys8 --requests 300 --job "$job" > warm.txt
r0=$(rss)
"$bin/fractal-load" --url "$url" --peer "$P" --keys keys8 --requests 3000 --job "$job" | tee soak.txt
r1=$(rss)
echo "prover RSS after warm-up ${r0} kB, after 3000 more requests ${r1} kB"
[ $((r1 - r0)) -lt 8192 ] && ok "RSS flat (grew $((r1 - r0)) kB)" || bad "RSS grew from $r0 to $r1 kB"
grep -q "no answer: 0" soak.txt && grep -q "HTTP 200: 3000" soak.txt && ok "3000 of 3000 answered" || bad "soak answers: $(cat soak.txt)"
[ $fails -eq 0 ] && echo "daemon_load: all passed" || echo "daemon_load: $fails FAILED"
exit $((fails > 0))
