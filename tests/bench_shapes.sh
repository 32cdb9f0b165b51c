#!/usr/bin/env bash
# fractal-bench --shapes: the op cases of a model's own job. Runs them on the tiny and small presets (timed
# once, bits checked against the CPU reference) and checks what they hold: every op kind the model runs,
# the preset's channel widths, 77 text keys in cross-attention, the frames as temporal attention's tokens;
# that a folder fractal-mkmodel wrote lists the same cases as its preset; the ms-1.7b shapes (listed, and its
# attentions run at 2 frames); --baseline on these cases; bad models refused. Usage: bench_shapes.sh BIN_DIR
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
bench() { "$bin/fractal-bench" -b cpu -t 2 "$@"; }

# check MODEL FRAMES WIDTHS JSON_FILE: what a --shapes --json --check run must hold
check() {
  python3 - "$@" <<'EOF'
import json, re, sys
model, frames, widths, path = sys.argv[1], int(sys.argv[2]), [int(w) for w in sys.argv[3].split(",")], sys.argv[4]
cases = [json.loads(line) for line in open(path)]
by = {c["case"]: c for c in cases}
problems = []
def need(cond, what):
    if not cond: problems.append(what)
need(len(by) == len(cases), "case names are not unique")
for c in cases:
    need("error" not in c, f"{c['case']}: {c.get('error')}")
    need(c.get("check") == "same bits", f"{c['case']}: check {c.get('check')}")
    need(c["case"].startswith(c["op"] + "_"), f"{c['case']} does not start with its op {c['op']}")
    need(c.get("model") == model and c.get("calls", 0) >= 1 and c.get("stage") in ("clip", "unet", "step", "vae"),
         f"{c['case']}: model, stage, calls {c.get('model')} {c.get('stage')} {c.get('calls')}")
    need(c["images"] == 2 * frames, f"{c['case']}: images {c['images']}")
ops = {c["op"] for c in cases}
for op in ["linear", "conv2d", "conv_frames", "group_norm", "layer_norm", "attention", "activate", "geglu",
           "upsample_nearest", "concat", "add", "scale", "permute", "embedding", "timestep_embedding", "guidance",
           "sched_dpm_x0", "sched_dpm_update", "frames_u8"]:
    need(op in ops, f"no {op} case")
def named(pattern):
    return [c for c in cases if re.search(pattern, c["case"])]
# every role the model runs, with the shapes it runs them at
for pattern in [r"^linear_unet_l0_attn_qkv$", r"^linear_unet_l\d_attn_out$", r"^linear_unet_l\d_cross_kv$",
                r"^linear_unet_l\d_geglu_proj$", r"^linear_unet_l\d_ff_out$", r"^linear_unet_time_1$",
                r"^linear_unet_l\d_temb_\d+$", r"^linear_unet_l0_tin_proj_in$", r"^linear_clip_attn_qkv$",
                r"^linear_clip_fc1$", r"^linear_clip_fc2$", r"^linear_vae_l\d_attn_qkv$", r"^conv2d_unet_conv_in$",
                r"^conv2d_unet_conv_out$", r"^conv2d_unet_l\d_3x3_\d+$", r"^conv2d_unet_l\d_1x1_\d+_\d+$",
                r"^conv2d_unet_l0_down$", r"^conv2d_vae_l\d_3x3_\d+$", r"^conv2d_vae_l\d_post_quant$",
                r"^conv_frames_unet_l0(_res)?$", r"^group_norm_unet_l\d_silu_\d+$", r"^group_norm_unet_l0_frames$",
                r"^group_norm_unet_l0_temporal$", r"^group_norm_unet_l0_spatial$", r"^group_norm_vae_l\d_attn$",
                r"^attention_unet_l0_self$", r"^attention_unet_l\d_cross$", r"^attention_unet_l0_temporal$",
                r"^attention_unet_l0_tin$", r"^attention_clip_causal$", r"^attention_vae_l\d_mid$",
                r"^upsample_nearest_unet_l\d$", r"^upsample_nearest_vae_l\d$", r"^concat_unet_l\d_skip_\d+_\d+$",
                r"^layer_norm_unet_l0$", r"^layer_norm_clip$", r"^geglu_unet_l0$", r"^permute_unet_l0_temporal_tokens$"]:
    need(named(pattern), f"no case named /{pattern}/")
for c in named(r"^conv2d_unet_l0_down$"):
    need(" s2 p1" in c["shape"], f"downsample: {c['shape']}")
for c in named(r"^conv2d_unet_l\d_1x1_"):
    need(" k1 s1 p0" in c["shape"], f"shortcut: {c['shape']}")
for c in named(r"^attention_unet_l\d_cross$"):
    need(re.match(rf"{2 * frames}x\d+x77 ", c["shape"]) and "grouped" in c["shape"], f"cross attention: {c['shape']}")
for c in named(r"^attention_unet_l\d_(temporal|tin)$"):
    need(re.match(rf"\d+x{frames}x{frames} ", c["shape"]), f"temporal attention: {c['shape']}")
for c in named(r"^attention_clip_causal$"):
    need(re.match(r"2x77x77 .* causal$", c["shape"]), f"text attention: {c['shape']}")
for c in named(r"^(group_norm|conv_frames)_unet_l\d_(frames|temporal)(_res)?$") + named(r"^conv_frames_"):
    need(f" F={frames}" in c["shape"], f"{c['case']}: {c['shape']}")
for w in widths:
    need(any(c["op"] == "conv2d" and f"->{w} k3" in c["shape"] for c in cases), f"no 3x3 conv to {w} channels")
    need(any(c["op"] == "group_norm" and re.match(rf"\[{2 * frames}, {w}, ", c["shape"]) for c in cases),
         f"no group norm of {w} channels")
need(all(" f16" in c["shape"] for c in cases if c["op"] in ("linear", "conv2d") and "_unet_" in c["case"]),
     "the UNet's weights are not F16")
need(all(" f16" not in c["shape"] for c in cases if "_vae_" in c["case"]), "the VAE's weights are not F32")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF
}

bench --shapes tiny -r 1 --json --check > "$tmp/tiny.json"; status=$?
if [ $status -eq 0 ] && check tiny 16 32,64 "$tmp/tiny.json"; then ok "--shapes tiny: $(wc -l < "$tmp/tiny.json") cases, every op, checked"
else bad "--shapes tiny (exit $status)"; fi
bench --shapes small --frames 2 -r 1 --json --check > "$tmp/small.json"; status=$?
if [ $status -eq 0 ] && check small 2 32,64 "$tmp/small.json"; then ok "--shapes small --frames 2: $(wc -l < "$tmp/small.json") cases, every op, checked"
else bad "--shapes small (exit $status)"; fi
out=$(bench --shapes tiny -r 1 --check -o conv2d_unet_l0_down)
if printf '%s\n' "$out" | grep -qE "^conv2d_unet_l0_down +\[32, 32, 8, 8\]->32 k3 s2 p1 f16 \+b( +[0-9.]+){3} +1 .*same bits$" &&
   printf '%s\n' "$out" | grep -qE "^the cases run, median x calls: text encoder 0.0 ms, one step \(UNet, guidance, scheduler\) [0-9.]+ ms"; then
  ok "--shapes table: calls and the stages' sums"
else
  bad "--shapes table: $out"
fi
expect "--shapes --op filters by op" 0 "" -- bash -c "'$bin/fractal-bench' --shapes tiny --list -o attention_ | awk '\$1 !~ /^attention_/ { exit 1 }'"

# a model folder: the same cases as its preset (the folder's F32 weights: as --dtype f32)
"$bin/fractal-mkmodel" -q -p tiny "$tmp/tiny" > /dev/null 2>&1 || bad "fractal-mkmodel"
bench --shapes tiny --list > "$tmp/preset.txt"
bench --shapes tiny --dtype f32 --list > "$tmp/preset32.txt"
bench --shapes "$tmp/tiny" --list > "$tmp/folder.txt"
if [ -s "$tmp/folder.txt" ] && cmp -s "$tmp/folder.txt" "$tmp/preset32.txt" &&
   [ "$(awk '{print $1}' "$tmp/folder.txt")" = "$(awk '{print $1}' "$tmp/preset.txt")" ]; then
  ok "--shapes DIR: the preset's $(wc -l < "$tmp/folder.txt") cases, shapes and calls, in the folder's F32"
else
  bad "--shapes DIR differs from --shapes tiny: $(diff "$tmp/folder.txt" "$tmp/preset32.txt" | head -5)"
fi

# ms-1.7b: the real widths, heads and text width (listed), and its attentions run at 2 frames
bench --shapes ms-1.7b --list --json > "$tmp/ms.json"
if python3 - "$tmp/ms.json" <<'EOF'
import json, sys
cases = {c["case"]: c["shape"] for c in map(json.loads, open(sys.argv[1]))}
want = {
    "conv2d_unet_conv_in": "[32, 4, 32, 32]->320 k3 s1 p1 f16 +b",
    "conv2d_unet_l1_3x3_320_640": "[32, 320, 16, 16]->640 k3 s1 p1 f16 +b",
    "conv2d_unet_l2_3x3_640_1280": "[32, 640, 8, 8]->1280 k3 s1 p1 f16 +b",
    "conv2d_unet_l3_3x3_1280_res": "[32, 1280, 4, 4]->1280 k3 s1 p1 f16 +b+r",
    "attention_unet_l0_self": "32x1024x1024 H=5 dk=64 dv=64",
    "attention_unet_l1_cross": "32x256x77 H=10 dk=64 dv=64 grouped",
    "attention_unet_l2_temporal": "128x16x16 H=20 dk=64 dv=64",
    "attention_unet_l0_tin": "2048x16x16 H=8 dk=64 dv=64",
    "linear_unet_l0_cross_kv": "154x1024->320 f16",
    "linear_unet_l2_cross_kv": "154x1024->1280 f16",
    "linear_unet_l0_geglu_proj": "32768x320->2560 f16 +b",
    "attention_clip_causal": "2x77x77 H=16 dk=64 dv=64 causal",
    "linear_clip_fc1": "154x1024->4096 f16 +b gelu",
    "attention_vae_l3_mid": "1x1024x1024 H=1 dk=512 dv=512",
    "conv2d_vae_l0_3x3_128_res": "[1, 128, 256, 256]->128 k3 s1 p1 +b+r",
}
bad = [f"{k}: {cases.get(k)}, want {v}" for k, v in want.items() if cases.get(k) != v]
if bad: print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
then ok "--shapes ms-1.7b --list: 320/640/1280 channels, 5/10/20 heads of 64, 1024-wide text"
else bad "--shapes ms-1.7b --list"; fi
expect "--shapes ms-1.7b --frames 2 -o attention_: run and checked" 0 \
  "attention_unet_l1_temporal +512x2x2 H=10 dk=64 dv=64 .*same bits" \
  -- bench --shapes ms-1.7b --frames 2 -r 1 --check -o attention_

# --baseline knows these cases by name (a baseline 1000 times slower: this run is faster)
bench --shapes tiny -r 1 --json -o layer_norm_clip | python3 -c "
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    d['ms'] = d['ms_min'] = d['ms_max'] = d['ms'] * 1000
    print(json.dumps(d))" > "$tmp/slow.json"
expect "--shapes --baseline" 0 "^layer_norm_clip .*x the baseline .*faster" \
  -- bench --shapes tiny -r 1 -o layer_norm_clip --baseline "$tmp/slow.json"

# refused: exit 2, naming what is wrong
expect "unknown preset" 2 "^fractal-bench: --shapes huge: neither a preset \(tiny, small, ms-1.7b\) nor a model folder" \
  -- bench --shapes huge --list
expect "missing folder" 2 "^fractal-bench: --shapes $tmp/none: neither a preset .* \(No such file or directory\)" \
  -- bench --shapes "$tmp/none" --list
mkdir -p "$tmp/empty"
expect "not a model folder" 2 "^fractal-bench: --shapes $tmp/empty: $tmp/empty/unet/config.json: No such file" \
  -- bench --shapes "$tmp/empty" --list
expect "--shapes with -n" 2 "-n sets the BENCH table's batch" -- bench --shapes tiny -n 4 --list
expect "--dtype without --shapes" 2 "do not go together" -- bench --dtype f16 --list
expect "--shapes no match" 1 "no --shapes case matches \"nosuchop\"" -- bench --shapes tiny -o nosuchop
expect "the BENCH table still lists" 0 "^linear_320_b32 +32768x320->320 f16 \+b$" -- bench --list -o linear_320

[ $fails -eq 0 ] && echo "bench_shapes: all passed" || echo "bench_shapes: $fails FAILED"
exit $((fails > 0))
