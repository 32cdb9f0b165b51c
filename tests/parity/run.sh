#!/usr/bin/env bash
# The parity suite (ctest label `parity`): Fractal against Hugging Face diffusers + transformers on
# random-weight tiny and small models, DDIM and DPM-Solver++, and the tokenizer on a large prompt set.
# Needs FRACTAL_PARITY_PYTHON: a Python with torch, diffusers==0.33.1, transformers 4.x (not 5.x) and
# no ftfy (docs/parity.md). Without it the test is skipped (exit 77). Usage: run.sh BIN_DIR
set -u -o pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
py=${FRACTAL_PARITY_PYTHON:-}
if [ -z "$py" ] || ! "$py" -c 'import torch, diffusers, transformers, numpy' 2>/dev/null; then
  echo "SKIP: set FRACTAL_PARITY_PYTHON to a Python with torch, diffusers 0.33.1 and transformers 4.x (docs/parity.md)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bpe="$here/../../../shared/data/clip/bpe_simple_vocab_16e6.txt.gz"
for preset in tiny small; do
  vocab=()
  [ "$preset" = small ] && [ -f "$bpe" ] && vocab=(--bpe "$bpe") # the real CLIP vocabulary where it is at hand
  "$bin/fractal-mkmodel" -q -p "$preset" -s 11 "${vocab[@]}" "$tmp/$preset" || exit 1
  for sched in ddim dpm++2m; do
    echo "== $preset, $sched"
    "$py" "$here/pipeline_parity.py" --gen "$bin/fractal-gen" --model "$tmp/$preset" --scheduler "$sched" \
      --steps 6 --frames 4 2>&1 | grep -v -e Warning -e "Loading pipeline" || fail=1
  done
done
echo "== no guidance, negative prompt"
"$py" "$here/pipeline_parity.py" --gen "$bin/fractal-gen" --model "$tmp/tiny" --guidance 1.0 --steps 3 \
  --negative "blurry, low quality" 2>&1 | grep -v -e Warning -e "Loading pipeline" || fail=1
echo "== tokenizer"
"$py" "$here/tokenizer_parity.py" --binary "$bin/test_tokenizer" --random 3000 || fail=1
exit $fail
