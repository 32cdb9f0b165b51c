#!/usr/bin/env bash
# The Python package (python/) against the tools, through libfractal.so: python/tests with a Python that
# has numpy (tools/install-deps.sh installs Debian's python3-numpy).
# Usage: python.sh BIN_DIR LIB_DIR
set -u
bin=$(cd "$1" && pwd)
lib=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=""
for p in python3 /usr/bin/python3; do
  command -v "$p" >/dev/null && "$p" -c "import numpy" 2>/dev/null && { py=$p; break; }
done
[ -n "$py" ] || { echo "FAIL no python3 with numpy (tools/install-deps.sh installs python3-numpy)"; exit 1; }
FRACTAL_LIB=$lib/libfractal.so FRACTAL_BIN=$bin PYTHONPATH=$here/../python \
  "$py" -m unittest discover -v -s "$here/../python/tests"
