"""The simulator matched to a run's frac: at frac 0 no MI-positive record reaches the fit, the synthetic metadata, the
metadata transform, the training set or pretraining; nested fracs share per-record fits; the matched document is read
back from its cache; 'all' and 'prior' are the shipped file and the textbook prior.

On the bundled 300-record sample with 30 records per class and one process: a few fits of ~0.2 s per record."""
import json

import numpy as np
import pytest
import torch

from mi_ecg_nb import sim_fit, sim_matched
from mi_ecg_nb.config import MiEcgError, load_settings
from mi_ecg_nb.ptbxl import MetadataTransform, load_ptbxl, ptbxl_options, training_rows
from mi_ecg_nb.sim_params import load_sim_params, prior_params, validate_sim_params
from mi_ecg_nb.sim_matched import simulator_options, simulator_params
from mi_ecg_nb.synth_feed import MetaSampler, SynthFeed, pretrain_meta_transform
from mi_ecg_nb.train import prepare_data
from mi_ecg_nb import pretrain as pt

FIT = dict(n_per_class=30, jobs=1)
TINY = dict(hidden=16, stem_channels=16, head_hidden=32, layers=1, stem_stride=8)


@pytest.fixture(scope='module')
def ds():
    return load_ptbxl(**ptbxl_options(load_settings(env={})), sample=True, progress=False)


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    "One cache folder for the module: later fits reuse the per-record fits of earlier ones, as a sweep's do."
    return tmp_path_factory.mktemp('sim_matched_cache')


@pytest.fixture(scope='module')
def frac0(ds, cache):
    return simulator_params(ds, 'matched', 0.0, 0, cache_dir=cache, **FIT)


def _mi(ds): return ds.labels.mi.to_numpy() == 1


def test_frac0_fit_sees_no_mi_record(ds, cache, frac0):
    doc, info = frac0
    mi = _mi(ds)
    assert info['n_mi_rows'] == 0 and not mi[info['rows']].any() and not mi[info['fit_rows']].any()
    assert len(info['fit_rows']) > 0 and set(info['fit_rows']) <= set(info['rows'])
    np.testing.assert_array_equal(info['rows'], training_rows(ds, 0.0, 0))
    feat, _, n_new = sim_fit.record_fits(ds, info['fit_rows'], jobs=1, progress=False, cache_dir=cache)
    assert n_new == 0 and not mi[feat.pos.to_numpy()].any()                  # the features' rows: no MI either
    pv = doc['provenance']
    assert pv['mi_source'] == 'prior: no real MI record' and pv['candidate_mi_rows'] == 0
    assert pv['candidate_rows'] == len(info['rows'])
    assert doc['territory_prior'] == prior_params()['territory_prior']
    assert doc['classes']['MI']['morph'] == doc['classes']['NORM']['morph']
    assert set(doc['classes']) == {'NORM', 'MI'}
    assert info['label'].startswith('matched: fitted on the ') and '(0 MI' in info['label']


def test_frac0_metadata_and_training_set_see_no_mi_record(ds, frac0):
    _, info = frac0
    rows, mi = info['rows'], _mi(ds)
    s = MetaSampler.from_ptbxl(ds, rows)
    np.testing.assert_array_equal(s.rows, rows)
    assert not mi[s.rows].any() and len(s.pools['MI']) == len(rows)          # MI pool: all visible rows, no MI among them
    assert pretrain_meta_transform(ds, rows=rows).to_dict() == MetadataTransform().fit(ds.meta.iloc[rows]).to_dict()
    ids = prepare_data(ds, 'mi', 0.0, 0).train['ids']
    np.testing.assert_array_equal(ids, ds.meta.ecg_id.to_numpy()[training_rows(ds, 0.0, 0)])
    assert not np.isin(ids, ds.meta.ecg_id.to_numpy()[mi]).any()


def test_frac0_pretraining_records_no_mi_metadata(ds, frac0):
    doc, info = frac0
    n = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        r = pt.pretrain_model('supervised', 'gru', 16, 0, None, ds=ds, params=doc, rows=info['rows'], simulator_label=info['label'],
                              hparams=TINY, **pt.pretrain_options(load_settings(env={}), epochs=1), batch_size=8, n_val=8,
                              max_steps_per_epoch=2, progress=False)
    finally: torch.set_num_threads(n)
    assert (r['n_meta_rows'], r['n_meta_mi_rows'], r['simulator']) == (len(info['rows']), 0, info['label'])
    assert r['real_signals_used'] == 0


def test_frac05_fits_mi_records_nested_in_frac1(ds, cache, frac0):
    doc, info = simulator_params(ds, 'matched', 0.5, 0, cache_dir=cache, **FIT)
    mi = _mi(ds)
    assert mi[info['fit_rows']].any() and info['n_mi_rows'] == int(mi[info['rows']].sum()) > 0
    assert set(info['fit_rows']) <= set(training_rows(ds, 1.0, 0)) and set(info['rows']) <= set(training_rows(ds, 1.0, 0))
    assert set(frac0[1]['rows']) <= set(info['rows'])
    new = set(info['fit_rows']) - set(frac0[1]['fit_rows'])                   # frac 0's NORM fits were reused
    assert doc['provenance']['records_fitted_now'] == len(new) < len(info['fit_rows'])
    assert doc['provenance']['candidate_mi_rows'] == info['n_mi_rows']


def test_second_call_reads_the_cache(ds, cache, frac0, monkeypatch):
    def boom(*a, **k): raise AssertionError('refitted')
    monkeypatch.setattr(sim_fit, '_fit_rows', boom)
    monkeypatch.setattr(sim_matched, 'fit_sim_params', boom)
    doc, info = simulator_params(ds, 'matched', 0.0, 0, cache_dir=cache, **FIT)
    d0, i0 = frac0
    assert doc == d0 and info.keys() == i0.keys()
    for k in info:
        if isinstance(info[k], np.ndarray): np.testing.assert_array_equal(info[k], i0[k])
        else: assert info[k] == i0[k], k
    assert info['file'].is_file() and json.loads(info['file'].read_text()) == doc


def test_all_and_prior(ds, tmp_path):
    doc, info = simulator_params(ds, 'all', 0.0, 0)
    assert doc == load_sim_params().doc and len(info['fit_rows']) == 0 and info['label'].startswith('all: fitted on all training MI')
    np.testing.assert_array_equal(info['rows'], training_rows(ds, 0.0, 0))          # the sampler still sees only these
    f = tmp_path / 'p.json'; f.write_text(json.dumps(prior_params()))
    assert simulator_params(ds, 'all', params_file=f)[0] == load_sim_params(f).doc
    doc, info = simulator_params(ds, 'prior', 0.5, 0)
    assert doc == validate_sim_params(prior_params()) and info['file'] is None and info['n_mi_rows'] > 0
    with pytest.raises(MiEcgError, match='unknown simulator'): simulator_params(ds, 'fitted')


def test_fit_refuses_rows_outside_the_training_split(ds):
    with pytest.raises(MiEcgError, match='validation/test records'):
        sim_fit.fit_sim_params(ds, 30, rows=ds.split_index('test'), progress=False)
    with pytest.raises(MiEcgError, match='out of range'): sim_fit.select_records(ds, 30, rows=[len(ds)])


def test_simulator_options(tmp_path):
    s = load_settings(env={}, overrides={'pretrain.simulator': 'prior', 'simulate.fit_n_per_class': 40, 'paths.cache_dir': str(tmp_path)})
    o = simulator_options(s)
    assert o == dict(simulator='prior', params_file=None, n_per_class=40, jobs=0, cache_dir=tmp_path)
    assert simulator_options(s, simulator='all', jobs=None)['simulator'] == 'all'


def test_synth_feed_cache_key_names_the_document_and_rows(ds, tmp_path):
    rows = training_rows(ds, 0.0, 0)
    s0, s1 = MetaSampler.from_ptbxl(ds, rows), MetaSampler.from_ptbxl(ds)
    p = prior_params()
    SynthFeed(4, 0, 'mi', s0, cache_dir=tmp_path, params=p).cohort(0)
    SynthFeed(4, 0, 'mi', s0, cache_dir=tmp_path, params=load_sim_params().doc).cohort(0)
    SynthFeed(4, 0, 'mi', s1, cache_dir=tmp_path, params=p).cohort(0)
    SynthFeed(4, 0, 'mi', s0, cache_dir=tmp_path, params=json.loads(json.dumps(p))).cohort(0)     # the same document
    assert len(list(tmp_path.glob('synth-*.npz'))) == 3


def test_cli_fit_simulator_frac0(ds, cache, frac0, tmp_path):
    from mi_ecg_nb.cli import run_command
    out = tmp_path / 'p0.json'
    run_command(['--set', f'paths.cache_dir={cache}', 'fit-simulator', '--sample', '--frac', '0', '--n-per-class', '30',
                 '--jobs', '1', '--out', str(out)], env={})
    doc = json.loads(out.read_text())
    assert doc['provenance']['mi_source'] == 'prior: no real MI record' and doc['provenance']['command'].startswith('mi-ecg')
    assert doc['classes'] == frac0[0]['classes']
