#!/usr/bin/env bash
# cmake --install into a temporary prefix, then the installed pieces as an operator uses them: every binary
# answers --version, the installed fractal-mkmodel and fractal-gen make a video, the systemd unit names the
# installed fractald and passes systemd-analyze verify (where systemd-analyze exists), the example configs
# and the docs are there, and the Python package pip-installs and runs on the installed libfractal.so.
# Usage: install.sh BUILD_DIR
set -u
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
p="$tmp/prefix"

if cmake --install "$build" --prefix "$p" > "$tmp/install.log" 2>&1; then ok "cmake --install --prefix"; else
  bad "cmake --install: $(tail -5 "$tmp/install.log")"; exit 1; fi
n=0
for prog in "$p"/bin/*; do
  name=$(basename "$prog")
  "$prog" --version | grep -qE "^$name [0-9]+\.[0-9]+\.[0-9]+ \(commit " && n=$((n + 1)) || bad "installed $name --version"
done
[ "$n" -ge 3 ] && ok "$n installed binaries answer --version" || bad "only $n installed binaries"
cd "$tmp" || exit 1
"$p/bin/fractal-mkmodel" -q tiny > /dev/null 2>&1 &&
  d=$("$p/bin/fractal-gen" -m tiny -q --steps 2 --frames 2 -o v.mp4 "a lighthouse") &&
  printf '%s' "$d" | grep -qE '^[0-9a-f]{32}$' && [ -s v.mp4 ] &&
  ok "the installed fractal-gen makes a video (digest $d)" || bad "installed fractal-gen: $d"

if [ -x "$p/bin/fractald" ]; then
  unit="$p/lib/systemd/system/fractald.service"
  grep -qx "ExecStart=$p/bin/fractald --config /etc/fractal/fractald.conf" "$unit" &&
    ok "the unit starts the installed fractald" || bad "unit ExecStart: $(grep ExecStart "$unit")"
  if command -v systemd-analyze > /dev/null; then
    out=$(systemd-analyze verify "$unit" 2>&1); rc=$?
    [ $rc -eq 0 ] && [ -z "$out" ] && ok "systemd-analyze verify: clean" || bad "systemd-analyze verify: rc $rc $out"
  else
    echo "skip systemd-analyze verify (not installed)"
  fi
  for f in fractald.conf.example verifier.conf.example; do
    [ -s "$p/share/fractal/examples/$f" ] && ok "example $f" || bad "no example $f"
  done
fi
for f in README.md mining.md protocol.md daemon.md architecture.md; do
  [ -s "$p/share/doc/fractal/$f" ] || bad "no installed doc $f"
done
[ -s "$p/share/doc/fractal/mining.md" ] && ok "docs installed"

# the Python package, pip-installed (from a copy: pip builds in the source folder), on the installed library
here=$(cd "$(dirname "$0")" && pwd)
py=""
for c in python3 /usr/bin/python3; do
  command -v "$c" >/dev/null && "$c" -c "import numpy, setuptools" 2>/dev/null && "$c" -m pip --version >/dev/null 2>&1 && { py=$c; break; }
done
if [ -z "$py" ]; then
  bad "no python3 with numpy, setuptools and pip (tools/install-deps.sh)"
elif [ ! -e "$p/lib/libfractal.so" ]; then
  bad "libfractal.so is not installed under $p/lib"
else
  cp -r "$here/../python" "$tmp/pysrc"
  if "$py" -m pip install -q --no-build-isolation --no-deps --no-index --target "$tmp/pysite" "$tmp/pysrc" > "$tmp/pip.log" 2>&1; then
    pd=$(FRACTAL_LIB="$p/lib/libfractal.so" PYTHONPATH="$tmp/pysite" "$py" -c "
import fractal
print(fractal.Model('tiny', backend='cpu').generate('a lighthouse', steps=2, frames=2).digest)" 2>&1)
    [ "$pd" = "$d" ] && ok "pip install ./python: the installed library gives fractal-gen's digest" || bad "python digest: $pd, want $d"
  else
    bad "pip install ./python: $(tail -5 "$tmp/pip.log")"
  fi
fi

[ $fails -eq 0 ] && echo "install: all passed" || echo "install: $fails FAILED"
exit $((fails > 0))
