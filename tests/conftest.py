"""Shared pytest fixtures: a tiny PTB-XL tree, settings pointing at it, and the full dataset when present."""
import os
from pathlib import Path

import pytest

from mi_ecg_nb.config import load_settings

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    "Tests marked full_ptbxl skip, with the reason, when PTBXL_DIR does not point at the full dataset."
    d = os.environ.get('PTBXL_DIR')
    ok = d and (Path(d) / 'ptbxl_database.csv').is_file() and (Path(d) / 'records100').is_dir()
    if ok: return
    why = ('full PTB-XL not available: set PTBXL_DIR to a PTB-XL v1.0.3 tree '
           '(e.g. export PTBXL_DIR=/path/to/ptb-xl)')
    for it in items:
        if 'full_ptbxl' in it.keywords: it.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
def tiny_ptbxl(tmp_path):
    "A 40-record PTB-XL-like tree written with wfdb.wrsamp, and settings whose paths point into tmp_path."
    from mi_ecg_nb.testing import make_fixture_ptbxl
    root = make_fixture_ptbxl(tmp_path / 'ptbxl', n=40)
    ini = tmp_path / 'settings.ini'
    ini.write_text(f'[paths]\nptbxl_dir = {root}\ncache_dir = {tmp_path}/cache\nreports_dir = {tmp_path}/reports\n'
                   f'sample_dir = {ROOT}/data/ptbxl-sample\n')
    return root, load_settings(ini, env={})


@pytest.fixture(scope='session')
def full_ptbxl():
    "The full PTB-XL, loaded once per session (only for tests marked full_ptbxl)."
    from mi_ecg_nb.ptbxl import load_ptbxl
    from mi_ecg_nb.ptbxl import ptbxl_options
    s = load_settings(env={k: v for k, v in os.environ.items() if k == 'PTBXL_DIR'})
    return load_ptbxl(**ptbxl_options(s, path=os.environ['PTBXL_DIR']))
