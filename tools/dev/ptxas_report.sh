#!/usr/bin/env bash
# Resource usage of the GEMM-class CUDA kernels as ptxas reports it (-Xptxas -v), as a markdown table:
# registers per thread, static shared memory, spill stores/loads and stack frame, per kernel and
# architecture. Compiles to cubin only (no GPU needed), with the determinism contract's flags.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
archs='sm_75 sm_86 sm_90'
nvcc=${NVCC:-}
jobs=$(nproc 2>/dev/null || echo 2)

usage() {
  cat <<EOF
usage: tools/dev/ptxas_report.sh [-a "ARCH ..."] [-j JOBS] [-n NVCC] [FILE.cu ...]

Compiles each FILE.cu (default: kernels/cuda/gemm.cu and, if present, kernels/cuda/attention.cu) to
cubin for every ARCH (default: $archs) with -Xptxas -v and the contract flags
  --fmad=false -ftz=false -prec-div=true -prec-sqrt=true -std=c++17 -I include -I kernels -DFR_HAVE_CUDA
and prints a markdown table: kernel (demangled and shortened, template arguments that a kernel compares
with an enum's enumerators written as the enumerator), arch, registers per thread, static shared memory,
spill stores / loads, stack frame. Needs nvcc (not a GPU).

  -a ARCHS  space-separated sm_XY list (default: "$archs")
  -j JOBS   parallel compilations (default: nproc = $jobs)
  -n NVCC   the nvcc to use (default: \$NVCC, nvcc on PATH, /usr/local/cuda/bin/nvcc)
  -h        this text
FILE paths are relative to the repository root ($src) or absolute.
EOF
}

while getopts 'a:j:n:h' opt; do
  case $opt in
    a) archs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    n) nvcc=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

if [ -z "$nvcc" ]; then
  nvcc=$(command -v nvcc 2>/dev/null || true)
  [ -n "$nvcc" ] || nvcc=/usr/local/cuda/bin/nvcc
fi
[ -x "$nvcc" ] || { echo "ptxas_report: nvcc not found (tried '$nvcc'; set -n or NVCC)" >&2; exit 1; }
command -v c++filt >/dev/null || { echo "ptxas_report: c++filt (binutils) is needed" >&2; exit 1; }

files=()
if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(kernels/cuda/gemm.cu)
  [ -f "$src/kernels/cuda/attention.cu" ] && files+=(kernels/cuda/attention.cu)
fi
for i in "${!files[@]}"; do
  f=${files[$i]}
  case $f in /*) ;; *) [ -f "$f" ] && [ ! -f "$src/$f" ] && f=$(cd "$(dirname "$f")" && pwd)/$(basename "$f") ;; esac
  case $f in /*) path=$f ;; *) path=$src/$f ;; esac
  [ -f "$path" ] || { echo "ptxas_report: no such file: $f" >&2; exit 1; }
  files[$i]=$path
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One compilation: FILE ARCH INDEX -> $tmp/INDEX.ARCH.log (ptxas -v output) and .rc
compile_one() {
  "$nvcc" -cubin -arch="$2" -Xptxas -v --fmad=false -ftz=false -prec-div=true -prec-sqrt=true -std=c++17 \
    -I"$src/include" -I"$src/kernels" -DFR_HAVE_CUDA "$1" -o "$tmp/$3.$2.cubin" >"$tmp/$3.$2.log" 2>&1
  echo $? >"$tmp/$3.$2.rc"
}
export -f compile_one
export nvcc src tmp

t0=$(date +%s.%N)
for i in "${!files[@]}"; do
  for arch in $archs; do printf '%s\n%s\n%s\n' "${files[$i]}" "$arch" "$i"; done
done | xargs -d '\n' -n 3 -P "$jobs" bash -c 'compile_one "$1" "$2" "$3"' compile_one
t1=$(date +%s.%N)

status=0
rows=$tmp/rows # source TAB mangled TAB arch TAB regs TAB smem TAB spill-st TAB spill-ld TAB stack
: >"$rows"
for i in "${!files[@]}"; do
  rel=${files[$i]#"$src"/}
  for arch in $archs; do
    if [ "$(cat "$tmp/$i.$arch.rc")" != 0 ]; then
      echo "ptxas_report: $rel does not compile for $arch:" >&2
      cat "$tmp/$i.$arch.log" >&2
      status=1
      continue
    fi
    # ptxas -v: "Compiling entry function 'NAME' for 'sm_XY'", "Function properties for NAME" followed by
    # "N bytes stack frame, N bytes spill stores, N bytes spill loads", then "Used N registers, ...
    # N bytes smem, ..." for the entry being compiled. Device functions that were not inlined get
    # "Function properties" too; only entries (kernels) make rows.
    awk -v src="$rel" -v arch="$arch" '
      function num(s, what,   r) { r = ""; if (match(s, "[0-9]+ bytes " what)) { r = substr(s, RSTART, RLENGTH); sub(/ .*/, "", r) }; return r }
      /Compiling entry function/ { name = $0; sub(/^[^\047]*\047/, "", name); sub(/\047.*/, "", name); entry[name] = 1; cur = name; order[++n] = name }
      /Function properties for / { props = $0; sub(/.*Function properties for /, "", props); sub(/[ \t]+$/, "", props) }
      /bytes stack frame/ { stack[props] = num($0, "stack frame"); sst[props] = num($0, "spill stores"); sld[props] = num($0, "spill loads") }
      /Used [0-9]+ registers/ {
        r = $0; sub(/.*Used /, "", r); sub(/ .*/, "", r); regs[cur] = r
        s = num($0, "smem"); smem[cur] = s == "" ? 0 : s
      }
      END {
        for (k = 1; k <= n; k++) {
          m = order[k]
          printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", src, m, arch, regs[m], smem[m], sst[m] == "" ? "?" : sst[m], sld[m] == "" ? "?" : sld[m], stack[m] == "" ? "?" : stack[m]
        }
      }' "$tmp/$i.$arch.log" >>"$rows"
  done
done

# Enum-valued template arguments: for each source, "KERNEL POS VALUE ENUMERATOR" lines for template
# parameters that the source compares (==, !=) with enumerators of one enum.
enum_map() { # FILE
  gcc -fpreprocessed -dD -E -P -x c "$1" 2>/dev/null | tr '\n' ' ' | awk '
    {
      text = $0
      # enums: enum [name] { A, B = 4, C }
      rest = text
      while (match(rest, /enum[ \t]+[A-Za-z_0-9]*[ \t]*\{[^}]*\}/)) {
        body = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
        sub(/^[^{]*\{/, "", body); sub(/\}$/, "", body)
        ne = split(body, items, ","); v = -1
        for (e = 1; e <= ne; e++) {
          it = items[e]; gsub(/[ \t]/, "", it); if (it == "") continue
          if (split(it, kv, "=") == 2) { it = kv[1]; v = kv[2] + 0 } else v = v + 1
          ++nenum; enumname[it] = nenum; value[it] = v
        }
        ++group
        for (e = 1; e <= ne; e++) { it = items[e]; gsub(/[ \t]/, "", it); sub(/=.*/, "", it); if (it != "") grp[it] = group }
      }
      # kernels: template <PARAMS> __global__ ... NAME(
      rest = text
      while (match(rest, /template[ \t]*<[^<>]*>[ \t]*__global__/)) {
        params = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
        sub(/^template[ \t]*</, "", params); sub(/>.*/, "", params)
        head = rest; sub(/__launch_bounds__[ \t]*\([^)]*\)/, "", head)
        sub(/[ \t]*\(.*/, "", head)
        kname = head; sub(/.*[^A-Za-z_0-9]/, "", kname)
        np = split(params, pl, ",")
        for (p = 1; p <= np; p++) {
          pn = pl[p]; sub(/[ \t]+$/, "", pn); sub(/.*[^A-Za-z_0-9]/, "", pn)
          # which enum is this parameter compared with?
          probe = text; g = 0
          while (match(probe, "(^|[^A-Za-z_0-9])" pn "[ \t]*[=!]=[ \t]*[A-Za-z_][A-Za-z_0-9]*")) {
            cmp = substr(probe, RSTART, RLENGTH); probe = substr(probe, RSTART + RLENGTH)
            sub(/.*[=!]=[ \t]*/, "", cmp)
            if (cmp in grp) { g = grp[cmp]; break }
          }
          if (g) for (it in grp) if (grp[it] == g) print kname, p, value[it], it
        }
      }
    }'
}

# Demangle and shorten: "void gemm_kernel<2, 128>(gemm_params)" -> "gemm_kernel<B_IM2COL,128>".
cut -f2 "$rows" | c++filt >"$tmp/demangled"
paste "$rows" "$tmp/demangled" >"$tmp/rows2"
: >"$tmp/enums"
for i in "${!files[@]}"; do
  rel=${files[$i]#"$src"/}
  enum_map "${files[$i]}" | sed "s|^|$rel |" >>"$tmp/enums"
done

awk -F'\t' -v OFS='\t' '
  FILENAME == ARGV[1] { split($0, f, " "); en[f[1] SUBSEP f[2] SUBSEP f[3] SUBSEP f[4]] = f[5]; next }
  {
    d = $9
    sub(/^void /, "", d)
    # drop the parameter list: the last top-level (...)
    depth = 0; cut = 0
    for (c = length(d); c >= 1; c--) {
      ch = substr(d, c, 1)
      if (ch == ")") depth++
      else if (ch == "(") { depth--; if (depth == 0) { cut = c; break } }
    }
    if (cut > 1) d = substr(d, 1, cut - 1)
    gsub(/, /, ",", d)
    plain = d # sort key: the numeric template arguments
    # enum-valued template arguments
    lt = index(d, "<")
    if (lt && substr(d, length(d), 1) == ">") {
      kname = substr(d, 1, lt - 1); nargs = split(substr(d, lt + 1, length(d) - lt - 1), args, ",")
      out = kname "<"
      for (a = 1; a <= nargs; a++) {
        arg = args[a]
        if (arg ~ /^\([A-Za-z_0-9:]+\)-?[0-9]+$/) { v = arg; sub(/^\([^)]*\)/, "", v) } else v = arg
        key = $1 SUBSEP kname SUBSEP a SUBSEP v
        if (key in en) arg = en[key]
        out = out (a > 1 ? "," : "") arg
      }
      d = out ">"
    }
    print $1, d, $3, $4, $5, $6, $7, $8, plain
  }' "$tmp/enums" "$tmp/rows2" >"$tmp/table"

nv=$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\), V\([0-9.]*\).*/\2/p')
echo "ptxas -v, nvcc $nv, --fmad=false -ftz=false -prec-div=true -prec-sqrt=true -std=c++17 -DFR_HAVE_CUDA"
echo
echo "| source | kernel | arch | registers | smem (static bytes) | spill stores / loads (bytes) | stack frame (bytes) |"
echo "|---|---|---|--:|--:|--:|--:|"
# sources in the order given, then kernels by their (numeric) template arguments, then architectures
awk -F'\t' '{ if (!($1 in seen)) seen[$1] = ++n; print seen[$1] "\t" $0 }' "$tmp/table" |
  sort -t"$(printf '\t')" -k1,1n -k10,10V -k4,4V |
  awk -F'\t' '{ printf "| %s | `%s` | %s | %s | %s | %s / %s | %s |\n", $2, $3, $4, $5, $6, $7, $8, $9 }'
awk -v a="$t0" -v b="$t1" -v j="$jobs" -v n="$(wc -l <"$tmp/table")" \
  'BEGIN { printf "\n(%d rows; compiled in %.0f s with %d parallel jobs)\n", n, b - a, j }' >&2
exit $status
