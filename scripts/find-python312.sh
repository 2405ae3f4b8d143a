#!/usr/bin/env bash
# Print the path of a working Python 3.12, or explain what to install and exit 1.
# A candidate is judged by running it: pyenv shims named python3.12 exist and fail when run.
set -u
ok() { "$1" -c 'import sys, venv; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; }
candidates=()
[ -n "${PYTHON312:-}" ] && candidates+=("$PYTHON312")
candidates+=(python3.12)
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root 2>/dev/null)
  for p in "$root"/versions/3.12.*/bin/python3.12; do [ -x "$p" ] && candidates+=("$p"); done
fi
for p in "$HOME"/.pyenv/versions/3.12.*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12 /opt/homebrew/bin/python3.12 python3; do
  candidates+=("$p")
done
for c in "${candidates[@]}"; do
  if ok "$c"; then command -v "$c" 2>/dev/null || echo "$c"; exit 0; fi
done
cat >&2 <<'MSG'
modelport needs Python 3.12 (onnx2tf 2.x, which writes TFLite directly, supports only 3.12+;
the pinned stack is verified on 3.12). None was found. Install one, then rerun make:
  - Debian/Ubuntu:  sudo apt-get install python3.12 python3.12-venv
  - pyenv:          pyenv install 3.12
  - macOS:          brew install python@3.12
or point PYTHON312=/path/to/python3.12 at an existing one.
MSG
exit 1
