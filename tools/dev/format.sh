#!/usr/bin/env bash
# The C, C++ and CUDA sources in the layout of .clang-format (clang-format 14, Debian's clang-format-14).
# Usage: tools/dev/format.sh          rewrite every tracked source that differs
#        tools/dev/format.sh --check  change nothing; list what differs and exit 1 if anything does
# Files named in .clang-format-ignore (generated ones) are left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
cf=$(command -v clang-format-14 || true)
if [ -z "$cf" ]; then
  echo "format.sh: clang-format-14 not found (Debian: apt-get install clang-format-14); other versions lay code out" \
    "differently, so the check uses that one" >&2
  exit 2
fi
mapfile -t ignore < <(grep -v '^#' .clang-format-ignore | grep .)
files=()
while IFS= read -r f; do
  skip=0
  for i in "${ignore[@]}"; do [ "$f" = "$i" ] && skip=1; done
  [ $skip -eq 1 ] || files+=("$f")
done < <(git ls-files '*.c' '*.h' '*.cc' '*.cu' '*.cuh')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! "$cf" "$f" | cmp -s - "$f"; then
      echo "not in .clang-format's layout: $f" >&2
      "$cf" "$f" | diff -u "$f" - | head -20 >&2 || true
      bad=1
    fi
  done
  [ $bad -eq 0 ] && echo "format.sh: ${#files[@]} files in .clang-format's layout"
  [ $bad -eq 0 ] || echo "format.sh: run tools/dev/format.sh to fix" >&2
  exit $bad
fi
"$cf" -i "${files[@]}"
