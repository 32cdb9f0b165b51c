#!/usr/bin/env bash
# Faults around fractald --role verifier, with a real redis-server and real provers on loopback (tiny
# model, 2-step 2-frame 32x32 challenges): Redis killed and restored empty, from an older snapshot, and
# with another verifier's state; the verifier SIGKILLed mid-step; its journal on a full disk (a small
# tmpfs where mounting is allowed, else a file-size limit), with a torn record at restart; a prover
# killed while it answers; the verifier's clock far off; a journal of another epoch. After each, every
# counter, score and the challenge log in Redis are checked against the rules (verifier_check.py exact).
# Usage: daemon_faults.sh BIN_DIR
set -u
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
command -v redis-server >/dev/null || { echo "SKIP: redis-server is not installed (tools/install-deps.sh)"; exit 77; }
tmp=$(mktemp -d)
pids=()
rpid=""
mnt=""
cleanup() {
  for p in "${pids[@]}" $rpid; do kill -9 "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; done
  [ -n "$mnt" ] && umount "$mnt" 2>/dev/null
  [ -n "${FRACTAL_KEEP_LOGS:-}" ] && cp "$tmp"/*.log "$FRACTAL_KEEP_LOGS"/ 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
cd "$tmp"
t_start=$(date +%s)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RPORT=$(free_port)
export FRACTAL_REDIS_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
R() { redis-cli -p "$RPORT" -a "$FRACTAL_REDIS_PASSWORD" --no-auth-warning "$@"; }
mkdir -p redis
# Persistence only when asked (SAVE): what Redis holds after a restart is exactly the dump the test left.
redis_start() {
  redis-server --port "$RPORT" --bind 127.0.0.1 --requirepass "$FRACTAL_REDIS_PASSWORD" --dir "$tmp/redis" \
    --appendonly no --save "" >> redis.log 2>&1 &
  rpid=$!
  for _ in $(seq 100); do [ "$(R PING 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
  echo "redis-server did not start:"; cat redis.log; exit 1
}
redis_kill() { kill -9 "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; rpid=""; }
redis_start

"$bin/fractal-mkmodel" -q tiny
V=$("$bin/fractal-keygen" -o v.key)
V2=$("$bin/fractal-keygen" -o v2.key)
for name in p1 p2 slow victim; do declare "K_$name=$("$bin/fractal-keygen" -o $name.key)"; done
printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000000},
  {"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000000}]}\n' "$V" "$V2" > provers-registry.json
start_prover() { # start_prover NAME [flags...]: sets U_NAME and P_NAME (its pid)
  local name=$1; shift
  "$bin/fractald" --key "$name.key" --registry provers-registry.json --model tiny --backend cpu --threads 1 \
    --listen 127.0.0.1:0 "$@" > "$name.log" 2>&1 &
  pids+=($!)
  declare -g "P_$name=$!"
  for _ in $(seq 100); do
    local url
    url=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$name.log")
    [ -n "$url" ] && { declare -g "U_$name=$url"; return 0; }
    sleep 0.1
  done
  echo "prover $name did not start:"; cat "$name.log"; exit 1
}
start_prover p1
start_prover p2
start_prover slow --fault_delay_ms 700
start_prover victim --fault_delay_ms 700
registry() { # registry NAME...: the verifiers' registry with these provers (verifiers above vpermit_stake_limit: never challenged)
  printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000000},\n' "$V"
  printf '  {"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000000}' "$V2"
  for name in "$@"; do local hk=K_$name u=U_$name; printf ',\n  {"hotkey": "%s", "role": "prover", "endpoint": "%s", "stake": 1}' "${!hk}" "${!u}"; done
  printf ']}\n'
}
registry p1 p2 > reg.json
registry p1 slow > reg-slow.json
registry p1 victim > reg-victim.json
names() { printf '{"%s": "p1", "%s": "p2", "%s": "slow", "%s": "victim"}' "$K_p1" "$K_p2" "$K_slow" "$K_victim"; }

VFLAGS=(--role verifier --model tiny --backend cpu --threads 1 --listen 127.0.0.1:0 --redis_port "$RPORT" --redis_wait_s 20
        --challenge_steps 2 --challenge_frames 2 --challenge_height 32 --challenge_width 32 --sample_size 2 --timeout_s 3
        --decode_check_p 0 --interval 1000000 --epoch 1000000 --prover_info_s 1)
start_verifier() { # start_verifier NAME [flags...]: in the background (key v.key unless given); sets VPID
  local name=$1; shift
  "$bin/fractald" "${VFLAGS[@]}" --key v.key "$@" >> "$name.log" 2>&1 &
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
state_step() { R HGET "$1state" step 2>/dev/null | grep . || echo 0; }
# wait_step PREFIX N: until the persisted step reaches N (60 s at most)
wait_step() { for _ in $(seq 1200); do [ "$(state_step "$1")" -ge "$2" ] && return 0; sleep 0.05; done; echo "(step $2 of $1 not reached)"; return 1; }
seen() { # a prover's answered challenges, from its /metrics
  local u=U_$1
  "$bin/fractal-client" "${!u}" GET /metrics 2>/dev/null | sed -n 's/^fractal_http_requests_total{endpoint="\/v1\/challenge",status="200"} //p' | grep . || echo 0
}
health() { "$bin/fractal-client" "$VURL" GET /healthz 2>&1; } # "HTTP <status> (...)", then the body
metric() { "$bin/fractal-client" "$VURL" GET /metrics 2>/dev/null | sed -n "s/^$1 //p"; }
# exact PREFIX EXTRA NAME...: Redis holds what the rules make of a log with every step once, and each named
# prover answered exactly EXTRA challenges more than were counted (steps cut off by a SIGKILL)
exact() {
  local prefix=$1 extra=$2 counts="" sep=""; shift 2
  for name in "$@"; do local b=B_$name; counts+="$sep\"$name\": $(($(seen "$name") - ${!b:-0}))"; sep=", "; done
  cat > "$prefix.json" <<EOF
{"steps": $(state_step "$prefix"), "interval": 1000000, "epoch": 1000000, "alpha": 0.05, "decay": 0.001, "timeout": 3.0,
 "names": $(names), "seed_stats": {}, "count_extra": $extra, "prover_counts": {$counts}}
EOF
  python3 "$here/verifier_check.py" exact "$RPORT" "$FRACTAL_REDIS_PASSWORD" "$prefix" "$prefix.json" > "$prefix.check" 2>&1
  local rc=$?
  grep FAIL "$prefix.check"
  [ $rc -eq 0 ] && ok "$prefix exact: $(grep -c '^ok' "$prefix.check") checks (log steps 1..$(state_step "$prefix") once each, counters, scores)" ||
    bad "$prefix exact: see above"
}
mark() { for name in "$@"; do declare -g "B_$name=$(seen "$name")"; done; } # provers' counts before a case

# ---- 1: Redis killed and restored empty: the whole state and the challenge log are written back ----
mark p1 p2
start_verifier e --registry reg.json --redis_prefix e: --journal e.journal --step_seconds 0.1
wait_step e: 8
redis_kill; rm -f redis/dump.rdb; redis_start
for _ in $(seq 200); do grep -q "written back" e.log && break; sleep 0.05; done
wait_step e: $(($(state_step e:) + 3))
kill -TERM "$VPID"; wait "$VPID"
grep -q "redis lost data (it holds no state)" e.log && ok "Redis restored empty: the loss is seen and the whole state written back" || bad "empty: $(grep -i redis e.log | tail -3)"
exact e: 0 p1 p2

# ---- 2: Redis restored from an older snapshot ----
mark p1 p2
start_verifier o --registry reg.json --redis_prefix o: --journal o.journal --step_seconds 0.1
wait_step o: 8
R SAVE > /dev/null; cp redis/dump.rdb old.rdb; snap=$(state_step o:)
wait_step o: $((snap + 10))
redis_kill; cp old.rdb redis/dump.rdb; redis_start
for _ in $(seq 200); do grep -q "written back" o.log && break; sleep 0.05; done
wait_step o: $(($(state_step o:) + 3))
kill -TERM "$VPID"; wait "$VPID"
grep -q "redis lost data (it holds record" o.log && ok "Redis back from a snapshot of step $snap: the loss is seen and the whole state written back" || bad "snapshot: $(grep -i redis o.log | tail -3)"
exact o: 0 p1 p2

# ---- 3: Redis restored with another verifier's state under the same prefix ----
start_verifier other --key v2.key --registry reg.json --redis_prefix f: --journal other.journal --run_steps 3 --step_seconds 0
wait "$VPID"
mark p1 p2
R SAVE > /dev/null; cp redis/dump.rdb other.rdb
out=$(timeout 60 "$bin/fractald" "${VFLAGS[@]}" --key v.key --registry reg.json --redis_prefix f: --journal f.journal --run_steps 1 --step_seconds 0 2>&1); rc=$?
[ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c "holds the state of verifier")" = 1 ] &&
  printf '%s' "$out" | grep -q "error .*holds the state of verifier ${V2:0:16}.*give each verifier its own redis_prefix" &&
  ok "a verifier does not start on another verifier's state, and says why in one line" || bad "foreign start: rc $rc $out"
R --scan --pattern 'f:*' | xargs redis-cli -p "$RPORT" -a "$FRACTAL_REDIS_PASSWORD" --no-auth-warning DEL > /dev/null
start_verifier f --registry reg.json --redis_prefix f: --journal f.journal --step_seconds 0.1
wait_listening f
wait_step f: 8
redis_kill; cp other.rdb redis/dump.rdb; redis_start
h=""; for _ in $(seq 100); do h=$(health); printf '%s' "$h" | grep -q "another verifier" && break; sleep 0.1; done
journaled=$(wc -l 2>/dev/null < f.journal || echo 0)
for _ in $(seq 100); do [ "$(wc -l 2>/dev/null < f.journal)" -ge $((journaled + 2)) ] && break; sleep 0.1; done
[ "$(R HGET f:state verifier)" = "$V2" ] && [ "$(state_step f:)" = 3 ] && printf '%s' "$h" | grep -q "^HTTP 503" && [ "$(wc -l 2>/dev/null < f.journal)" -ge 2 ] &&
  ok "Redis with another verifier's state: left as it is, /healthz 503 ($(printf '%s' "$h" | tail -1 | cut -c1-90)...), records journaled" ||
  bad "foreign: verifier $(R HGET f:state verifier | cut -c1-8) step $(state_step f:) journal $(wc -l 2>/dev/null < f.journal) health $h"
R --scan --pattern 'f:*' | xargs redis-cli -p "$RPORT" -a "$FRACTAL_REDIS_PASSWORD" --no-auth-warning DEL > /dev/null # the operator moves it away
for _ in $(seq 400); do grep -q "written back" f.log && break; sleep 0.05; done
wait_step f: $(($(state_step f:) + 3))
kill -TERM "$VPID"; wait "$VPID"
[ ! -s f.journal ] && [ "$(R HGET f:state verifier)" = "$V" ] && ok "once the other state is gone, the whole state and the journal's entries are written back" || bad "foreign recovery: $(tail -3 f.log)"
exact f: 0 p1 p2

# ---- 4: the verifier SIGKILLed mid-step, three times: no step lost or counted twice ----
mark p1 slow
for round in 1 2 3; do
  start_verifier k --registry reg-slow.json --redis_prefix k: --journal k.journal --step_seconds 0
  s0=$(state_step k:)
  wait_step k: $((s0 + 2))
  s1=$(state_step k:); wait_step k: $((s1 + 1)); sleep 0.3 # the next step's challenges are out: the slow prover takes 0.7 s
  kill -9 "$VPID"; wait "$VPID" 2>/dev/null
done
start_verifier k --registry reg-slow.json --redis_prefix k: --journal k.journal --step_seconds 0
wait_step k: $(($(state_step k:) + 2))
kill -TERM "$VPID"; wait "$VPID"
sleep 1 # the cut-off challenges are still answered
exact k: 3 p1 slow

# ---- 5: the journal on a full disk ----
mark p1 p2
mnt=$tmp/disk; mkdir -p "$mnt"
if mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then how=tmpfs; else mnt=""; how=ulimit; fi
jpath=${mnt:-$tmp}/j.journal
if [ $how = tmpfs ]; then
  start_verifier j --registry reg.json --redis_prefix j: --journal "$jpath" --step_seconds 0.1
else # a 24 KB file-size limit on the verifier alone (its log goes through a pipe, which the limit does not cover)
  ( ulimit -S -f 24; exec "$bin/fractald" "${VFLAGS[@]}" --key v.key --registry reg.json --redis_prefix j: --journal "$jpath" --step_seconds 0.1 ) \
    > >(cat >> j.log) 2>&1 &
  VPID=$!; pids+=($VPID)
fi
wait_listening j
wait_step j: 5
kill -STOP "$VPID"; R SAVE > /dev/null; R SHUTDOWN NOSAVE > /dev/null 2>&1; wait "$rpid" 2>/dev/null; rpid=""; kill -CONT "$VPID"
for _ in $(seq 200); do [ "$(wc -l 2>/dev/null < "$jpath" || echo 0)" -ge 3 ] && break; sleep 0.05; done
[ $how = tmpfs ] && dd if=/dev/zero of="$mnt/filler" bs=4k count=64 2>/dev/null
h=""; for _ in $(seq 300); do h=$(health); printf '%s' "$h" | grep -q "^HTTP 503" && break; sleep 0.1; done
printf '%s' "$h" | grep -q "journal cannot be written" && ok "disk full ($how) and Redis away: /healthz 503: $(printf '%s' "$h" | tail -1 | cut -c1-110)..." || bad "full disk health: $h"
sleep 1 # a few held step slots
grep -q "error .*cut short after" j.log && [ "$(metric fractal_verifier_journal_torn_writes_total)" -ge 1 ] &&
  ok "a torn journal write is detected and cut back to the last good record ($(metric fractal_verifier_journal_torn_writes_total) times)" || bad "torn: $(grep -i journal j.log | tail -3)"
python3 - "$jpath" <<'PY' && ok "the journal holds only whole, checked records meanwhile" || bad "journal content"
import sys, zlib
d = open(sys.argv[1], "rb").read()
recs = d.split(b"\x1e")[1:]
assert d[:1] == b"\x1e" and recs
for r in recs:
    head, _, rest = r.partition(b" {")
    _, n, crc = head.split(b" ")
    body = b"{" + rest
    assert body.endswith(b"\n") and len(body) - 1 == int(n) and zlib.crc32(body[:-1]) == int(crc, 16)
PY
[ "$(metric fractal_verifier_records_waiting)" -ge 1 ] && [ "$(metric fractal_verifier_steps_held_total)" -ge 1 ] &&
  ok "meanwhile the record waits in memory and no new step runs" || bad "held: waiting $(metric fractal_verifier_records_waiting) held $(metric fractal_verifier_steps_held_total)"
if [ $how = tmpfs ]; then rm -f "$mnt/filler"; else prlimit --pid "$VPID" --fsize=unlimited:; fi
for _ in $(seq 100); do h=$(health); printf '%s' "$h" | grep -q "journaling" && break; sleep 0.1; done
printf '%s' "$h" | grep -q "^ok (redis unreachable: journaling)" && ok "space back: the waiting record is journaled, /healthz 200 (journaling)" || bad "space back: $h"
redis_start
for _ in $(seq 400); do health | grep -qx ok && break; sleep 0.1; done
wait_step j: $(($(state_step j:) + 3))
kill -TERM "$VPID"; wait "$VPID"
[ ! -s "$jpath" ] && grep -q "records replayed into redis" j.log && ok "Redis back: the journal is replayed and emptied" || bad "replay: $(tail -3 j.log)"
exact j: 0 p1 p2

# ---- 5b: a torn record left in the journal (a crash mid-write) is reported, and the record after it is not lost ----
mark p1 slow
start_verifier t --registry reg-slow.json --redis_prefix t: --journal t.journal --step_seconds 0
wait_step t: 3
kill -STOP "$VPID"; R SAVE > /dev/null; R SHUTDOWN NOSAVE > /dev/null 2>&1; wait "$rpid" 2>/dev/null; rpid=""; kill -CONT "$VPID"
for _ in $(seq 400); do [ "$(wc -l 2>/dev/null < t.journal || echo 0)" -ge 3 ] && break; sleep 0.05; done
n=$(wc -l < t.journal); for _ in $(seq 400); do [ "$(wc -l < t.journal)" -gt "$n" ] && break; sleep 0.05; done
sleep 0.3; kill -9 "$VPID"; wait "$VPID" 2>/dev/null # mid-step: the slow prover's answer is 0.7 s away
# before the last record, a first part of it: a write cut short, then the same record written whole
job=$(python3 - t.journal <<'PY'
import json, sys
d = open(sys.argv[1], "rb").read()
lines = d.split(b"\n")[:-1]
last = lines[-1]
open(sys.argv[1], "wb").write(b"\n".join(lines[:-1]) + b"\n" + last[: len(last) // 2] + last + b"\n")
rec = json.loads(last[last.index(b"{"):])
print(rec["step"], json.loads(rec["challenge"])["job"]["job_id"])
PY
)
redis_start
start_verifier t2 --registry reg-slow.json --redis_prefix t: --journal t.journal --step_seconds 0
wait_listening t2
read -r jstep jid <<< "$job"
logged=$(R XRANGE t:challenges - + | grep -c "\"job_id\":\"$jid\"")
[ "$(grep -c 'error .*not a readable record' t2.log)" = 1 ] && [ "$(metric fractal_verifier_journal_unreadable_total)" = 1 ] && [ -s t.journal.rejected ] &&
  ok "the torn record is reported (error log, metric) and kept in t.journal.rejected" || bad "torn report: $(grep -i journal t2.log | tail -3)"
[ "$logged" = 1 ] && ok "the record after it (step $jstep, job $jid) is in Redis" || bad "the record after the torn one is lost: $logged"
wait_step t: $(($(state_step t:) + 3))
kill -TERM "$VPID"; wait "$VPID"
exact t: 1 p1 slow # the step cut off by the SIGKILL was answered, never recorded, and run again

# ---- 6: a prover killed while it answers ----
mark p1
start_verifier v --registry reg-victim.json --redis_prefix v: --journal v.journal --step_seconds 0
wait_step v: 3
s1=$(state_step v:); wait_step v: $((s1 + 1)); killed=$(($(state_step v:) + 1)); sleep 0.3 # its answer is 0.7 s away
kill -9 "$P_victim"; wait "$P_victim" 2>/dev/null
wait_step v: $((killed + 3))
kill -TERM "$VPID"; wait "$VPID"
out=$(python3 - "$RPORT" "$K_victim" "$killed" <<PY
import os, sys
sys.path.insert(0, "$here")
from verifier_check import Redis, log_entries
r = Redis(sys.argv[1], os.environ["FRACTAL_REDIS_PASSWORD"])
for _id, e in log_entries(r, "v:"):
    for p in e["provers"]:
        if p["hotkey"] == sys.argv[2]:
            print(e["step"] - int(sys.argv[3]), p["verdict"], p["latency_ms"], p["reason"].split(":")[0])
PY
)
printf '%s\n' "$out" | awk '$1 < 0' | grep -qv " ok " && bad "victim before the kill: $out"
printf '%s\n' "$out" | awk '$1 == 0' | grep -q "^0 fail 3000.0 no answer$" &&
  ok "the answer cut off by the kill: a failure, no answer, the timeout (3 s) as its time" || bad "victim at the kill: $out"
[ "$(printf '%s\n' "$out" | awk '$1 > 0 && !($2 == "fail" && $4 == "no")' | wc -l)" = 0 ] && ok "then failures (no answer) while it is down" || bad "victim after: $out"
B_victim=0; exact v: 0 p1 # the victim's own count died with it: its stats are checked against the log

# ---- 7: the verifier's clock 5 minutes behind: provers refuse its nonces, it says so and judges no one for it ----
start_verifier c --registry reg.json --redis_prefix c: --journal c.journal --step_seconds 0.1 --fault_clock_offset_s -300
wait_listening c
wait_step c: 4
h=$(health)
printf '%s' "$h" | grep -q "^HTTP 503" && printf '%s' "$h" | grep -Eq "clock is (29[5-9]|30[0-5]) s behind the clocks of 2 of 2 provers" &&
  ok "clock off: /healthz 503: $(printf '%s' "$h" | tail -1 | cut -c1-100)..." || bad "clock health: $h"
off=$(metric fractal_verifier_clock_offset_seconds)
[ "$(metric fractal_verifier_clock_skewed)" = 1 ] && python3 -c "import sys; sys.exit(not 295 <= float('$off') <= 305)" && grep -Eq "error .*clock is (29[5-9]|30[0-5]) s behind" c.log &&
  ok "clock off: in /metrics (offset $off s) and the log" || bad "clock metrics: skewed $(metric fractal_verifier_clock_skewed) offset $off"
kill -TERM "$VPID"; wait "$VPID"
n_unjudged=$(R XRANGE c:challenges - + | grep -o '"verdict":"unjudged","reason":"not judged: stale_nonce' | wc -l)
[ "$(R EXISTS c:stats:$K_p1 c:stats:$K_p2)" = 0 ] && [ "$n_unjudged" = $((2 * $(state_step c:))) ] &&
  ok "their stale_nonce answers are unjudged ($n_unjudged): no prover penalised" || bad "clock verdicts: $(R HGETALL c:stats:$K_p1 | tr '\n' ' ') unjudged $n_unjudged"

# ---- 8: a journal written against another epoch of the state is never replayed into it ----
start_verifier x --registry reg.json --redis_prefix x: --journal x.journal --run_steps 20 --step_seconds 0
wait "$VPID"
R SAVE > /dev/null; cp redis/dump.rdb epoch0.rdb # a longer, older timeline
R --scan --pattern 'x:*' | xargs redis-cli -p "$RPORT" -a "$FRACTAL_REDIS_PASSWORD" --no-auth-warning DEL > /dev/null
start_verifier x --registry reg.json --redis_prefix x: --journal x.journal --step_seconds 0.1
wait_step x: 3
kill -STOP "$VPID"; R SHUTDOWN NOSAVE > /dev/null 2>&1; wait "$rpid" 2>/dev/null; rpid=""; kill -CONT "$VPID"
for _ in $(seq 200); do [ "$(wc -l 2>/dev/null < x.journal || echo 0)" -ge 3 ] && break; sleep 0.05; done
kill -9 "$VPID"; wait "$VPID" 2>/dev/null
records=$(wc -l < x.journal)
cp epoch0.rdb redis/dump.rdb; redis_start
out=$(timeout 60 "$bin/fractald" "${VFLAGS[@]}" --key v.key --registry reg.json --redis_prefix x: --journal x.journal --run_steps 1 --step_seconds 0 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "error .*holds $records records .* of epoch .*but redis holds this verifier's state of epoch" &&
  [ "$(wc -l < x.journal)" = "$records" ] && [ "$(state_step x:)" = 20 ] &&
  ok "a journal of another epoch: the verifier does not start, changes nothing, and says why" || bad "epoch: rc $rc $(printf '%s' "$out" | tail -2)"

echo "daemon_faults: $(($(date +%s) - t_start)) s"
[ $fails -eq 0 ] && echo "daemon_faults: all passed" || echo "daemon_faults: $fails FAILED"
exit $((fails > 0))
