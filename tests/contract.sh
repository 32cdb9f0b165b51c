#!/usr/bin/env bash
# The determinism contract, checked on the sources and on the real compile lines:
#  1. no libm / CUDA math-library / intrinsic transcendental calls in kernels/, include/, diffusion/
#     (comments stripped first): nonlinear functions come from fractal/dmath.h only;
#  2. every C compile line carries -ffp-contract=off and no fast-math style flag; every CUDA compile
#     line carries --fmad=false -ftz=false -prec-div=true -prec-sqrt=true and no --use_fast_math;
#  3. where nvcc exists, the CUDA sources compiled to PTX contain no approximate or flush-to-zero
#     instruction.
# Usage: contract.sh SOURCE_DIR BUILD_DIR [NVCC]
set -u
src=$1 build=$2 nvcc=${3:-}
fail=0
say() { printf '%s\n' "$*"; }
bad() { say "CONTRACT VIOLATION: $*"; fail=1; }

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

if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for cu in $(cd "$src" && find kernels -name '*.cu' | sort); do
    for arch in sm_75 sm_90; do
      out="$tmp/$(basename "$cu").$arch.ptx"
      if ! "$nvcc" -ptx -arch=$arch --fmad=false -ftz=false -prec-div=true -prec-sqrt=true -std=c++17 \
           -I"$src/include" -I"$src/kernels" -DFR_HAVE_CUDA "$src/$cu" -o "$out" 2>"$tmp/err"; then
        bad "$cu does not compile to PTX for $arch:"; cat "$tmp/err"; continue
      fi
      hits=$(grep -nE '\.approx|\.ftz|ex2\.|lg2\.|rsqrt\.|rcp\.approx|tanh\.' "$out" | head -3)
      [ -n "$hits" ] && bad "$cu ($arch) PTX uses approximate or flush-to-zero instructions:" && say "$hits"
      say "PTX of $cu for $arch: clean"
    done
  done
else
  say "nvcc not given: PTX check skipped (the CUDA sources are checked where the toolkit exists)"
fi

[ $fail -eq 0 ] && say "contract: OK"
exit $fail
