#!/usr/bin/env bash
# The main job on the built-in samples: compare tables, show pictures, token plot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/anyres demo --out "${1:-out/demo}"
