#!/usr/bin/env bash
# The GPU check: every GPU adapter's tiny model on this machine's GPU, one JSON file.
#   bash scripts/gpu-check.sh [DEVICE [OUT [BENCH FLAGS...]]]   DEVICE: cuda (default), cuda:N, cpu
# Installs what it needs (uv, the csm and xtts extras: torch, transformers, peft,
# coqui-tts) and finishes in a few minutes; docs/adapters.md says what it measures.
set -euo pipefail
DEVICE="${1:-cuda}"
OUT="$(realpath -m "${2:-gpu-check.json}")"  # relative to where it was started
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null; then
    python3 -m pip install --quiet uv || python3 -m pip install --quiet --break-system-packages uv
fi
# --inexact: keep the other extras a developer's venv already has.
uv sync --frozen --inexact --extra csm --extra xtts
shift $(( $# < 2 ? $# : 2 ))  # the rest go to the bench (e.g. --runs 3 --cycles 2)
exec timeout 290 uv run --frozen voicectl bench gpu --device "$DEVICE" --out "$OUT" "$@"
