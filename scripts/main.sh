#!/usr/bin/env bash
# Set up from scratch and run the main job: the sweep that reproduces Tables 1 and 2 of the paper.
# Preset: PRESET if set; else `quick` when the full PTB-XL is available (PTBXL_DIR or data/ptbxl), else `demo`
# (the bundled sample: about 10 minutes, clearly labelled a demonstration).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh
if [ -z "${PRESET:-}" ]; then
  if [ -n "${PTBXL_DIR:-}" ] && [ -f "$PTBXL_DIR/ptbxl_database.csv" ] || [ -f data/ptbxl/ptbxl_database.csv ]; then
    PRESET=quick
  else
    PRESET=demo
  fi
fi
echo "== mi-ecg sweep --preset $PRESET"
mi-ecg sweep --preset "$PRESET" "$@"
