"Fidelity metrics: properties, reference agreement, determinism and bad input."
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist

from mi_ecg_nb.config import MiEcgError, make_rng
from mi_ecg_nb import fidelity as F
from mi_ecg_nb.testing import toy_ecgs


def _normal(seed, shape, loc=0.0):
    return make_rng(seed, 'test-fidelity').normal(loc, 1.0, shape)


# --- MMD² -------------------------------------------------------------------------------------------------

def test_mmd2_unbiased_centred_on_zero_biased_positive():
    vals = np.array([[F.mmd2(_normal(2 * r, (50, 15)), _normal(2 * r + 1, (50, 15)), sigma=5.0, unbiased=u)
                      for u in (True, False)] for r in range(40)])
    mu, se = vals[:, 0].mean(), vals[:, 0].std(ddof=1) / np.sqrt(len(vals))
    assert abs(mu) < 3 * se
    assert (vals[:, 0] < 0).any()              # an unbiased estimator of 0 must go below 0 sometimes
    assert (vals[:, 1] > 0).all()


def test_mmd2_monotone_in_mean_shift_with_median_bandwidth():
    base, other = _normal(1, (120, 30)), _normal(2, (120, 30))
    v = [F.mmd2(base, other + d) for d in (0.0, 0.3, 0.6, 1.0, 2.0)]
    assert np.all(np.diff(v) > 0), v


@pytest.mark.parametrize('unbiased', [True, False])
@pytest.mark.parametrize('block', [7, 4096])
def test_mmd2_matches_direct_computation(unbiased, block):
    x, y = _normal(3, (23, 4, 5)), _normal(4, (31, 4, 5), 0.4)     # 3-d records are flattened
    s = F.median_heuristic(x, y)
    xf, yf = x.reshape(23, -1), y.reshape(31, -1)
    k = lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * s * s))     # O(n²) by hand
    kxx, kyy, kxy = k(xf, xf), k(yf, yf), k(xf, yf)
    if unbiased:
        ref = ((kxx.sum() - 23) / (23 * 22) + (kyy.sum() - 31) / (31 * 30) - 2 * kxy.mean())
    else:
        ref = kxx.mean() + kyy.mean() - 2 * kxy.mean()
    assert F.mmd2(x, y, unbiased=unbiased, block=block, dtype='float64') == pytest.approx(ref, abs=1e-12)
    assert F.mmd2(x, y, unbiased=unbiased, block=block) == pytest.approx(ref, abs=1e-5)
    assert F.mmd2_numpy(x, y, s, unbiased) == pytest.approx(ref, abs=1e-12)
    t = F.mmd2_test(x, y, n_perm=20, unbiased=unbiased, block=block, dtype='float64')
    assert t['mmd2'] == pytest.approx(ref, abs=1e-12) and t['sigma'] == s


def test_median_heuristic_matches_direct_computation():
    x, y = _normal(5, (40, 9)), _normal(6, (25, 9), 1.0)
    assert F.median_heuristic(x, y) == pytest.approx(np.median(pdist(np.vstack([x, y]))), rel=1e-12)
    big = _normal(7, (300, 4))
    sub = F.median_heuristic(big, max_n=100, seed=2)
    assert sub == F.median_heuristic(big, max_n=100, seed=2)
    assert sub == pytest.approx(np.median(pdist(big)), rel=0.15)


def test_mmd2_permutation_test_is_calibrated_and_powerful():
    same = [F.mmd2_test(_normal(10 + r, (30, 5)), _normal(50 + r, (30, 5)), n_perm=99, seed=r)['p_value'] for r in range(20)]
    assert np.mean(np.array(same) <= 0.05) <= 0.2          # ~5 % false positives, loose bound for 20 draws
    diff = F.mmd2_test(_normal(1, (60, 5)), _normal(2, (60, 5), 0.7), n_perm=199)
    assert diff['p_value'] == 1 / 200


def test_mmd2_deterministic():
    x, y = _normal(8, (200, 12, 50)), _normal(9, (150, 12, 50))
    a = F.mmd2_test(x, y, n_perm=30, seed=3)
    assert a == F.mmd2_test(x, y, n_perm=30, seed=3)
    assert a['mmd2'] == F.mmd2_test(x, y, n_perm=30, seed=4)['mmd2']           # the statistic does not depend on it
    assert a['p_value'] == F.mmd2_test(x, y, n_perm=30, seed=3)['p_value']
    json.dumps(a)


# --- KS, PSD, standardisation ------------------------------------------------------------------------------

def test_ks_wrappers_agree_with_scipy():
    a, b = _normal(11, 700), _normal(12, 500, 0.1)
    r = stats.ks_2samp(a, b)
    assert F.ks(a, b) == (r.statistic, r.pvalue)
    x, y = a[:600].reshape(5, 12, 10), b[:480].reshape(4, 12, 10)
    assert F.ks_flat(x, y) == F.ks(x.ravel(), y.ravel())
    cols = F.ks_columns(x.reshape(5, -1)[:, :3], y.reshape(4, -1)[:, :3])
    for j in range(3):
        assert cols[j] == stats.ks_2samp(x.reshape(5, -1)[:, j], y.reshape(4, -1)[:, j]).statistic
    f = F.intra_group_ks(_normal(13, (100, 3)), seed=1)
    i, k = F.random_halves(100, 1, 'intra-group')
    assert len(set(i) & set(k)) == 0 and len(i) == len(k) == 50
    assert np.allclose(f, [stats.ks_2samp(_normal(13, (100, 3))[i, j], _normal(13, (100, 3))[k, j]).statistic for j in range(3)])


def test_ks_flat_subsamples_deterministically():
    x, y = _normal(14, (30, 12, 1000)), _normal(15, (30, 12, 1000))
    assert F.ks_flat(x, y, max_values=5000, seed=1) == F.ks_flat(x, y, max_values=5000, seed=1)
    assert F.ks_flat(x, y, max_values=5000, seed=1) != F.ks_flat(x, y, max_values=5000, seed=2)


def test_welch_peak_of_a_sine():
    t = np.arange(1000) / 100
    for f0 in (1.0, 5.0, 12.5, 33.0):
        f, p = F.welch_psd(np.sin(2 * np.pi * f0 * t)[None, None])
        assert abs(f[p[0, 0].argmax()] - f0) <= (f[1] - f[0]) / 2


def test_standardize_with_training_statistics():
    x = _normal(16, (20, 12, 100)) * np.arange(1, 13)[None, :, None] + 3
    m, s = F.lead_mean_std(x, chunk=6)
    z = F.standardize(x, m, s)
    assert z.dtype == np.float32 and np.allclose(z.mean((0, 2)), 0, atol=1e-5) and np.allclose(z.std((0, 2)), 1, atol=1e-4)


# --- beats, features, C2ST ---------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def toy():
    return toy_ecgs(12, 1), toy_ecgs(12, 2), toy_ecgs(12, 3, gain=1.6)


def test_beat_features_parallel_equals_serial(toy):
    a = F.beat_features(toy[0][:6], jobs=1, chunk=2)
    b = F.beat_features(toy[0][:6], jobs=2, chunk=2)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert all(np.array_equal(u, v) for u, v in zip(a.rpeaks, b.rpeaks))
    assert a.table.hr.between(45, 110).all()


def test_compare_orders_synthetic_above_floor(toy):
    real, floor, synth = toy
    r = F.compare(real, synth, floor, n_perm=30, c2st_boot=50, seed=1)
    s, f = r['sides']['synth'], r['sides']['floor']
    assert s['mmd2_features']['mmd2'] > f['mmd2_features']['mmd2']
    assert s['ks_lead']['mean'] > f['ks_lead']['mean']
    assert set(r['per_lead']['synth'].columns) >= {'ks_ramp', 'ks_mean', 'ks_std', 'ks_ptp', 'psd_db'}
    tab = F.summary_table({'MI': r})
    assert tab.loc[tab.metric.str.startswith('MMD² (standardised'), F.PAPER_COLUMN].item() == '0.073'
    assert tab.metric.iloc[0] == 'C2ST AUC [95% CI]' and 'paper' not in tab.columns    # C2ST first; paper apart
    lm = F.largest_mismatches({'MI': r}, k=5)
    assert len(lm) == 5 and lm.excess.is_monotonic_decreasing
    r2 = F.compare(real, synth, floor, n_perm=30, c2st_boot=50, seed=1, beats=r['beats'])
    pd.testing.assert_frame_equal(F.summary_table({'MI': r}), F.summary_table({'MI': r2}))    # deterministic


def test_c2st_auc_and_ci():
    a, b = _normal(20, (150, 4)), _normal(21, (150, 4))
    same = F.c2st(a, b, n_boot=100)
    assert same['ci_low'] <= same['auc'] <= same['ci_high'] and abs(same['auc'] - 0.5) < 0.15
    far = F.c2st(a, b + 3.0, n_boot=100)
    assert far['auc'] > 0.95 and far == F.c2st(a, b + 3.0, n_boot=100)


# --- bad input ----------------------------------------------------------------------------------------------

GOOD = np.zeros((5, 12, 100))
BAD_NAN = GOOD.copy(); BAD_NAN[3, 2, 1] = np.nan
BAD_INF = GOOD.copy(); BAD_INF[0, 0, 0] = np.inf


@pytest.mark.parametrize('fn', [
    lambda x, y: F.mmd2(x, y, sigma=1.0), lambda x, y: F.mmd2_test(x, y, sigma=1.0, n_perm=5),
    lambda x, y: F.median_heuristic(x, y), lambda x, y: F.ks_flat(x, y), lambda x, y: F.mmd2_numpy(x, y, 1.0),
    lambda x, y: F.compare(x, y)])
@pytest.mark.parametrize('x,y,msg', [
    (np.zeros((0, 12, 100)), GOOD, 'too few records'),
    (GOOD, np.zeros((0, 12, 100)), 'too few records'),
    (GOOD, np.zeros((5, 12, 99)), 'differ in shape'),
    (GOOD, np.zeros((5, 11, 100)), 'differ in shape'),
    (BAD_NAN, GOOD, 'NaN'),
    (GOOD, BAD_INF, 'NaN or infinite'),
])
def test_bad_input_raises_clear_errors(fn, x, y, msg):
    with pytest.raises(MiEcgError, match=msg):
        fn(x, y)


def test_bad_input_other():
    with pytest.raises(MiEcgError, match='NaN'):
        F.ks([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(MiEcgError, match='too few'):
        F.ks([], [1.0])
    with pytest.raises(MiEcgError, match='at least 2'):
        F.mmd2(np.zeros((1, 3)), np.ones((4, 3)), sigma=1.0)
    with pytest.raises(MiEcgError, match='bandwidth is 0'):
        F.mmd2(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(MiEcgError, match='n_perm'):
        F.mmd2_test(_normal(1, (4, 3)), _normal(2, (4, 3)), n_perm=0)
    with pytest.raises(MiEcgError, match='12-lead'):
        F.beat_features(np.zeros((2, 3, 1000)))
    with pytest.raises(MiEcgError, match='not numeric'):
        F.check_sample(np.array([['a']]))
    with pytest.raises(MiEcgError, match='different classes'):
        F.fidelity_report_data({'NORM': GOOD}, {'MI': GOOD})
    e = pytest.raises(MiEcgError, F.check_sample, BAD_NAN, 'real').value
    assert 'first: [3]' in str(e) and 'fix' in str(e)
