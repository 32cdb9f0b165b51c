#!/usr/bin/env bash
# The exact-integer profile i8x-v1 through fractald, with a real redis-server and real provers on loopback
# (tiny model): a prover configured with numerics f32-v1,i8x-v1 advertises both and answers i8x-v1
# challenges with fractal-gen --numerics i8x-v1's digest; a prover without it refuses them (422
# numerics_not_served); a verifier whose challenges are i8x-v1 judges an honest prover ok and a lying one
# failed by spot checks; an organic i8x-v1 request is routed to a prover that serves it and spot-checked;
# configurations that cannot work are refused.
# Usage: daemon_i8x.sh BIN_DIR
set -u
bin=$(cd "$1" && pwd)
command -v redis-server >/dev/null || { echo "SKIP: redis-server is not installed (tools/install-deps.sh)"; exit 77; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; done
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
redis-server --port "$RPORT" --bind 127.0.0.1 --requirepass "$FRACTAL_REDIS_PASSWORD" --dir "$tmp" --appendonly no \
  --save "" > redis.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ "$(R PING 2>/dev/null)" = PONG ] && break; sleep 0.05; done

"$bin/fractal-mkmodel" -q tiny
V=$("$bin/fractal-keygen" -o v.key)
C=$("$bin/fractal-keygen" -o client.key)
for name in both plain liar; do declare "K_$name=$("$bin/fractal-keygen" -o $name.key)"; done
printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000}]}\n' "$V" \
  > provers-registry.json
start_prover() { # start_prover NAME [flags...]: sets U_NAME
  local name=$1; shift
  "$bin/fractald" --key "$name.key" --registry provers-registry.json --model tiny --backend cpu --threads 1 \
    --listen 127.0.0.1:0 "$@" > "$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    local url
    url=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$name.log")
    [ -n "$url" ] && { declare -g "U_$name=$url"; return 0; }
    sleep 0.1
  done
  echo "prover $name did not start:"; cat "$name.log"; exit 1
}
start_prover both --numerics f32-v1,i8x-v1
start_prover plain
start_prover liar --numerics f32-v1,i8x-v1 --fault_corrupt_step 1

# ---- the prover ----
info=$("$bin/fractal-client" -k v.key -p "$K_both" "$U_both" GET /v1/info 2>/dev/null)
M=$(printf '%s' "$info" | sed -n 's/.*"model":"\([0-9a-f]*\)".*/\1/p')
printf '%s' "$info" | grep -q '"numerics":"f32-v1,i8x-v1"' && ok "a prover with numerics f32-v1,i8x-v1 advertises both" ||
  bad "info: $info"
"$bin/fractal-client" -k v.key -p "$K_plain" "$U_plain" GET /v1/info 2>/dev/null | grep -q '"numerics":"f32-v1"' &&
  ok "a prover without it advertises f32-v1" || bad "plain info"
job() { printf '{"job_id":"%s","model":"%s","numerics":"%s","prompt":"a lighthouse","seed":11,"steps":3,"frames":2,"height":32,"width":32}' "$1" "$M" "$2"; }
digest_of() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("result", d).get("digest", ""))' "$1" 2>/dev/null; }
for prof in i8x-v1 f32-v1; do
  "$bin/fractal-client" -k v.key -p "$K_both" -d "$(job "j-$prof" $prof)" "$U_both" POST /v1/challenge > "ans-$prof.json" 2>/dev/null
  "$bin/fractal-gen" -m tiny -q --numerics $prof --seed 11 --steps 3 --frames 2 --height 32 --width 32 --json -o "g-$prof.mp4" \
    "a lighthouse" > "gen-$prof.json"
  got=$(digest_of "ans-$prof.json") want=$(digest_of "gen-$prof.json")
  [ -n "$got" ] && [ "$got" = "$want" ] && ok "challenge in $prof: the prover's digest is fractal-gen's ($got)" ||
    bad "$prof challenge: got '$got' want '$want' $(head -c 300 "ans-$prof.json")"
done
[ "$(digest_of ans-i8x-v1.json)" != "$(digest_of ans-f32-v1.json)" ] && ok "the two profiles give different digests" ||
  bad "same digest for both profiles"
body=$("$bin/fractal-client" -k v.key -p "$K_plain" -d "$(job j2 i8x-v1)" "$U_plain" POST /v1/challenge 2> plain.err)
grep -q "HTTP 422" plain.err && printf '%s' "$body" | grep -q '"code":"numerics_not_served"' &&
  printf '%s' "$body" | grep -q "computes f32-v1" && ok "a prover without i8x-v1 refuses its job: 422 numerics_not_served" ||
  bad "plain refusal: $(cat plain.err) $body"
body=$("$bin/fractal-client" -k v.key -p "$K_both" -d "$(job j3 i8x-b10)" "$U_both" POST /v1/challenge 2> b10.err)
grep -q "HTTP 422" b10.err && printf '%s' "$body" | grep -q '"code":"numerics_not_served"' &&
  ok "a quality-study width (i8x-b10) is not a profile a prover serves: 422" || bad "b10: $(cat b10.err) $body"

# ---- configuration ----
VFLAGS=(--role verifier --model tiny --backend cpu --threads 1 --listen 127.0.0.1:0 --redis_port "$RPORT" --redis_wait_s 20
        --challenge_steps 3 --challenge_frames 2 --challenge_height 32 --challenge_width 32 --timeout_s 20
        --decode_check_p 0 --interval 1000000 --epoch 1000000 --prover_info_s 1 --verify_mode spot)
registry() {
  printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000000}' "$V"
  for name in "$@"; do local hk=K_$name u=U_$name; printf ',\n  {"hotkey": "%s", "role": "prover", "endpoint": "%s", "stake": 1}' "${!hk}" "${!u}"; done
  printf ']}\n'
}
registry both liar > reg.json
registry both plain > reg-organic.json
out=$("$bin/fractald" "${VFLAGS[@]}" --key v.key --registry reg.json --journal j0 --challenge_numerics i8x-v1 --check-config 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "challenge_numerics 'i8x-v1' is not one of numerics (f32-v1)" &&
  ok "challenge_numerics outside numerics is refused" || bad "challenge_numerics check: $rc $out"
out=$("$bin/fractald" "${VFLAGS[@]}" --key v.key --registry reg.json --journal j0 --numerics i8x-v1 --check-config 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "numerics must be f32-v1 or f32-v1,i8x-v1" && ok "numerics without f32-v1 is refused" ||
  bad "numerics check: $rc $out"

# ---- a verifier challenging in i8x-v1 ----
"$bin/fractald" "${VFLAGS[@]}" --key v.key --registry reg.json --journal a.journal --redis_prefix a: --numerics f32-v1,i8x-v1 \
  --challenge_numerics i8x-v1 --sample_size 2 --run_steps 6 --step_seconds 0 > a.log 2>&1 &
apid=$!
pids+=($apid)
for _ in $(seq 1200); do kill -0 $apid 2>/dev/null || break; sleep 0.1; done
{ wait $apid; } 2>/dev/null
[ "$(R HGET a:state step)" = 6 ] && ok "the i8x-v1 verifier ran 6 steps" || bad "steps: $(R HGET a:state step) $(tail -5 a.log)"
R XRANGE a:challenges - + > log.txt
[ "$(grep -c '"numerics":"i8x-v1"' log.txt)" -ge 6 ] && ok "every challenge in the log is an i8x-v1 job" || bad "log numerics: $(head -c 400 log.txt)"
verdicts() { "$bin/fractal-client" -k $1.key -p "$2" "$3" GET /v1/info 2>/dev/null | python3 -c 'import json,sys; v=json.load(sys.stdin)["verdicts"]; print(v["ok"], v["fail"])'; }
read -r b_ok b_fail <<< "$(verdicts both "$K_both" "$U_both")"
read -r l_ok l_fail <<< "$(verdicts liar "$K_liar" "$U_liar")"
[ "$b_ok" -ge 6 ] && [ "$b_fail" = 0 ] && ok "the honest prover's i8x-v1 answers were spot-checked ok ($b_ok)" ||
  bad "honest verdicts: ok $b_ok fail $b_fail"
[ "$l_fail" -ge 1 ] && ok "the prover that corrupts its latent failed spot checks ($l_fail fail, $l_ok ok)" ||
  bad "liar verdicts: ok $l_ok fail $l_fail"

# ---- an organic i8x-v1 request: the plain prover ranks first, but cannot serve it ----
R HSET o:stats:$K_plain tier Challenger request_limit 25000 > /dev/null
R HSET o:stats:$K_both tier Bronze request_limit 25000 > /dev/null
"$bin/fractald" "${VFLAGS[@]}" --key v.key --registry reg-organic.json --journal o.journal --redis_prefix o: \
  --numerics f32-v1,i8x-v1 --step_seconds 3600 --sample_size 1 --organic_check_p 1 --organic_any_key true > o.log 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  VURL=$(sed -n 's/.*verifier [0-9a-f]* listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' o.log | tail -1)
  [ -n "$VURL" ] && break
  sleep 0.1
done
OJ='{"job_id":"mine","numerics":"i8x-v1","prompt":"a lighthouse","seed":11,"steps":3,"frames":2,"height":32,"width":32}'
"$bin/fractal-client" -k client.key -p "$V" -d "$OJ" -o organic.mp4 -D organic.headers "$VURL" POST /v1/generate 2> organic.err; rc=$?
prover=$(sed -n 's/^Fractal-Prover: \([0-9a-f]*\).*/\1/ip' organic.headers)
[ $rc -eq 0 ] && [ "$prover" = "$K_both" ] && grep -qi "^Fractal-Checked: spot" organic.headers &&
  ok "an organic i8x-v1 request goes to the prover that serves it and is spot-checked" ||
  bad "organic: rc $rc prover ${prover:0:8} $(cat organic.err) $(cat organic.headers)"
[ "$(R HGET o:stats:$K_plain inference_attempts)" = "" ] || [ "$(R HGET o:stats:$K_plain inference_attempts)" = 0 ] &&
  ok "the better-ranked prover without i8x-v1 was never tried" || bad "plain tried: $(R HGETALL o:stats:$K_plain | tr '\n' ' ')"
digest=$(sed -n 's/^Fractal-Digest: \([0-9a-f]*\).*/\1/ip' organic.headers)
[ -n "$digest" ] && [ "$digest" = "$(digest_of gen-i8x-v1.json)" ] && ok "its digest is fractal-gen's" || bad "organic digest '$digest'"

[ $fails -eq 0 ] && echo "daemon_i8x: all passed" || echo "daemon_i8x: $fails FAILED"
[ $fails -eq 0 ]
