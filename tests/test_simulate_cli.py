"""`mi-ecg simulate` and `mi-ecg fit-simulator`: output formats, the PTB-XL round trip, failure modes and (slow / full
PTB-XL) the fit."""
import json, os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mi_ecg_nb.config import MiEcgError, load_settings
from mi_ecg_nb.ptbxl import PTBXLError, load_ptbxl, LEADS, ptbxl_options
from mi_ecg_nb.sim_params import load_sim_params
from mi_ecg_nb.cohort import simulate_cohort, target_mask
from mi_ecg_nb.sim_fit import select_records, record_classes, fit_sim_params, write_sim_params
from mi_ecg_nb.bench import bench_simulate
from mi_ecg_nb.cli import build_parser, parse_cls, run_command

ROOT = Path(__file__).resolve().parents[1]


def run(argv, ini=None):
    "Run `mi-ecg [--settings ini] <argv>` without the environment's settings; returns what the command returns."
    return run_command((['--settings', str(ini)] if ini else []) + argv, env={})


def test_wfdb_cohort_reads_back_with_the_projects_ptbxl_reader(tmp_path):
    out = tmp_path / 'sim'
    run(['simulate', '--n', '12', '--cls', 'NORM:0.5,MI:0.5', '--seed', '3', '--out', str(out)])
    ds = load_ptbxl(out, cache=False, progress=False)
    c = simulate_cohort(12, {'NORM': 0.5, 'MI': 0.5}, seed=3)                  # the same cohort, in memory
    np.testing.assert_allclose(ds.signals, c.signals, atol=6e-4)              # 1 µV quantisation
    m = target_mask()
    np.testing.assert_array_equal(ds.targets('superclass')[:, m], c.targets('superclass')[:, m])
    np.testing.assert_array_equal(ds.targets('mi'), c.targets('mi'))
    np.testing.assert_array_equal(ds.meta.sex.to_numpy(), c.meta.sex.to_numpy())
    np.testing.assert_allclose(ds.meta.age.to_numpy(), c.meta.age.to_numpy(), atol=1e-6)
    assert set(ds.meta.split) <= {'train', 'val', 'test'}
    params = pd.read_csv(out / 'params.csv')
    assert len(params) == 12 and {'hr', 'st_elev', 'territory', 'emg'} <= set(params.columns)
    I, II, III = ds.signals[:, 0], ds.signals[:, 1], ds.signals[:, 2]
    np.testing.assert_allclose(III, II - I, atol=2e-3)                        # identities survive the 16-bit files


def test_npy_format_and_default_seed(tmp_path):
    run(['--set', 'runtime.seed=4', 'simulate', '--n', '5', '--cls', 'IMI', '--out', str(tmp_path), '--format', 'npy'])
    x = np.load(tmp_path / 'signals.npy')
    np.testing.assert_array_equal(x, simulate_cohort(5, 'IMI', seed=4).signals)
    lab = pd.read_csv(tmp_path / 'labels.csv')
    assert (lab.sub_IMI == 1).all() and (lab.super_MI == 1).all()
    assert (pd.read_csv(tmp_path / 'ptbxl_database.csv').scp_codes.str.contains("'IMI': 100.0")).all()


def test_torch_backend_from_the_command_line(tmp_path):
    run(['simulate', '--n', '4', '--cls', 'MI', '--seed', '1', '--out', str(tmp_path), '--format', 'npy', '--backend', 'torch'])
    np.testing.assert_allclose(np.load(tmp_path / 'signals.npy'), simulate_cohort(4, 'MI', seed=1).signals, atol=1e-4)


@pytest.mark.parametrize('argv, what', [
    (['simulate', '--n', '3'], 'no output folder'),
    (['simulate', '--n', '0', '--out', 'X'], 'n >= 1'),
    (['simulate', '--n', '3', '--cls', 'STEMI', '--out', 'X'], 'unknown simulator class'),
    (['simulate', '--n', '3', '--cls', 'NORM:x', '--out', 'X'], 'cannot parse --cls'),
    (['simulate', '--n', '3', '--cls', 'NORM:0.5,MI:0.7', '--out', 'X'], 'do not sum to 1'),
    (['simulate', '--n', '3', '--cls', 'NORM:-1', '--out', 'X'], 'proportion out of range'),
    (['--set', 'simulate.fs=7', 'simulate', '--n', '3', '--out', 'X'], 'simulate.fs'),
    (['--set', 'simulate.fs=500', 'simulate', '--n', '3', '--out', 'X'], '100 Hz only'),
    (['fit-simulator', '--sample'], 'would overwrite the shipped parameters'),
])
def test_command_line_errors(tmp_path, argv, what):
    argv = [str(tmp_path / a) if a == 'X' else a for a in argv]
    with pytest.raises(MiEcgError, match=what): run(argv)


def test_fit_without_ptbxl_refuses_and_keeps_the_shipped_file(tmp_path):
    ini = tmp_path / 'settings.ini'
    ini.write_text(f'[paths]\nptbxl_dir = {tmp_path}/none\ncache_dir = {tmp_path}/cache\n')
    before = load_sim_params().doc
    with pytest.raises(PTBXLError, match='not found'): run(['fit-simulator'], ini)
    assert load_sim_params().doc == before


def test_fit_simulator_out_is_a_file(tmp_path):
    with pytest.raises(MiEcgError, match='is a folder'): run(['fit-simulator', '--sample', '--out', str(tmp_path)])


def test_simulate_fit_names_the_new_command(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(['simulate', 'fit', '--n-per-class', '40'])
    assert 'mi-ecg fit-simulator' in capsys.readouterr().err


def test_fit_simulator_flags_are_settings():
    args = build_parser().parse_args(['fit-simulator', '--n-per-class', '40', '--jobs', '2', '--out', 'p.json', '--seed', '3'])
    from mi_ecg_nb.cli import command_settings
    s = command_settings(args, env={})
    assert (s.simulate.fit_n_per_class, s.simulate.fit_jobs, s.runtime.seed, args.out) == (40, 2, 3, Path('p.json'))
    with pytest.raises(MiEcgError, match='fit_n_per_class'):                 # the schema's range: at least 30 per class
        command_settings(build_parser().parse_args(['fit-simulator', '--n-per-class', '5']), env={})


def test_parse_cls():
    assert parse_cls('MI') == 'MI' and parse_cls('AMI+IMI') == 'AMI+IMI'
    assert parse_cls('NORM:0.25, MI:0.75') == {'NORM': 0.25, 'MI': 0.75}


def test_registered_in_the_mi_ecg_command(tmp_path):
    import mi_ecg_nb.cli as cli
    assert cli.main(['--seed', '2', 'simulate', '--n', '3', '--cls', 'MI', '--out', str(tmp_path), '--format', 'npy']) == 0
    np.testing.assert_array_equal(np.load(tmp_path / 'signals.npy'), simulate_cohort(3, 'MI', seed=2).signals)
    assert cli.main(['simulate', '--n', '3', '--cls', 'MI', '--out', str(tmp_path / 'b'), '--format', 'npy', '--seed', '2']) == 0
    np.testing.assert_array_equal(np.load(tmp_path / 'b' / 'signals.npy'), np.load(tmp_path / 'signals.npy'))


def test_bench_quick_is_json():
    b = bench_simulate(load_settings(env={}), quick=True)
    json.dumps(b)
    assert b['numpy']['records_per_s'] > 0 and b['neurokit2_multileads']['n'] == 1 and 'machine' in b


def test_fit_uses_training_folds_only():
    ds = load_ptbxl(**ptbxl_options(load_settings(env={})), sample=True, progress=False)
    sel = select_records(ds, n_per_class=10_000)
    rows = np.concatenate(list(sel.values()))
    assert (ds.meta.split.to_numpy()[rows] == 'train').all()
    cls = record_classes(ds.labels).to_numpy()
    assert set(cls[rows]) == set(sel) and 'NORM' in sel


@pytest.mark.slow
def test_fit_on_the_bundled_sample_gives_a_usable_file(tmp_path):
    ds = load_ptbxl(**ptbxl_options(load_settings(env={})), sample=True, progress=False)
    doc, feat = fit_sim_params(ds, n_per_class=25, jobs=1, min_records=8, progress=False)
    assert doc['provenance']['split'] == 'train' and doc['provenance']['is_sample']
    assert set(doc['provenance']['folds']) <= set(range(1, 9))
    f = write_sim_params(doc, tmp_path / 'p.json')
    c = simulate_cohort(20, {'NORM': 0.5, 'MI': 0.5}, params=f, seed=0)
    assert np.isfinite(c.signals).all() and 20 < c.params.hr.min() and c.params.hr.max() < 250
    assert feat.ok.mean() > 0.6


@pytest.mark.full_ptbxl
def test_shipped_simulator_matches_real_ptbxl_scales(full_ptbxl):
    "Per-lead amplitude scale and heart rate of simulated NORM/MI are close to the real training records."
    ds = full_ptbxl
    tr = ds.split_index('train')
    for cls, mask in (('NORM', ds.labels.mi_vs_norm.to_numpy() == 0), ('MI', ds.labels.mi.to_numpy() == 1)):
        rows = tr[mask[tr]][:1500]
        real = np.asarray(ds.signals[rows])
        sim = simulate_cohort(1500, cls, seed=0).signals
        ratio = np.median(np.abs(sim - np.median(sim, -1, keepdims=True)), axis=(0, 2)) / \
                np.median(np.abs(real - np.median(real, -1, keepdims=True)), axis=(0, 2))
        assert np.all((ratio > 0.6) & (ratio < 1.6)), (cls, dict(zip(LEADS, ratio.round(2))))


def test_simulate_never_mixes_two_cohorts_in_one_folder(tmp_path):
    out = tmp_path / 'sim'
    run(['simulate', '--n', '6', '--cls', 'MI', '--seed', '1', '--out', str(out)])
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob('*') if p.is_file()}
    with pytest.raises(MiEcgError, match='not empty') as e:
        run(['simulate', '--n', '3', '--cls', 'NORM', '--seed', '2', '--out', str(out)])
    assert '--overwrite' in e.value.fix
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob('*') if p.is_file()} == before     # untouched
    run(['simulate', '--n', '3', '--cls', 'NORM', '--seed', '2', '--out', str(out), '--overwrite'])
    ds = load_ptbxl(out, cache=False, progress=False)
    assert len(ds) == 3 and len(list(out.rglob('*.dat'))) == 3                 # the new cohort only, no stale records
    assert sorted(p.name for p in tmp_path.iterdir()) == ['sim']                # no temporary folder left beside it
    with pytest.raises(MiEcgError, match='is a file'):
        run(['simulate', '--n', '3', '--out', str(out / 'params.csv'), '--format', 'npy'])


def test_an_interrupted_simulate_leaves_the_old_cohort(tmp_path, monkeypatch):
    import mi_ecg_nb.cohort as co
    out = tmp_path / 'sim'
    run(['simulate', '--n', '4', '--cls', 'MI', '--seed', '1', '--out', str(out), '--format', 'npy'])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = co.atomic_path
    calls = []
    def interrupting(dest):                                                      # Ctrl-C after the signals, before the tables
        calls.append(Path(dest).name)
        if Path(dest).name == 'labels.csv': raise KeyboardInterrupt
        return real(dest)
    monkeypatch.setattr(co, 'atomic_path', interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(['simulate', '--n', '9', '--cls', 'NORM', '--seed', '2', '--out', str(out), '--format', 'npy', '--overwrite'])
    assert 'signals.npy' in calls and {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['sim']


def test_ordinary_file_system_faults_are_messages_not_tracebacks(tmp_path, monkeypatch, capsys):
    import errno
    import mi_ecg_nb.cli as cli
    import mi_ecg_nb.cohort as co
    def full(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device', str(tmp_path / 'sim' / 'signals.npy'))
    monkeypatch.setattr(co.np, 'save', full)
    assert cli.main(['simulate', '--n', '2', '--out', str(tmp_path / 'sim'), '--format', 'npy']) == 2
    err = capsys.readouterr().err
    assert 'mi-ecg: error: the disk is full' in err and 'Traceback' not in err and 'signals.npy' in err
    assert not (tmp_path / 'sim').exists() and sorted(p.name for p in tmp_path.iterdir()) == []   # nothing half-written
    monkeypatch.undo()
    ro = tmp_path / 'ro'; ro.mkdir(); ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK): pytest.skip('running as a user who may write anywhere (root)')
        assert cli.main(['simulate', '--n', '2', '--out', str(ro / 'sim'), '--format', 'npy']) == 2
        assert 'permission denied' in capsys.readouterr().err
    finally: ro.chmod(0o700)


def test_killing_simulate_at_random_moments_leaves_the_old_cohort_or_none(tmp_path):
    import signal, subprocess, sys, time
    from mi_ecg_nb.config import make_rng
    old = tmp_path / 'old'
    run(['simulate', '--n', '3', '--cls', 'MI', '--seed', '1', '--out', str(old)])
    before = {p.relative_to(old): p.read_bytes() for p in old.rglob('*') if p.is_file()}
    code = 'import sys; from mi_ecg_nb.cli import main; sys.exit(main(sys.argv[1:]))'
    for i, delay in enumerate(make_rng(0, 'kill-simulate').uniform(1.0, 6.0, 3)):
        for out, extra in ((tmp_path / f'new{i}', []), (old, ['--overwrite'])):
            p = subprocess.Popen([sys.executable, '-c', code, 'simulate', '--n', '400', '--seed', str(i), '--out', str(out), *extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay); p.send_signal(signal.SIGKILL); p.wait()
            if out == old:
                now = {q.relative_to(old): q.read_bytes() for q in old.rglob('*') if q.is_file()}
                assert now == before or len(load_ptbxl(old, cache=False, progress=False)) == 400     # old, or the new one complete
                before = now
            else: assert not out.exists() or len(load_ptbxl(out, cache=False, progress=False)) == 400
    leftovers = [q.name for q in tmp_path.iterdir() if q.name.startswith('.')]
    assert all(q.endswith('.partial') for q in leftovers), leftovers       # a killed process leaves only a hidden temporary
    run(['simulate', '--n', '2', '--out', str(old), '--overwrite', '--format', 'npy'])    # the next write there clears its own
    assert not list(tmp_path.glob('.old.*.partial'))


def test_train_into_a_file_is_a_message_not_a_traceback(tmp_path, capsys):
    import mi_ecg_nb.cli as cli
    f = tmp_path / 'a-file'; f.write_text('x')
    rc = cli.main(['train', '--sample', '--epochs', '1', '--out', str(f / 'run')])
    err = capsys.readouterr().err
    assert rc == 2 and 'mi-ecg: error:' in err and 'Traceback' not in err and str(f) in err, err
    assert f.read_text() == 'x'
