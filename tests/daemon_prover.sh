#!/usr/bin/env bash
# fractald --role prover over real HTTP on loopback, with real signatures (fractal-client): challenges
# equal fractal-gen, reveals match the chain and recompute, fractal-replay finds an injected change,
# a dishonest prover is caught, every bad input gets its status and the daemon keeps serving, the
# queue answers 429 when full, SIGHUP reloads the registry, SIGTERM finishes in-flight jobs (and cancels
# them after shutdown_grace_s), a job whose client went away stops and frees the worker, a job runs in
# a 4 MB stack, fractal-replay refuses records with repeated keys.
# Usage: daemon_prover.sh BIN_DIR
set -u
bin=$1
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; done; [ -n "${FRACTAL_KEEP_LOGS:-}" ] && cp "$tmp"/*.log "$FRACTAL_KEEP_LOGS"/ 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
cd "$tmp"

"$bin/fractal-mkmodel" -q tiny
P=$("$bin/fractal-keygen" -o prover.key)
V=$("$bin/fractal-keygen" -o verifier.key)
W=$("$bin/fractal-keygen" -o weak.key)      # a verifier with little stake
S=$("$bin/fractal-keygen" -o stranger.key)  # not in the registry
# concurrent clients each sign with their own key: one sender's nonces must arrive in increasing order
for i in 1 2 3 4 5 6; do C[$i]=$("$bin/fractal-keygen" -o c$i.key); done
registry() {
  printf '{"nodes": [{"hotkey": "%s", "role": "prover", "endpoint": "http://127.0.0.1:1", "stake": 5},\n' "$P"
  for i in 1 2 3 4 5 6; do printf '  {"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:9", "stake": 50},\n' "${C[$i]}"; done
  printf '  {"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:2", "stake": 1000},\n' "$V"
  printf '  {"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:3", "stake": 1}%s]}\n' "$W" "$1"
}
registry "" > registry.json

# start NAME [flags...]: runs a prover on a free port; sets URL
start() {
  local name=$1; shift
  "$bin/fractald" --key prover.key --registry registry.json --model tiny --backend cpu --listen 127.0.0.1:0 \
    --log_level info "$@" > "$name.log" 2>&1 &
  pids+=($!)
  PID=$!
  for _ in $(seq 100); do
    URL=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$name.log")
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  echo "prover $name did not start:"; cat "$name.log"; exit 1
}
call() { "$bin/fractal-client" -k verifier.key -p "$P" "$URL" "$@"; }
# status_of EXPECTED NAME client-args...: runs fractal-client and checks the HTTP status and error code
expect_status() {
  local want=$1 code=$2 name=$3; shift 3
  local err
  body=$("$bin/fractal-client" "$@" 2>"$tmp/err"); err=$(cat "$tmp/err")
  if printf '%s' "$err" | grep -q "HTTP $want " && { [ -z "$code" ] || printf '%s' "$body" | grep -q "\"code\":\"$code\""; }; then
    ok "$name -> $want${code:+ $code}"
  else
    bad "$name: want $want $code, got: $err $body"
  fi
}

# configuration: file + flags, checked
printf 'key prover.key\nregistry registry.json\nmodel tiny\nqueue_size = 3\nlisten 127.0.0.1:0\n' > good.conf
"$bin/fractald" --config good.conf --queue_size 5 --check-config > cfg.out 2>&1 && grep -q "queue_size 5" cfg.out &&
  ok "--check-config: a valid file, a flag overriding it" || bad "check-config: $(cat cfg.out)"
printf 'key prover.key\nmodel tiny\nregistry registry.json\nqueue_size 0\n' > bad.conf
out=$("$bin/fractald" --config bad.conf --check-config 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "bad.conf:4: queue_size: '0' is not an integer in 1..4096" && ok "a bad config line is named" || bad "bad config: $rc $out"
out=$("$bin/fractald" --config good.conf --colour red 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "unknown option --colour" && ok "an unknown flag is refused" || bad "unknown flag: $rc $out"
out=$("$bin/fractald" --config good.conf --check-config 2>&1); rc=$?
[ $rc -eq 0 ] && printf '%s' "$out" | grep -qE "model tiny: digest [0-9a-f]{32}, [0-9]+ tensors" &&
  printf '%s' "$out" | grep -q "configuration OK" && ok "--check-config loads the model and prints its digest" || bad "check ok: $rc $out"
checkcfg() { # checkcfg NAME PATTERN flags...: --check-config exits 1 and names the problem
  local name=$1 pat=$2; shift 2
  out=$("$bin/fractald" --config good.conf "$@" --check-config 2>&1); rc=$?
  [ $rc -eq 1 ] && printf '%s' "$out" | grep -qE "$pat" && ok "--check-config: $name" || bad "check $name: $rc $out"
}
checkcfg "a missing model file is named" "model nowhere: nowhere/[a-z_/]+\.json: No such file" --model nowhere
checkcfg "a bad backend" "device tpu: unknown backend 'tpu'" --backend tpu
checkcfg "a port out of range" "listen '127.0.0.1:99999': the port must be a number in 0..65535" --listen 127.0.0.1:99999
checkcfg "an unwritable log file" "log_file $PWD/none/x.log: No such file or directory" --log_file "$PWD/none/x.log"
checkcfg "this node's hotkey not in the registry" "this node's hotkey $S is not in it" --key stranger.key
checkcfg "this node registered with another role" "hotkey $V is registered as a verifier, but role is prover" \
  --key verifier.key
chmod 644 stranger.key
out=$("$bin/fractald" --config good.conf --key stranger.key --check-config 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "readable by its owner only" && ok "a key file readable by others is refused" || bad "key mode: $rc $out"
chmod 600 stranger.key

start main --reveal_cache_jobs 3 --max_body 4096
checkcfg "a port in use" "listen ${URL#http://}: Address already in use" --listen "${URL#http://}"
M=$(call GET /v1/info 2>/dev/null | sed -n 's/.*"model":"\([0-9a-f]*\)".*/\1/p')
WIRE="\"job_id\":\"w\",\"model\":\"$M\",\"numerics\":\"f32-v1\"" # what every job on the wire names
JOB='{"job_id":"c1","model":"'$M'","numerics":"f32-v1","prompt":"a lighthouse in a storm, waves","seed":18446744073709551615,"steps":4,"frames":3,"height":64,"width":48}'
call -d "$JOB" POST /v1/challenge > res.json 2>/dev/null
want=$("$bin/fractal-gen" -m tiny -q --seed 18446744073709551615 --steps 4 --frames 3 --height 64 --width 48 --json -o v.mp4 "a lighthouse in a storm, waves")
printf '%s' "$want" > want.json
# the pipeline's state lives on the heap: a job runs within a 4 MB stack (ulimit -s 4096)
out=$(ulimit -s 4096; "$bin/fractal-gen" -m tiny -q --seed 18446744073709551615 --steps 4 --frames 3 --height 64 --width 48 -o s.mp4 "a lighthouse in a storm, waves" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$out" = "$(python3 -c "import json; print(json.load(open('want.json'))['result']['digest'])")" ] &&
  ok "fractal-gen under ulimit -s 4096: the same digest" || bad "fractal-gen under ulimit -s 4096: rc $rc $out"
for field in step_hashes frames_hash frame_hashes digest; do
  same=$(python3 -c "import json,sys; a=json.load(open('res.json')); b=json.load(open('want.json'))['result']; print(a['$field']==b['$field'] and len(str(a['$field']))>30)")
  [ "$same" = True ] && ok "challenge $field equals fractal-gen --json" || bad "challenge $field differs from fractal-gen"
done

# reveals: each latent hashes to the chain, and one recomputed step reproduces the next hash
printf '{"job": %s, "result": %s}\n' "$JOB" "$(cat res.json)" > rec.json
for k in 0 1 2 3 4; do call -d "{\"job_id\":\"c1\",\"step\":$k}" -o lat$k.bin POST /v1/reveal 2>/dev/null || bad "reveal $k"; done
if [ "$(stat -c %s lat2.bin)" -eq $((4 * 3 * 8 * 6 * 4)) ]; then ok "a revealed latent is 4x3x8x6 float32"; else bad "latent size $(stat -c %s lat2.bin)"; fi
"$bin/fractal-replay" -m tiny --step 0 --latent lat0.bin rec.json >/dev/null && ok "step 0 recomputes from the revealed noise" || bad "step 0"
"$bin/fractal-replay" -m tiny --step 2 --latent lat2.bin --prev lat1.bin rec.json >/dev/null && ok "step 2 (second order) recomputes from reveals 1 and 2" || bad "step 2"
"$bin/fractal-replay" -m tiny --step 3 --latent lat3.bin rec.json >/dev/null && ok "the last step (first order) recomputes" || bad "step 3"
out=$("$bin/fractal-replay" -m tiny --step 3 --latent lat2.bin rec.json); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "MISMATCH: the latent entering step 3 is not the one the chain claims" && ok "a latent from the wrong step is refused" || bad "wrong latent: $rc $out"
"$bin/fractal-replay" -m tiny rec.json >/dev/null && ok "fractal-replay: the whole job matches" || bad "replay match"
# fractal-replay fetching the reveals itself (--key: the challenge's sender)
RK=(--key verifier.key --endpoint "$URL" --prover "$P")
out=$("$bin/fractal-replay" -m tiny --step 2 "${RK[@]}" rec.json); rc=$?
[ $rc -eq 0 ] && printf '%s' "$out" | grep -q "^match: step 2" && ok "--step 2 --key: the reveals fetched from the prover, the step matches" || bad "step fetch: $rc $out"
python3 - <<'PY'
import json
r = json.load(open("rec.json"))
r["job"]["seed"] = 7  # not the job the prover ran under this job_id
json.dump(r, open("seed.json", "w"))
r = json.load(open("rec.json"))
h = r["result"]["frames_hash"]
r["result"]["frames_hash"] = h[:-1] + "%x" % (int(h[-1], 16) ^ 1)
json.dump(r, open("fh.json", "w"))
PY
out=$("$bin/fractal-replay" -m tiny "${RK[@]}" seed.json); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -qE "latent after step 0: [0-9]{3} of 576 values differ; max \|delta\| [0-9.e+-]+ at index [0-9]+ \[c [0-3], frame [0-2], y [0-7], x [0-5]\]" &&
  printf '%s' "$out" | grep -qE "frames decoded from the prover's final latent: [0-9]{4,} of 27648 bytes differ; max \|delta\| [0-9]+ at frame [0-2] \(y [0-9]+, x [0-9]+, channel [0-2]: prover [0-9]+, here [0-9]+\)" &&
  ok "--key: a record of another job: the latents and frames it differs by, value by value" || bad "seed diff: $rc $out"
out=$("$bin/fractal-replay" -m tiny "${RK[@]}" fh.json); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "decodes to this job's frames, byte for byte: its frames hash is not of its own final latent" &&
  ok "--key: a frames hash that is not of the prover's own final latent" || bad "frames hash diff: $rc $out"
out=$("$bin/fractal-replay" -m tiny --key verifier.key rec.json 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "needs --endpoint and --prover" && ok "--key without the prover's address is refused" || bad "key alone: $rc $out"
out=$("$bin/fractal-replay" -m tiny --step 2 rec.json 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "needs the latent entering it" && ok "--step 2 with no latent and no --key is refused" || bad "step alone: $rc $out"
out=$("$bin/fractal-replay" -m tiny --key stranger.key --endpoint "$URL" --prover "$P" seed.json 2>&1); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "reveal of the latent entering step 1 from $URL: HTTP 403" && ok "--key of another sender: the prover's refusal is shown" || bad "stranger reveal: $rc $out"
# one bit of the hash of the latent after step 3 (index 2) flipped
python3 - <<'PY'
import json
r = json.load(open("rec.json"))
h = r["result"]["step_hashes"][2]
r["result"]["step_hashes"][2] = h[:-1] + "%x" % (int(h[-1], 16) ^ 1)
json.dump(r, open("flip.json", "w"))
PY
out=$("$bin/fractal-replay" -m tiny flip.json); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "first diverging step is 2 of 4" && ok "fractal-replay finds a one-bit change at step 2" || bad "replay flip: $rc $out"
# a key twice in a record, at any depth (decoded: "\u006aob" is "job"), is refused, not half-read
printf '{"job": %s, "job": %s, "result": %s}\n' "$JOB" "$(printf '%s' "$JOB" | sed 's/"seed":[0-9]*/"seed":1/')" "$(cat res.json)" > dup1.json
printf '{"job": %s, "\\u006aob": %s, "result": %s}\n' "$JOB" "$JOB" "$(cat res.json)" > dup2.json
python3 -c "import json; r=open('rec.json').read(); print(r.replace('\"digest\":', '\"digest\":\"0\",\"digest\":', 1))" > dup3.json
for f in dup1 dup2 dup3; do
  out=$("$bin/fractal-replay" -m tiny $f.json 2>&1); rc=$?
  [ $rc -eq 2 ] && printf '%s' "$out" | grep -q "appears twice in one object" && ok "fractal-replay refuses a repeated key ($f)" || bad "replay $f: $rc $out"
done

# the bad-input suite
expect_status 400 bad_request "malformed JSON" -k verifier.key -p "$P" -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1" "$URL" POST /v1/challenge
expect_status 400 bad_request "truncated body" -k verifier.key -p "$P" -d "{$WIRE, \"prompt\": \"x\", \"se" "$URL" POST /v1/challenge
expect_status 400 bad_request "unknown field" -k verifier.key -p "$P" -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1, \"colour\": 1}" "$URL" POST /v1/challenge
expect_status 400 bad_request "wrong type" -k verifier.key -p "$P" -d "{$WIRE, \"prompt\": \"x\", \"seed\": \"1\"}" "$URL" POST /v1/challenge
expect_status 400 bad_request "out of range" -k verifier.key -p "$P" -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1, \"steps\": 999}" "$URL" POST /v1/challenge
expect_status 400 bad_request "invalid UTF-8" -k verifier.key -p "$P" -d "$(printf '{%s, "prompt": "\xff\xfe", "seed": 1}' "$WIRE")" "$URL" POST /v1/challenge
# the protocol's required fields (fractal-gen's local job specs may leave them out)
for f in job_id model numerics; do
  req=$(printf '%s' "{$WIRE, \"prompt\": \"x\", \"seed\": 1, \"steps\": 1, \"frames\": 1, \"height\": 16, \"width\": 16}" | sed "s/\"$f\":\"[^\"]*\",\{0,1\}//")
  expect_status 400 bad_request "$f missing" -k verifier.key -p "$P" -d "$req" "$URL" POST /v1/challenge
  printf '%s' "$body" | grep -q "$f is missing" || bad "$f missing: the message does not say so: $body"
done
expect_status 400 bad_request "an empty job_id" -k verifier.key -p "$P" -d "{\"job_id\": \"\", \"model\": \"$M\", \"numerics\": \"f32-v1\", \"prompt\": \"x\", \"seed\": 1, \"steps\": 1, \"frames\": 1, \"height\": 16, \"width\": 16}" "$URL" POST /v1/challenge
head -c 5000 /dev/zero | tr '\0' 'a' > big.txt
expect_status 413 body_too_large "oversize body" -k verifier.key -p "$P" -d @big.txt "$URL" POST /v1/challenge
expect_status 401 unauthorized "missing signature" -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1}" "$URL" POST /v1/challenge
expect_status 401 unauthorized "forged signature" -k verifier.key -p "$P" --bad-signature -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1}" "$URL" POST /v1/challenge
expect_status 401 unauthorized "signed for another receiver" -k verifier.key -p "$V" -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1}" "$URL" POST /v1/challenge
now=$(date +%s%N)
# a nonce a little in the past is fresh; sending it again is a replay (weak.key, so later requests of
# verifier.key, signed with the current time, are unaffected)
expect_status 200 "" "a chosen nonce" -k weak.key -p "$P" --nonce $((now - 2000000000)) "$URL" GET /v1/info
expect_status 409 replayed_nonce "replayed nonce" -k weak.key -p "$P" --nonce $((now - 2000000000)) "$URL" GET /v1/info
expect_status 409 replayed_nonce "an older nonce" -k weak.key -p "$P" --nonce $((now - 3000000000)) "$URL" GET /v1/info
expect_status 409 stale_nonce "stale timestamp" -k verifier.key -p "$P" --nonce $((now - 120000000000)) "$URL" GET /v1/info
expect_status 409 stale_nonce "timestamp from the future" -k verifier.key -p "$P" --nonce $((now + 120000000000)) "$URL" GET /v1/info
expect_status 403 forbidden "unregistered sender" -k stranger.key -p "$P" "$URL" GET /v1/info
expect_status 422 model_not_served "unknown model" -k verifier.key -p "$P" -d '{"job_id": "m", "numerics": "f32-v1", "prompt": "x", "seed": 1, "model": "00000000000000000000000000000000"}' "$URL" POST /v1/challenge
expect_status 422 numerics_not_served "unknown numerics" -k verifier.key -p "$P" -d "{\"job_id\": \"m\", \"model\": \"$M\", \"prompt\": \"x\", \"seed\": 1, \"numerics\": \"i8-v1\"}" "$URL" POST /v1/challenge
expect_status 400 bad_request "reveal body" -k verifier.key -p "$P" -d '{"job_id": "c1", "step": 1, "x": 2}' "$URL" POST /v1/reveal
expect_status 400 bad_request "reveal step out of range" -k verifier.key -p "$P" -d '{"job_id": "c1", "step": 5}' "$URL" POST /v1/reveal
expect_status 404 not_found "another sender's job" -k weak.key -p "$P" -d '{"job_id": "c1", "step": 1}' "$URL" POST /v1/reveal
# a job_id over 64 bytes is refused, not cut to a cached job's id
L64=$(head -c 64 /dev/zero | tr '\0' 'k')
call -d "{\"job_id\":\"$L64\",\"model\":\"$M\",\"numerics\":\"f32-v1\",\"prompt\":\"x\",\"seed\":1,\"steps\":1,\"frames\":1,\"height\":16,\"width\":16}" POST /v1/challenge >/dev/null 2>&1
expect_status 200 "" "reveal of a 64-byte job_id" -k verifier.key -p "$P" -o /dev/null -d "{\"job_id\": \"$L64\", \"step\": 1}" "$URL" POST /v1/reveal
expect_status 400 bad_request "reveal of that id plus 'extra' (over 64 bytes)" -k verifier.key -p "$P" -d "{\"job_id\": \"${L64}extra\", \"step\": 1}" "$URL" POST /v1/reveal
for i in 2 3 4; do call -d "{\"job_id\":\"e$i\",\"model\":\"$M\",\"numerics\":\"f32-v1\",\"prompt\":\"x\",\"seed\":$i,\"steps\":1,\"frames\":1,\"height\":16,\"width\":16}" POST /v1/challenge >/dev/null 2>&1; done
expect_status 404 not_found "reveal of an evicted job" -k verifier.key -p "$P" -d '{"job_id": "c1", "step": 1}' "$URL" POST /v1/reveal
expect_status 200 "" "reveal of a job still cached" -k verifier.key -p "$P" -d '{"job_id": "e4", "step": 1}' "$URL" POST /v1/reveal
expect_status 404 not_found "unknown endpoint" -k verifier.key -p "$P" "$URL" GET /v2/nothing
expect_status 405 method_not_allowed "wrong method" -k verifier.key -p "$P" "$URL" GET /v1/challenge
expect_status 200 "" "still serving: /healthz" "$URL" GET /healthz
expect_status 200 "" "still serving: a challenge" -k verifier.key -p "$P" -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1, \"steps\": 1, \"frames\": 1, \"height\": 16, \"width\": 16}" "$URL" POST /v1/challenge
call -o gen.mp4 -d "{$WIRE, \"prompt\": \"x\", \"seed\": 3, \"steps\": 1, \"frames\": 4, \"height\": 32, \"width\": 32}" POST /v1/generate 2>/dev/null
expect_status 400 bad_request "/v1/generate without a model" -k verifier.key -p "$P" -d '{"job_id": "g", "numerics": "f32-v1", "prompt": "x", "seed": 3, "steps": 1, "frames": 1, "height": 16, "width": 16}' "$URL" POST /v1/generate
ffprobe -v error -count_frames -show_entries stream=codec_name,nb_read_frames -of csv=p=0 gen.mp4 | grep -q "h264,4" && ok "/v1/generate answers a playable MP4" || bad "/v1/generate"
curl -s "$URL/metrics" | grep -q 'fractal_http_requests_total{endpoint="/v1/challenge",status="400"} 10' && ok "metrics count requests by endpoint and status" || bad "metrics: $(curl -s "$URL/metrics" | head -5)"
# one log line per job: id, sender, size, outcome, duration, digest (the one answered)
d1=$(python3 -c "import json; print(json.load(open('res.json'))['digest'])")
grep -qE "job c1 from [0-9a-f]{16}\.\.\.: 3 frames 48x64, 4 steps, done in [0-9.]+ s \([0-9.]+ s queued\), digest $d1" main.log &&
  ok "the log has one line for the job, with its digest" || bad "job log line: $(grep 'job c1' main.log)"
# a flood of refused requests is logged at most 20 lines a second, then summarised
for _ in $(seq 60); do curl -s -o /dev/null "$URL/v1/nothing"; done
sleep 1.1; curl -s -o /dev/null "$URL/v1/nothing"; sleep 0.2
lines=$(grep -c "GET /v1/nothing -> 404" main.log)
[ "$lines" -lt 61 ] && grep -qE "[0-9]+ more refused requests were not logged \(at most 20 a second\)" main.log &&
  ok "a flood of 404s: $lines of 61 logged, the rest counted" || bad "404 flood: $lines lines logged"
commit=$("$bin/fractald" --version | sed -n 's/.*(commit \([^,]*\),.*/\1/p')
curl -s "$URL/metrics" | grep -qE "^fractal_build_info\{version=\"[0-9.]+\",commit=\"$commit\",build_type=\"[A-Za-z]+\",cuda=\"[a-z]+\",cuda_archs=\"[0-9;]*\"\} 1\$" &&
  [ -n "$commit" ] && ok "metrics carry the build (commit $commit, as fractald --version says)" ||
  bad "build info: $(curl -s "$URL/metrics" | grep build_info)"

# SIGHUP reloads the registry: the stranger becomes a registered verifier
registry ",
  {\"hotkey\": \"$S\", \"role\": \"verifier\", \"endpoint\": \"http://127.0.0.1:4\", \"stake\": 7}" > registry.json
kill -HUP "$PID"; sleep 0.5
expect_status 200 "" "SIGHUP reloaded the registry" -k stranger.key -p "$P" "$URL" GET /v1/info

# SIGHUP reopens the log file: logrotate moves it, signals, and the next lines go to a new file
"$bin/fractald" --key prover.key --registry registry.json --model tiny --backend cpu --listen 127.0.0.1:0 \
  --log_file rot.log > rot.out 2>&1 &
RPID=$!
for _ in $(seq 100); do grep -q "listening on" rot.log 2>/dev/null && break; sleep 0.1; done
mv rot.log rot.log.1
kill -HUP "$RPID"; sleep 0.5
kill -TERM "$RPID"; wait "$RPID" 2>/dev/null
grep -q "listening on" rot.log.1 && ! grep -q "shutting down" rot.log.1 && grep -q "SIGHUP: log file reopened" rot.log &&
  grep -q "shutting down" rot.log && ok "SIGHUP reopens the log file (after a move, new lines go to the new file)" ||
  bad "log reopen: old: $(cat rot.log.1 2>&1) new: $(cat rot.log 2>&1) out: $(cat rot.out)"

# force_verifier_permit with a stake floor
kill -TERM "$PID"; wait "$PID" 2>/dev/null
start permit --force_verifier_permit true --min_verifier_stake 100
expect_status 403 forbidden "verifier below min_verifier_stake" -k weak.key -p "$P" "$URL" GET /v1/info
expect_status 200 "" "verifier above min_verifier_stake" -k verifier.key -p "$P" "$URL" GET /v1/info
# the operator signs with the node's own key: its /v1/info whatever the permit rules
expect_status 200 "" "the operator (the node's own key) under force_verifier_permit" -k prover.key -p "$P" "$URL" GET /v1/info
kill -TERM "$PID"; wait "$PID" 2>/dev/null
# verdict notices: what verifiers say of this prover's answers, kept for its operator
registry ",
  {\"hotkey\": \"$S\", \"role\": \"prover\", \"endpoint\": \"http://127.0.0.1:4\", \"stake\": 5}" > registry2.json
start notes --registry registry2.json
# progress of a job: only its sender's, only while it is queued or running
expect_status 404 not_found "progress of an unknown job" -k verifier.key -p "$P" -d '{"job_id":"nothing"}' "$URL" POST /v1/progress
expect_status 400 bad_request "progress without a job_id" -k verifier.key -p "$P" -d '{"job":"x"}' "$URL" POST /v1/progress
vn() { "$bin/fractal-client" -k verifier.key -p "$P" -d "$1" "$URL" POST /v1/verdict; }
for body in '{"job_id":"j","verdict":"maybe"}' '{"verdict":"ok"}' '{"job_id":"j","verdict":"ok","color":1}' \
  '{"job_id":"j","verdict":"ok","reward":"x"}' '{"job_id":"j","verdict":"ok","step":-1}' '[1]' '{"job_id":"j"'; do
  expect_status 400 bad_request "verdict notice $body" -k verifier.key -p "$P" -d "$body" "$URL" POST /v1/verdict
done
expect_status 403 forbidden "a verdict notice from another prover" -k stranger.key -p "$P" -d '{"job_id":"j","verdict":"ok"}' \
  "$URL" POST /v1/verdict
vn '{"job_id":"n1","verdict":"ok","reason":"step 2 recomputed","step":7,"reward":0.75}' 2>/dev/null >/dev/null
vn '{"job_id":"n2","verdict":"fail","reason":"step 1: the hash differs"}' 2>/dev/null >/dev/null
"$bin/fractal-client" -k prover.key -p "$P" "$URL" GET /v1/info > opinfo.json 2>/dev/null
got=$(python3 - "$V" <<'PY'
import json, sys
i = json.load(open("opinfo.json")); v = i["verdicts"]; last = v["last"]
print(v["ok"] == 1 and v["fail"] == 1 and v["unjudged"] == 0 and [e["job_id"] for e in last] == ["n2", "n1"]
      and last[0]["verdict"] == "fail" and last[0]["reason"] == "step 1: the hash differs" and "reward" not in last[0]
      and last[1]["step"] == 7 and last[1]["reward"] == 0.75 and all(e["verifier"] == sys.argv[1] for e in last)
      and set(i["jobs"]) == {"ok", "failed", "canceled"})
PY
)
[ "$got" = True ] && ok "/v1/info: the verdicts received, newest first, and the jobs served" || bad "verdicts in info: $got $(cat opinfo.json)"
m=$(curl -s "$URL/metrics")
printf '%s' "$m" | grep -q '^fractal_verdicts_total{verdict="fail"} 1$' && printf '%s' "$m" | grep -q '^fractal_verdicts_total{verdict="ok"} 1$' &&
  printf '%s' "$m" | grep -qE '^fractal_last_verdict_time_seconds\{verdict="fail"\} [1-9][0-9]{9}' && ok "metrics: verdicts by kind and the time of the last" ||
  bad "verdict metrics: $(printf '%s' "$m" | grep verdict)"
grep -q "verdict from verifier ${V:0:16}...: job n2 fail: step 1: the hash differs" notes.log && ok "a failed verdict is logged" || bad "verdict log: $(grep verdict notes.log)"
kill -TERM "$PID"; wait "$PID" 2>/dev/null

# a full queue answers 429 with Retry-After, and every request gets exactly one answer
start queue --queue_size 1 --max_batch 1 --shutdown_grace_s 600 # SIGTERM below: the job in flight finishes
clients=()
for i in 1 2 3 4 5 6; do
  ( "$bin/fractal-client" -k c$i.key -p "$P" -d "{\"job_id\":\"q$i\",\"model\":\"$M\",\"numerics\":\"f32-v1\",\"prompt\":\"q\",\"seed\":$i,\"steps\":3,\"frames\":4}" \
      "$URL" POST /v1/challenge > q$i.out 2> q$i.err ) &
  clients+=($!)
done
wait "${clients[@]}"
n200=$(grep -l "HTTP 200" q*.err | wc -l); n429=$(grep -l "HTTP 429" q*.err | wc -l)
if [ "$n200" -ge 2 ] && [ "$n429" -ge 1 ] && [ $((n200 + n429)) -eq 6 ]; then ok "queue of 1: $n200 answered, $n429 told to retry (429), none lost"; else bad "queue: $n200 x 200, $n429 x 429"; fi
for i in 1 2 3; do
  "$bin/fractal-client" -k c$i.key -p "$P" -d "{$WIRE,\"prompt\":\"q\",\"seed\":$i,\"steps\":3,\"frames\":4}" --header Retry-After \
    "$URL" POST /v1/challenge > r$i.out 2>/dev/null &
  clients+=($!)
done
wait "${clients[@]}"
retry=$(cat r1.out r2.out r3.out | head -1)
printf '%s' "$retry" | grep -qE '^[0-9]+$' && ok "429 carries Retry-After" || bad "Retry-After: '$retry'"

# SIGTERM while a job runs: it is still answered, then the daemon exits 0
( "$bin/fractal-client" -k verifier.key -p "$P" -d "{\"job_id\":\"last\",\"model\":\"$M\",\"numerics\":\"f32-v1\",\"prompt\":\"q\",\"seed\":9,\"steps\":6,\"frames\":4}" "$URL" POST /v1/challenge > last.out 2> last.err ) &
client=$!
sleep 0.5
kill -TERM "$PID"
wait $client
wait "$PID"; rc=$?
grep -q "HTTP 200" last.err && [ $rc -eq 0 ] && ok "SIGTERM: the job in flight is answered and fractald exits 0" || bad "SIGTERM: rc $rc, $(cat last.err)"

# two workers (here two CPU devices of one thread each), each with its model copy, give the same bits
start two --devices cpu,cpu --threads 1 --max_batch 1
call GET /v1/info 2>/dev/null | grep -q '"devices":\["cpu (1 thread, [^"]*)","cpu (1 thread, [^"]*)"\]' && ok "/v1/info lists both devices" || bad "devices: $(call GET /v1/info 2>/dev/null)"
clients=()
for i in 1 2 3 4; do
  ( "$bin/fractal-client" -k c$i.key -p "$P" -d "$JOB" "$URL" POST /v1/challenge > two$i.json 2>/dev/null ) &
  clients+=($!)
done
wait "${clients[@]}"
same=$(python3 -c "
import json
a=[json.load(open('two%d.json'%i)) for i in (1,2,3,4)]; r=json.load(open('res.json'))
print(all(x['digest']==r['digest'] for x in a))")
[ "$same" = True ] && ok "4 concurrent challenges on 2 workers: the same digest as alone" || bad "two workers: $same"
curl -s "$URL/metrics" | grep -c 'fractal_device_busy_seconds_total{device="[01]"' | grep -q 2 && ok "busy time per device in /metrics" || bad "per-device metrics"
kill -TERM "$PID"; wait "$PID" 2>/dev/null

# one job split over 3 CPU ranks (threads communicator): the same bits; a 1-frame job runs on fewer ranks
start sharded --shards 3 --threads 2
info=$(call GET /v1/info 2>/dev/null)
printf '%s' "$info" | grep -q '"device_count":1,"shards":3,' && printf '%s' "$info" | grep -q '"max_batch":1,' &&
  ok "/v1/info: 1 device, 3 shards, unbatched" || bad "sharded info: $info"
call -d "$JOB" POST /v1/challenge > shard.json 2>/dev/null
call -d "{\"job_id\":\"one\",\"model\":\"$M\",\"numerics\":\"f32-v1\",\"prompt\":\"q\",\"seed\":3,\"steps\":2,\"frames\":1}" POST /v1/challenge > shard1.json 2>/dev/null
grep -q '"height":64,"width":64,' shard1.json && ok "a job without a size runs at the model's (64x64, echoed in the answer)" ||
  bad "default size: $(cat shard1.json)"
same=$(python3 -c "
import json
a=json.load(open('shard.json')); r=json.load(open('res.json')); b=json.load(open('shard1.json'))
print(a['digest']==r['digest'] and a['step_hashes']==r['step_hashes'] and len(b['digest'])==32)")
[ "$same" = True ] && ok "sharded prover: the same digest and step hashes; a 1-frame job is answered" || bad "sharded: $same $(cat shard.json shard1.json)"
kill -TERM "$PID"; wait "$PID" 2>/dev/null
"$bin/fractald" --key prover.key --registry registry.json --model tiny --backend cuda --shards 2 --listen 127.0.0.1:0 > gpushard.log 2>&1
grep -qE "shards = 2 splits jobs over CPU ranks|device cuda: " gpushard.log && ok "shards with a GPU device is refused at start" || bad "gpu shards: $(cat gpushard.log)"

# an out-of-memory device answers 503 and the prover carries on
start oom --fault_oom_batches 1
expect_status 503 out_of_memory "device out of memory" -k verifier.key -p "$P" -d "$JOB" "$URL" POST /v1/challenge
expect_status 200 "" "the next job after out of memory" -k verifier.key -p "$P" -d "$JOB" "$URL" POST /v1/challenge
kill -TERM "$PID"; wait "$PID" 2>/dev/null

# a dishonest prover (test fault flag) is caught by replay at the step it corrupted
start liar --fault_corrupt_step 2
call -d "$JOB" POST /v1/challenge > lie.json 2>/dev/null
printf '{"job": %s, "result": %s}\n' "$JOB" "$(cat lie.json)" > lierec.json
out=$("$bin/fractal-replay" -m tiny lierec.json); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "first diverging step is 1 of 4" && ok "a prover that corrupts the latent after step 2 is caught there" || bad "liar: $rc $out"
out=$("$bin/fractal-replay" -m tiny --key verifier.key --endpoint "$URL" --prover "$P" lierec.json); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -qE "latent after step 1: 1 of 576 values differ; max \|delta\| [0-9.e-]+ at index 288 \[c 2, frame 0, y 0, x 0\]" &&
  ok "--key: the liar's latent differs in one value, at index 288" || bad "liar diff: $rc $out"
out=$("$bin/fractal-replay" -m tiny --step 1 --key verifier.key --endpoint "$URL" --prover "$P" lierec.json); rc=$?
[ $rc -eq 1 ] && printf '%s' "$out" | grep -q "MISMATCH: step 1 recomputes" && printf '%s' "$out" | grep -q "latent after step 1: 1 of 576 values differ" &&
  ok "--step 1 --key: the recomputed step against the liar's, value by value" || bad "liar step: $rc $out"
grep -q "TEST FAULTS ARE ON" liar.log && ok "fault flags are logged loudly" || bad "fault log"

# a client that goes away: its running job stops at the next step, its queued job leaves the queue, and
# the next challenge is answered at once (a 200-step 16-frame job takes about 30 s here)
start gone --max_batch 1
long() { printf '{"job_id":"%s","model":"%s","numerics":"f32-v1","prompt":"q","seed":%d,"steps":200,"frames":16,"height":64,"width":64}' "$1" "$M" "$2"; }
( "$bin/fractal-client" -t 2 -k c1.key -p "$P" -d "$(long gone1 1)" "$URL" POST /v1/challenge > gone1.out 2>&1 ) &
sleep 0.5
( "$bin/fractal-client" -t 1 -k c2.key -p "$P" -d "$(long gone2 2)" "$URL" POST /v1/challenge > gone2.out 2>&1 ) &
sleep 2.5
t0=$(date +%s%N)
"$bin/fractal-client" -t 60 -k c3.key -p "$P" -d "{$WIRE, \"prompt\": \"x\", \"seed\": 1, \"steps\": 1, \"frames\": 1, \"height\": 16, \"width\": 16}" "$URL" POST /v1/challenge > next.out 2> next.err
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "HTTP 200" next.err && [ $dt -lt 5000 ] && ok "the next challenge after two abandoned jobs: answered in $dt ms" || bad "after abandoned jobs: $dt ms, $(cat next.err)"
curl -s "$URL/metrics" | grep -q 'fractal_jobs_total{outcome="canceled"} 2' && ok "metrics: 2 jobs canceled (one running, one queued)" ||
  bad "canceled jobs: $(curl -s "$URL/metrics" | grep jobs_total)"
grep -q "batch of 1 canceled (no client waits)" gone.log && ok "the running job stopped between steps" || bad "no cancel in the log: $(tail -3 gone.log)"
kill -TERM "$PID"; wait "$PID" 2>/dev/null

# SIGTERM with a long job running: it is canceled after shutdown_grace_s, its client gets 503, and
# fractald exits within the grace period and a step
start grace --shutdown_grace_s 1
( "$bin/fractal-client" -t 60 -k c1.key -p "$P" -d "$(long term 3)" "$URL" POST /v1/challenge > term.out 2> term.err ) &
client=$!
sleep 1
t0=$(date +%s%N)
kill -TERM "$PID"
wait "$PID"; rc=$?
dt=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $client
[ $rc -eq 0 ] && [ $dt -lt 2500 ] && ok "SIGTERM during a 30 s job: exit 0 after $dt ms (grace 1 s)" || bad "SIGTERM with grace: rc $rc after $dt ms"
grep -q "HTTP 503" term.err && grep -q '"code":"shutting_down"' term.out && ok "the canceled job's client got 503 shutting_down" ||
  bad "canceled client: $(cat term.err term.out)"

[ $fails -eq 0 ] && echo "daemon_prover: all passed" || echo "daemon_prover: $fails FAILED"
exit $((fails > 0))
