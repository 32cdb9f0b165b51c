#!/usr/bin/env bash
# fractal-replay's inputs, refused where they are malformed: numeric options that are not numbers (usage,
# exit 2), a .npy latent whose shape's element count wraps around 2^64 to the job's latent size, and a
# record whose hashes are uppercase; the honest record (fractal-gen --json, as it is) and latent match;
# a record with any field tampered with is a mismatch naming that field. Usage: replay_cli.sh BIN_DIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
expect() { # expect NAME WANT_STATUS GREP_PATTERN -- command...
  local name=$1 want=$2 pat=$3; shift 4
  local out status
  out=$("$@" 2>&1); status=$?
  if [ "$status" -ne "$want" ]; then bad "$name: exit $status, want $want: $out"; return; fi
  if [ -n "$pat" ] && ! printf '%s' "$out" | grep -qE -- "$pat"; then bad "$name: output lacks /$pat/: $out"; return; fi
  ok "$name"
}

"$bin/fractal-mkmodel" -q tiny >/dev/null 2>&1 || { echo "FAIL fractal-mkmodel"; exit 1; }
# 2 frames of 16x16: a latent of 4 x 2 x 2 x 2 = 32 values
"$bin/fractal-gen" -m tiny -q --seed 7 --steps 2 --frames 2 --height 16 --width 16 --json --dump dump -o v.mp4 \
  "a lighthouse" > result.json || { echo "FAIL fractal-gen"; exit 1; }
cp result.json rec.json # fractal-gen --json writes a record: the job as run and its result

expect "--step abc" 2 "^fractal-replay: --step abc: want a step number in 0\.\.199" -- \
  "$bin/fractal-replay" -m tiny --step abc --latent dump/latents_000.npy rec.json
expect "--step abc prints the usage" 2 "^usage: fractal-replay" -- \
  "$bin/fractal-replay" -m tiny --step abc --latent dump/latents_000.npy rec.json
expect "--step 1x" 2 "^fractal-replay: --step 1x: want" -- "$bin/fractal-replay" -m tiny --step 1x --latent x rec.json
expect "--step -1" 2 "^fractal-replay: --step -1: want" -- "$bin/fractal-replay" -m tiny --step -1 --latent x rec.json
expect "--step ''" 2 "^fractal-replay: --step : want" -- "$bin/fractal-replay" -m tiny --step '' --latent x rec.json
expect "--threads two" 2 "^fractal-replay: --threads two: want 0\.\.1024" -- "$bin/fractal-replay" -m tiny --threads two rec.json
expect "--redis host:port6379" 2 "^fractal-replay: --redis 127.0.0.1:port6379: want HOST:PORT" -- \
  "$bin/fractal-replay" -m tiny --redis 127.0.0.1:port6379 --challenge 1-0

expect "the honest record matches" 0 "^match: 2 steps" -- "$bin/fractal-replay" -m tiny rec.json
expect "step 0 from the dumped latent matches" 0 "^match: step 0" -- \
  "$bin/fractal-replay" -m tiny --step 0 --latent dump/latents_000.npy rec.json

# The same 32 floats under the shape (4, 4611686018427387912): 4 x that is 2^64 + 32
dict="{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4611686018427387912), }"
hlen=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 - 10 ))
{ printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((hlen % 256)))\\x$(printf %02x $((hlen / 256)))"
  printf '%-*s\n' $((hlen - 1)) "$dict"; tail -c 128 dump/latents_000.npy; } > wrapped.npy
expect "a .npy shape whose count wraps to the latent size" 2 "wrapped.npy: shape is too large" -- \
  "$bin/fractal-replay" -m tiny --step 0 --latent wrapped.npy rec.json

digest=$(grep -o '"digest":"[0-9a-f]*"' rec.json | cut -d'"' -f4)
sed "s/\"digest\":\"$digest\"/\"digest\":\"$(printf %s "$digest" | tr a-f A-F)\"/" rec.json > upper.json
expect "an uppercase digest" 2 "result: digest is not 32 lowercase hex digits" -- "$bin/fractal-replay" -m tiny upper.json

# every field of a result is checked: each tampered field is named (exit 1)
tamper() { # tamper NAME PYTHON-STATEMENT-ON-r (the record's result) WANT_PATTERN
  python3 -c "import json,sys; d=json.load(open('rec.json')); r=d['result']; $2; json.dump(d, open('t.json','w'))" &&
    expect "tampered $1" 1 "$3" -- "$bin/fractal-replay" -m tiny t.json
}
tamper "step_hashes[1]" "r['step_hashes'][1] = ('0' if r['step_hashes'][1][0] != '0' else '1') + r['step_hashes'][1][1:]" \
  "MISMATCH: step_hashes: the first diverging step is 1 of 2 .*1 of the 2 step hashes differ"
tamper "frames_hash" "r['frames_hash'] = ('0' if r['frames_hash'][0] != '0' else '1') + r['frames_hash'][1:]" \
  "MISMATCH: frames_hash: the record says"
tamper "frame_hashes[1]" "r['frame_hashes'][1] = ('0' if r['frame_hashes'][1][0] != '0' else '1') + r['frame_hashes'][1][1:]" \
  "MISMATCH: frame_hashes: 1 of 2 frames differ: 1\$"
tamper "digest" "r['digest'] = ('0' if r['digest'][0] != '0' else '1') + r['digest'][1:]" \
  "MISMATCH: digest: the record says"
tamper "the job's prompt" "d['job']['prompt'] = 'a lighthouse!'" "MISMATCH: step_hashes: the first diverging step is 0"
python3 -c "import json; d=json.load(open('rec.json')); d['result']['step_hashes'].pop(); json.dump(d, open('t.json','w'))"
expect "a step hash missing" 2 "step_hashes" -- "$bin/fractal-replay" -m tiny t.json
python3 -c "import json; d=json.load(open('rec.json')); d['job']['model'] = d['result']['model'] = '0'*32; json.dump(d, open('t.json','w'))"
expect "another model" 2 "the job is for model 0{32}" -- "$bin/fractal-replay" -m tiny t.json

# the result echoes the size it ran: a record whose job leaves the size out takes it from there; a result
# whose size is not the job's is refused
python3 -c "import json; d=json.load(open('rec.json')); del d['job']['height'], d['job']['width']; json.dump(d, open('t.json','w'))"
expect "a job without a size: the result's size" 0 "^match: 2 steps" -- "$bin/fractal-replay" -m tiny t.json
python3 -c "import json; d=json.load(open('rec.json')); d['result']['height'] = 24; json.dump(d, open('t.json','w'))"
expect "a result of another size" 2 "result: height 24 is not the job's 16" -- "$bin/fractal-replay" -m tiny t.json

[ $fails -eq 0 ] && echo "replay_cli: all passed" || echo "replay_cli: $fails FAILED"
exit $((fails > 0))
