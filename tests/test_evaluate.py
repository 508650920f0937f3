"Evaluation stage: metric wrappers vs scikit-learn, bootstrap properties, bad input, files."
import json

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import brier_score_loss, f1_score, recall_score, roc_auc_score

from mi_ecg_nb.config import MiEcgError
from mi_ecg_nb.evaluate import (SUPERCLASSES, auc_counts, auroc, bootstrap_counts, brier, choose_threshold,
                                evaluate_predictions, expected_calibration_error, load_predictions, mean_ci,
                                metrics_table, paired_difference, read_metrics, save_figures, threshold_metrics,
                                write_metrics)
from mi_ecg_nb.testing import fake_predictions


def _scores(n=600, seed=0, ties=False):
    r = np.random.default_rng(seed)
    y = (r.random(n) < 0.3).astype(int)
    p = 1 / (1 + np.exp(-(r.normal(0, 1, n) + 1.2 * y)))
    return y, (np.round(p, 2) if ties else p)


@pytest.mark.parametrize('ties', [False, True])
def test_wrappers_agree_with_sklearn(ties):
    y, p = _scores(ties=ties)
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p))
    assert auc_counts(y, p, np.ones((1, len(y))))[0] == pytest.approx(roc_auc_score(y, p))
    t = choose_threshold(y, p)
    m = threshold_metrics(y, p, t)
    assert m['sensitivity'] == pytest.approx(recall_score(y, p >= t))
    assert m['specificity'] == pytest.approx(recall_score(1 - y, p < t))
    assert m['f1'] == pytest.approx(f1_score(y, p >= t))


def test_bootstrap_matches_explicit_resamples():
    y, p = _scores(300, ties=True)
    C = bootstrap_counts(300, 40, seed=7)
    ref = [roc_auc_score(y[np.repeat(np.arange(300), c.astype(int))], p[np.repeat(np.arange(300), c.astype(int))]) for c in C]
    np.testing.assert_allclose(auc_counts(y, p, C), ref)


def test_bootstrap_resamples_are_shared_and_seeded():
    a, b = bootstrap_counts(100, 1000, 0), bootstrap_counts(100, 1000, 0)
    assert np.array_equal(a, b) and not a.flags.writeable
    assert not np.array_equal(a, bootstrap_counts(100, 1000, 1))
    # the same test fold given in another order gets the same resamples (rows are sorted by id)
    d = fake_predictions(seed=3)
    perm = np.random.default_rng(0).permutation(len(d['test_ids']))
    d2 = {**d, **{k: d[k][perm] for k in ('test_probs', 'test_labels', 'test_ids')}}
    assert evaluate_predictions(d) == evaluate_predictions(d2)


def test_coverage_near_nominal():
    delta, n = 0.8, 200
    truth = norm.cdf(delta / np.sqrt(2))
    C, hits = bootstrap_counts(n, 1000, 0), []
    for i in range(150):
        r = np.random.default_rng(i)
        y = np.arange(n) < 60
        s = r.normal(0, 1, n) + delta * y
        lo, hi = np.percentile(auc_counts(y, s, C), [2.5, 97.5])
        hits.append(lo <= truth <= hi)
    assert 0.88 <= np.mean(hits) <= 0.99


def test_paired_identical_is_zero_width_and_paired_is_tighter():
    a = fake_predictions(seed=5)
    d = paired_difference(a, a)
    assert d['value'] == d['lo'] == d['hi'] == 0.0 and d['p_value'] == 1.0
    b = fake_predictions(seed=5)
    b['test_probs'] = np.clip(b['test_probs'] + 0.1 * b['test_labels'], 0, 1)
    d = paired_difference(a, b, which='MI')
    assert d['lo'] > 0
    ma = evaluate_predictions(a)['per_class']['MI']['auc']
    assert d['hi'] - d['lo'] < ma['hi'] - ma['lo']


def test_paired_needs_same_test_fold():
    a, b = fake_predictions(seed=1), fake_predictions(seed=1)
    b['test_ids'] = b['test_ids'] + 1_000_000
    with pytest.raises(MiEcgError, match='different test records'):
        paired_difference(a, b)


def test_ece_matches_definition():
    y, p = _scores(1000)
    bins = np.minimum((p * 10).astype(int), 9)
    ref = sum(abs(y[bins == b].mean() - p[bins == b].mean()) * (bins == b).mean() for b in range(10) if (bins == b).any())
    assert expected_calibration_error(y, p) == pytest.approx(ref)


def test_evaluate_from_file_roundtrip(tmp_path):
    d = fake_predictions(task='superclass', seed=2)
    np.savez(tmp_path / 'predictions.npz', **d)
    m = evaluate_predictions(tmp_path / 'predictions.npz')
    assert set(m['per_class']) == set(SUPERCLASSES)
    assert m['headline']['lo'] <= m['headline']['value'] <= m['headline']['hi']
    assert m['mi']['vs_norm'] is not None
    write_metrics(m, tmp_path / 'metrics.json')
    assert read_metrics(tmp_path / 'metrics.json') == json.loads(json.dumps(m))
    assert not list(tmp_path.glob('.*tmp'))
    tab = metrics_table(m)
    assert {'cls', 'metric', 'value', 'lo', 'hi'} <= set(tab.columns)
    figs = save_figures(tmp_path / 'predictions.npz', m, tmp_path)
    assert sorted(figs) == ['calibration', 'confusion', 'roc']


def test_threshold_chosen_on_validation_not_test():
    d = fake_predictions(seed=4, task='mi')
    m1 = evaluate_predictions(d)
    d2 = {**d, 'test_probs': np.clip(d['test_probs'] * 0.5, 0, 1)}   # test changes, validation does not
    m2 = evaluate_predictions(d2)
    assert m1['per_class']['MI']['threshold'] == m2['per_class']['MI']['threshold']


@pytest.mark.parametrize('mutate, msg', [
    (lambda d: d.update(test_probs=d['test_probs'][:, :3]), 'differ in shape'),
    (lambda d: d.update(val_ids=d['val_ids'][:-1]), 'val_ids does not match'),
    (lambda d: d['test_probs'].__setitem__((0, 0), np.nan), 'NaN'),
    (lambda d: d.update(test_labels=d['test_labels'] * 2), 'not 0/1'),
    (lambda d: d.update(columns=np.array(['a', 'b', 'c', 'd', 'e', 'f', 'g'])), 'superclass columns'),
    (lambda d: d.pop('val_ids'), 'lack keys'),
])
def test_bad_predictions(mutate, msg):
    d = {k: np.array(v, copy=True) for k, v in fake_predictions().items()}
    mutate(d)
    with pytest.raises(MiEcgError, match=msg):
        evaluate_predictions(d)


def test_single_class_labels():
    d = fake_predictions(task='mi')
    d['test_labels'] = np.zeros_like(d['test_labels'])
    with pytest.raises(MiEcgError, match='single class'):
        evaluate_predictions(d)
    with pytest.raises(MiEcgError, match='single class'):
        auroc(np.ones(5), np.linspace(0, 1, 5))
    s = fake_predictions()
    s['test_labels'] = s['test_labels'].copy(); s['test_labels'][:, 4] = 0           # no HYP in test
    with pytest.raises(MiEcgError, match='single class'):
        evaluate_predictions(s)
    m = evaluate_predictions(s, strict=False)                                      # the demo sample's mode
    assert 'HYP' not in m['per_class'] and any('HYP' in w for w in m['warnings'])
    assert m['auc']['macro']['value'] is not None


def test_corrupt_file(tmp_path):
    (tmp_path / 'predictions.npz').write_bytes(b'not a zip')
    with pytest.raises(MiEcgError, match='cannot read'):
        evaluate_predictions(tmp_path / 'predictions.npz')


def test_mean_ci():
    r = mean_ci([0.8, 0.9])
    assert r['lo'] < 0.85 < r['hi'] and r['n'] == 2
    assert np.isnan(mean_ci([0.8])['lo'])
