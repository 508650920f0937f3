"The fidelity report: papermill template execution on the bundled sample, CLI wiring, benchmark, full PTB-XL."
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mi_ecg_nb.config import MiEcgError, load_settings
from mi_ecg_nb import fidelity_report as F
from mi_ecg_nb import cli
from mi_ecg_nb.bench import bench_fidelity

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / 'data' / 'ptbxl-sample'


@pytest.fixture
def sample_settings(tmp_path):
    if not (SAMPLE / 'ptbxl_database.csv').is_file(): pytest.skip(f'bundled PTB-XL sample missing at {SAMPLE}')
    ini = tmp_path / 'settings.ini'
    ini.write_text(f'[paths]\nsample_dir = {SAMPLE}\nptbxl_dir = {tmp_path}/no-ptbxl\ncache_dir = {tmp_path}/cache\n'
                   f'reports_dir = {tmp_path}/reports\n')
    return load_settings(ini, env={})


def test_template_is_a_papermill_template_that_exports_nothing():
    p = F.template_path('91_fidelity_report.ipynb')
    nb = nbformat.read(p, as_version=4)
    tagged = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
    assert len(tagged) == 1
    for name in ('n_per_class', 'seed', 'params_file', 'split', 'data', 'out_dir'):
        assert f'{name} =' in tagged[0].source
    assert not any('default_exp' in c.source or '#| export' in c.source for c in nb.cells)
    assert all(not c.get('outputs') for c in nb.cells if c.cell_type == 'code')      # committed without outputs


def test_template_path_errors_name_where_it_looked():
    with pytest.raises(MiEcgError, match='not found'):
        F.template_path('no_such_template.ipynb')


def test_run_fidelity_report_on_the_sample(sample_settings, tmp_path):
    "Executes nbs/91_fidelity_report.ipynb through papermill on small n: notebook, HTML, PNGs, tables."
    dest = F.run_fidelity_report(**F.fidelity_report_options(sample_settings, seed=3), n_per_class=12, data='sample',
                                 n_perm=20, run_id='t')
    out = dest.parent
    assert out == sample_settings.path('reports_dir') / 'fidelity' / 't'
    assert dest.name == 'report.ipynb' and (out / 'report.html').stat().st_size > 10_000
    assert oct(dest.stat().st_mode & 0o044) != '0o0'                     # readable like any other file
    pngs = {p.name for p in out.glob('*.png')}
    assert {'pair_NORM.png', 'pair_MI.png', 'average_beats_NORM.png', 'psd_MI.png', 'clinical_features.png',
            'ks_per_lead.png'} <= pngs
    s = json.loads((out / 'summary.json').read_text())
    assert s['info']['is_sample'] and s['seed'] == 3 and s['split'] == 'heldout'     # held-out folds by default
    for cls in ('NORM', 'MI'):               # 20 held-out records per class: n shrinks to a patient-disjoint half
        c = s['info']['counts'][cls]
        assert c['pool'] == 20 and c['requested'] == 12 and 4 <= c['n'] <= 10 and c['shared_patients'] == 0
    assert np.isfinite(s['values']['NORM|MMD² (standardised, flattened)'])
    assert s['mmd2']['MI']['floor']['n_x'] == s['info']['counts']['MI']['n']
    nb = nbformat.read(dest, as_version=4)
    text = json.dumps([c.get('outputs', []) for c in nb.cells])
    assert 'bundled PTB-XL sample' in text and '0.095' in text and '0.073' in text
    assert 'paper (not comparable)' in text and text.index('Classifier two-sample test') < text.index('MMD')
    assert not list(out.glob('.*partial*'))                               # no temporary file left behind


def test_cli_validate(monkeypatch, sample_settings, tmp_path):
    seen = {}
    monkeypatch.setattr(cli, 'run_fidelity_report', lambda **kw: seen.update(kw) or Path(kw['out_dir']) / 'report.ipynb')
    argv = ['--settings', str(sample_settings.file), 'validate', '--n', '7', '--data', 'sample', '--split', 'all',
            '--out', str(tmp_path / 'o'), '--n-perm', '9', '--no-html', '--seed', '3']
    assert cli.run_command(argv, env={}) == 0
    assert seen['n_per_class'] == 7 and seen['data'] == 'sample' and seen['split'] == 'all' and seen['n_perm'] == 9
    assert seen['html'] is False and seen['seed'] == 3                    # the seed comes from --seed / settings
    assert seen['settings_file'] == sample_settings.file and seen['reports_dir'] == sample_settings.path('reports_dir')
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(['validate', '--data', 'nope'])


def test_cli_flags_are_fidelity_settings():
    args = cli.build_parser().parse_args(['validate', '--n', '5', '--jobs', '2'])
    s = cli.command_settings(args, env={})
    assert (s.fidelity.n_per_class, s.fidelity.jobs) == (5, 2)
    with pytest.raises(MiEcgError, match='fidelity.n_per_class'):
        cli.command_settings(cli.build_parser().parse_args(['validate', '--n', '2']), env={})


def test_bench_quick_is_json_and_agrees_with_reference():
    r = bench_fidelity(load_settings(env={}), quick=True)
    json.dumps(r)
    assert r['n_x'] == 200 and r['dim'] == 12000 and r['abs_diff'] < 1e-5
    assert {x['name'].split(',')[0] for x in r['results']} >= {'mmd2 tiled', 'mmd2_numpy reference'}
    assert 'platform' in r['machine'] and r['goal_s'] == 5.0


def test_load_fidelity_inputs_bad_arguments(sample_settings):
    with pytest.raises(MiEcgError, match='unknown split'):
        F.load_fidelity_inputs(10, split='dev', **F.fidelity_options(sample_settings))
    with pytest.raises(MiEcgError, match='unknown data source'):
        F.load_fidelity_inputs(10, data='web', **F.fidelity_options(sample_settings))
    with pytest.raises(MiEcgError, match='too small'):
        F.load_fidelity_inputs(2, data='sample', **F.fidelity_options(sample_settings))


def test_load_fidelity_inputs_on_the_sample(sample_settings):
    a = F.load_fidelity_inputs(10, seed=1, data='sample', split='all', **F.fidelity_options(sample_settings))
    b = F.load_fidelity_inputs(10, seed=1, data='sample', split='all', **F.fidelity_options(sample_settings))
    for cls in ('NORM', 'MI'):
        assert a.real[cls].shape == a.floor[cls].shape == a.synth[cls].shape == (10, 12, 1000)
        assert np.array_equal(a.real[cls], b.real[cls]) and np.array_equal(a.synth[cls], b.synth[cls])
        assert not any(np.array_equal(r, f) for r in a.real[cls] for f in a.floor[cls])    # disjoint records
    assert a.info['is_sample'] and a.mean.shape == a.std.shape == (12,)


def _patients(settings, ecg_ids):
    import pandas as pd
    db = pd.read_csv(SAMPLE / 'ptbxl_database.csv', index_col='ecg_id')
    return set(db.loc[ecg_ids, 'patient_id'])


@pytest.mark.parametrize('split', ['heldout', 'val', 'all'])
def test_floor_is_patient_disjoint_on_the_sample(sample_settings, split):
    "The floor sample shares no patient with the comparison sample (the sample's MI val fold has a patient with 2 records)."
    a = F.load_fidelity_inputs(50, seed=2, data='sample', split=split, **F.fidelity_options(sample_settings))
    for cls in ('NORM', 'MI'):
        rec, c = a.info['records'][cls], a.info['counts'][cls]
        assert len(rec['real']) == len(rec['floor']) == c['n'] and not set(rec['real']) & set(rec['floor'])
        assert not _patients(sample_settings, rec['real']) & _patients(sample_settings, rec['floor'])
        assert c['shared_patients'] == 0 and c['n'] <= c['pool'] // 2


def test_heldout_is_val_and_test(sample_settings):
    kw = dict(seed=0, data='sample', **F.fidelity_options(sample_settings))
    h, v, t = (F.load_fidelity_inputs(4, split=sp, **kw).info['counts'] for sp in ('heldout', 'val', 'test'))
    assert all(h[c]['pool'] == v[c]['pool'] + t[c]['pool'] == 20 for c in ('NORM', 'MI'))
    import inspect
    assert inspect.signature(F.load_fidelity_inputs).parameters['split'].default == 'heldout'


@pytest.mark.full_ptbxl
def test_load_fidelity_inputs_full(tmp_path):
    s = load_settings(env={'PTBXL_DIR': os.environ['PTBXL_DIR']})
    inp = F.load_fidelity_inputs(20, seed=0, data='full', **F.fidelity_options(s))
    c = inp.info['counts']                               # held-out folds 9 + 10: about a fifth of PTB-XL
    assert not inp.info['is_sample'] and c['NORM']['pool'] > 1500 and c['MI']['pool'] > 900
    assert c['NORM']['shared_patients'] == c['MI']['shared_patients'] == 0
    assert inp.real['MI'].shape == (20, 12, 1000)
    assert np.all(inp.std > 0.05) and np.all(inp.std < 1.0)
