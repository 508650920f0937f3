"""PTB-XL classifiers: data preparation rules, outputs, fine-tuning, the command line, the benchmark."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mi_ecg_nb.config import MiEcgError, load_settings, make_rng
from mi_ecg_nb.ptbxl import SUPERCLASSES, load_ptbxl, ptbxl_options
from mi_ecg_nb.loop import load_checkpoint
from mi_ecg_nb.train import prepare_data, train_classifier, train_options
from mi_ecg_nb.bench import bench_train
from mi_ecg_nb.cli import build_parser, run_command

torch.set_num_threads(1)
TINY = dict(hidden=16, stem_channels=16, head_hidden=32)


@pytest.fixture
def fx(tiny_ptbxl):
    "The conftest fixture with its folds shuffled (its label pattern repeats with its folds: fold 10 has no superclass)."
    root, s = tiny_ptbxl
    db = pd.read_csv(root / 'ptbxl_database.csv')
    db['strat_fold'] = make_rng(0, 'folds').permutation(db.strat_fold.to_numpy())
    db.to_csv(root / 'ptbxl_database.csv', index=False)
    return root, s, load_ptbxl(**ptbxl_options(s), cache=False, progress=False)


def test_only_records_with_a_superclass_and_frac_zero_removes_mi(fx):
    _, _, ds = fx
    p = prepare_data(ds, 'superclass')
    has = dict(zip(ds.meta.ecg_id, ds.labels.has_super))
    assert all(has[i] for sp in (p.train, p.val, p.test) for i in sp['ids'])
    assert p.train['y'].shape[1] == 28 and p.columns[:5] == list(SUPERCLASSES)
    p0 = prepare_data(ds, 'mi', frac=0.0)
    assert p0.train['y'].sum() == 0 and p0.info['n_train_mi_real'] == 0
    np.testing.assert_array_equal(p0.val['ids'], p.val['ids'])                 # validation untouched
    np.testing.assert_array_equal(p0.test['y'][:, 0], p.test['y'][:, 1])        # test untouched


def test_metadata_transform_and_loss_weights_come_from_training_rows_only(fx):
    _, _, ds = fx
    a = prepare_data(ds, 'superclass')
    vt = ds.meta.split.isin(['val', 'test']).to_numpy()
    ds.meta.loc[vt, 'age'] = 21.0; ds.meta.loc[vt, 'height'] = 199.0
    ds.labels.loc[vt, [c for c in ds.labels.columns if c.startswith(('super_', 'sub_'))]] = 1.0
    b = prepare_data(ds, 'superclass')
    assert b.meta_transform.to_dict() == a.meta_transform.to_dict()
    assert torch.equal(b.pos_weight, a.pos_weight)
    assert not np.array_equal(b.val['meta'], a.val['meta'])


def test_train_classifier_writes_every_artefact(fx, tmp_path):
    _, s, ds = fx
    r = train_classifier(ds, 'superclass', 'gru', 1.0, 0, tmp_path / 'run', **train_options(s), epochs=2, device='cpu', hparams=TINY,
                         progress=False)
    names = {p.name for p in (tmp_path / 'run').iterdir()}
    assert {'checkpoint.pt', 'config.json', 'history.csv', 'history.png', 'predictions.npz', 'train_result.json'} <= names
    with np.load(tmp_path / 'run' / 'predictions.npz') as z:
        assert z['test_probs'].shape == (r['n_test'], 28) and z['val_probs'].shape == (r['n_val'], 28)
        assert set(np.unique(z['test_labels'])) <= {0, 1} and len(z['test_ids']) == r['n_test']
    cfg = json.loads((tmp_path / 'run' / 'config.json').read_text())
    assert cfg['task'] == 'superclass' and cfg['arch']['name'] == 'gru' and 'meta_transform' in cfg
    _, ck = load_checkpoint(tmp_path / 'run' / 'checkpoint.pt')
    assert ck['task'] == 'superclass' and ck['meta_transform'] == cfg['meta_transform']
    try: from mi_ecg_nb.evaluate import load_predictions
    except ImportError: return
    pr = load_predictions(tmp_path / 'run' / 'predictions.npz')                  # the evaluation stage reads it
    assert pr.task == 'superclass'


def test_finetune_from_checkpoint_and_extra_synthetic_records(fx, tmp_path):
    _, s, ds = fx
    train_classifier(ds, 'superclass', 'gru', 1.0, 0, tmp_path / 'pre', **train_options(s), epochs=1, device='cpu', hparams=TINY, progress=False)
    ex = dict(signals=np.zeros((6, 12, 1000), np.float32), targets=np.ones((6, 1), np.float32),
              meta=pd.DataFrame(dict(age=[50.0] * 6, sex=[0, 1] * 3, height=[np.nan] * 6, weight=[80.0] * 6)))
    r = train_classifier(ds, 'mi', 'gru', 0.5, 1, tmp_path / 'ft', **train_options(s), epochs=1, device='cpu', hparams=TINY,
                         init=tmp_path / 'pre' / 'checkpoint.pt', extra_train=ex, progress=False)
    assert r['n_extra'] == 6 and r['n_train'] == r['n_train_real'] + 6 and r['init'].endswith('checkpoint.pt')
    with np.load(tmp_path / 'ft' / 'predictions.npz') as z: assert list(z['columns']) == ['MI']


def test_same_seed_same_predictions(fx, tmp_path):
    _, s, ds = fx
    kw = dict(**train_options(s), epochs=1, device='cpu', hparams=TINY, progress=False)
    for d in ('a', 'b'): train_classifier(ds, 'mi', 'gru', 1.0, 7, tmp_path / d, **kw)
    with np.load(tmp_path / 'a' / 'predictions.npz') as a, np.load(tmp_path / 'b' / 'predictions.npz') as b:
        np.testing.assert_array_equal(a['test_probs'], b['test_probs'])


@pytest.mark.parametrize('kw, match', [
    (dict(task='rhythm'), 'unknown task'), (dict(model='resnet'), 'unknown model'),
    (dict(frac=1.5), 'frac out of range'), (dict(frac=-0.1), 'frac out of range'),
    (dict(extra_train=dict(signals=np.zeros((2, 12, 1000)))), 'extra_train'),
    (dict(finetune='full', encoder_lr_mult=0.5), "(?s)encoder_lr_mult has no effect.*unless finetune='discriminative'"),
    (dict(finetune='linear_probe', encoder_lr_mult=1.0), 'encoder_lr_mult has no effect'),
])
def test_bad_arguments(fx, kw, match):
    _, s, ds = fx
    with pytest.raises(MiEcgError, match=match):
        train_classifier(ds, **{'task': 'mi', 'model': 'gru', **train_options(s), 'epochs': 1, **kw})


def test_init_from_another_architecture_is_refused(fx, tmp_path):
    _, s, ds = fx
    train_classifier(ds, 'mi', 'transformer', 1.0, 0, tmp_path / 'tf', **train_options(s), epochs=1, device='cpu', progress=False,
                     hparams=dict(d_model=16, n_heads=2, layers=1, ff=16))
    with pytest.raises(MiEcgError, match='another architecture'):
        train_classifier(ds, 'mi', 'gru', **train_options(s), epochs=1, hparams=TINY, init=tmp_path / 'tf' / 'checkpoint.pt')


def test_command_line(fx, tmp_path, capsys):
    root, s, _ = fx
    ini = ['--settings', str(s.file)]
    r = run_command(ini + ['train', '--task', 'mi', '--model', 'gru', '--frac', '0.5', '--seed', '2', '--epochs', '1',
                           '--device', 'cpu', '--out', str(tmp_path / 'cli')], env={})
    out = json.loads(capsys.readouterr().out)
    assert out['task'] == 'mi' and out['seed'] == 2 and out['frac'] == 0.5 and r['epochs_run'] == 1
    assert (tmp_path / 'cli' / 'predictions.npz').is_file() and out['dataset'] == str(root)
    with pytest.raises(SystemExit): build_parser().parse_args(['train', '--model', 'lstm'])
    with pytest.raises(MiEcgError, match='frac'): run_command(ini + ['train', '--frac', '2', '--epochs', '1'], env={})


def test_bench_quick_is_json():
    b = bench_train(load_settings(env={}), quick=True)
    json.dumps(b)
    assert b['models']['gru@cpu']['records_per_s'] > 0 and 'speedup_vs_plain_bigru' in b['models']['gru@cpu']
    assert 'plain_bigru_1000@cpu' in b['models'] and b['machine']['torch']


@pytest.mark.full_ptbxl
def test_full_ptbxl_splits(full_ptbxl):
    p = prepare_data(full_ptbxl, 'superclass')
    assert p.info['n_train'] == 17084 and p.train['x'].shape == (17084, 12, 1000)
    assert p.info['n_val'] > 2000 and p.info['n_test'] > 2000
    assert not set(p.train['ids']) & (set(p.val['ids']) | set(p.test['ids']))
