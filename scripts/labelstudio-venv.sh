#!/usr/bin/env bash
# Label Studio (for the live round-trip test, tests/formats/test_labelstudio_live.py) in its own virtual
# environment: it is ~1 GB with pinned dependencies that must not meet prelabel's .venv. Idempotent: a stamp file
# records the installed version; delete .venv-ls to reinstall.
set -euo pipefail
PY=${PY:-python3.11}
VENV=${LS_VENV:-.venv-ls}
SPEC=${LS_SPEC:-label-studio==1.23.*}
STAMP="$VENV/.installed"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$SPEC" ] && [ -x "$VENV/bin/label-studio" ]; then
  exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "$SPEC"
"$VENV/bin/python" -m pip show -q label-studio >/dev/null  # (label-studio --version would go online and write ~/.local/share)
echo "$SPEC" > "$STAMP"
