"""Simulator properties (not snapshots): lead identities, rhythm, MI knobs, determinism, backends, bad input."""
import json, warnings

import numpy as np
import pandas as pd
import pytest

from mi_ecg_nb.config import MiEcgError
from mi_ecg_nb.ptbxl import LEADS
from mi_ecg_nb.sim_params import (ARTIFACTS, DERIVE, SHIFTS, _KNOB_OFF, _rhythm, _tab, draw_params, load_sim_params, prior_params,
                                  validate_sim_params)
from mi_ecg_nb.render import render
from mi_ecg_nb.cohort import simulate_cohort, target_mask

MIX = {'NORM': 0.5, 'MI': 0.5}
QUIET = dict(artifacts=False, hrv=False)


def test_limb_lead_identities_hold_on_every_record_noise_included():
    c = simulate_cohort(64, MIX, seed=3)
    x = c.signals
    I, II = x[:, 0], x[:, 1]
    np.testing.assert_array_equal(x[:, 2], II - I)
    np.testing.assert_array_equal(x[:, 3], -(I + II) / 2)
    np.testing.assert_array_equal(x[:, 4], I - II / 2)
    np.testing.assert_array_equal(x[:, 5], II - I / 2)
    assert (c.params.emg > 0).all() and (c.params.wander > 0).all()          # noise really was on


def test_lead_means_are_ptbxl_like_residual_offsets():
    c = simulate_cohort(200, MIX, seed=3)
    m = c.signals.mean(-1)
    off = c.params[[f'offset_{l}' for l in ('I', 'II', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6')]].to_numpy()
    np.testing.assert_allclose(m[:, [0, 1, 6, 7, 8, 9, 10, 11]], off, atol=2e-5)   # the mean of each lead is its drawn offset
    np.testing.assert_allclose(m[:, 2], m[:, 1] - m[:, 0], atol=1e-6)                # and the derived leads' means follow
    assert 0.0015 < np.median(np.abs(m)) < 0.004 and np.abs(m).max() < 0.03          # PTB-XL: |mean| median ~2.5 µV, not 0
    assert 0.3 < np.corrcoef(m[:, 0], m[:, 1])[0, 1] < 0.8                          # I and II share the RA electrode
    assert np.abs(simulate_cohort(16, MIX, seed=3, artifacts={'center': False}).signals.mean(-1)).max() > 0.01
    assert (simulate_cohort(4, MIX, seed=3, artifacts=False).params[[f'offset_{l}' for l in ('I', 'V6')]] == 0).all().all()


def test_paper_normalisation_is_an_option_and_breaks_the_identities():
    x = simulate_cohort(8, MIX, seed=3, normalize='zscore').signals
    np.testing.assert_allclose(x.std(-1), 1, atol=1e-3)
    assert np.abs(x[:, 2] - (x[:, 1] - x[:, 0])).max() > 0.01


def test_number_of_r_peaks_matches_the_drawn_heart_rate():
    import neurokit2 as nk
    hr = np.array([42.0, 55, 70, 90, 110, 135, 160])
    c = simulate_cohort(len(hr), 'NORM', seed=7, fixed=dict(hr=hr), **QUIET)
    r_true = _rhythm(_tab(c.params), 10.0).r
    for i, h in enumerate(hr):
        x = c.signals[i, 1]                                          # lead II, noise-free
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=100), sampling_rate=100)
        pk = np.asarray(info['ECG_R_Peaks']) / 100
        want = r_true[i][(r_true[i] > 0.5) & (r_true[i] < 9.5)]      # away from the record's edges
        got = pk[(pk > 0.55) & (pk < 9.45)]
        dist = np.abs(want[:, None] - pk[None, :])
        assert dist.min(1).max() <= 0.03, h                          # every drawn beat is found...
        assert np.abs(got[:, None] - r_true[i][None, :]).min(1).max() <= 0.03, h   # ...and nothing else
        assert abs(c.params.n_beats[i] - h * 10 / 60) <= 1, h        # and the count follows the heart rate


@pytest.mark.parametrize('territory', ['IMI', 'AMI', 'LMI', 'PMI', 'AMI+IMI'])
def test_st_shift_at_j_plus_60ms_equals_the_drawn_elevation(territory):
    st = 0.2
    fixed = dict(hr=np.array([55.0, 75, 95]), st_elev=st, jitter=0.0)
    on = simulate_cohort(3, territory, seed=4, fixed=fixed, **QUIET)
    off = simulate_cohort(3, territory, seed=4, fixed=dict(fixed, st_elev=0.0), **QUIET)
    p = on.params
    rh = _rhythm(_tab(p), 10.0)
    for i in range(3):
        j = rh.r[i] + (p.S_t[i] + 2 * p.S_w[i]) * p.qrs_widen[i] + 0.06          # J + 60 ms of every beat
        s = np.round(j[(j > 0.05) & (j < 9.9)] * 100).astype(int)
        d = (on.signals[i][:, s] - off.signals[i][:, s]).mean(1)                  # (12,) measured ST shift
        want = p[[f'st_{l}' for l in LEADS]].iloc[i].to_numpy(float)
        np.testing.assert_allclose(d, want, atol=0.02)
        assert np.isclose(np.abs(want).max(), st)                                 # the most affected lead gets st_elev
        if territory != 'PMI': assert np.isclose(want.max(), st)                  # an elevation...
        assert want.min() < -0.02                                                  # ...with reciprocal depression


def test_territory_leads_and_reciprocal_leads():
    p = draw_params(1, 'IMI', fixed=dict(st_elev=0.3, axis_jitter=0.0))
    st = p[[f'st_{l}' for l in LEADS]].iloc[0].set_axis(LEADS)
    assert st[['II', 'III', 'aVF']].min() > 0.15 and st[['I', 'aVL']].max() < 0
    p = draw_params(1, 'AMI', fixed=dict(st_elev=0.3, axis_jitter=0.0))
    st = p[[f'st_{l}' for l in LEADS]].iloc[0].set_axis(LEADS)
    assert st[['V1', 'V2', 'V3', 'V4']].min() > 0.15
    p = draw_params(1, 'LMI', fixed=dict(st_elev=0.3, axis_jitter=0.0))
    st = p[[f'st_{l}' for l in LEADS]].iloc[0].set_axis(LEADS)
    assert st[['I', 'aVL', 'V5', 'V6']].min() > 0.15 and st[['III', 'aVF']].max() < 0
    p = draw_params(1, 'PMI', fixed=dict(st_elev=0.3, axis_jitter=0.0, r_loss=0.5))
    st = p[[f'st_{l}' for l in LEADS]].iloc[0].set_axis(LEADS)
    assert st[['V1', 'V2']].max() < -0.2


def test_same_seed_same_bytes_different_seed_different_records():
    a = simulate_cohort(40, MIX, seed=11)
    b = simulate_cohort(40, MIX, seed=11)
    assert a.signals.tobytes() == b.signals.tobytes()
    pd.testing.assert_frame_equal(a.params, b.params)
    c = simulate_cohort(40, MIX, seed=12)
    assert not np.array_equal(a.signals, c.signals)
    assert (np.abs(a.signals - c.signals).max(axis=(1, 2)) > 0.01).all()


def test_output_does_not_depend_on_threads():
    t = draw_params(600, MIX, seed=2)
    np.testing.assert_array_equal(render(t, seed=2, threads=1), render(t, seed=2, threads=2))


def test_every_noise_source_off_gives_a_clean_periodic_signal():
    fixed = dict(hr=60.0, jitter=0.0, shift_sd=0.0, **{s: 0.0 for s in SHIFTS})
    c = simulate_cohort(6, MIX, seed=5, fixed=fixed, **QUIET)
    assert (c.params[['emg', 'wander', 'mains', 'motion_p', 'settle_amp', 'fade_tau', 'center']] == 0).all().all()
    assert (c.params.gain == 1).all()
    x = c.signals
    np.testing.assert_allclose(x[..., 100:], x[..., :-100], atol=1e-5)
    assert np.abs(np.diff(x[..., :200], axis=-1)).max() > 0.05                  # and not flat


def test_each_artifact_switch_acts_alone():
    base = dict(fixed=dict(hr=60.0, jitter=0.0), hrv=False, seed=9)
    clean = simulate_cohort(4, 'MI', artifacts=False, **base).signals
    for k in ARTIFACTS:
        c = simulate_cohort(4, 'MI', artifacts={a: a == k for a in ARTIFACTS}, **base)
        d = np.abs(c.signals - clean).max()
        assert d > 1e-6 or (k == 'settle' and (c.params.settle_amp == 0).all()) or (k == 'motion' and c.params.motion_p.max() < 0.05), k


def test_motion_transients_are_no_label_shortcut():
    "NORM and MI records draw motion transients from one distribution (shipped fit and literature prior alike)."
    for doc in (load_sim_params().doc, prior_params()):
        nz = {w: cd['noise'] for w, cd in doc['classes'].items()}
        assert all((n['motion_p'], n['motion_amp']) == (nz['NORM']['motion_p'], nz['NORM']['motion_amp']) for n in nz.values())
    c = simulate_cohort(400, MIX, seed=4)
    norm, mi = (c.params.motion_p[c.labels.super_NORM == 1], c.params.motion_p[c.labels.super_MI == 1])
    assert (norm > 0).all() and (mi > 0).all() and abs(norm.mean() - mi.mean()) < 0.02


def test_mains_appears_as_an_alternating_nyquist_component():
    f = dict(hr=60.0, jitter=0.0, mains=0.2, mains_df=0.0)
    on = simulate_cohort(2, 'NORM', seed=1, fixed=f, artifacts={k: k == 'mains' for k in ARTIFACTS}, hrv=False)
    off = simulate_cohort(2, 'NORM', seed=1, fixed=dict(f, mains=0.0), artifacts=False, hrv=False)
    d = on.signals[:, :2] - off.signals[:, :2]
    assert np.abs(d).max() > 0.01                                    # leads I and II
    spec = np.abs(np.fft.rfft(d, axis=-1))
    assert (spec.argmax(-1) == spec.shape[-1] - 1).all()                          # all energy at 50 Hz = Nyquist
    np.testing.assert_allclose(np.abs(d[..., 1:] + d[..., :-1]).max(), 0, atol=1e-6)   # x[n+1] = -x[n]


def test_numpy_and_torch_backends_agree():
    a = simulate_cohort(300, MIX, seed=21)
    b = simulate_cohort(300, MIX, seed=21, backend='torch', device='cpu')
    import torch
    assert isinstance(b.signals, torch.Tensor) and b.signals.dtype == torch.float32
    np.testing.assert_allclose(b.numpy(), a.signals, atol=1e-4)
    pd.testing.assert_frame_equal(a.params, b.params)


def test_labels_follow_the_ptbxl_layout():
    c = simulate_cohort(30, {'NORM': 1 / 3, 'IMI': 1 / 3, 'AMI+IMI': 1 / 3}, seed=0)
    y = c.targets('superclass')
    assert y.shape == (30, 28) and y.dtype == np.float32
    lab = c.labels
    assert (lab.super_NORM + lab.super_MI == 1).all()
    assert (lab.sub_IMI[c.params.territory.str.contains('IMI')] == 1).all()
    assert (lab.sub_AMI == (c.params.territory == 'AMI+IMI')).all()
    assert (y[:, ~target_mask()] == 0).all()
    assert c.targets('mi').shape == (30, 1)
    assert set(c.meta.columns) >= {'age', 'sex', 'height', 'weight', 'strat_fold', 'split'}


def test_class_proportions_are_exact():
    p = draw_params(101, {'NORM': 0.3, 'MI': 0.7}, seed=1)
    assert (p.cls == 'MI').sum() == 71 and (p.cls == 'NORM').sum() == 30


@pytest.mark.parametrize('kw, what', [
    (dict(cls='STEMI'), 'unknown simulator class'),
    (dict(cls={'NORM': -1}), 'proportion out of range'),
    (dict(cls={'NORM': 0.5, 'MI': 0.7}), 'do not sum to 1'),
    (dict(cls={'NORM': 1, 'XMI': 0}), 'unknown simulator class'),
    (dict(fixed={'sex': 0.5}), 'sex is not 0 or 1'),
    (dict(fixed={'hr': 250.0, 'T_t': 0.6}), 'runs into the next beat'),
    (dict(n=0), 'n >= 1'),
    (dict(n=-3), 'n >= 1'),
    (dict(n=2.5), 'n >= 1'),
    (dict(fs=0), 'fs must be a positive number'),
    (dict(fs=-100), 'fs must be a positive number'),
    (dict(duration=0), 'duration must be a positive number'),
    (dict(fixed={'R_w': 0.0}), "'R_w'"),
    (dict(fixed={'T_wr': -0.01}), "'T_wr'"),
    (dict(fixed={'P_w': 0.0}), '[0.004, 0.08]'),
    (dict(fixed={'hr': 251.0}), "'hr'"),
    (dict(fixed={'hr': 19.0}), '[20, 250] bpm'),
    (dict(fixed={'st_elev': 2.0}), "'st_elev'"),
    (dict(fixed={'bogus': 1.0}), "'bogus'"),
    (dict(backend='jax'), 'backend'),
    (dict(normalize='l2'), 'normalisation'),
    (dict(artifacts={'hum': True}), 'artifact'),
])
def test_bad_input_is_a_clear_error(kw, what):
    kw = {'n': 2, **kw}
    with pytest.raises(MiEcgError) as e: simulate_cohort(**kw)
    assert what in str(e.value)
    assert 'fix:' in str(e.value)


@pytest.mark.parametrize('path, key', [
    (('classes', 'NORM', 'noise', 'emg'), "'emg'"),
    (('classes', 'MI', 'knobs', 'st_elev'), "'st_elev'"),
    (('classes', 'NORM', 'morph'), "'morph'"),
    (('territory_prior',), "'territory_prior'"),
    (('emg_model',), "'emg_model'"),
    (('wander_model',), "'wander_model'"),
    (('classes', 'MI', 'noise', 'offset'), "'offset'"),
])
def test_a_parameter_file_missing_keys_names_them(tmp_path, path, key):
    doc = json.loads(json.dumps(load_sim_params().doc))
    d = doc
    for k in path[:-1]: d = d[k]
    del d[path[-1]]
    f = tmp_path / 'p.json'; f.write_text(json.dumps(doc))
    with pytest.raises(MiEcgError) as e: simulate_cohort(2, 'MI', params=f)
    assert key in str(e.value) and 'mi-ecg simulate fit' in str(e.value)


def test_parameter_file_ranges_are_checked():
    doc = prior_params(); doc['classes']['MI']['knobs']['st_elev'].update(lo=0.1, hi=3.0)
    with pytest.raises(MiEcgError, match='st_elev'): validate_sim_params(doc)
    doc = prior_params(); doc['classes']['NORM']['morph']['mean'] = doc['classes']['NORM']['morph']['mean'][:-1]
    with pytest.raises(MiEcgError, match='wrong length'): validate_sim_params(doc)
    with pytest.raises(MiEcgError, match='not found'): load_sim_params('/no/such/params.json')


def test_shipped_parameters_are_fitted_with_provenance():
    p = load_sim_params()
    if p.source == 'prior': pytest.skip('no fitted parameter file shipped yet')
    prov = p.doc['provenance']
    assert prov['ptbxl_version'] == '1.0.3' and prov['split'] == 'train' and prov['folds'] == list(range(1, 9))
    assert prov['records']['NORM']['kept'] >= 100 and prov['records']['MI']['kept'] >= 100
    assert {'NORM', 'MI'} <= set(p.classes)


def test_mi_base_norm_makes_knobs_the_only_difference():
    f = dict({k: v for k, v in _KNOB_OFF.items()}, hr=70.0)
    n = simulate_cohort(3, 'NORM', seed=2, fixed=f, **QUIET)
    m = simulate_cohort(3, 'IMI', seed=2, fixed=f, mi_base='norm', **QUIET)
    morph = [c for c in n.params.columns if c[:2] in ('P_', 'Q_', 'R_', 'S_', 'T_', 'ST')]
    assert morph and np.isfinite(m.params[morph].to_numpy()).all()
    assert m.labels.super_MI.all() and n.labels.super_NORM.all()
