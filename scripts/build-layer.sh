#!/usr/bin/env bash
# Build an environment layered on the pinned stack (modelport/layers.py says why):
#   scripts/build-layer.sh VENV NAME REQUIREMENTS PROBE_MODULE
# makes VENV/layers/NAME, a venv whose own site-packages hold REQUIREMENTS (installed --no-deps) and
# which sees VENV's site-packages behind them, then checks that PROBE_MODULE imports. Idempotent:
# the layer is rebuilt from scratch each time (it takes about 30 s from pip's cache).
set -euo pipefail
venv=$1 name=$2 requirements=$3 probe=$4
base_py="$venv/bin/python"
stack=$("$base_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
layer="$venv/layers/$name"
tmp="$layer.building"
rm -rf "$tmp"
"$base_py" -m venv "$tmp"
own=$("$tmp/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# addsitedir (not a plain path line) so that the stack's own .pth files run too: modelport is an
# editable install there.
echo "import site; site.addsitedir('$stack')" > "$own/zz_modelport_stack.pth"
"$tmp/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$requirements"
"$tmp/bin/python" -c "import $probe" >/dev/null 2>&1 || { echo "the $name layer does not import $probe" >&2;
  "$tmp/bin/python" -c "import $probe" 2>&1 | tail -5 >&2; exit 1; }
rm -rf "$layer"
mv "$tmp" "$layer"
