#!/usr/bin/env bash
# fractald --role verifier over loopback with a real redis-server (password) and real provers on the
# tiny model: an honest one, one that corrupts a step (test fault flag), a slow one and one that is
# down. The loop's verdicts, scores, tier moves and weights are checked against an independent model of
# the rules (verifier_check.py); then Redis stopped mid-run (journal replay), SIGKILL restarts (also
# mid-journal), provers that answer garbage, hang or close the connection, organic routing (against the
# provers' published limits), what the verifier reads back from Redis when it is damaged, fractal-replay
# from the challenge log, and the dashboard in headless Chromium (a screenshot is kept). Faults of Redis,
# the disk, the clock and the processes are in daemon_faults.sh.
# Usage: daemon_verifier.sh BIN_DIR
set -u
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
artifacts=${FRACTAL_ARTIFACTS:-$bin/../test-artifacts}
command -v redis-server >/dev/null || { echo "SKIP: redis-server is not installed (tools/install-deps.sh)"; exit 77; }
tmp=$(mktemp -d)
pids=()
rpid=""
cleanup() {
  for p in "${pids[@]}" $rpid; do kill -9 "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; done
  [ -n "${FRACTAL_KEEP_LOGS:-}" ] && cp "$tmp"/*.log "$FRACTAL_KEEP_LOGS"/ 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
cd "$tmp"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
export FRACTAL_REDIS_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
R() { redis-cli -p "$RPORT" -a "$FRACTAL_REDIS_PASSWORD" --no-auth-warning "$@"; }
mkdir -p redis
redis_start() {
  redis-server --port "$RPORT" --bind 127.0.0.1 --requirepass "$FRACTAL_REDIS_PASSWORD" --dir "$tmp/redis" \
    --appendonly yes --appendfsync always --save "" >> redis.log 2>&1 &
  rpid=$!
  for _ in $(seq 100); do [ "$(R PING 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
  echo "redis-server did not start:"; cat redis.log; exit 1
}
redis_stop() { R SHUTDOWN >/dev/null 2>&1; wait "$rpid" 2>/dev/null; rpid=""; }
redis_start

"$bin/fractal-mkmodel" -q tiny
V=$("$bin/fractal-keygen" -o v.key)
for name in honest liar slow down client; do declare "K_$name=$("$bin/fractal-keygen" -o $name.key)"; done
printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000}]}\n' "$V" > provers-registry.json

# start_prover NAME [flags...]: a prover on a free port; sets U_NAME
start_prover() {
  local name=$1; shift
  "$bin/fractald" --key "$name.key" --registry provers-registry.json --model tiny --backend cpu --threads 1 \
    --listen 127.0.0.1:0 "$@" > "$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    local url
    url=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$name.log")
    [ -n "$url" ] && { declare -g "U_$name=$url"; return 0; }
    sleep 0.1
  done
  echo "prover $name did not start:"; cat "$name.log"; exit 1
}
start_prover honest
start_prover liar --fault_corrupt_step 1
start_prover slow --fault_delay_ms 300
U_down=http://127.0.0.1:$(free_port) # nothing listens there

# registry NAME:URL...: the verifier's registry, with these provers
registry() {
  printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000}' "$V"
  for entry in "$@"; do
    local name=${entry%%=*} url=${entry#*=} hk
    hk=K_$name
    printf ',\n  {"hotkey": "%s", "role": "prover", "endpoint": "%s", "stake": 1}' "${!hk}" "$url"
  done
  printf ']}\n'
}
registry honest="$U_honest" liar="$U_liar" slow="$U_slow" down="$U_down" > registry.json
names() { printf '{"%s": "honest", "%s": "liar", "%s": "slow", "%s": "down"}' "$K_honest" "$K_liar" "$K_slow" "$K_down"; }

VFLAGS=(--role verifier --key v.key --model tiny --backend cpu --threads 1 --listen 127.0.0.1:0 --redis_port "$RPORT"
        --challenge_steps 4 --challenge_frames 2 --challenge_height 32 --challenge_width 32 --redis_wait_s 20)
# start_verifier NAME [flags...]: in the background; sets VPID and VURL
start_verifier() {
  local name=$1; shift
  "$bin/fractald" "${VFLAGS[@]}" "$@" >> "$name.log" 2>&1 &
  VPID=$!
  pids+=($VPID)
}
wait_listening() {
  for _ in $(seq 300); do
    VURL=$(sed -n 's/.*verifier [0-9a-f]* listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$1.log" | tail -1)
    [ -n "$VURL" ] && return 0
    sleep 0.1
  done
  echo "verifier $1 did not start:"; tail -20 "$1.log"; exit 1
}
challenges_seen() { # a prover's count of answered challenges, from its /metrics
  local u=U_$1
  "$bin/fractal-client" "${!u}" GET /metrics 2>/dev/null | sed -n 's/^fractal_http_requests_total{endpoint="\/v1\/challenge",status="200"} //p' | grep . || echo 0
}
state_step() { R HGET "$1state" step 2>/dev/null | grep . || echo 0; }

# ---- configuration ----
out=$(FRACTAL_REDIS_PASSWORD= "$bin/fractald" "${VFLAGS[@]}" --registry registry.json --check-config 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "redis_password is required" && ok "a verifier without a Redis password is refused" || bad "no password: $rc $out"
out=$("$bin/fractald" "${VFLAGS[@]}" --registry registry.json --check-config 2>&1); rc=$?
[ $rc -eq 0 ] && printf '%s' "$out" | grep -q 'redis_password "(set)"' && ! printf '%s' "$out" | grep -q "$FRACTAL_REDIS_PASSWORD" &&
  ok "--check-config does not print the password" || bad "check-config: $rc $out"
out=$("$bin/fractald" "${VFLAGS[@]}" --registry registry.json --epoch 1000 --interval 360 --check-config 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "must be a multiple of interval" && ok "an epoch that is not a multiple of the interval is refused" || bad "epoch: $rc $out"
out=$(FRACTAL_REDIS_PASSWORD=wrong timeout 30 "$bin/fractald" "${VFLAGS[@]}" --registry registry.json --redis_wait_s 1 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "refuses the password" && ok "a wrong Redis password: a clear error, no start" || bad "wrong password: $rc $out"

# ---- A: a few hundred accelerated steps, checked against the rules ----
# Seeded tiers, so that interval ends promote, demote and the epoch resets within the run.
R HSET a:stats:$K_honest tier Silver request_limit 1000 total_successes 4990 >/dev/null
R HSET a:stats:$K_liar tier Gold request_limit 5000 total_successes 6000 >/dev/null
R HSET a:stats:$K_slow tier Bronze request_limit 500 total_successes 995 >/dev/null
R HSET a:stats:$K_down tier Silver request_limit 1000 total_successes 1500 >/dev/null
before_h=$(challenges_seen honest) before_l=$(challenges_seen liar) before_s=$(challenges_seen slow)
t0=$(date +%s.%N)
start_verifier a --registry registry.json --redis_prefix a: --journal a.journal --run_steps 250 --step_seconds 0 \
  --timeout_s 1 --interval 50 --epoch 100 --decode_check_p 0.3
wait "$VPID"; rc=$?
t1=$(date +%s.%N)
[ $rc -eq 0 ] && ok "the verifier ran 250 steps and stopped (run_steps) in $(python3 -c "print(round($t1 - $t0, 1))") s" || bad "run A: exit $rc"
cat > a.json <<EOF
{"steps": 250, "interval": 50, "epoch": 100, "alpha": 0.05, "decay": 0.001, "timeout": 1.0,
 "names": $(names),
 "seed_stats": {"$K_honest": {"tier": "Silver", "request_limit": 1000, "total_successes": 4990},
                "$K_liar": {"tier": "Gold", "request_limit": 5000, "total_successes": 6000},
                "$K_slow": {"tier": "Bronze", "request_limit": 500, "total_successes": 995},
                "$K_down": {"tier": "Silver", "request_limit": 1000, "total_successes": 1500}},
 "moves": [[50, "honest", "Silver", "Gold"], [50, "liar", "Gold", "Silver"], [50, "slow", "Bronze", "Silver"],
           [50, "down", "Silver", "Bronze"], [100, "liar", "Silver", "Bronze"]],
 "final_tiers": {"$K_honest": "Gold", "$K_liar": "Bronze", "$K_slow": "Bronze", "$K_down": "Bronze"},
 "score_order": ["$K_honest", "$K_slow", "$K_liar"], "zero_scores": ["$K_down"],
 "liar_step": 1, "liar_seen_by": [1, 2],
 "prover_counts": {"honest": $(($(challenges_seen honest) - before_h)), "liar": $(($(challenges_seen liar) - before_l)),
                   "slow": $(($(challenges_seen slow) - before_s))}}
EOF
python3 "$here/verifier_check.py" scoring "$RPORT" "$FRACTAL_REDIS_PASSWORD" a: a.json || fails=$((fails + 1))
grep -q "interval end, weights version 3 published" a.log && ok "weights published at every interval end (log)" || bad "weights log"
grep -qE "step [0-9]+: job [^ ]+ \([0-9]+ frames [0-9]+x[0-9]+, [0-9]+ steps\) to [0-9]+ provers: [0-9]+ ok, [0-9]+ failed, [0-9]+ unjudged \((spot|full) check\) in [0-9.]+ s" a.log &&
  ok "one log line per step: the job, the provers challenged, the verdicts" || bad "step log: $(grep -m3 'step ' a.log)"
# every prover that answered heard its verdict (POST /v1/verdict); its operator reads them with the node's own key
for name in honest liar; do
  u=U_$name k=K_$name
  "$bin/fractal-client" -k $name.key -p "${!k}" "${!u}" GET /v1/info > $name.info 2>/dev/null
  got=$(python3 - $name.info "$V" "$(challenges_seen $name)" $name <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["verdicts"]; n = int(sys.argv[3])
heard = v["ok"] + v["fail"] + v["unjudged"]
# a spot check of a step after the one the liar corrupted passes: it hears some "ok" too
want = (v["fail"] == 0 and v["ok"] > 0) if sys.argv[4] == "honest" else v["fail"] > 0
print(n > 0 and heard == n and want and len(v["last"]) == min(n, 16)
      and all(e["verifier"] == sys.argv[2] and e["reason"] and "reward" in e for e in v["last"]))
PY
)
  [ "$got" = True ] && ok "the $name prover heard a verdict for each of its $(challenges_seen $name) answers" || bad "$name verdicts: $got $(cat $name.info)"
done

# fractal-replay reads the challenge log: an honest answer matches, the liar's diverges where it lied
read -r cid_liar cid_honest <<< "$(HERE=$here python3 - "$RPORT" "$K_liar" "$K_honest" <<'PY'
import os, sys
sys.path.insert(0, os.environ["HERE"])
from verifier_check import Redis, log_entries
r = Redis(sys.argv[1], os.environ["FRACTAL_REDIS_PASSWORD"])
liar = honest = "-"
for _id, e in log_entries(r, "a:"):
    for p in e["provers"]:
        if p["hotkey"] == sys.argv[2] and p["verdict"] == "fail" and liar == "-": liar = _id
        if p["hotkey"] == sys.argv[3] and honest == "-": honest = e["job"]["job_id"]
print(liar, honest)
PY
)"
out=$("$bin/fractal-replay" -m tiny --redis "127.0.0.1:$RPORT" --prefix a: --challenge "$cid_liar" --prover "$K_liar" 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "first diverging step is 0 of 4" && ok "fractal-replay --redis: the liar's answer diverges at step 0" || bad "replay liar $cid_liar: $rc $out"
out=$("$bin/fractal-replay" -m tiny --redis "127.0.0.1:$RPORT" --prefix a: --challenge "$cid_honest" --prover "$K_honest" 2>&1); rc=$?
[ $rc -eq 0 ] && printf '%s' "$out" | grep -q "^match" && ok "fractal-replay --redis: an honest answer (found by job_id) matches" || bad "replay honest $cid_honest: $rc $out"
# --key: the latents fetched from the prover the log entry names (still in its reveal cache: the newest)
read -r cid_recent <<< "$(HERE=$here python3 - "$RPORT" "$K_liar" <<'PY'
import os, sys
sys.path.insert(0, os.environ["HERE"])
from verifier_check import Redis, log_entries
r = Redis(sys.argv[1], os.environ["FRACTAL_REDIS_PASSWORD"])
print([_id for _id, e in log_entries(r, "a:") for p in e["provers"] if p["hotkey"] == sys.argv[2] and p["verdict"] == "fail"][-1])
PY
)"
RR=(-m tiny --redis "127.0.0.1:$RPORT" --prefix a: --challenge "$cid_recent" --prover "$K_liar" --key v.key)
out=$("$bin/fractal-replay" "${RR[@]}" 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "first diverging step is 0 of 4" && printf '%s' "$out" | grep -qE "latent after step 0: 1 of 128 values differ; max \|delta\| [0-9.e-]+ at index 64 \[c 2, frame 0, y 0, x 0\]" &&
  ok "fractal-replay --redis --key: the liar's latent after step 0 differs in one value" || bad "replay liar --key $cid_recent: $rc $out"
out=$("$bin/fractal-replay" "${RR[@]}" --step 0 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "MISMATCH: step 0 recomputes" && printf '%s' "$out" | grep -qE "latent after step 0: 1 of 128 values differ" &&
  ok "fractal-replay --redis --step 0 --key: the step recomputed against the liar's" || bad "replay liar --step: $rc $out"
out=$("$bin/fractal-replay" "${RR[@]}" --step 2 2>&1); rc=$?
# its chain holds the corrupted latent's hash, so step 2 (second order: it uses that latent) recomputes to another
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "MISMATCH: step 2 recomputes" && printf '%s' "$out" | grep -qE "latent after step 2: [0-9]+ of 128 values differ" &&
  ok "fractal-replay --redis --step 2: the step that uses the corrupted latent, value by value" || bad "replay liar --step 2: $rc $out"

# ---- B: Redis stopped mid-run and restarted: the journal is replayed, nothing lost ----
registry honest="$U_honest" liar="$U_liar" > registry-b.json
bh=$(challenges_seen honest) bl=$(challenges_seen liar)
start_verifier b --registry registry-b.json --redis_prefix b: --journal b.journal --run_steps 80 --step_seconds 0.05 \
  --sample_size 2 --interval 1000000 --epoch 1000000
wait_listening b
for _ in $(seq 200); do [ "$(state_step b:)" -ge 15 ] && break; sleep 0.05; done
redis_stop
sleep 1.5
health=$("$bin/fractal-client" "$VURL" GET /healthz 2>/dev/null)
lines=$(wc -l 2>/dev/null < b.journal || echo 0)
[ "$lines" -gt 0 ] && printf '%s' "$health" | grep -q journaling && ok "Redis down: updates go to the journal ($lines records), /healthz says so" || bad "journal: $lines lines, health $health"
redis_start
wait "$VPID"; rc=$?
[ $rc -eq 0 ] && grep -q "records replayed into redis" b.log && ok "Redis back: the journal was replayed" || bad "replay: rc $rc $(grep -i journal b.log | tail -3)"
[ ! -s b.journal ] && ok "the journal is empty once replayed" || bad "journal left: $(wc -l < b.journal)"
cat > b.json <<EOF
{"names": $(names), "min_steps": 80, "prover_counts": {"honest": $(($(challenges_seen honest) - bh)), "liar": $(($(challenges_seen liar) - bl))}}
EOF
python3 "$here/verifier_check.py" log "$RPORT" "$FRACTAL_REDIS_PASSWORD" b: b.json || fails=$((fails + 1))

# ---- B2: Redis loses what it had acknowledged (keys deleted under the verifier): the state is written back ----
start_verifier g --registry registry-b.json --redis_prefix g: --journal g.journal --run_steps 30 --step_seconds 0.1 \
  --sample_size 2 --interval 1000000 --epoch 1000000
for _ in $(seq 300); do [ "$(state_step g:)" -ge 10 ] && break; sleep 0.05; done
R --scan --pattern 'g:*' | xargs redis-cli -p "$RPORT" -a "$FRACTAL_REDIS_PASSWORD" --no-auth-warning DEL > /dev/null
wait "$VPID"; rc=$?
att_h=$(R HGET g:stats:$K_honest challenge_attempts) att_l=$(R HGET g:stats:$K_liar challenge_attempts)
[ $rc -eq 0 ] && grep -q "redis lost data" g.log && [ "$(state_step g:)" = 30 ] && [ "$att_h" = 30 ] && [ "$att_l" = 30 ] &&
  [ -n "$(R HGET g:scores $K_honest)" ] && ok "Redis lost its keys mid-run: the whole state was written back (step 30, 30 attempts each)" ||
  bad "write-back: rc $rc step $(state_step g:) attempts $att_h $att_l $(grep -c 'lost data' g.log)"

# ---- C: SIGKILL and restart, twice with Redis up and once mid-journal ----
ch=$(challenges_seen honest) cl=$(challenges_seen liar)
CFLAGS=(--registry registry-b.json --redis_prefix c: --journal c.journal --step_seconds 0.05 --sample_size 2 --interval 1000000 --epoch 1000000)
# wait_step PREFIX N: until the persisted step reaches N (or 60 s pass)
wait_step() { for _ in $(seq 600); do [ "$(state_step "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
for round in 1 2; do
  s0=$(state_step c:)
  start_verifier c "${CFLAGS[@]}"
  wait_step c: $((s0 + 5))
  kill -9 "$VPID"; wait "$VPID" 2>/dev/null
done
s0=$(state_step c:)
start_verifier c "${CFLAGS[@]}"
wait_step c: $((s0 + 3))
redis_stop
for _ in $(seq 600); do [ "$(wc -l 2>/dev/null < c.journal || echo 0)" -ge 3 ] && break; sleep 0.1; done
kill -9 "$VPID"; wait "$VPID" 2>/dev/null
journaled=$(wc -l 2>/dev/null < c.journal || echo 0)
start_verifier c "${CFLAGS[@]}" # waits for Redis
sleep 1
redis_start
wait_listening c
s0=$(state_step c:)
wait_step c: $((s0 + 3))
kill -TERM "$VPID"; wait "$VPID"; rc=$?
[ $rc -eq 0 ] && [ "$journaled" -gt 0 ] && ok "killed three times (once with $journaled records in the journal), restarted, stopped cleanly" || bad "C: rc $rc journaled $journaled"
[ "$(grep -c "state: step" c.log)" -eq 4 ] && ok "each restart continued from the persisted step: $(grep -o 'state: step [0-9]*' c.log | tr '\n' ' ')" || bad "restarts: $(grep 'state: step' c.log)"
cat > c.json <<EOF
{"names": $(names), "min_steps": 16, "count_slack": 3,
 "prover_counts": {"honest": $(($(challenges_seen honest) - ch)), "liar": $(($(challenges_seen liar) - cl))}}
EOF
python3 "$here/verifier_check.py" log "$RPORT" "$FRACTAL_REDIS_PASSWORD" c: c.json || fails=$((fails + 1))

# ---- D: provers that answer garbage, hang, or close the connection ----
for mode in garbage hang close; do
  python3 "$here/bad_prover.py" $mode $mode.port > $mode.log 2>&1 &
  pids+=($!)
  declare "K_$mode=$("$bin/fractal-keygen" -o $mode.key)"
done
for _ in $(seq 50); do [ -s garbage.port ] && [ -s hang.port ] && [ -s close.port ] && break; sleep 0.1; done
registry honest="$U_honest" garbage="http://127.0.0.1:$(cat garbage.port)" hang="http://127.0.0.1:$(cat hang.port)" \
  close="http://127.0.0.1:$(cat close.port)" > registry-d.json
start_verifier d --registry registry-d.json --redis_prefix d: --journal d.journal --run_steps 4 --step_seconds 0 \
  --sample_size 4 --timeout_s 1 --interval 1000000 --epoch 1000000
wait "$VPID"; rc=$?
[ $rc -eq 0 ] && ok "the loop ran its 4 steps with misbehaving provers" || bad "D: exit $rc"
out=$(HERE=$here python3 - "$RPORT" "$K_honest" "$K_garbage" "$K_hang" "$K_close" <<'PY'
import os, sys
sys.path.insert(0, os.environ["HERE"])
from verifier_check import Redis, log_entries
r = Redis(sys.argv[1], os.environ["FRACTAL_REDIS_PASSWORD"])
name = dict(zip(sys.argv[2:], ["honest", "garbage", "hang", "close"]))
seen = {}
for _id, e in log_entries(r, "d:"):
    for p in e["provers"]:
        seen.setdefault(name[p["hotkey"]], []).append((p["verdict"], p["reason"]))
for n in ["honest", "garbage", "hang", "close"]:
    print(n, len(seen.get(n, [])), "|".join(sorted({v + ": " + reason.split(":")[0] for v, reason in seen.get(n, [])})))
for n in ["garbage", "hang", "close"]:
    st = r.hash("d:stats:" + [k for k, v in name.items() if v == n][0])
    print(n + "-stats", st.get("challenge_attempts"), st.get("challenge_successes"))
PY
)
printf '%s\n' "$out" | grep -q "^honest 4 ok: step" && ok "the honest prover passes beside them" || bad "honest in D: $out"
printf '%s\n' "$out" | grep -q "^garbage 4 fail: malformed$" && ok "garbage: a failure (malformed)" || bad "garbage: $out"
printf '%s\n' "$out" | grep -q "^hang 4 fail: no answer$" && grep -q "Timeout" d.log && ok "a hanging prover: a failure after the timeout" || bad "hang: $out"
printf '%s\n' "$out" | grep -q "^close 4 fail: no answer$" && ok "a prover that closes the connection: a failure" || bad "close: $out"
printf '%s\n' "$out" | grep -q "^garbage-stats 4 0$" && printf '%s\n' "$out" | grep -q "^hang-stats 4 0$" &&
  ok "their failures are counted in Redis" || bad "D stats: $out"

# ---- E: organic requests: the best prover within its request limit, a failing one skipped ----
R HSET e:stats:$K_down tier Challenger request_limit 25000 >/dev/null                          # best tier, but down
R HSET e:stats:$K_honest tier Gold request_limit 5000 inference_attempts 5000 >/dev/null      # at its limit
R HSET e:stats:$K_slow tier Silver request_limit 1000 latency_ewma_ms 5 >/dev/null
R HSET e:stats:$K_liar tier Silver request_limit 1000 latency_ewma_ms 9000 >/dev/null         # same tier, slower
start_verifier e --registry registry.json --redis_prefix e: --journal e.journal --step_seconds 3600 --sample_size 1 \
  --interval 1000000 --epoch 1000000 --organic_check_p 1 --organic_any_key true
wait_listening e
JOB='{"job_id":"my-video","prompt":"a paper boat on a river","seed":5,"steps":4,"frames":4,"height":32,"width":32}'
"$bin/fractal-client" -k client.key -p "$V" -d "$JOB" -o organic.mp4 -D organic.headers "$VURL" POST /v1/generate 2> organic.err; rc=$?
prover=$(sed -n 's/^Fractal-Prover: \([0-9a-f]*\).*/\1/ip' organic.headers)
[ $rc -eq 0 ] && [ "$prover" = "$K_slow" ] && ok "organic: routed past the down Challenger and the Gold prover at its limit to the faster Silver" || bad "organic: rc $rc prover ${prover:0:8} $(cat organic.err)"
grep -qi "^Fractal-Checked: spot" organic.headers && grep -qi "^Fractal-Job-Id: my-video" organic.headers && ok "organic: spot-checked, the client's job id returned" || bad "organic headers: $(cat organic.headers)"
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 organic.mp4 2>/dev/null)
[ "$frames" = 4 ] && ok "organic: a playable MP4 of 4 frames" || bad "organic mp4: frames '$frames'"
[ "$(R HGET e:stats:$K_down inference_attempts)" = 1 ] && [ "$(R HGET e:stats:$K_down inference_successes)" = 0 ] &&
  [ "$(R HGET e:stats:$K_slow inference_successes)" = 1 ] && ok "organic: the down prover's failure and the slow one's success are counted" ||
  bad "organic stats: down $(R HGET e:stats:$K_down inference_attempts)/$(R HGET e:stats:$K_down inference_successes) slow $(R HGET e:stats:$K_slow inference_successes)"
[ "$(R XLEN e:challenges)" -ge 2 ] && R XREVRANGE e:challenges + - COUNT 1 | grep -q '"kind":"organic"' && ok "organic: the spot-checked answer is in the log" || bad "organic log"
out=$("$bin/fractal-client" -k client.key -p "$V" -d '{"prompt": "x", "seed": 1, "frames": 99}' "$VURL" POST /v1/generate 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "HTTP 400" && ok "organic: a bad job is refused (400)" || bad "organic bad job: $out"
kill -TERM "$VPID"; wait "$VPID"
start_verifier e2 --registry registry.json --redis_prefix e: --journal e.journal --step_seconds 3600 --sample_size 1 \
  --interval 1000000 --epoch 1000000
wait_listening e2
out=$("$bin/fractal-client" -k client.key -p "$V" -d "$JOB" "$VURL" POST /v1/generate 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "HTTP 403" && ok "organic: an unregistered client is refused without organic_any_key" || bad "organic 403: $out"
kill -TERM "$VPID"; wait "$VPID"

# ---- G: an organic job no prover's published limits allow is the client's error, no prover's failure ----
model=$("$bin/fractal-client" -k v.key -p "$K_honest" "$U_honest" GET /v1/info 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"])')
for lim in 2 4; do
  python3 "$here/bad_prover.py" limited lim$lim.port "$model" $lim > lim$lim.log 2>&1 &
  pids+=($!)
  declare "K_lim$lim=$("$bin/fractal-keygen" -o lim$lim.key)"
done
for _ in $(seq 50); do [ -s lim2.port ] && [ -s lim4.port ] && break; sleep 0.1; done
registry lim2="http://127.0.0.1:$(cat lim2.port)" lim4="http://127.0.0.1:$(cat lim4.port)" > registry-g.json
start_verifier limits --registry registry-g.json --redis_prefix gl: --journal gl.journal --step_seconds 3600 --sample_size 1 \
  --interval 1000000 --epoch 1000000 --organic_any_key true --organic_check_p 0
wait_listening limits
big='{"prompt":"a kite over a dune","seed":3,"steps":2,"frames":8,"height":32,"width":32}'
out=$("$bin/fractal-client" -k client.key -p "$V" -d "$big" "$VURL" POST /v1/generate 2>&1); rc=$?
inf() { R HGET "gl:stats:$1" inference_attempts | grep . || echo 0; }
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "HTTP 422" && printf '%s' "$out" | grep -q '"code":"job_not_served"' &&
  printf '%s' "$out" | grep -q "largest limits the 2 provers publish are 200 steps, 4 frames" &&
  ok "organic: a job over every prover's published limits is the client's 422 (job_not_served), with the limits" || bad "limits: rc $rc $out"
[ "$(inf "$K_lim2")" = 0 ] && [ "$(inf "$K_lim4")" = 0 ] && ! grep -qs /v1/generate lim2.port.jobs lim4.port.jobs &&
  ok "organic: ... sent to no prover and counted against none" || bad "limits stats: $(inf "$K_lim2") $(inf "$K_lim4") $(cat lim*.port.jobs 2>/dev/null | sort | uniq -c)"
four='{"prompt":"a kite over a dune","seed":3,"steps":2,"frames":4,"height":32,"width":32}'
"$bin/fractal-client" -k client.key -p "$V" -d "$four" "$VURL" POST /v1/generate > /dev/null 2>&1
[ "$(grep -c /v1/generate lim4.port.jobs)" = 1 ] && ! grep -qs /v1/generate lim2.port.jobs && [ "$(inf "$K_lim4")" = 1 ] && [ "$(inf "$K_lim2")" = 0 ] &&
  ok "organic: a 4-frame job goes only to the prover whose limits allow it (its refusal is its failure)" || bad "limits routing: $(inf "$K_lim2") $(inf "$K_lim4")"
"$bin/fractal-client" "$VURL" GET /metrics 2>/dev/null | grep -q '^fractal_verifier_organic_total{outcome="not_served"} 1$' &&
  ok "/metrics counts the unservable request" || bad "not_served metric"
kill -TERM "$VPID"; wait "$VPID"

# ---- H: damaged entries in Redis are skipped, logged and counted, never loaded or served ----
R XADD gc:challenges '*' data '{"v":1,"kind":"challenge","step":0,"time":1,"mode":"spot","job":{"job_id":"x"},"provers":[]}' >/dev/null
R XADD gc:challenges '*' data '{"v":1,"kind":"chall' >/dev/null
R XADD gc:challenges '*' data '[1,2]' >/dev/null
R HSET gc:stats:$K_honest tier Gold challenge_attempts 12x >/dev/null
R HSET gc:stats:$K_slow tier Gold total_successes 7 >/dev/null
R HSET gc:stats:not-a-hotkey tier Gold >/dev/null
R HSET gc:scores $K_slow 0.25 $K_liar abc >/dev/null
R HSET gc:weights $K_slow 2.5 version 3 >/dev/null
start_verifier damaged --registry registry.json --redis_prefix gc: --journal gc.journal --step_seconds 3600 --sample_size 1 --interval 1000000 --epoch 1000000
wait_listening damaged
"$bin/fractal-client" "$VURL" GET /v1/history > history.json 2>/dev/null
python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); assert all("provers" in e for e in h["challenges"]) and any(e["job"].get("job_id")=="x" for e in h["challenges"])' history.json 2>/dev/null &&
  ok "/v1/history is valid JSON with the valid log entries only" || bad "history: $(head -c 300 history.json)"
"$bin/fractal-client" "$VURL" GET /metrics > metrics-h.txt 2>/dev/null
grep -q '^fractal_verifier_redis_invalid_total{what="challenge_log"} 2$' metrics-h.txt && grep -q '^fractal_verifier_redis_invalid_total{what="stats"} 2$' metrics-h.txt &&
  grep -q '^fractal_verifier_redis_invalid_total{what="scores"} 1$' metrics-h.txt && grep -q '^fractal_verifier_redis_invalid_total{what="weights"} 1$' metrics-h.txt &&
  ok "/metrics counts the invalid entries: 2 log entries, 2 stats hashes, 1 score, 1 weight" || bad "invalid metrics: $(grep invalid metrics-h.txt)"
[ "$(grep -c 'error .*not valid\|error .*not a valid entry\|error .*not a prover' damaged.log)" -ge 6 ] && ok "each invalid entry is logged at error level" || bad "invalid log: $(grep -c error damaged.log)"
"$bin/fractal-client" "$VURL" GET /v1/provers > provers-h.json 2>/dev/null
python3 - "$K_slow" "$K_honest" provers-h.json <<'PY' && ok "valid stats load (Gold, 7 successes, score 0.25); the damaged ones start afresh" || bad "provers after damage: $(head -c 400 provers-h.json)"
import json, sys
p = {x["hotkey"]: x for x in json.load(open(sys.argv[3]))["provers"]}
slow, honest = p[sys.argv[1]], p[sys.argv[2]]
assert slow["tier"] == "Gold" and slow["total_successes"] >= 7 and slow["weight"] == 0 and 0.2 < slow["score"] <= 0.25
assert honest["tier"] == "Bronze" and honest["challenge_attempts"] <= 1
PY
kill -TERM "$VPID"; wait "$VPID"
R HSET gs:state step 12abc >/dev/null
out=$(timeout 60 "$bin/fractald" "${VFLAGS[@]}" --registry registry.json --redis_prefix gs: --journal gs.journal --run_steps 1 --step_seconds 0 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "field step is '12abc', not a whole number" && ok "a damaged step counter: the verifier does not start, and says why" ||
  bad "damaged step: rc $rc $(printf '%s' "$out" | tail -2)"

# ---- F: the dashboard in headless Chromium ----
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chrome" ]; then
  bad "dashboard: Chromium is not installed (tools/install-deps.sh installs it)"
else
  start_verifier f --registry registry.json --redis_prefix a: --journal f.journal --step_seconds 0.2 --timeout_s 1 --interval 50 --epoch 100
  wait_listening f
  for _ in $(seq 100); do [ "$(state_step a:)" -ge 254 ] && break; sleep 0.1; done
  # the read-only API agrees with Redis
  "$bin/fractal-client" "$VURL" GET /v1/weights > weights.json 2>/dev/null
  out=$(HERE=$here python3 - "$RPORT" weights.json <<'PY'
import json, os, sys
sys.path.insert(0, os.environ["HERE"])
from verifier_check import Redis
r = Redis(sys.argv[1], os.environ["FRACTAL_REDIS_PASSWORD"])
w = r.hash("a:weights")
api = json.load(open(sys.argv[2]))
same = int(w.pop("version")) == api["version"] and set(w) == set(api["weights"]) and all(float(w[k]) == api["weights"][k] for k in w)
print("same" if same and api["version"] >= 3 else "differ")
PY
)
  [ "$out" = same ] && ok "/v1/weights equals the weights in Redis" || bad "/v1/weights: $out $(cat weights.json)"
  "$bin/fractal-client" "$VURL" GET /metrics > metrics.txt 2>/dev/null
  grep -q '^fractal_verifier_redis_up 1$' metrics.txt && grep -q "^fractal_prover_score{hotkey=\"$K_honest\"}" metrics.txt &&
    grep -q '^fractal_verifier_redis_round_trips_total [1-9]' metrics.txt && ok "/metrics: Redis up, per-prover scores, Redis round trips" || bad "metrics: $(head -5 metrics.txt)"
  browse() { # browse URL OUT_DOM LOG [extra flags]: the DOM after scripts ran, console messages to LOG
    local url=$1 dom=$2 log=$3; shift 3
    timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir="$tmp/chrome" \
      --enable-logging=stderr --v=0 --virtual-time-budget=4000 "$@" --dump-dom "$url" > "$dom" 2> "$log"
  }
  # the detector works: a page that logs an error is seen
  browse "data:text/html,<script>console.error('boom')</script>" probe.html probe.log
  grep -q 'CONSOLE.*boom' probe.log && ok "console messages are captured from headless Chromium" || bad "console capture: $(tail -3 probe.log)"
  browse "$VURL/dashboard" dash.html dash.log
  rows=0
  for name in honest liar slow down; do hk=K_$name; grep -q "data-hotkey=\"${!hk}\"" dash.html && rows=$((rows + 1)); done
  [ $rows -eq 4 ] && ok "the dashboard shows all 4 provers" || bad "dashboard rows: $rows of 4"
  grep -q ">Gold<" dash.html && grep -q "<polyline" dash.html && grep -q 'class="verdict ok"' dash.html &&
    ok "the dashboard shows tiers, the score plot and recent verdicts" || bad "dashboard content"
  grep -qE "<code class=\"replay\">fractal-replay -m MODEL_DIR --redis REDIS_HOST:PORT --prefix 'a:' --challenge [^ ]+ --prover $K_liar</code>" dash.html &&
    grep -q '<span class="reason">' dash.html &&
    ok "the dashboard shows a failed verdict's reason and the fractal-replay command for it" ||
    bad "dashboard failure details: $(grep -o '<div class="why">.\{0,300\}' dash.html | head -2)"
  if grep -E "CONSOLE|Uncaught|Refused to|Failed to load" dash.log > console.txt; then bad "console errors: $(head -3 console.txt)"; else ok "no console messages or errors"; fi
  mkdir -p "$artifacts"
  timeout 60 "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir="$tmp/chrome" \
    --hide-scrollbars --window-size=1400,900 --virtual-time-budget=4000 --screenshot="$artifacts/dashboard.png" "$VURL/dashboard" > shot.log 2>&1
  python3 -c "import sys; d=open(sys.argv[1],'rb').read(); sys.exit(not (d[:8]==b'\x89PNG\r\n\x1a\n' and len(d) > 20000))" "$artifacts/dashboard.png" &&
    ok "screenshot: $artifacts/dashboard.png" || bad "screenshot: $(tail -3 shot.log)"
  kill -TERM "$VPID"; wait "$VPID"
fi

[ $fails -eq 0 ] && echo "daemon_verifier: all passed" || echo "daemon_verifier: $fails FAILED"
exit $((fails > 0))
