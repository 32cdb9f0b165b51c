#!/usr/bin/env bash
# The determinism contract, checked on the sources and on the real compile lines:
#  1. no libm / CUDA math-library / intrinsic transcendental calls in kernels/, include/, diffusion/
#     (comments stripped first): nonlinear functions come from fractal/dmath.h only;
#  2. every C compile line carries -ffp-contract=off and no fast-math style flag; every CUDA compile
#     line carries --fmad=false -ftz=false -prec-div=true -prec-sqrt=true and no --use_fast_math;
#  3. where nvcc exists, every kernels/**/*.cu compiled to PTX for sm_75, sm_86 and sm_90 (with the
#     contract flags) passes check_ptx below: no floating-point matrix (tensor-core) instruction, no
#     .approx/.ftz, no div.full, no ex2/lg2/rsqrt/sin/cos/tanh, every float add/sub/mul/fma/div/sqrt/rcp
#     with an explicit .rn, no float atomic or reduction add. The checker first proves itself on the
#     fixtures in tests/data/ptx (this self-test runs with or without nvcc).
# Usage: contract.sh SOURCE_DIR BUILD_DIR [NVCC]
#        contract.sh --check-ptx FILE.ptx ...   (only the PTX rules, on the given files)
set -u
fail=0
say() { printf '%s\n' "$*"; }
bad() { say "CONTRACT VIOLATION: $*"; fail=1; }

# --- The PTX checker (section 3 below; also: contract.sh --check-ptx FILE.ptx ...) ----------------
# ptx_scan FILE prints one line per PTX line that breaks the contract: LINE<TAB>RULES<TAB>TEXT, RULES a
# comma-separated subset of $ptx_rules. Comments, strings, labels, braces of inline-asm blocks and guard
# predicates are stripped; a line may hold several ';'-separated instructions. Rules:
#   float-mma           mma / wmma / wgmma / tcgen05.mma (and the wmma fragment loads and stores) with a
#                       float type among its operand or accumulator types: f16, bf16, tf32, f32, f64,
#                       fp8 (e4m3, e5m2), fp6/fp4 (e3m2, e2m3, e2m1) or a float tcgen05 kind. Integer MMA
#                       (s8/u8/s4/u4/b1 operands, s32 accumulators) stays allowed.
#   approx, ftz         an .approx or .ftz modifier anywhere (in cvt, setp, neg, min ... too)
#   div-full            div.full (about 2 ulp)
#   transcendental      ex2, lg2, rsqrt, sin, cos, tanh, with or without .approx
#   arith-without-rn    add/sub/mul on f16/bf16/f32/f64 (and their x2 vectors) without .rn: ptxas may
#                       fuse an unrounded mul and add into an fma (and .rz/.rm/.rp are not the contract's
#                       rounding either)
#   fma-without-rn      fma (or a float mad) without .rn
#   divsqrt-without-rn  div/sqrt/rcp on floats without .rn (approximate, div.full or directed rounding)
#   float-atomic        atom/red/multimem/cp.reduce with .add on a float type: the order of the sum
#                       depends on timing
# Allowed: integer instructions, mov/ld/st/selp/setp (without .ftz), neg/abs/min/max/copysign/testp
# (exact), cvt with explicit rounding (cvt.rn.f32.s32, cvt.rzi.s32.f32, exact widenings), and the .rn
# forms of add/sub/mul/fma/div/sqrt/rcp.
ptx_rules='float-mma approx ftz div-full transcendental arith-without-rn fma-without-rn divsqrt-without-rn float-atomic'
ptx_awk='
BEGIN {
  n = split("f16 f16x2 bf16 bf16x2 f32 f32x2 f64", t, " "); for (i = 1; i <= n; i++) ftype[t[i]] = 1
  n = split("f16 f16x2 bf16 bf16x2 tf32 f32 f64 e4m3 e5m2 e3m2 e2m3 e2m1 ue8m0 ue4m3", t, " ")
  for (i = 1; i <= n; i++) mtype[t[i]] = 1
  n = split("kind::f16 kind::tf32 kind::f8f6f4 kind::mxf8f6f4 kind::mxf4 kind::mxf4nvf4", t, " ")
  for (i = 1; i <= n; i++) mtype[t[i]] = 1
  n = split("ex2 lg2 rsqrt sin cos tanh", t, " "); for (i = 1; i <= n; i++) transc[t[i]] = 1
  incomment = 0
}
function addrule(r) { if (index("," rules ",", "," r ",") == 0) rules = rules (rules == "" ? "" : ",") r }
function check(s,   n, p, i, op, base, isfloat, ismfloat, hasrn, hasadd, hasfull) {
  gsub(/[{}]/, " ", s)
  sub(/^[ \t]+/, "", s)
  while (match(s, /^[$%A-Za-z_][$A-Za-z0-9_]*[ \t]*:/)) { s = substr(s, RLENGTH + 1); sub(/^[ \t]+/, "", s) }
  if (s == "") return
  if (s ~ /\.approx([^A-Za-z0-9_$]|$)/) addrule("approx")
  if (s ~ /\.ftz([^A-Za-z0-9_$]|$)/) addrule("ftz")
  if (substr(s, 1, 1) == ".") return # a directive
  sub(/^@!?%?[$A-Za-z0-9_]+[ \t]+/, "", s) # guard predicate
  match(s, /^[^ \t,]+/)
  op = substr(s, 1, RLENGTH)
  n = split(op, p, /[.]/)
  base = p[1]
  isfloat = ismfloat = hasrn = hasadd = hasfull = 0
  for (i = 2; i <= n; i++) {
    if (p[i] in ftype) isfloat = 1
    if (p[i] in mtype) ismfloat = 1
    if (p[i] == "rn") hasrn = 1
    if (p[i] == "add") hasadd = 1
    if (p[i] == "full") hasfull = 1
  }
  if ((base == "mma" || base == "wmma" || base == "wgmma" || op ~ /^tcgen05[.]mma/) && ismfloat) addrule("float-mma")
  if (base == "div" && hasfull) addrule("div-full")
  if (base in transc) addrule("transcendental")
  if ((base == "add" || base == "sub" || base == "mul") && isfloat && !hasrn) addrule("arith-without-rn")
  if ((base == "fma" || (base == "mad" && isfloat)) && !hasrn) addrule("fma-without-rn")
  if ((base == "div" || base == "sqrt" || base == "rcp") && isfloat && !hasrn) addrule("divsqrt-without-rn")
  if ((base == "atom" || base == "red" || base == "multimem" || op ~ /^cp[.]reduce/) && hasadd && isfloat)
    addrule("float-atomic")
}
{
  line = $0
  gsub(/"[^"]*"/, "\"\"", line) # strings (file names)
  text = ""
  while (line != "") { # comments: // to the end of the line, /* */ across lines
    if (incomment) {
      i = index(line, "*/")
      if (!i) { line = ""; break }
      line = substr(line, i + 2); incomment = 0
    }
    i = index(line, "/*"); j = index(line, "//")
    if (j && (!i || j < i)) { text = text substr(line, 1, j - 1); break }
    if (i) { text = text substr(line, 1, i - 1) " "; line = substr(line, i + 2); incomment = 1; continue }
    text = text line; break
  }
  rules = ""
  n = split(text, stmts, /;/)
  for (k = 1; k <= n; k++) check(stmts[k])
  if (rules != "") {
    orig = $0; gsub(/[ \t]+/, " ", orig); sub(/^ /, "", orig); sub(/ $/, "", orig)
    print NR "\t" rules "\t" orig
  }
}'
ptx_scan() { awk "$ptx_awk" "$1"; }

# check_ptx FILE LABEL: reports FILE's violations (LABEL:LINE: [rules] instruction, the first 20 and a
# count by rule) and returns 1 if there is any.
check_ptx() {
  local file=$1 label=$2 hits n
  [ -r "$file" ] || { say "$label: cannot read $file"; return 1; }
  hits=$(ptx_scan "$file") || { say "$label: cannot scan $file"; return 1; }
  [ -z "$hits" ] && return 0
  n=$(printf '%s\n' "$hits" | wc -l)
  say "$label: $n PTX line(s) break the determinism contract (in $file):"
  printf '%s\n' "$hits" | head -n 20 | awk -F'\t' -v l="$label" '{ printf "  %s:%s: [%s] %s\n", l, $1, $2, $3 }'
  if [ "$n" -gt 20 ]; then
    say "  ... $((n - 20)) more; lines per rule: $(printf '%s\n' "$hits" | cut -f2 | tr ',' '\n' | sort | uniq -c |
      awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')"
  fi
  return 1
}

# The self-test: tests/data/ptx/bad-RULE.ptx (or bad-RULE.TAG.ptx) holds instructions that break RULE,
# each marked with a trailing comment "// expect-flag": every marked line must be flagged with RULE (other
# rules may fire too) and no other line of the file may be flagged. good*.ptx holds allowed instructions
# (real nvcc output) and must pass. Every rule of $ptx_rules needs a bad fixture. The integer MMA of the
# i8x-v1 kernels is allowed (good-int-mma.ptx), floating-point MMA beside it is not
# (bad-float-mma.beside-int.ptx).
ptx_selftest() {
  local dir="$src/tests/data/ptx" f name rule got want ln missing extra covered=" " nbad=0 nlines=0 ngood=0 r
  st_fail=0
  stbad() { bad "PTX checker self-test: $*"; st_fail=1; }
  if [ ! -d "$dir" ]; then stbad "$dir is missing"; return; fi
  for f in "$dir"/*.ptx; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .ptx)
    got=$(ptx_scan "$f")
    want=$(grep -n '//[[:space:]]*expect-flag' "$f" | cut -d: -f1 | tr '\n' ' ')
    extra=$(printf '%s\n' "$got" | awk -F'\t' -v want=" $want " 'NF && index(want, " " $1 " ") == 0')
    [ -n "$extra" ] && stbad "$name: unmarked line(s) flagged:" && say "$extra"
    case $name in
      bad-*)
        rule=${name#bad-} && rule=${rule%%.*}
        case " $ptx_rules " in *" $rule "*) ;; *) stbad "$f: there is no rule '$rule'"; continue ;; esac
        [ -n "$want" ] || stbad "$name marks no line with // expect-flag"
        for ln in $want; do
          nlines=$((nlines + 1))
          missing=$(printf '%s\n' "$got" | awk -F'\t' -v ln="$ln" -v r="$rule" \
            '$1 == ln && index("," $2 ",", "," r ",") { found = 1 } END { if (!found) print "missed" }')
          [ -n "$missing" ] && stbad "$name:$ln is not flagged as $rule: $(sed -n "${ln}p" "$f")"
        done
        check_ptx "$f" "self-test $name" >/dev/null && stbad "check_ptx passes $f"
        covered="$covered$rule "
        nbad=$((nbad + 1)) ;;
      good*)
        [ -z "$want" ] || stbad "$name marks lines with // expect-flag"
        check_ptx "$f" "self-test $name" >/dev/null || stbad "check_ptx rejects $f"
        ngood=$((ngood + 1)) ;;
      *) stbad "$f: name the fixtures bad-RULE[.TAG].ptx or good*.ptx" ;;
    esac
  done
  for r in $ptx_rules; do
    case $covered in *" $r "*) ;; *) stbad "no fixture $dir/bad-$r.ptx" ;; esac
  done
  [ "$ngood" -gt 0 ] || stbad "no good*.ptx fixture in $dir"
  if [ $st_fail = 0 ]; then
    say "PTX checker self-test: passed ($nlines marked lines in $nbad bad fixtures flagged, $ngood good fixture passes)"
  else
    say "PTX checker self-test: FAILED (the checker misses or mis-flags the fixtures above)"
  fi
}

# contract.sh --check-ptx FILE.ptx ...: only check_ptx on the given files (to try the checker by hand).
if [ "${1:-}" = --check-ptx ]; then
  shift
  for f in "$@"; do check_ptx "$f" "$f" || fail=1; done
  [ $fail -eq 0 ] && say "check_ptx: $# file(s) clean"
  exit $fail
fi

src=$1 build=$2 nvcc=${3:-}

forbidden='(exp|exp2|exp10|expm1|log|log2|log10|log1p|pow|sin|cos|tan|sinh|cosh|tanh|asin|acos|atan|atan2|erf|erfc|erfinv|lgamma|tgamma|cbrt|hypot|sincos|rsqrt|sinpi|cospi)[fl]?'
intrinsics='__(expf|exp10f|logf|log2f|log10f|powf|sinf|cosf|tanf|sincosf|fdividef|fdiv_rz|frsqrt_rn|saturatef|tanhf)'
files=$(cd "$src" && find kernels include diffusion -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
[ -n "$files" ] || bad "no sources found under $src"
nfiles=0
for f in $files; do
  nfiles=$((nfiles + 1))
  code=$(gcc -fpreprocessed -dD -E -P -x c "$src/$f" 2>/dev/null) || { bad "$f: cannot strip comments"; continue; }
  hits=$(printf '%s\n' "$code" | grep -nE "(^|[^A-Za-z0-9_.>])($forbidden|$intrinsics)[[:space:]]*\(" | head -3)
  [ -n "$hits" ] && bad "$f calls a forbidden math function:" && say "$hits"
done
say "checked $nfiles source files for forbidden math calls"

db="$build/compile_commands.json"
if [ ! -f "$db" ]; then
  bad "$db is missing (configure with CMAKE_EXPORT_COMPILE_COMMANDS, which the build sets)"
else
  ncmd=0
  while IFS= read -r line; do
    cmd=${line#*\"command\": \"}
    ncmd=$((ncmd + 1))
    file=$(printf '%s' "$cmd" | grep -oE '[^ "]+\.(c|cc|cu)( |"|$)' | tail -1 | tr -d ' "')
    if printf '%s' "$cmd" | grep -qE -- '-ffast-math|-Ofast|-funsafe-math-optimizations|-fassociative-math|-freciprocal-math|-ffinite-math-only|--use_fast_math|-use_fast_math|fmad=true|ftz=true|prec-div=false|prec-sqrt=false'; then
      bad "fast-math style flag in the compile line for $file"
    fi
    nvcc_line=0
    printf '%s' "$cmd" | grep -q 'nvcc' && nvcc_line=1
    case "$file" in
      *.cu) if [ $nvcc_line = 0 ]; then # the emulated CUDA build compiles .cu files as C++
              printf '%s' "$cmd" | grep -qF -- '-ffp-contract=off' || bad "C++ compile line for $file lacks -ffp-contract=off"
              continue
            fi
            for flag in '--fmad=false' '-ftz=false' '-prec-div=true' '-prec-sqrt=true'; do
               printf '%s' "$cmd" | grep -qF -- "$flag" || bad "CUDA compile line for $file lacks $flag"
             done ;;
      *) printf '%s' "$cmd" | grep -qF -- '-ffp-contract=off' || bad "C/C++ compile line for $file lacks -ffp-contract=off" ;;
    esac
  done < <(grep '"command":' "$db")
  [ "$ncmd" -gt 0 ] || bad "no compile commands in $db"
  say "checked $ncmd compile lines"
fi

# --- 3. PTX: the checker's self-test (always), then the kernels' PTX (where nvcc exists) ------------
now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
ptx_selftest

if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
  ptx_archs='sm_75 sm_86 sm_90'
  ptx_dir="$build/contract_ptx" # kept for inspection: the reported line numbers refer to these files
  rm -rf "$ptx_dir" && mkdir -p "$ptx_dir" || bad "cannot create $ptx_dir"
  jobs=$(nproc 2>/dev/null || echo 2)
  cus=$(cd "$src" && find kernels -name '*.cu' | sort)
  [ -n "$cus" ] || bad "no CUDA sources under $src/kernels"
  # ptx_compile CU ARCH (run by xargs): DIR/CU-with-slashes-as-_.ARCH.{ptx,err,rc}
  ptx_compile() {
    local out
    out="$ptx_dir/$(printf '%s' "$1" | tr '/' '_').$2"
    "$nvcc" -ptx -arch="$2" --fmad=false -ftz=false -prec-div=true -prec-sqrt=true -std=c++17 \
      -I"$src/include" -I"$src/kernels" -DFR_HAVE_CUDA "$src/$1" -o "$out.ptx" 2>"$out.err"
    echo $? >"$out.rc"
  }
  export -f ptx_compile
  export nvcc src ptx_dir
  t0=$(now)
  for cu in $cus; do for arch in $ptx_archs; do printf '%s\n%s\n' "$cu" "$arch"; done; done |
    xargs -d '\n' -n 2 -P "$jobs" bash -c 'ptx_compile "$1" "$2"' ptx_compile
  t1=$(now)
  nptx=0
  for cu in $cus; do
    for arch in $ptx_archs; do
      out="$ptx_dir/$(printf '%s' "$cu" | tr '/' '_').$arch"
      if [ "$(cat "$out.rc" 2>/dev/null)" != 0 ]; then
        bad "$cu does not compile to PTX for $arch:"; cat "$out.err" 2>/dev/null; continue
      fi
      nptx=$((nptx + 1))
      if report=$(check_ptx "$out.ptx" "$cu ($arch)"); then
        say "PTX of $cu for $arch: clean"
      else
        bad "$cu ($arch): PTX instructions outside the contract:"; say "$report"
      fi
    done
  done
  t2=$(now)
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$nptx" -v s="$(printf '%s\n' $cus | wc -l)" -v j="$jobs" -v archs="$ptx_archs" \
    'BEGIN { printf "PTX: %d sources x %s (%d PTX files) compiled in %.1f s (%d parallel jobs), checked in %.1f s\n", s, archs, n, b - a, j, c - b }'
else
  say "nvcc not given: PTX check skipped (the CUDA sources are checked where the toolkit exists)"
fi

[ $fail -eq 0 ] && say "contract: OK"
exit $fail
