#!/usr/bin/env bash
# fractal-gen and fractal-mkmodel as a user runs them: options, errors (one line, non-zero exit), a
# playable MP4 (checked with ffprobe), the PNG sheet, --json, --dump and --init-latents, the demo model,
# and the same digest for the same job with any thread count or shard count. Usage: tools.sh BIN_DIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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

# every binary says what it is: version, the source commit (12 hex digits, -dirty with uncommitted
# changes, or unknown outside a git checkout), build type and CUDA backend
for prog in fractal-gen fractal-replay fractal-client fractal-keygen fractal-mkmodel fractald fractal-bench fractal-load; do
  [ -x "$bin/$prog" ] || continue
  expect "$prog --version" 0 "^$prog [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}(-dirty)?|unknown), [A-Za-z]+, CUDA (off|on: [0-9;]+|emulated)\)\$" -- "$bin/$prog" --version
done
expect "gen --help" 0 "usage: fractal-gen" -- "$bin/fractal-gen" --help
expect "gen without a prompt" 2 "no prompt given" -- "$bin/fractal-gen"
expect "gen --steps 0" 2 "^fractal-gen: --steps 0: want 1..200" -- "$bin/fractal-gen" --steps 0 x
expect "gen --height 100" 2 "want a multiple of 8" -- "$bin/fractal-gen" --height 100 x
expect "gen --scheduler euler" 2 "want ddim or dpm\+\+2m" -- "$bin/fractal-gen" --scheduler euler x
expect "gen --seed -1" 2 "--seed -1" -- "$bin/fractal-gen" --seed -1 x
expect "gen unknown option" 2 "usage" -- "$bin/fractal-gen" --colour red x
expect "gen missing model" 1 "^fractal-gen: loading the model: .*/nonexistent" -- "$bin/fractal-gen" -m "$tmp/nonexistent" -q x
expect "gen bad backend" 1 "unknown backend 'tpu'" -- "$bin/fractal-gen" --backend tpu -m "$tmp/nonexistent" x
expect "mkmodel --help" 0 "usage: fractal-mkmodel" -- "$bin/fractal-mkmodel" --help
expect "mkmodel bad preset" 1 "unknown preset \"huge\"" -- "$bin/fractal-mkmodel" -q -p huge "$tmp/x"
expect "mkmodel tiny" 0 "wrote the tiny model" -- "$bin/fractal-mkmodel" -q "$tmp/tiny"

gen() { "$bin/fractal-gen" -m "$tmp/tiny" -q --frames 8 --steps 4 "$@" "a lighthouse in a storm"; }
d1=$(gen -o "$tmp/a.mp4" --sheet "$tmp/a.png" --threads 1)
d2=$(gen -o "$tmp/b.mp4" --threads 2)
if printf '%s' "$d1" | grep -qE '^[0-9a-f]{32}$'; then ok "gen prints the job digest"; else bad "gen output: $d1"; fi
if [ "$d1" = "$d2" ]; then ok "same digest with 1 and 2 threads"; else bad "digests differ: $d1 $d2"; fi
probe=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,width,height,nb_read_frames,r_frame_rate -of default=nw=1 "$tmp/a.mp4" 2>&1)
if printf '%s' "$probe" | grep -q "codec_name=h264" && printf '%s' "$probe" | grep -q "nb_read_frames=8" &&
   printf '%s' "$probe" | grep -q "width=64" && printf '%s' "$probe" | grep -q "r_frame_rate=8/1"; then
  ok "the MP4 decodes: 8 H.264 frames of 64x64 at 8 fps"
else
  bad "ffprobe: $probe"
fi
if [ "$(head -c 8 "$tmp/a.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then ok "PNG sheet"; else bad "no PNG sheet"; fi
json=$(gen -o "$tmp/c.mp4" --json)
if printf '%s' "$json" | grep -q "\"digest\":\"$d1\"" && [ "$(printf '%s' "$json" | grep -o '"[0-9a-f]\{32\}"' | wc -l)" -ge 6 ]; then
  ok "--json: 4 step hashes, frames hash and digest"
else
  bad "--json: $json"
fi

gen -o "$tmp/d.mp4" --dump "$tmp/dump" >/dev/null
n=$(ls "$tmp/dump" | wc -l)
if [ -f "$tmp/dump/tokens.npy" ] && [ -f "$tmp/dump/latents_004.npy" ] && [ -f "$tmp/dump/frames_u8.npy" ] && [ "$n" -eq 13 ]; then
  ok "--dump writes 13 arrays"
else
  bad "--dump: $(ls "$tmp/dump" | tr '\n' ' ')"
fi
# the output format follows the name: WebM, GIF, one PNG per frame (lossless: the frames' own bytes)
gen -o "$tmp/v.webm" > /dev/null && gen -o "$tmp/v.gif" > /dev/null && gen -o "$tmp/fr_%03d.png" > /dev/null
probe=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of default=nw=1 "$tmp/v.webm" 2>&1)
printf '%s' "$probe" | grep -qE "codec_name=vp[89]" && printf '%s' "$probe" | grep -q "nb_read_frames=8" &&
  ok "-o v.webm: 8 VP9 frames" || bad "webm: $probe"
probe=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of default=nw=1 "$tmp/v.gif" 2>&1)
printf '%s' "$probe" | grep -q "codec_name=gif" && printf '%s' "$probe" | grep -q "nb_read_frames=8" && printf '%s' "$probe" | grep -q "width=64" &&
  ok "-o v.gif: 8 GIF frames of 64x64" || bad "gif: $probe"
same=1
for f in 0 7; do
  ffmpeg -v error -i "$tmp/fr_00$f.png" -f rawvideo -pix_fmt rgb24 - > "$tmp/fr$f.raw" 2>/dev/null || same=0
  python3 -c "
import sys; raw = open('$tmp/dump/frames_u8.npy', 'rb').read(); n = 64 * 64 * 3
sys.exit(open('$tmp/fr$f.raw', 'rb').read() != raw[len(raw) - 8 * n + $f * n:][:n])" || same=0
done
[ $same -eq 1 ] && [ -f "$tmp/fr_007.png" ] && [ ! -e "$tmp/fr_008.png" ] && ok "-o fr_%03d.png: 8 PNGs holding the frames' bytes" ||
  bad "png frames: $(ls "$tmp" | grep fr_ | tr '\n' ' ')"
expect "-o an unknown format" 2 "^fractal-gen: -o v.avi: not a format Fractal writes: want .mp4, .webm, .gif" -- "$bin/fractal-gen" -o v.avi x
expect "-o a pattern with two numbers" 2 "exactly one frame number" -- "$bin/fractal-gen" -o "%d_%d.png" x
# --seed random: a fresh seed each run, printed, and the run is that seed's
out=$("$bin/fractal-gen" -m "$tmp/tiny" -q --frames 2 --steps 1 --seed random --json -o "$tmp/r1.mp4" x 2> "$tmp/r1.err")
s1=$(sed -n 's/^fractal-gen: seed \([0-9]*\) (random)$/\1/p' "$tmp/r1.err")
"$bin/fractal-gen" -m "$tmp/tiny" -q --frames 2 --steps 1 --seed random -o "$tmp/r2.mp4" x 2> "$tmp/r2.err" > /dev/null
s2=$(sed -n 's/^fractal-gen: seed \([0-9]*\) (random)$/\1/p' "$tmp/r2.err")
again=$("$bin/fractal-gen" -m "$tmp/tiny" -q --frames 2 --steps 1 --seed "$s1" -o "$tmp/r3.mp4" x)
[ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ] && printf '%s' "$out" | grep -q "\"seed\":$s1," && printf '%s' "$out" | grep -q "\"digest\":\"$again\"" &&
  ok "--seed random: two runs, two seeds ($s1, $s2), each printed and reproducible" || bad "seed random: '$s1' '$s2' $(cat "$tmp/r1.err")"
d3=$(gen -o "$tmp/e.mp4" --init-latents "$tmp/dump/latents_000.npy")
if [ "$d3" = "$d1" ]; then ok "--init-latents with the Philox noise gives the same digest"; else bad "init latents: $d3 vs $d1"; fi
expect "init latents of the wrong shape" 1 "shape must be \(1, 4, 8, 8, 8\)" -- \
  "$bin/fractal-gen" -m "$tmp/tiny" -q --frames 8 --steps 2 --init-latents "$tmp/dump/frames.npy" -o "$tmp/f.mp4" x
expect "init latents not a file" 1 "--init-latents" -- \
  "$bin/fractal-gen" -m "$tmp/tiny" -q --init-latents "$tmp/none.npy" -o "$tmp/f.mp4" x

out=$(HOME="$tmp/home" XDG_CACHE_HOME= "$bin/fractal-gen" -q --frames 2 --steps 1 -o "$tmp/g.mp4" "demo" 2>&1)
if printf '%s' "$out" | grep -q "built-in demo model" && [ -f "$tmp/home/.cache/fractal/demo-tiny/model_index.json" ] && [ -f "$tmp/g.mp4" ]; then
  ok "the built-in demo model is made and used when no model is given"
else
  bad "demo model: $out"
fi
d5=$(gen -o "$tmp/s.mp4" --backend cpu --shards 3)
if [ "$d5" = "$d1" ] && cmp -s "$tmp/s.mp4" "$tmp/b.mp4"; then ok "--shards 3: the same digest and MP4 bytes"; else bad "--shards 3: $d5 vs $d1"; fi
expect "--shards 0" 2 "^fractal-gen: --shards 0: want 1..64" -- "$bin/fractal-gen" --shards 0 x
expect "--shards over the frame count" 1 "5 ranks split the frames 5 ways, but the job has 4 frames" -- \
  "$bin/fractal-gen" -m "$tmp/tiny" -q --frames 4 --steps 1 --shards 5 -o "$tmp/t.mp4" x
expect "--shards with --dump" 2 "a sharded run does not keep" -- "$bin/fractal-gen" --shards 2 --dump "$tmp/dd" x
expect "--devices repeated" 2 "--devices 0,0: want CUDA device numbers" -- "$bin/fractal-gen" --devices 0,0 x
expect "--devices with --shards" 2 "give one or the other" -- "$bin/fractal-gen" --devices 0,1 --shards 2 x
FRACTAL_MODEL="$tmp/tiny" "$bin/fractal-gen" -q --frames 8 --steps 4 -o "$tmp/h.mp4" "a lighthouse in a storm" > "$tmp/d4"
if [ "$(cat "$tmp/d4")" = "$d1" ]; then ok "FRACTAL_MODEL selects the model"; else bad "FRACTAL_MODEL"; fi

# fractal-bench: JSON lines say where they were measured; --baseline flags a case slower beyond both spreads
bench() { "$bin/fractal-bench" -b cpu -t 1 -n 1 -r 3 -o layer_norm_320 "$@"; }
bench --json > "$tmp/base.json"
if python3 -c "
import json, sys
d = json.loads(open(sys.argv[1]).readline())
assert d['case'] == 'layer_norm_320_b32' and d['ms_min'] <= d['ms'] <= d['ms_max'] and d['threads'] == 1
assert len(d['commit']) >= 7 and d['date'].endswith('Z') and d['machine'] and d['cpu'] and d['images'] == 1
" "$tmp/base.json"; then ok "fractal-bench --json: min/median/max, commit, date, machine, cpu, threads"
else bad "fractal-bench --json: $(cat "$tmp/base.json")"; fi
python3 -c "
import json, sys
d = json.loads(open(sys.argv[1]).readline())
d['ms'] = d['ms_min'] = d['ms_max'] = d['ms'] / 1000
print(json.dumps(d))" "$tmp/base.json" > "$tmp/fast.json"
expect "fractal-bench --baseline: a regression" 3 "layer_norm_320_b32 .*the baseline .*REGRESSION" -- bench --baseline "$tmp/fast.json"
python3 -c "
import json, sys
d = json.loads(open(sys.argv[1]).readline())
d['ms'] = d['ms_min'] = d['ms_max'] = d['ms'] * 1000
print(json.dumps(d))" "$tmp/base.json" > "$tmp/slow.json"
expect "fractal-bench --baseline: faster" 0 "layer_norm_320_b32 .*x the baseline .*faster" -- bench --baseline "$tmp/slow.json"
expect "fractal-bench --baseline: not JSON" 2 "--baseline .*:1: not a JSON object" -- bench --baseline "$tmp/d4"
expect "fractal-bench unknown op" 1 "^fractal-bench: no benchmark case matches \"nosuchop\"" -- "$bin/fractal-bench" -o nosuchop

[ $fails -eq 0 ] && echo "tools: all passed" || echo "tools: $fails FAILED"
exit $((fails > 0))
