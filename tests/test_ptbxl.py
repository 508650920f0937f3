"""PTB-XL data layer: failure modes, the command line, determinism and (when present) the full dataset."""
import json, os, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mi_ecg_nb.config import load_settings
from mi_ecg_nb.ptbxl import (PTBXLError, SUPERCLASSES, check_patient_disjoint, load_ptbxl, ptbxl_options,
                             read_database, subset_fraction)
from mi_ecg_nb.ptbxl_download import sha256_file, verify_ptbxl
from mi_ecg_nb.testing import make_fixture_ptbxl, serve_directory

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None):
    return subprocess.run(['mi-ecg', *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)


def test_missing_folder_lists_every_way_to_get_it(tmp_path):
    ini = tmp_path / 'settings.ini'
    ini.write_text(f'[paths]\nptbxl_dir = {tmp_path}/none\nsample_dir = {tmp_path}/nosample\n')
    with pytest.raises(PTBXLError) as e: load_ptbxl(**ptbxl_options(load_settings(ini, env={})))
    msg = str(e.value)
    for way in ('mi-ecg data download', 'PTBXL_DIR', 'sample'): assert way in msg
    assert '../' not in msg                          # no path that exists only beside this repository


def test_missing_csv_and_column(tiny_ptbxl):
    root, s = tiny_ptbxl
    (root / 'scp_statements.csv').unlink()
    with pytest.raises(PTBXLError, match='scp_statements.csv is missing'): load_ptbxl(**ptbxl_options(s))


def test_nan_and_absurd_metadata_are_imputed_not_fatal(tiny_ptbxl):
    root, s = tiny_ptbxl
    db = pd.read_csv(root / 'ptbxl_database.csv')
    db.loc[0, 'age'] = 300; db.loc[1, 'age'] = np.nan; db.loc[2, 'weight'] = 5000; db.loc[3, 'height'] = -1
    db.to_csv(root / 'ptbxl_database.csv', index=False)
    from mi_ecg_nb.ptbxl import MetadataTransform
    ds = load_ptbxl(**ptbxl_options(s))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        X = MetadataTransform().fit(ds.meta.iloc[ds.split_index('train')]).transform(ds.meta)
    assert np.isfinite(X).all() and any('impossible' in str(x.message) for x in w)


def test_metadata_transform_fitted_on_train_only(tiny_ptbxl):
    root, s = tiny_ptbxl
    from mi_ecg_nb.ptbxl import MetadataTransform
    ds = load_ptbxl(**ptbxl_options(s))
    tr, va = ds.split_index('train'), ds.split_index('val')
    a = MetadataTransform().fit(ds.meta.iloc[tr]).to_dict()
    m2 = ds.meta.copy(); m2.loc[va, 'age'] = 99.0; m2.loc[va, 'weight'] = 200.0
    assert MetadataTransform().fit(m2.iloc[tr]).to_dict() == a


def test_unknown_scp_codes_warn_and_load(tiny_ptbxl):
    root, s = tiny_ptbxl
    db = pd.read_csv(root / 'ptbxl_database.csv'); db.loc[0, 'scp_codes'] = "{'NORM': 100.0, 'NEWCODE': 50.0}"
    db.to_csv(root / 'ptbxl_database.csv', index=False)
    with pytest.warns(UserWarning, match='NEWCODE'): ds = load_ptbxl(**ptbxl_options(s), cache=False)
    assert ds.labels.super_NORM[0] == 1


def test_cache_from_an_older_dataset_is_rebuilt(tiny_ptbxl):
    root, s = tiny_ptbxl
    a = load_ptbxl(**ptbxl_options(s))
    db = pd.read_csv(root / 'ptbxl_database.csv'); db = db.iloc[:-5]; db.to_csv(root / 'ptbxl_database.csv', index=False)
    b = load_ptbxl(**ptbxl_options(s))
    assert len(b) == len(a) - 5 and np.array_equal(b.signals, a.signals[:-5])
    assert len(list((Path(s.path('cache_dir'))).glob('ptbxl-*'))) == 1


def test_interrupted_cache_build_leaves_nothing_trusted(tiny_ptbxl, monkeypatch):
    root, s = tiny_ptbxl
    import mi_ecg_nb.ptbxl as P
    def boom(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(P, '_to_mv', boom)
    with pytest.raises(KeyboardInterrupt): load_ptbxl(**ptbxl_options(s))
    monkeypatch.undo()
    cdirs = list(Path(s.path('cache_dir')).glob('ptbxl-*'))
    assert all(not (d / 'done.json').exists() and not list(d.glob('*.tmp')) for d in cdirs)
    assert len(load_ptbxl(**ptbxl_options(s))) == 40


def test_fractions_are_deterministic_and_leave_val_test_alone(tiny_ptbxl):
    root, s = tiny_ptbxl
    ds = load_ptbxl(**ptbxl_options(s))
    tr = ds.split_index('train')
    a, b = subset_fraction(ds.labels, tr, 0.5, 7), subset_fraction(ds.labels, tr, 0.5, 7)
    assert a.tobytes() == b.tobytes() and set(a) <= set(tr)
    assert not set(a) & set(ds.split_index('val')) | set(ds.split_index('test')) - set(ds.split_index('test'))
    for bad in (-0.1, 1.01, float('nan'), 'half'):
        with pytest.raises(ValueError, match='frac'): subset_fraction(ds.labels, tr, bad, 0)


def test_fractions_are_nested_for_one_seed(tiny_ptbxl):
    root, s = tiny_ptbxl
    ds = load_ptbxl(**ptbxl_options(s))
    tr = ds.split_index('train')
    mi = ds.labels.mi.to_numpy()
    for seed in (0, 1, 7, 2024):
        ks = [subset_fraction(ds.labels, tr, f, seed) for f in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)]
        assert all(np.all(np.diff(k) > 0) for k in ks)  # sorted, no repeats
        assert all(set(a) <= set(b) for a, b in zip(ks, ks[1:]))
        assert np.array_equal(ks[-1], np.sort(tr))
        n_mi = mi[tr].sum()
        assert [mi[k].sum() for k in ks] == [round(f * n_mi) for f in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)]


def test_cli_download_verify_info_offline(tmp_path):
    src = make_fixture_ptbxl(tmp_path / 'src', n=8)
    files = [str(p.relative_to(src)) for p in sorted(src.rglob('*')) if p.is_file()]
    (src / 'SHA256SUMS.txt').write_text(''.join(f'{sha256_file(src / f)}  {f}\n' for f in files))
    srv, url = serve_directory(src)
    try:
        r = cli('data', 'download', '--dest', str(tmp_path / 'dl'), '--url', url)
        assert r.returncode == 0, r.stderr
    finally: srv.shutdown()
    r = cli('data', 'verify', '--path', str(tmp_path / 'dl'))
    assert r.returncode == 0 and 'intact' in r.stdout, r.stdout + r.stderr
    (tmp_path / 'dl/records100/00000/00005_lr.dat').write_bytes(b'\1' * 24000)
    r = cli('data', 'verify', '--path', str(tmp_path / 'dl'))
    assert r.returncode == 2 and '00005_lr.dat' in r.stdout and 'mi-ecg data download' in r.stderr
    r = cli('data', 'info', '--path', str(tmp_path / 'src'), env={'MI_ECG_PATHS__CACHE_DIR': str(tmp_path / 'c')})
    assert r.returncode == 0 and 'fold 8' in r.stdout and 'all records' in r.stdout


def test_cli_verify_without_checksum_file_uses_the_header_checksums(tmp_path):
    src = make_fixture_ptbxl(tmp_path / 'src', n=6)
    assert not (src / 'SHA256SUMS.txt').exists()
    r = cli('data', 'verify', '--path', str(src))
    assert r.returncode == 0 and 'the 16-bit checksums in the headers' in r.stdout, r.stdout + r.stderr
    f = src / 'records100/00000/00003_lr.dat'
    b = bytearray(f.read_bytes()); b[2000] ^= 0x10; f.write_bytes(bytes(b))         # same size, one sample changed
    r = cli('data', 'verify', '--path', str(src))
    assert r.returncode == 2 and '00003_lr.dat' in r.stdout and '1 corrupt' in r.stderr, r.stdout + r.stderr


def test_download_failure_is_explained(tmp_path):
    r = cli('data', 'download', '--dest', str(tmp_path / 'dl'), '--url', 'http://127.0.0.1:9/')
    assert r.returncode == 2 and 'download failed' in r.stderr and 'resumes' in r.stderr


def test_bundled_sample_is_stratified_real_ptbxl():
    ds = load_ptbxl(sample=True, sample_dir=ROOT / 'data/ptbxl-sample')
    assert ds.is_sample and 200 <= len(ds) <= 500
    assert set(ds.meta.strat_fold) == set(range(1, 11))
    assert all(ds.labels[f'super_{c}'].sum() > 10 for c in SUPERCLASSES)
    assert (ROOT / 'data/ptbxl-sample/LICENSE.txt').is_file()
    size = sum(p.stat().st_size for p in (ROOT / 'data/ptbxl-sample').rglob('*') if p.is_file())
    assert size <= 10 * 2**20
    check_patient_disjoint(ds.meta)


@pytest.mark.full_ptbxl
def test_full_ptbxl_counts_and_splits(full_ptbxl):
    ds = full_ptbxl
    assert len(ds) == 21799 and ds.signals.shape == (21799, 12, 1000) and ds.signals.dtype == np.float32
    counts = {c: int(ds.labels[f'super_{c}'].sum()) for c in SUPERCLASSES}
    assert counts == {'NORM': 9514, 'MI': 5469, 'STTC': 5235, 'CD': 4898, 'HYP': 2649}   # PhysioNet's v1.0.3 figures
    assert ds.meta.split.value_counts().to_dict() == {'train': 17418, 'val': 2183, 'test': 2198}
    check_patient_disjoint(ds.meta)


@pytest.mark.full_ptbxl
def test_full_ptbxl_equals_wfdb_rdsamp(full_ptbxl):
    import wfdb
    ds = full_ptbxl
    db = read_database(ds.root)
    idx = np.random.default_rng(0).choice(len(ds), 300, replace=False)
    ref = np.stack([wfdb.rdsamp(str(ds.root / f))[0].T for f in db.filename_lr.iloc[idx]]).astype(np.float32)
    assert np.array_equal(ref, ds.signals[idx])


@pytest.mark.full_ptbxl
def test_full_ptbxl_frac0_removes_every_mi(full_ptbxl):
    ds = full_ptbxl
    tr = ds.split_index('train')
    k = subset_fraction(ds.labels, tr, 0.0, 0)
    assert ds.labels.mi.to_numpy()[k].sum() == 0 and len(k) == len(tr) - ds.labels.mi.to_numpy()[tr].sum()


def test_record_shares_are_nested_and_stratified_on_the_sample():
    "The label-efficiency curve's subsets: nested for one seed, exact sizes, superclass shares kept (bundled sample)."
    import numpy as np
    from mi_ecg_nb.ptbxl import SUPERCLASSES, training_rows
    ds = load_ptbxl(**ptbxl_options(load_settings(env={})), sample=True, progress=False)
    full = training_rows(ds)
    ks = [training_rows(ds, 1.0, 3, share=s) for s in (0.1, 0.25, 0.5, 1.0)]
    assert all(set(a) <= set(b) for a, b in zip(ks, ks[1:])) and np.array_equal(ks[-1], full)
    assert [len(k) for k in ks] == [round(s * len(full)) for s in (0.1, 0.25, 0.5, 1.0)]
    y = ds.labels[[f'super_{c}' for c in SUPERCLASSES]].to_numpy()
    assert np.abs(y[ks[2]].mean(0) - y[full].mean(0)).max() < 0.03
    assert not np.array_equal(ks[1], training_rows(ds, 1.0, 4, share=0.25))       # another seed, another subset
