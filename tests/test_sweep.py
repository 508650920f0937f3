"""Sweep stage: a tiny sweep (fake runner) with its reports rendered by papermill, skip on re-run, resume after a kill,
reports re-rendered without retraining, failures, the lock, bad input. The real training entry points are exercised in
test_sweep_real.py."""
import errno, json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest

from mi_ecg_nb.config import ConfigError, MiEcgError, load_settings
from mi_ecg_nb import sweep as sw
from mi_ecg_nb.sweep import run_sweep, sweep_lock
from mi_ecg_nb.sweep_grid import make_grid, pretrain_spec
from mi_ecg_nb.testing import FakeRunner

ROOT = Path(__file__).resolve().parents[1]
FAKE = 'mi_ecg_nb.testing:FAKE_RUNNER'                 # the fake runner by name, as workers and templates get it

TINY = """
[paths]
sample_dir = {root}/data/ptbxl-sample
ptbxl_dir = {tmp}/no-ptbxl
cache_dir = {tmp}/cache
reports_dir = {tmp}/reports

[sweep:tiny]
description = two fake runs for the tests
data = sample
seeds = 0
fracs = 1.0
ratios = 0.0
table1_arms = gru-base,gru-supervised
table2_arms = gru-base
epochs = 2
pretrain_epochs = 1
n_synth = 10
jobs = 1
matched_controls = false
"""


def _settings(tmp_path, extra=''):
    ini = tmp_path / 'settings.ini'
    ini.write_text(TINY.format(root=ROOT, tmp=tmp_path) + extra)
    return load_settings(ini, env={})


def _artefacts(d: Path):
    return {p.name for p in d.iterdir()}


@pytest.fixture
def tiny(tmp_path):
    return _settings(tmp_path)


def test_dry_run_and_grid(tiny, capsys):
    res = run_sweep('tiny', tiny, dry_run=True, runner=FAKE)
    assert [r.run_id for r in res.runs] == ['t1-gru-base-frac1-s0', 't1-gru-supervised-frac1-s0', 't2-gru-base-ratio0-s0']
    assert not res.sweep_dir.exists()                                     # a dry run writes nothing
    from mi_ecg_nb.cli import build_parser
    args = build_parser().parse_args(['sweep', '--preset', 'tiny', '--dry-run'])
    assert args.func(args, tiny) == 0
    assert 't1-gru-supervised-frac1-s0' in capsys.readouterr().out


def test_cli_runner_fake(tiny):
    "`mi-ecg sweep --runner fake` runs the fake runner of mi_ecg_nb.testing by its name; sweep.json records 'fake'."
    from mi_ecg_nb.cli import run_command
    argv = ['--settings', str(tiny.file), 'sweep', '--preset', 'tiny', '--runner', 'fake', '--only', 't2-*', '--no-summary']
    assert run_command(argv, env={}) == 0
    sd = Path(tiny.path('reports_dir')) / 'tiny'
    assert json.loads((sd / 'sweep.json').read_text())['runner'] == 'fake'
    assert json.loads((sd / 't2-gru-base-ratio0-s0' / 'config.json').read_text())['runner'] == 'fake'


def test_tiny_sweep_end_to_end_then_skipped(tiny):
    res = run_sweep('tiny', tiny, runner=FAKE, only='t1-*', jobs=2)
    assert res.ok, res.status
    assert sorted(res.ids('done')) == ['t1-gru-base-frac1-s0', 't1-gru-supervised-frac1-s0']
    sd = res.sweep_dir
    for rid in res.ids('done'):
        names = _artefacts(sd / rid)
        assert {'report.ipynb', 'config.json', 'metrics.json', 'predictions.npz', 'history.csv', 'train_result.json',
                'roc.png', 'calibration.png', 'confusion.png', 'convergence.png'} <= names, names
        assert sw.PARTIAL_REPORT not in names and not any(n.startswith('.') for n in names), names
        m = json.loads((sd / rid / 'metrics.json').read_text())
        assert m['run_id'] == rid and m['headline']['lo'] <= m['headline']['value'] <= m['headline']['hi']
    # the pretrained arm was initialised from the shared pretraining checkpoint
    cfg = json.loads((sd / 't1-gru-supervised-frac1-s0' / 'metrics.json').read_text())
    assert cfg['spec']['init'].endswith('checkpoint.json')
    (pdir,) = (sd / 'pretrain').iterdir()
    assert (pdir / 'done.json').is_file()
    assert {'summary.ipynb', 'summary.html', 'sweep.json', 'gains.png'} <= _artefacts(sd)
    assert 'FAKE RUNS' in (sd / 'summary.html').read_text()
    assert not (sd / sw.LOCK_NAME).exists()
    status = json.loads((sd / 'sweep.json').read_text())
    assert {v['status'] for v in status['runs'].values()} == {'done'}
    # re-run: everything is skipped, the pretraining is not recomputed, nothing is rewritten
    stamps = {p: p.stat().st_mtime_ns for p in [*sd.glob('*/metrics.json'), pdir / 'done.json']}
    res2 = run_sweep('tiny', tiny, runner=FAKE, only='t1-*', summary=False)
    assert sorted(res2.ids('skipped')) == sorted(res.ids('done')) and res2.pretrain == {}
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}


def test_failed_run_keeps_its_error_and_sweep_goes_on(tiny):
    res = run_sweep('tiny', tiny, runner=FakeRunner(fail=['t1-gru-base-frac1-s0']), summary=False, only='t*-gru-base-*')
    assert res.ids('failed') == ['t1-gru-base-frac1-s0'] and res.ids('done') == ['t2-gru-base-ratio0-s0']
    assert not res.ok
    d = res.sweep_dir / 't1-gru-base-frac1-s0'
    assert (d / 'config.json').is_file() and not (d / 'metrics.json').exists() and not (d / 'report.ipynb').exists()
    assert 'fake failure' in (d / 'error.txt').read_text() and 'Traceback' in (d / 'error.txt').read_text()
    status = json.loads((res.sweep_dir / 'sweep.json').read_text())
    assert status['runs']['t1-gru-base-frac1-s0']['status'] == 'failed' and status['runner'] == 'fake'
    res = run_sweep('tiny', tiny, runner=FAKE, summary=False, only='t*-gru-base-*')   # the failed run is redone
    assert res.ids('done') == ['t1-gru-base-frac1-s0'] and res.ids('skipped') == ['t2-gru-base-ratio0-s0']


def test_a_run_that_kills_its_process_fails_alone(tiny):
    "Each run works in its own worker process: one that dies (as in a segfault or an out-of-memory kill) fails alone."
    res = run_sweep('tiny', tiny, runner=FakeRunner(crash=['t1-gru-base-frac1-s0']), summary=False, only='t*-gru-base-*',
                    isolate=True)
    assert res.ids('failed') == ['t1-gru-base-frac1-s0'] and res.ids('done') == ['t2-gru-base-ratio0-s0']
    assert 'exited with status 70' in res.status['t1-gru-base-frac1-s0']['error']
    assert not (res.sweep_dir / 't1-gru-base-frac1-s0' / 'metrics.json').exists()


def test_failed_pretraining_fails_its_runs_only(tiny):
    key = pretrain_spec(make_grid(tiny, 'tiny')[1]).key
    res = run_sweep('tiny', tiny, runner=FakeRunner(fail=[key]), summary=False, only='t1-*')
    assert res.ids('failed') == ['t1-gru-supervised-frac1-s0'] and res.ids('done') == ['t1-gru-base-frac1-s0']
    assert 'pretraining' in res.status['t1-gru-supervised-frac1-s0']['error']


def _procs():
    "pid -> (process group, JPY_PARENT_PID) of the live processes (Linux /proc)."
    out = {}
    for d in Path('/proc').iterdir():
        if not d.name.isdigit(): continue
        try:
            stat = (d / 'stat').read_text()
            pgrp = int(stat.rsplit(')', 1)[1].split()[2])
            env = (d / 'environ').read_bytes().split(b'\0')
            jpy = next((int(e.split(b'=', 1)[1]) for e in env if e.startswith(b'JPY_PARENT_PID=')), None)
            if stat.rsplit(')', 1)[1].split()[0] != 'Z': out[int(d.name)] = (pgrp, jpy)
        except (OSError, ValueError, IndexError): pass
    return out


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='needs Linux /proc')
def test_killed_sweep_resumes(tiny, tmp_path):
    """Kill the sweep process mid-run (jobs=2: the slow run trains in a worker process, the other one's report was
    rendered in a papermill kernel): its workers and kernels exit, the slow run has no metrics.json, and the next
    sweep takes over the stale lock and redoes it."""
    slow = 't1-gru-supervised-frac1-s0'
    code = ('import sys; from mi_ecg_nb.config import load_settings; from mi_ecg_nb.sweep import run_sweep; from mi_ecg_nb.testing import FakeRunner; '
            'run_sweep("tiny", load_settings(sys.argv[1]), runner=FakeRunner(sleep={sys.argv[2]: 120}), only="t1-*", '
            'summary=False, jobs=2, isolate=True)')
    p = subprocess.Popen([sys.executable, '-c', code, str(tiny.file), slow], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sd = tmp_path / 'reports' / 'tiny'
    try:
        t0 = time.time()
        while not ((sd / slow / 'config.json').is_file() and (sd / 't1-gru-base-frac1-s0' / 'report.ipynb').is_file()):
            assert time.time() - t0 < 150 and p.poll() is None, 'the sweep did not reach the slow run'
            time.sleep(0.5)
        time.sleep(2)
        mine = {pid for pid, (g, _) in _procs().items() if g == p.pid}           # the sweep and its workers
        assert len(mine - {p.pid}) >= 1                                           # the slow run's worker is alive
        os.kill(p.pid, signal.SIGKILL); p.wait()                                  # only the sweep process itself
        t0 = time.time()
        while any(g == p.pid or jpy in mine for g, jpy in _procs().values()):    # workers, then their kernels, exit
            assert time.time() - t0 < 20, 'workers or kernels outlived the killed sweep'
            time.sleep(0.5)
    finally:
        for pid, (g, jpy) in _procs().items():                                     # never leave our processes behind
            if g == p.pid or jpy in mine | {p.pid}:
                try: os.kill(pid, signal.SIGKILL)
                except ProcessLookupError: pass
    assert (sd / 't1-gru-base-frac1-s0' / 'metrics.json').is_file()
    assert not (sd / slow / 'metrics.json').exists() and not (sd / slow / 'report.ipynb').exists()   # killed mid-way: not finished
    assert (sd / sw.LOCK_NAME).is_file()                               # the dead sweep's lock is left behind
    res = run_sweep('tiny', tiny, runner=FAKE, only='t1-*', summary=False)   # takes over the stale lock
    assert res.ids('skipped') == ['t1-gru-base-frac1-s0'] and res.ids('done') == [slow]
    assert (sd / slow / 'metrics.json').is_file() and not (sd / sw.LOCK_NAME).exists()


def _folder(d: Path) -> dict:
    "name -> (mtime, bytes) of every file of a run folder but its report."
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.iterdir() if p.is_file() and p.name != 'report.ipynb'}


def test_missing_report_is_rendered_again_without_retraining(tiny):
    """A finished run (metrics.json) whose report is missing (here: left partial, as by a sweep killed while
    rendering) gets only its report rendered on the next sweep: with training made to fail, nothing else changes."""
    rid = 't2-gru-base-ratio0-s0'
    res = run_sweep('tiny', tiny, runner=FAKE, only='t2-*', summary=False)
    d = res.sweep_dir / rid
    before = _folder(d)
    (d / 'report.ipynb').rename(d / sw.PARTIAL_REPORT)
    res = run_sweep('tiny', tiny, runner=FakeRunner(fail=[rid]), only='t2-*', summary=False)
    assert res.ok and res.status[rid]['status'] == 'skipped' and res.status[rid]['report'] == 'rendered', res.status
    assert (d / 'report.ipynb').is_file() and not (d / sw.PARTIAL_REPORT).exists()
    assert _folder(d) == before                                        # metrics.json, predictions, figures: untouched
    assert rid in (d / 'report.ipynb').read_text() and 'FAKE RUNS' in (d / 'report.ipynb').read_text()
    (d / 'report.ipynb').unlink()                                      # deleted by hand: the same
    res = run_sweep('tiny', tiny, runner=FakeRunner(fail=[rid]), only='t2-*', summary=False)
    assert res.status[rid].get('report') == 'rendered' and (d / 'report.ipynb').is_file() and _folder(d) == before


def test_template_reports_a_finished_run_and_trains_only_if_asked(tiny, tmp_path):
    "The run report template by hand: on a finished folder it only reads (a runner that cannot load is never used); on an empty one it trains."
    rid = 't2-gru-base-ratio0-s0'
    res = run_sweep('tiny', tiny, runner=FAKE, only='t2-*', summary=False)
    d = res.sweep_dir / rid
    before, tpl = _folder(d), sw.template_path(sw.RUN_TEMPLATE, tiny.file)
    sw._papermill(tpl, tmp_path / 'by-hand.ipynb', dict(out_dir=str(d), train_if_missing=True, runner='nosuch.module:x'))
    assert _folder(d) == before and rid in (tmp_path / 'by-hand.ipynb').read_text()
    e2e = tmp_path / 'e2e'                                              # one notebook end to end: train, then report
    sw._papermill(tpl, tmp_path / 'e2e.ipynb', dict(out_dir=str(e2e), spec_json=json.dumps(make_grid(tiny, 'tiny')[2].to_dict()),
                                                    settings_file=str(tiny.file), runner=FAKE, n_boot=100))
    m = json.loads((e2e / 'metrics.json').read_text())
    assert m['run_id'] == rid and m['bootstrap']['n_boot'] == 100 and (e2e / 'roc.png').is_file()
    with pytest.raises(Exception, match='the run is not finished'):
        sw._papermill(tpl, tmp_path / 'none.ipynb', dict(out_dir=str(tmp_path / 'empty'), train_if_missing=False))
    assert not (tmp_path / 'empty' / 'metrics.json').exists()


def test_failed_report_of_a_finished_run(tiny, tmp_path):
    "A report that fails to render fails its run but keeps the run's results; the next sweep only renders it again."
    rid = 't2-gru-base-ratio0-s0'
    bad = tmp_path / 'bad_template.ipynb'
    nb = json.loads(sw.template_path(sw.RUN_TEMPLATE, tiny.file).read_text())
    nb['cells'].append(dict(cell_type='code', execution_count=None, id='b0rk', metadata={}, outputs=[], source=['raise ValueError("broken template")']))
    bad.write_text(json.dumps(nb))
    sref, d = sw.settings_ref(tiny), Path(tiny.path('reports_dir')) / 'tiny' / rid
    out = sw.execute_run(make_grid(tiny, 'tiny')[2], d, sref, FAKE, template=bad)
    assert out['status'] == 'failed' and out['error'].startswith('its report failed') and 'broken template' in out['error']
    assert (d / 'metrics.json').is_file() and (d / sw.PARTIAL_REPORT).is_file() and not (d / 'report.ipynb').exists()
    before = _folder(d)
    out = sw.execute_run(make_grid(tiny, 'tiny')[2], d, sref, FakeRunner(fail=[rid]))
    assert out['status'] == 'skipped' and out['report'] == 'rendered' and (d / 'report.ipynb').is_file()
    assert not (d / 'error.txt').exists() and not (d / sw.PARTIAL_REPORT).exists()
    assert {k: v for k, v in _folder(d).items() if k != 'error.txt'} == {k: v for k, v in before.items() if k not in ('error.txt', sw.PARTIAL_REPORT)}


def test_lock_stops_a_second_sweep(tiny):
    sd = Path(tiny.path('reports_dir')) / 'tiny'
    sd.mkdir(parents=True)
    with sweep_lock(sd):
        with pytest.raises(MiEcgError, match='another sweep is writing'):
            run_sweep('tiny', tiny, runner=FAKE)


def test_unknown_preset_and_malformed_grid(tmp_path):
    s = _settings(tmp_path)
    with pytest.raises(MiEcgError, match='unknown sweep preset'):
        run_sweep('nope', s, runner=FAKE)
    s = _settings(tmp_path, '\n[sweep:bad]\ntable1_arms = gru-base,cnn-base\n')
    with pytest.raises(MiEcgError, match="malformed arm 'cnn-base'"):
        run_sweep('bad', s, dry_run=True)
    s = _settings(tmp_path, '\n[sweep:bad]\nratios = 0.5,-1\n')
    with pytest.raises(MiEcgError, match='malformed ratios'):
        run_sweep('bad', s, dry_run=True)
    with pytest.raises(ConfigError, match='fracs'):
        _settings(tmp_path, '\n[sweep:bad]\nfracs = 0.1,lots\n')
    with pytest.raises(ConfigError, match='epochs'):
        _settings(tmp_path, '\n[sweep:bad]\nepochs = 0\n')
    with pytest.raises(MiEcgError, match='unknown runner'):
        run_sweep('tiny', _settings(tmp_path), runner='nosuch.module:thing')


def test_reports_folder_not_writable(tiny, tmp_path):
    (tmp_path / 'afile').write_text('x')
    with pytest.raises(MiEcgError, match='not writable'):
        run_sweep('tiny', tiny, runner=FAKE, reports_dir=tmp_path / 'afile' / 'reports')


def test_disk_full_while_writing_metrics(tiny, monkeypatch):
    real = Path.write_text

    def full(self, *a, **k):
        if self.name.startswith('.metrics.json.'):
            raise OSError(errno.ENOSPC, 'No space left on device', str(self))
        return real(self, *a, **k)
    monkeypatch.setattr(Path, 'write_text', full)
    with pytest.raises(MiEcgError, match='disk full while writing') as e:
        run_sweep('tiny', tiny, runner=FAKE, only='t2-*', summary=False, isolate=False)
    assert 'rerun' in str(e.value)
    d = Path(tiny.path('reports_dir')) / 'tiny' / 't2-gru-base-ratio0-s0'
    assert not (d / 'metrics.json').exists() and not list(d.glob('.metrics.json.*'))
    assert not (d.parent / sw.LOCK_NAME).exists()                      # the lock is released
    monkeypatch.setattr(Path, 'write_text', real)
    res = run_sweep('tiny', tiny, runner=FAKE, only='t2-*', summary=False)   # space is back: the run is redone
    assert res.ids('done') == ['t2-gru-base-ratio0-s0']


def test_write_metrics_disk_full_leaves_nothing(tmp_path, monkeypatch):
    from mi_ecg_nb.evaluate import write_metrics
    def full(self, *a, **k): raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(Path, 'write_text', full)
    with pytest.raises(OSError):
        write_metrics({'a': 1}, tmp_path / 'metrics.json')
    assert list(tmp_path.iterdir()) == []


def test_sweep_folder_never_mixes_data(tiny):
    res = run_sweep('tiny', tiny, runner=FAKE, only='t2-*', summary=False)
    status = json.loads((res.sweep_dir / 'sweep.json').read_text())
    status['data']['kind'] = 'full'
    (res.sweep_dir / 'sweep.json').write_text(json.dumps(status))
    with pytest.raises(MiEcgError, match='other data'):
        run_sweep('tiny', tiny, runner=FAKE, only='t2-*', summary=False)


def test_template_path():
    assert sw.template_path(sw.RUN_TEMPLATE).name == '90_run_report.ipynb'
    with pytest.raises(MiEcgError, match='not found'):
        sw.template_path('99_nope.ipynb')


def test_budget_capped_preset_says_so_in_every_report(tmp_path):
    "A preset with max_steps_per_epoch > 0: sweep.json records the budget, and the summary and each run report open with a banner."
    s = load_settings(_write(tmp_path, TINY.replace('jobs = 1\n', 'jobs = 1\nmax_steps_per_epoch = 5\n')), env={})
    res = run_sweep('tiny', s, runner=FAKE, only='t2-*')
    assert res.ok, res.status
    sd = res.sweep_dir
    b = json.loads((sd / 'sweep.json').read_text())['budget']
    assert b == dict(epochs=2, pretrain_epochs=1, max_steps_per_epoch=5, patience=5, min_delta=0.0, min_steps_per_epoch=0)   # the [train] early stopping
    assert 'BUDGET-CAPPED' in (sd / 'summary.html').read_text()
    assert 'BUDGET-CAPPED' in (sd / 't2-gru-base-ratio0-s0' / 'report.ipynb').read_text()
    (tmp_path / 'uncapped').mkdir()
    res0 = run_sweep('tiny', _settings(tmp_path / 'uncapped'), runner=FAKE, only='t2-*')   # no cap: no banner
    assert 'BUDGET-CAPPED' not in (res0.sweep_dir / 'summary.html').read_text()


def test_a_step_cap_set_outside_the_preset_is_the_budget_the_summary_states(tmp_path):
    "The budget in sweep.json is the cap the runs get: here from `train.max_steps_per_epoch`, the preset having none."
    s = load_settings(_write(tmp_path, TINY), overrides={'train.max_steps_per_epoch': 7}, env={})
    res = run_sweep('tiny', s, runner=FAKE, only='t2-gru-base-*', summary=False)
    assert res.ok, res.status
    assert json.loads((res.sweep_dir / 'sweep.json').read_text())['budget']['max_steps_per_epoch'] == 7


def _write(tmp_path, text):
    ini = tmp_path / 'settings.ini'
    ini.write_text(text.format(root=ROOT, tmp=tmp_path)); return ini


def test_base_matched_run_gets_its_twins_steps(tmp_path):
    "A base-matched control runs after its twin, with the twin's pretraining + fine-tuning steps as its budget; it records the steps it used."
    from mi_ecg_nb.testing import FAKE_STEPS
    s = _settings(tmp_path, '\n[sweep:bm]\ndata = sample\nseeds = 0\nfracs = 0.0\nratios = 0.0\ntable1_arms = gru-base,gru-supervised\n'
                            'table2_arms = gru-base\nepochs = 2\npretrain_epochs = 3\nn_synth = 10\n')
    res = run_sweep('bm', s, runner=FAKE, summary=False)
    assert res.ok, res.status
    bm, twin = 't1-gru-base-matched-supervised-frac0-s0', 't1-gru-supervised-frac0-s0'
    assert [r.run_id for r in res.runs] == ['t1-gru-base-frac0-s0', twin, bm, 't2-gru-base-ratio0-s0']
    m, t = (json.loads((res.sweep_dir / r / 'metrics.json').read_text()) for r in (bm, twin))
    budget = 3 * FAKE_STEPS['pretrain_epoch'] + t['train_info']['steps']
    assert m['spec']['step_budget'] == budget == m['train_info']['steps'] and m['train_info']['step_budget'] == budget
    assert m['spec']['init'] == '' and m['spec']['twin'] == 'supervised'
    # a rerun skips it; without its twin's step count it fails with a clear error, and the others go on
    assert run_sweep('bm', s, runner=FAKE, summary=False).ids('skipped') == [r.run_id for r in res.runs]
    (res.sweep_dir / bm / 'metrics.json').unlink(); (res.sweep_dir / twin / 'metrics.json').unlink()
    res2 = run_sweep('bm', s, runner=FakeRunner(fail=[twin]), summary=False)
    assert res2.status[bm]['status'] == 'failed' and 'no step count for the twin' in res2.status[bm]['error']


def test_prepare_gets_the_simulators_the_unfinished_runs_need(tiny):
    calls = []
    class Preparing(FakeRunner):
        def prepare(self, sims, data, settings): calls.append((sims, data))
    run_sweep('tiny', tiny, runner=Preparing(), summary=False, only='t1-*')
    run_sweep('tiny', tiny, runner=Preparing(), summary=False, only='t1-*')       # all finished: nothing to fit
    assert calls == [([('matched', 1.0, 0, 1.0)], 'sample'), ([], 'sample')]


def test_simulators_needed_by_the_project_presets():
    s = load_settings(ROOT / 'settings.ini', env={})
    def need(preset):
        runs = make_grid(s, preset)
        return sw.simulators_needed(runs, dict.fromkeys(pretrain_spec(r) for r in runs if r.pretrained))
    assert need('curve') == [('matched', 1.0, 0, sh) for sh in s.sweep('curve').shares]
    assert need('quick') == [('matched', f, 0, 1.0) for f in s.sweep('quick').fracs]
    assert ('matched', 1.0, 0, 1.0) in need('demo')                   # Table 2's base arm at ratio 0.5 draws from frac 1.0


def test_real_prepare_fits_once_for_the_workers(tmp_path, monkeypatch):
    from mi_ecg_nb import sim_fit, sim_matched
    s = _settings(tmp_path, '\n[simulate]\nfit_n_per_class = 30\nfit_jobs = 1\n')
    sims = [('matched', 1.0, 0, 0.5), ('prior', 1.0, 0, 1.0), ('matched', 1.0, 0, 1.0)]
    fitted = []
    real = sim_fit._fit_rows
    monkeypatch.setattr(sim_fit, '_fit_rows', lambda ds, rows, *a, **k: fitted.append(len(rows)) or real(ds, rows, *a, **k))
    sw.real_prepare(sims, 'sample', s)
    from mi_ecg_nb.sim_matched import matched_fit_rows
    union = set(matched_fit_rows(sw._load_data('sample', s), 1.0, 0, 0.5, 30)) | set(matched_fit_rows(sw._load_data('sample', s), 1.0, 0, 1.0, 30))
    assert fitted == [len(union)]                       # one call: the union of both simulators' records, each once
    assert len(list((tmp_path / 'cache').glob('sim_matched-*.json'))) == 2
    def boom(*a, **k): raise AssertionError('a worker refitted')
    monkeypatch.setattr(sim_fit, '_fit_rows', boom)
    monkeypatch.setattr(sim_matched, 'fit_sim_params', boom)
    ds = sw._load_data('sample', s)
    for _, frac, seed, share in (x for x in sims if x[0] == 'matched'):
        sw.run_simulator(ds, s, 'matched', frac, seed, share)      # what a worker does: read from the cache


def test_changed_settings_stop_the_sweep_until_rerun_changed(tmp_path):
    s = _settings(tmp_path)
    res = run_sweep('tiny', s, runner=FAKE, only='t1-*', summary=False)
    assert sorted(res.ids('done')) == ['t1-gru-base-frac1-s0', 't1-gru-supervised-frac1-s0']
    sd = res.sweep_dir
    before = {p: p.read_bytes() for p in sd.glob('*/metrics.json')}
    s2 = load_settings(tmp_path / 'settings.ini', overrides={'train.lr': 0.01}, env={})
    with pytest.raises(MiEcgError, match='other inputs') as e:                 # stopped before any work, nothing rewritten
        run_sweep('tiny', s2, runner=FAKE, only='t1-*', summary=False)
    assert 'settings.train.lr: 0.001 -> 0.01' in e.value.found and '--rerun-changed' in e.value.fix
    assert {p: p.read_bytes() for p in sd.glob('*/metrics.json')} == before
    res2 = run_sweep('tiny', s2, runner=FAKE, only='t1-*', summary=False, rerun_changed=True)
    assert sorted(res2.ids('done')) == sorted(res.ids('done'))                 # both rerun with the new lr
    for p in sd.glob('*/metrics.json'): assert json.loads(p.read_text())['inputs']['settings']['train']['lr'] == 0.01
    res3 = run_sweep('tiny', s2, runner=FAKE, only='t1-*', summary=False)      # and now they are finished
    assert sorted(res3.ids('skipped')) == sorted(res.ids('done'))


def test_an_empty_metrics_file_is_not_a_finished_run(tiny):
    res = run_sweep('tiny', tiny, runner=FAKE, only='t1-gru-base-*', summary=False)
    f = res.sweep_dir / 't1-gru-base-frac1-s0' / 'metrics.json'
    f.write_text('')
    res2 = run_sweep('tiny', tiny, runner=FAKE, only='t1-gru-base-*', summary=False)
    assert res2.ids('done') == ['t1-gru-base-frac1-s0'] and json.loads(f.read_text())['headline']


def test_cli_rerun_changed_flag():
    from mi_ecg_nb.cli import build_parser
    assert build_parser().parse_args(['sweep', '--rerun-changed']).rerun_changed is True
    assert build_parser().parse_args(['sweep']).rerun_changed is False


def test_a_failed_summary_names_the_bad_run_and_leaves_no_stale_summary(tiny):
    res = run_sweep('tiny', tiny, runner=FAKE, only='t1-gru-base-*')
    sd = res.sweep_dir
    assert {'summary.ipynb', 'summary.html'} <= _artefacts(sd)
    (sd / 't1-gru-base-frac1-s0' / 'metrics.json').write_text('{"headline": ')       # corrupted after the sweep
    out = sw.run_summary(sd, tiny)
    assert out['status'] == 'failed' and 'not valid JSON' in out['error'] and 't1-gru-base-frac1-s0' in out['error'], out
    assert 'Traceback' not in out['error']
    names = _artefacts(sd)
    assert not names & {'summary.ipynb', 'summary.html', 'summary.json', 'summary.partial.ipynb'} and 'summary.failed.ipynb' in names


def test_full_data_presets_never_take_the_sample(tiny):
    from mi_ecg_nb.ptbxl import PTBXLError
    project = load_settings(ROOT / 'settings.ini', env={})
    assert {project.sweep(p).data for p in ('quick', 'cpu-full', 'paper', 'curve')} == {'full'}
    assert sw.real_describe_data('auto', tiny)['kind'] == 'sample'          # nothing asked for: the sample stands in
    with pytest.raises(PTBXLError, match='not found'): sw.real_describe_data('full', tiny)
