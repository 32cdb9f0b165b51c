#!/usr/bin/env bash
# The videos API (docs/videos.md) of fractald --role verifier over loopback, with a real redis-server and
# real provers on the tiny model: keys made with `fractald keys`, the whole life of a video (the digest is
# fractal-gen's for the same job, the MP4 and thumbnail, ranges), only the owner sees a video, bad keys,
# bad requests, progress from the prover's steps, the daily quota and the rate limit, pagination, deletion,
# concurrent creators, a restart while a video runs, the Python client against the OpenAPI document
# (tests/videos_client.py), Redis away, retention and the size cap, verify_mode full, and a prover that lies
# (its video is never served).
# Usage: daemon_videos.sh BIN_DIR
set -u
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
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
redis_stop() { R SHUTDOWN NOSAVE >/dev/null 2>&1; wait "$rpid" 2>/dev/null; rpid=""; }
redis_start

"$bin/fractal-mkmodel" -q tiny
V=$("$bin/fractal-keygen" -o v.key)
for name in honest liar; do declare "K_$name=$("$bin/fractal-keygen" -o $name.key)"; done
printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000}]}\n' "$V" > provers-registry.json

start_prover() { # NAME [flags...]: sets U_NAME and P_NAME (its pid)
  local name=$1; shift
  "$bin/fractald" --key "$name.key" --registry provers-registry.json --model tiny --backend cpu --threads 1 \
    --listen 127.0.0.1:0 "$@" >> "$name.log" 2>&1 &
  pids+=($!)
  declare -g "P_$name=$!"
  for _ in $(seq 100); do
    local url
    url=$(sed -n 's/.*listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$name.log" | tail -1)
    [ -n "$url" ] && { declare -g "U_$name=$url"; return 0; }
    sleep 0.1
  done
  echo "prover $name did not start:"; cat "$name.log"; exit 1
}
start_prover honest
start_prover liar --fault_corrupt_step 1
registry() { # NAME...: the verifier's registry with these provers
  printf '{"nodes": [{"hotkey": "%s", "role": "verifier", "endpoint": "http://127.0.0.1:1", "stake": 1000}' "$V"
  for name in "$@"; do
    local u=U_$name k=K_$name
    printf ',\n  {"hotkey": "%s", "role": "prover", "endpoint": "%s", "stake": 1}' "${!k}" "${!u}"
  done
  printf ']}\n'
}
registry honest > registry.json
registry liar > registry-liar.json

VFLAGS=(--role verifier --key v.key --model tiny --backend cpu --threads 1 --redis_port "$RPORT" --step_seconds 86400
        --challenge_steps 1 --challenge_frames 1 --challenge_height 16 --challenge_width 16
        --videos_api true --videos_workers 2 --registry registry.json)
start_verifier() { # NAME [flags...]: sets VPID and VURL
  local name=$1 before; shift
  before=$(grep -c "listening on" "$name.log" 2>/dev/null)
  "$bin/fractald" "${VFLAGS[@]}" --listen 127.0.0.1:0 --redis_prefix "$name:" --videos_dir "$tmp/$name-videos" "$@" \
    >> "$name.log" 2>&1 &
  VPID=$!
  pids+=($VPID)
  for _ in $(seq 300); do
    VURL=$(sed -n 's/.*verifier [0-9a-f]* listening on \(127.0.0.1:[0-9]*\).*/http:\/\/\1/p' "$name.log" | tail -1)
    [ -n "$VURL" ] && [ "$(grep -c "listening on" "$name.log")" -gt "${before:-0}" ] && return 0
    sleep 0.1
  done
  echo "verifier $name did not start:"; tail -20 "$name.log"; exit 1
}
keys() { "$bin/fractald" "${VFLAGS[@]}" --redis_prefix "$1:" keys "${@:2}"; }

# api KEY METHOD PATH [curl args...]: the status on the first line, then the body (headers in h.txt, the
# body in body.out; $HF and $BF name other files, for calls made at once)
api() {
  local key=$1 method=$2 path=$3 hf=${HF:-h.txt} bf=${BF:-body.out}; shift 3
  curl -s -D "$hf" -o "$bf" -w '%{http_code}\n' -X "$method" ${key:+-H "Authorization: Bearer $key"} "$@" "$VURL$path"
  cat "$bf"
}
status_of() { head -1 <<< "$1"; }
body_of() { tail -n +2 <<< "$1"; }
field() { python3 -c "import json,sys; o=json.loads(sys.stdin.read()); print(eval('o' + sys.argv[1]))" "$1"; }
expect() { # NAME STATUS CODE OUTPUT
  local st body
  st=$(status_of "$4") body=$(body_of "$4")
  if [ "$st" = "$2" ] && { [ -z "$3" ] || printf '%s' "$body" | grep -q "\"code\":\"$3\""; }; then ok "$1 -> $2${3:+ $3}"
  else bad "$1: want $2 $3, got $st $body"; fi
}
wait_done() { # KEY ID: polls until completed or failed (at most 300 s); prints the object
  local o st
  for _ in $(seq 1500); do
    o=$(api "$1" GET "/v1/videos/$2")
    st=$(body_of "$o" | field "['status']" 2>/dev/null)
    [ "$st" = completed ] || [ "$st" = failed ] && { body_of "$o"; return 0; }
    sleep 0.2
  done
  body_of "$o"
}

# ---- keys ----
A=$(keys main create alice --rate 1000 --quota 100 2> keys.err)
B=$(keys main create bob --rate 1000 --quota 1 2>> keys.err)
S=$(keys main create slow --rate 2 2>> keys.err)
printf '%s\n%s\n%s\n' "$A" "$B" "$S" | grep -cE '^fk_[0-9a-f]{40}$' | grep -q 3 && grep -q "created key_[0-9a-f]\{12\} (alice)" keys.err &&
  ok "fractald keys create: three keys, shown once" || bad "keys create: $A $B $S $(cat keys.err)"
list=$(keys main list 2>&1)
[ "$(grep -c active <<< "$list")" = 3 ] && ! grep -q "$A" <<< "$list" && ! R --scan | grep -q "${A#fk_}" &&
  ok "fractald keys list: 3 active; Redis and the list hold no key itself" || bad "keys list: $list"
R --scan --pattern 'main:apikey:*' | grep -qE '^main:apikey:[0-9a-f]{64}$' && ok "a key is stored as its SHA-256" || bad "key storage: $(R --scan)"

start_verifier main
expect "no key" 401 unauthorized "$(api "" GET /v1/videos)"
grep -qi "^WWW-Authenticate: Bearer" h.txt && ok "401 says WWW-Authenticate: Bearer" || bad "no WWW-Authenticate: $(cat h.txt)"
expect "a malformed key" 401 unauthorized "$(api "fk_xyz" GET /v1/videos)"
expect "an unknown key" 401 unauthorized "$(api "fk_$(printf '0%.0s' $(seq 40))" GET /v1/videos)"

# ---- bad requests ----
post() { api "$1" POST /v1/videos -H 'Content-Type: application/json' -d "$2"; }
expect "an unknown field" 400 bad_request "$(post "$A" '{"prompt":"x","colour":"red"}')"
expect "frames and seconds" 400 bad_request "$(post "$A" '{"prompt":"x","frames":2,"seconds":1}')"
expect "no prompt" 400 bad_request "$(post "$A" '{"steps":2}')"
expect "a size not a multiple of 8" 400 bad_request "$(post "$A" '{"prompt":"x","size":"33x32"}')"
expect "a malformed size" 400 bad_request "$(post "$A" '{"prompt":"x","size":"32*32"}')"
expect "steps 0" 400 bad_request "$(post "$A" '{"prompt":"x","steps":0}')"
expect "a negative seed" 400 bad_request "$(post "$A" '{"prompt":"x","seed":-1}')"
expect "a repeated key" 400 bad_request "$(post "$A" '{"prompt":"x","prompt":"y"}')"
expect "another model" 422 model_not_served "$(post "$A" '{"prompt":"x","model":"00000000000000000000000000000000"}')"
expect "malformed JSON" 400 bad_request "$(post "$A" '{"prompt":')"

# ---- the life of a video ----
out=$(post "$A" '{"prompt":"a lighthouse in a storm","seed":5,"steps":2,"size":"32x48","seconds":0.25,"fps":8}')
expect "create" 201 "" "$out"
o=$(body_of "$out")
id=$(field "['id']" <<< "$o")
got=$(python3 -c "
import json,sys; o=json.loads(sys.argv[1]); j=o['job']
print(o['object']=='video' and o['status']=='queued' and o['progress']==0 and o['size']=='32x48' and o['frames']==2
      and o['fps']==8 and o['seconds']==0.25 and j['seed']==5 and j['steps']==2 and j['width']==32 and j['height']==48
      and j['job_id']==o['id'] and o['id'].startswith('video_'))" "$o")
[ "$got" = True ] && ok "the 201 object: queued, the job as it will run (2 frames from 0.25 s at 8 fps)" || bad "created object: $o"
done_o=$(wait_done "$A" "$id")
want=$("$bin/fractal-gen" -m tiny -q --seed 5 --steps 2 --frames 2 --width 32 --height 48 -o want.mp4 "a lighthouse in a storm")
got=$(python3 -c "
import json,sys; o=json.loads(sys.argv[1])
print(o['status']=='completed' and o['progress']==100 and o['digest']==sys.argv[2] and o['prover']==sys.argv[3]
      and o['check']['decode'] is True and o['check']['mode']=='spot' and o['check']['step'] in (0, 1)
      and o['completed_at']>=o['started_at']>=o['created_at'] and o['expires_at']>o['completed_at'])" "$done_o" "$want" "$K_honest")
[ "$got" = True ] && ok "completed: the digest is fractal-gen's for the same job, a step and the decode checked" || bad "completed: $done_o (want $want)"
st=$(api "$A" GET "/v1/videos/$id/content" | head -1)
[ "$st" = 200 ] && grep -qi "^Content-Type: video/mp4" h.txt && cp body.out full.mp4 &&
  probe=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 full.mp4) &&
  [ "$probe" = "32,48,2" ] && ok "content: an MP4 of 2 frames of 32x48" || bad "content: $st $(cat h.txt) $probe"
expect_range() { # NAME RANGE STATUS
  api "$A" GET "/v1/videos/$id/content" -H "Range: $2" > /dev/null
  local st
  st=$(head -1 h.txt | awk '{print $2}')
  [ "$st" = "$3" ] && ok "$1 -> $3" || bad "$1: want $3, got $st $(cat h.txt)"
}
expect_range "Range bytes=0-99" "bytes=0-99" 206
size=$(stat -c %s full.mp4)
cmp -s <(head -c 100 full.mp4) body.out && grep -qi "^Content-Range: bytes 0-99/$size" h.txt && ok "the range is the file's first 100 bytes" || bad "range bytes: $(cat h.txt)"
expect_range "Range bytes=-10 (the last 10)" "bytes=-10" 206
cmp -s <(tail -c 10 full.mp4) body.out && ok "a suffix range is the file's last 10 bytes" || bad "suffix range"
expect_range "Range past the end" "bytes=$size-" 416
st=$(api "$A" GET "/v1/videos/$id/content?variant=thumbnail" | head -1)
[ "$st" = 200 ] && [ "$(head -c 8 body.out | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] &&
  ok "the thumbnail is a PNG" || bad "thumbnail: $(cat h.txt)"
expect "an unknown variant" 400 bad_request "$(api "$A" GET "/v1/videos/$id/content?variant=gif")"
ls "$tmp/main-videos/$id.mp4" "$tmp/main-videos/$id.png" > /dev/null 2>&1 && ! ls "$tmp/main-videos" | grep -q tmp &&
  ok "videos_dir holds the MP4 and the thumbnail, nothing half-written" || bad "files: $(ls "$tmp/main-videos")"

# only the owner sees it
expect "another key's video" 404 not_found "$(api "$B" GET "/v1/videos/$id")"
expect "another key's content" 404 not_found "$(api "$B" GET "/v1/videos/$id/content")"
expect "another key deletes it" 404 not_found "$(api "$B" DELETE "/v1/videos/$id")"
out=$(api "$B" GET /v1/videos)
[ "$(body_of "$out" | field "['data']")" = "[]" ] && ok "another key's list is empty" || bad "bob's list: $out"
out=$(api "$A" GET "/v1/videos/$id/nothing")
[ "$(status_of "$out")" = 404 ] && ok "an unknown path under a video -> 404" || bad "unknown path: $out"

# ---- progress from the prover's step count ----
pid_=$(body_of "$(post "$A" '{"prompt":"a slow one","steps":40,"frames":8,"size":"64x64"}')" | field "['id']")
seen=""
for _ in $(seq 1500); do
  o=$(body_of "$(api "$A" GET "/v1/videos/$pid_")")
  seen="$seen $(field "['progress']" <<< "$o")"
  [ "$(field "['status']" <<< "$o")" = completed ] && break
  sleep 0.1
done
got=$(python3 -c "
import sys; p=[int(x) for x in sys.argv[1].split()]
print(p == sorted(p) and p[-1] == 100 and any(10 < x < 90 for x in p))" "$seen")
[ "$got" = True ] && ok "progress follows the prover's steps: $(tr ' ' '\n' <<< "$seen" | uniq | tr '\n' ' ')" || bad "progress: $seen"

# ---- the quota and the rate ----
expect "bob's one video today" 201 "" "$(post "$B" '{"prompt":"q","steps":1,"frames":1,"size":"16x16"}')"
bid=$(body_of "$(api "$B" GET /v1/videos)" | field "['data'][0]['id']")
expect "bob's second" 429 quota_exceeded "$(post "$B" '{"prompt":"q","steps":1,"frames":1,"size":"16x16"}')"
ra=$(sed -n 's/^Retry-After: *\([0-9]*\).*/\1/Ip' h.txt | tr -d '\r')
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 86400 ] && ok "quota: Retry-After $ra s (midnight UTC)" || bad "quota Retry-After: $(cat h.txt)"
api "$S" GET /v1/videos > /dev/null; api "$S" GET /v1/videos > /dev/null
expect "a third request in a minute at 2 a minute" 429 rate_limited "$(api "$S" GET /v1/videos)"
grep -qiE "^Retry-After: [0-9]+" h.txt && ok "rate: Retry-After" || bad "rate Retry-After: $(cat h.txt)"

# ---- the list and pagination ----
ids=()
for i in 1 2 3; do ids+=("$(body_of "$(post "$A" "{\"prompt\":\"p$i\",\"steps\":1,\"frames\":1,\"size\":\"16x16\"}")" | field "['id']")"); done
p1=$(body_of "$(api "$A" GET "/v1/videos?limit=2")")
p2=$(body_of "$(api "$A" GET "/v1/videos?limit=2&after=$(field "['last_id']" <<< "$p1")")")
got=$(python3 -c "
import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); first=sys.argv[3]; ids=sys.argv[4:]
print([v['id'] for v in a['data']]==[ids[2],ids[1]] and a['has_more'] is True and a['object']=='list'
      and [v['id'] for v in b['data']]==[ids[0],first] and b['has_more'] is True and b['first_id']==ids[0])" "$p1" "$p2" "$pid_" "${ids[@]}" 2>&1)
[ "$got" = True ] && ok "list: newest first, two pages of limit 2" || bad "pages: $got $p1 $p2"
expect "limit 0" 400 bad_request "$(api "$A" GET "/v1/videos?limit=0")"
expect "an unknown query parameter" 400 bad_request "$(api "$A" GET "/v1/videos?order=asc")"

# ---- deletion ----
out=$(api "$A" DELETE "/v1/videos/$id")
[ "$(status_of "$out")" = 200 ] && [ "$(body_of "$out" | field "['deleted']")" = True ] && ok "delete" || bad "delete: $out"
expect "a deleted video" 404 not_found "$(api "$A" GET "/v1/videos/$id")"
[ ! -e "$tmp/main-videos/$id.mp4" ] && ok "its files are gone" || bad "files left after delete"
for i in "${ids[@]}"; do wait_done "$A" "$i" > /dev/null; done
wait_done "$B" "$bid" > /dev/null

# ---- concurrent creators ----
C=()
for i in 1 2 3 4; do C+=("$(keys main create c$i --rate 1000 2> /dev/null)"); done
cp=()
for i in 0 1 2 3; do
  HF=c$i.h BF=c$i.b post "${C[$i]}" "{\"prompt\":\"creator $i\",\"seed\":$i,\"steps\":1,\"frames\":2,\"size\":\"16x16\"}" > "c$i.out" &
  cp+=($!)
done
wait "${cp[@]}"
all=1
for i in 0 1 2 3; do
  cid=$(tail -n +2 "c$i.out" | field "['id']" 2>/dev/null)
  [ "$(head -1 "c$i.out")" = 201 ] && [ "$(wait_done "${C[$i]}" "$cid" | field "['status']")" = completed ] || all=0
done
[ $all = 1 ] && ok "four creators at once: four completed videos" || bad "concurrent creators: $(cat c*.out)"

# ---- a restart while videos run ----
kill -STOP "$P_honest" # the prover holds the job: the video stays in progress
rid=$(body_of "$(post "$A" '{"prompt":"through a restart","steps":1,"frames":1,"size":"16x16"}')" | field "['id']")
for _ in $(seq 100); do [ "$(body_of "$(api "$A" GET "/v1/videos/$rid")" | field "['status']")" = in_progress ] && break; sleep 0.1; done
[ "$(R LLEN main:video_running)" = 1 ] && ok "a running video is held in video_running" || bad "running list: $(R LRANGE main:video_running 0 -1)"
kill -9 "$VPID"; wait "$VPID" 2>/dev/null
kill -CONT "$P_honest"
start_verifier main
grep -q "1 videos that were running at the last stop are queued again" main.log && ok "restart: the running video is queued again" || bad "requeue: $(grep videos main.log | tail -3)"
for _ in $(seq 100); do curl -sf "$VURL/healthz" > /dev/null && break; sleep 0.1; done # answering, not only logged
[ "$(wait_done "$A" "$rid" | field "['status']")" = completed ] && ok "restart: the video completes" ||
  bad "after restart: $(api "$A" GET "/v1/videos/$rid") (verifier $VPID $(kill -0 "$VPID" 2>/dev/null && echo alive || echo gone) at $VURL; its log: $(tail -8 main.log))"

# ---- the Python client, every answer checked against the OpenAPI document ----
python3 "$here/openapi_check.py" "$here/../docs/openapi-videos.json" > openapi.out 2>&1 && ok "docs/openapi-videos.json is well formed" ||
  bad "openapi document: $(cat openapi.out)"
P1=$(keys main create py1 --rate 1000 2> /dev/null) P2=$(keys main create py2 --rate 1000 2> /dev/null)
if PYTHONPATH="$here/../python:$here" python3 "$here/videos_client.py" "$VURL" "$P1" "$P2" "$here/../docs/openapi-videos.json" > client.out 2>&1; then
  ok "tests/videos_client.py: $(grep -c '^ok' client.out) checks of the Python client and the OpenAPI document"
else
  bad "tests/videos_client.py: $(grep -v '^ok' client.out | head -20)"
fi

# ---- Redis away ----
redis_stop
expect "Redis away: create" 503 unavailable "$(post "$A" '{"prompt":"x"}')"
redis_start
expect "Redis back: a request" 200 "" "$(api "$A" GET /v1/videos)"

# ---- retention and the size cap ----
kill -TERM "$VPID"; wait "$VPID" 2>/dev/null
K=$(keys keep create keeper --rate 1000 2> /dev/null)
start_verifier keep --videos_workers 1 --videos_retention_s 3
k1=$(body_of "$(post "$K" '{"prompt":"kept a while","steps":1,"frames":4,"size":"32x32"}')" | field "['id']")
wait_done "$K" "$k1" > /dev/null
sleep 3.5
k2=$(body_of "$(post "$K" '{"prompt":"the next","steps":1,"frames":1,"size":"16x16"}')" | field "['id']")
wait_done "$K" "$k2" > /dev/null # a video done: the worker sweeps
expect "a video past videos_retention_s" 404 not_found "$(api "$K" GET "/v1/videos/$k1")"
[ ! -e "$tmp/keep-videos/$k1.mp4" ] && grep -q "videos: $k1 expired" keep.log && ok "its files are gone, the log says so" || bad "expiry: $(ls "$tmp/keep-videos")"
# the size cap (another verifier, videos kept long): filler that puts the files one byte over videos_max_mb
# once a small video is added; the oldest video, the largest, goes and the newer ones stay
kill -TERM "$VPID"; wait "$VPID" 2>/dev/null
Kc=$(keys cap create capped --rate 1000 2> /dev/null)
start_verifier cap --videos_workers 1 --videos_max_mb 1
c1=$(body_of "$(post "$Kc" '{"prompt":"the oldest","steps":1,"frames":4,"size":"32x32"}')" | field "['id']")
wait_done "$Kc" "$c1" > /dev/null
c2=$(body_of "$(post "$Kc" '{"prompt":"second","steps":1,"frames":1,"size":"16x16"}')" | field "['id']")
wait_done "$Kc" "$c2" > /dev/null
used=$(du -cb "$tmp/cap-videos"/* | tail -1 | cut -f1)
head -c $((1048576 - used + 1)) /dev/zero > "$tmp/cap-videos/filler.bin" # over the cap by one byte
c3=$(body_of "$(post "$Kc" '{"prompt":"third","steps":1,"frames":1,"size":"16x16"}')" | field "['id']")
wait_done "$Kc" "$c3" > /dev/null
for _ in $(seq 100); do # the worker sweeps once the video is done
  out=$(api "$Kc" GET "/v1/videos/$c1")
  [ "$(status_of "$out")" = 404 ] && break
  sleep 0.1
done
[ "$(status_of "$out")" = 404 ] && [ ! -e "$tmp/cap-videos/$c1.mp4" ] && ok "over videos_max_mb: the oldest video goes" ||
  bad "cap: $(status_of "$out") used $used $(ls -l "$tmp/cap-videos") $(grep videos: cap.log | tail -5)"
expect "the newer ones stay ($c2)" 200 "" "$(api "$Kc" GET "/v1/videos/$c2")"
expect "the newer ones stay ($c3)" 200 "" "$(api "$Kc" GET "/v1/videos/$c3")"

# ---- verify_mode full: the verifier regenerates the whole job before it keeps the answer ----
kill -TERM "$VPID"; wait "$VPID" 2>/dev/null
F=$(keys full create fully --rate 1000 2> /dev/null)
start_verifier full --verify_mode full
fid=$(body_of "$(post "$F" '{"prompt":"checked in full","seed":9,"steps":2,"frames":2,"size":"16x16"}')" | field "['id']")
fo=$(wait_done "$F" "$fid")
want=$("$bin/fractal-gen" -m tiny -q --seed 9 --steps 2 --frames 2 --width 16 --height 16 -o wantf.mp4 "checked in full")
[ "$(field "['status']" <<< "$fo")" = completed ] && [ "$(field "['check']" <<< "$fo")" = "{'mode': 'full', 'decode': True}" ] &&
  [ "$(field "['digest']" <<< "$fo")" = "$want" ] && ok "verify_mode full: the whole job regenerated, the decode checked, fractal-gen's digest" ||
  bad "full: $fo (want $want)"

# ---- a prover that lies: its video is never served ----
kill -TERM "$VPID"; wait "$VPID" 2>/dev/null
L=$(keys liar create lied-to 2> /dev/null)
start_verifier liar --registry registry-liar.json
lid=$(body_of "$(post "$L" '{"prompt":"a lie","steps":2,"frames":2,"size":"16x16"}')" | field "['id']")
lo=$(wait_done "$L" "$lid")
[ "$(field "['status']" <<< "$lo")" = failed ] && [ "$(field "['error']['code']" <<< "$lo")" = provers_failed ] &&
  ok "the liar's video fails: $(field "['error']['message']" <<< "$lo" | cut -c1-90)" || bad "liar: $lo"
expect "the liar's content" 409 not_ready "$(api "$L" GET "/v1/videos/$lid/content")"
[ -z "$(ls "$tmp/liar-videos")" ] && ok "no file of the liar's video" || bad "liar files: $(ls "$tmp/liar-videos")"

# ---- metrics ----
m=$(curl -s "$VURL/metrics")
printf '%s' "$m" | grep -q '^fractal_videos_total{outcome="failed"} 1$' && ok "metrics: the failed video counted" || bad "metrics: $(grep videos <<< "$m")"

[ $fails -eq 0 ] && echo "daemon_videos: all passed" || echo "daemon_videos: $fails FAILED"
exit $((fails > 0))
