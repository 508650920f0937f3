#!/usr/bin/env bash
# Set up from scratch and run the whole test suite:
#   1. nbdev-export and nbdev-clean must leave nbs/ and mi_ecg_nb/ unchanged (notebooks are the source of truth),
#      and README.md must be what nbs/index.ipynb gives (scripts/readme.py);
#   2. nbdev-test runs every notebook's tests (cells flagged `slow` are skipped; pass FLAGS=slow to run them);
#   3. pytest runs tests/ (integration, command line, failure modes, determinism);
#   4. when the full PTB-XL is available (PTBXL_DIR, or ../shared/data/ptbxl to unpack), the tests marked
#      full_ptbxl run on it; otherwise they are reported as skipped with the reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh

echo "== 1/4 nbdev-export, nbdev-clean and scripts/readme.py leave the tree unchanged"
snap=$(mktemp -d)
cp -r nbs mi_ecg_nb "$snap"/
nbdev-export
nbdev-clean
if ! diff -r -x __pycache__ "$snap/nbs" nbs >/dev/null || ! diff -r -x __pycache__ "$snap/mi_ecg_nb" mi_ecg_nb >/dev/null; then
  diff -r -x __pycache__ "$snap/nbs" nbs | head -40 || true
  diff -r -x __pycache__ "$snap/mi_ecg_nb" mi_ecg_nb | head -40 || true
  echo "FAIL: run nbdev-export and nbdev-clean, then commit the result (mi_ecg_nb/ is generated from nbs/)"; exit 1
fi
rm -rf "$snap"
python scripts/readme.py --check

# Notebook and regular tests run on the bundled sample and fixtures, whatever PTBXL_DIR says.
FULL_DIR=${PTBXL_DIR:-}
unset PTBXL_DIR

echo "== 2/4 nbdev-test"
nbdev-test --flags "${FLAGS:-}" --timing

echo "== 3/4 pytest"
set +e; python -m pytest -q -m "not full_ptbxl" --durations=15; rc=$?; set -e
[ $rc -eq 5 ] && { echo "FAIL: pytest collected no tests"; exit 1; }
[ $rc -ne 0 ] && exit $rc

echo "== 4/4 tests on the full PTB-XL"
if [ -z "$FULL_DIR" ] && [ -f ../shared/data/ptbxl/unpack.py ]; then
  tmp_full=$(mktemp -d); trap 'rm -rf "$tmp_full"' EXIT
  FULL_DIR=$tmp_full/ptbxl
  python3 ../shared/data/ptbxl/unpack.py "$FULL_DIR" | tail -1
fi
if [ -n "$FULL_DIR" ]; then
  set +e; PTBXL_DIR="$FULL_DIR" python -m pytest -q -m full_ptbxl -rs --durations=10; rc=$?; set -e
  [ $rc -eq 5 ] && { echo "FAIL: no full_ptbxl tests collected"; exit 1; }
  [ $rc -ne 0 ] && exit $rc
else
  echo "SKIPPED: full PTB-XL not available (set PTBXL_DIR, or place the packed copy at ../shared/data/ptbxl)"
fi
echo "all tests passed"
