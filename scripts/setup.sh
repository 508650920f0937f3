#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install mi-ecg-nb with its development tools.
# Sourced by scripts/main.sh and scripts/test.sh; VENV overrides the location (default .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${VENV:-.venv}
PY=$(command -v python3.11 || command -v python3)
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"mi-ecg-nb needs Python 3.11, found {sys.version.split()[0]}"'
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q --upgrade pip
# The CPU build of torch first (other specs pull several GB of CUDA wheels).
python -m pip show torch >/dev/null 2>&1 || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev]"
python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
echo "mi-ecg-nb installed in $VENV ($(python -c 'import mi_ecg_nb, torch; print("mi_ecg_nb", mi_ecg_nb.__version__, "torch", torch.__version__)'))"
