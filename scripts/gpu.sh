#!/usr/bin/env bash
# The GPU run: the whole `paper` preset (Tables 1 and 2, three seeds) on one CUDA device, several runs at a time,
# then its executed summary, figures and sweep record copied to results/paper/ (small files only: no checkpoints,
# no predictions).
#   PTBXL_DIR   the full PTB-XL v1.0.3 (PhysioNet layout); if unset, ../shared/data/ptbxl is unpacked to
#               ${TMPDIR:-/tmp}/ptbxl when present (a developer's machine), else this script stops with a message.
#   JOBS        runs in parallel on the GPU (default 8: each worker keeps its data on the device)
#   REPORTS     the reports folder (default reports/); finished runs there are kept and not recomputed
#   PRESET      another preset to run (default paper)
# Without a CUDA device it stops before any work, saying so (no silent CPU fallback).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh
PRESET=${PRESET:-paper}
JOBS=${JOBS:-8}
REPORTS=${REPORTS:-reports}

python - <<'EOF'
import sys, torch
if not torch.cuda.is_available():
    sys.exit(f'scripts/gpu.sh needs a CUDA device\n  expected: torch.cuda.is_available() is True\n'
             f'  found: torch {torch.__version__} sees no GPU\n  fix: run it on a GPU machine, or run scripts/main.sh on CPU')
print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)
EOF

if [ -z "${PTBXL_DIR:-}" ]; then
  if [ -f ../shared/data/ptbxl/unpack.py ]; then
    export PTBXL_DIR="${TMPDIR:-/tmp}/ptbxl"
    [ -f "$PTBXL_DIR/ptbxl_database.csv" ] || python3 ../shared/data/ptbxl/unpack.py "$PTBXL_DIR"
  else
    echo "scripts/gpu.sh needs the full PTB-XL: set PTBXL_DIR (mi-ecg data download --dest data/ptbxl)" >&2; exit 1
  fi
fi
mi-ecg data verify >/dev/null

start=$(date +%s)
echo "== mi-ecg --device cuda sweep --preset $PRESET --jobs $JOBS --publish"
mi-ecg --device cuda sweep --preset "$PRESET" --jobs "$JOBS" --reports-dir "$REPORTS" --publish
echo "== wall time: $(( $(date +%s) - start )) s; results in results/$PRESET"
