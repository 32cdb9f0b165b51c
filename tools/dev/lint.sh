#!/usr/bin/env bash
# Static checks of the project's C sources as one build compiles them (BUILD_DIR/compile_commands.json):
#   cppcheck 2.x (warning and portability findings; tools/dev/cppcheck-jansson.cfg tells it jansson's macros)
#   clang-tidy 14 with the checked-in .clang-tidy (every finding is an error)
# Both must find nothing. A suppression is written in place, on the line, with its reason
# (/* cppcheck-suppress ID ; why */ or /* NOLINT(check): why */).
# Usage: tools/dev/lint.sh BUILD_DIR     (Debian: apt-get install cppcheck clang-tidy-14)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: tools/dev/lint.sh BUILD_DIR}" && pwd)
db="$build/compile_commands.json"
[ -f "$db" ] || { echo "lint.sh: $db not found: configure the build first" >&2; exit 2; }
for t in cppcheck clang-tidy-14 run-clang-tidy-14; do
  command -v "$t" >/dev/null || { echo "lint.sh: $t not found (Debian: apt-get install cppcheck clang-tidy-14)" >&2; exit 2; }
done
# The project's C files only (no CUDA, no generated files, nothing from the build tree).
src="^$root/(kernels|diffusion|protocol|daemon|tools|perf|tests)/.*\\.c\$"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$db" "$src" "$work/compile_commands.json" <<'PY'
import json, re, sys
db, pattern, out = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3]
json.dump([e for e in json.load(open(db)) if pattern.match(e["file"])], open(out, "w"))
PY
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/compile_commands.json")
rc=0
cppcheck --project="$work/compile_commands.json" --library="$root/tools/dev/cppcheck-jansson.cfg" \
  --enable=warning,portability --inline-suppr --quiet -j "$(nproc)" --error-exitcode=1 \
  --template='{file}:{line}: {severity} {id}: {message}' 2> "$work/cppcheck.txt" || true
grep -E ': (error|warning|portability) ' "$work/cppcheck.txt" > "$work/cppcheck.found" && rc=1
[ -s "$work/cppcheck.found" ] && { echo "lint.sh: cppcheck:"; cat "$work/cppcheck.found"; }
run-clang-tidy-14 -p "$work" -quiet -j "$(nproc)" "$src" > "$work/tidy.txt" 2>&1 || true
sed 's/\x1b\[[0-9;]*m//g' "$work/tidy.txt" | grep -E '(warning|error): ' | sort -u > "$work/tidy.found" && rc=1
[ -s "$work/tidy.found" ] && { echo "lint.sh: clang-tidy:"; cat "$work/tidy.found"; }
[ $rc -eq 0 ] && echo "lint.sh: cppcheck and clang-tidy find nothing in $n C files"
exit $rc
