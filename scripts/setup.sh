#!/usr/bin/env bash
# Create .venv when missing and (re)install anyres with its test dependencies when
# pyproject.toml changed since the last install. torch is pinned to the CPU wheel
# torch==2.13.0 and installed first, so that nothing resolves a bare "torch" (which
# would fetch the CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.anyres-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import anyres, torch, transformers, PIL, numpy, hypothesis, pytest" 
  echo "$want" > "$stamp"
fi
