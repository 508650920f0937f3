"""Pretraining: objectives, the synthetic feed, the entry point, fine-tuning, regimes, the guard, bad input.

Small synthetic cohorts and tiny models: the whole file runs in a few minutes on 2 CPU cores."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from mi_ecg_nb.config import MiEcgError, load_settings, make_rng, torch_generator
from mi_ecg_nb.models import build_model
from mi_ecg_nb.ptbxl import load_ptbxl, ptbxl_options
from mi_ecg_nb import loop
from mi_ecg_nb import pretrain as pt
from mi_ecg_nb import synth_feed as sf
from mi_ecg_nb import train

TINY = dict(hidden=16, stem_channels=16, head_hidden=32, layers=1, stem_stride=8)
FIT = dict(batch_size=32, n_val=32, progress=False)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def fx_root(tmp_path_factory):
    "A 60-record PTB-XL-shaped fixture (every split has records with a superclass) and settings pointing at it."
    from mi_ecg_nb.testing import make_fixture_ptbxl
    d = tmp_path_factory.mktemp('pt')
    root = make_fixture_ptbxl(d / 'ptbxl', n=60)
    ini = d / 'settings.ini'
    ini.write_text(f'[paths]\nptbxl_dir = {root}\ncache_dir = {d}/cache\nreports_dir = {d}/reports\n')
    return root, load_settings(ini, env={})


@pytest.fixture
def fx(fx_root):
    root, s = fx_root
    ds = load_ptbxl(**ptbxl_options(s, path=root), cache=False, progress=False)
    # the fixture's label pattern repeats with its fold pattern (fold 10 has no superclass): shuffle the splits, as 50_train does
    ds.meta['split'] = make_rng(0, 'fixture-split').permutation(ds.meta.split.to_numpy())
    return ds, s


@pytest.fixture(scope='module')
def sample():
    s = load_settings(env={})
    return load_ptbxl(**ptbxl_options(s), sample=True, progress=False), s


def _pretrain(fx, strategy='supervised', out=None, seed=0, **kw):
    ds, s = fx
    return pt.pretrain_model(strategy, 'gru', kw.pop('n', 64), seed, out, ds=ds, hparams=TINY,
                             **pt.pretrain_options(s, epochs=kw.pop('epochs', 1), **FIT, **kw))


# --- masked autoencoder -------------------------------------------------------------------------------------------

def test_mae_loss_falls_on_tiny_cohort():
    feed = sf.SynthFeed(128, seed=2, task='mi')
    data = feed(0)
    torch.manual_seed(0)
    net = build_model('gru', 1, **TINY)
    mae = pt.MAEObjective.for_model(net, hidden=64, mask_ratio=0.5, mask_segment=50, seed=0)
    ev = lambda: mae.loss(net.eval(), data)[0].item()
    before = ev()
    opt, g = torch.optim.AdamW(list(net.parameters()) + list(mae.parameters()), lr=3e-3), torch_generator(0, 't')
    for _ in range(40):
        net.train()
        b = {k: v[torch.randint(0, 128, (32,), generator=g)] for k, v in data.items()}
        loss, _ = mae.loss(net, b); opt.zero_grad(); loss.backward(); opt.step()
    assert ev() < 0.9 * before


def test_mae_only_masked_positions_count():
    torch.manual_seed(0)
    net = build_model('gru', 1, **TINY)
    mae = pt.MAEObjective.for_model(net, hidden=16, mask_ratio=0.3, mask_segment=20, mask_leads=True, seed=1)
    x = torch.randn(4, 12, 1000) * 0.2
    m = mae.mask(x)
    assert 0.3 <= m.float().mean() < 1 and m.all(-1).sum(1).min() >= 3
    rec = mae.reconstruct(net, x, m).detach().requires_grad_()
    pt.masked_mse(rec, x, m).backward()
    assert rec.grad[~m].abs().max() == 0 and rec.grad[m].abs().sum() > 0
    x2 = x.clone(); x2[~m] += 5.0                            # targets at visible positions do not matter
    assert pt.masked_mse(rec, x, m) == pt.masked_mse(rec, x2, m)
    # and the encoder never sees the hidden values: changing them leaves the reconstruction unchanged
    x3 = x.clone(); x3[m] += 5.0
    net.eval()
    assert torch.equal(mae.reconstruct(net, x, m), mae.reconstruct(net, x3, m))


# --- joint objective ----------------------------------------------------------------------------------------------

def test_joint_weights_change_during_training(fx, tmp_path):
    r = _pretrain(fx, 'joint', tmp_path / 'j', n=96, epochs=2)
    tr = pd.read_csv(tmp_path / 'j' / 'loss_weights.csv')
    assert len(tr) == r['epochs_run'] * 3 and list(tr.columns) == ['step', 'w_rec', 'w_cls', 'rec_loss', 'cls_loss']
    assert tr.w_rec.iloc[-1] != tr.w_rec.iloc[0] and tr.w_cls.iloc[-1] != tr.w_cls.iloc[0]
    assert tr.w_rec.iloc[-1] > tr.w_rec.iloc[0]              # the masked MSE (< 1) gains weight: optimum w = 1 / loss
    assert (tmp_path / 'j' / 'loss_weights.png').is_file()
    hist = pd.read_csv(tmp_path / 'j' / 'history.csv')
    assert {'train_w_rec', 'train_w_cls', 'train_rec_loss', 'train_cls_loss'} <= set(hist.columns)


def test_loss_ratio_weighting_tracks_losses():
    torch.manual_seed(0)
    net = build_model('gru', 1, **TINY)
    obj = pt.make_objective('joint', net, 'mi', weighting='loss_ratio', decoder_hidden=16)
    data = sf.SynthFeed(32, seed=0, task='mi')(0)
    for _ in range(3): obj.loss(net.train(), data)
    w = obj.weights()
    assert torch.isclose(w.sum(), torch.tensor(2.0)) and w[0] > w[1]           # small reconstruction loss weighted up


# --- entry point, checkpoint, fine-tuning -------------------------------------------------------------------------

@pytest.mark.parametrize('strategy', ['supervised', 'mae'])
def test_pretrained_encoder_loads_equal_head_new(fx, tmp_path, strategy):
    r = _pretrain(fx, strategy, tmp_path / strategy)
    ck = torch.load(r['checkpoint'], weights_only=False)
    assert ck['kind'] == 'pretrain' and ck['strategy'] == strategy and ck['arch']['name'] == 'gru'
    torch.manual_seed(123)
    fresh = build_model('gru', 28, **TINY)
    head0 = {k: v.clone() for k, v in fresh.head.state_dict().items()}
    pt.load_pretrained(fresh, r['checkpoint'])
    for k, v in fresh.encoder.state_dict().items(): assert torch.equal(v, ck['model'][f'encoder.{k}']), k
    for k, v in fresh.head.state_dict().items(): assert torch.equal(v, head0[k]), k                 # the head is new
    assert not torch.equal(fresh.head.out.weight, ck['model']['head.out.weight'])
    if strategy == 'supervised':
        pt.load_pretrained(fresh, r['checkpoint'], head='keep')
        assert torch.equal(fresh.head.out.weight, ck['model']['head.out.weight'])


def test_pretraining_keeps_the_epoch_of_the_lowest_val_loss(fx, tmp_path):
    "The synthetic val AUC saturates at 1.0: pretraining selects on the val loss, even when [train] monitor says val_auc."
    r = _pretrain(fx, 'supervised', tmp_path / 'sel', n=64, epochs=4, monitor='val_auc', patience=4)
    h = pd.read_csv(tmp_path / 'sel' / 'history.csv')
    assert r['best_epoch'] == int(h.epoch[h.val_loss.idxmin()])
    ck = torch.load(r['checkpoint'], weights_only=False)
    assert ck['config']['monitor'] == 'val_loss' and ck['epoch'] == r['best_epoch']


def test_pretraining_with_a_saturated_auc_keeps_a_later_epoch(fx, tmp_path, monkeypatch):
    "val AUC 1.0 from the first epoch, val loss falling: the kept epoch is the last, not the first."
    losses = iter([0.9, 0.5, 0.3])
    monkeypatch.setattr(loop, 'evaluate_objective', lambda *a, **k: dict(val_loss=next(losses), val_auc=1.0))
    r = _pretrain(fx, 'joint', tmp_path / 'sat', n=64, epochs=3, patience=3)
    assert r['best_epoch'] == 3 and r['epochs_run'] == 3


def test_pretrain_then_finetune_reproducible(fx, tmp_path):
    ds, s = fx
    outs = []
    for i in range(2):
        r = _pretrain(fx, 'joint', tmp_path / f'pt{i}', seed=3)
        f = train.train_classifier(ds, 'superclass', 'gru', 0.5, 3, tmp_path / f'ft{i}', **train.train_options(s), init=r['checkpoint'], epochs=1,
                                   hparams=TINY, batch_size=16, progress=False)
        outs.append((torch.load(r['checkpoint'], weights_only=False), np.load(f['predictions'])))
    (c0, p0), (c1, p1) = outs
    for k in c0['model']: assert torch.equal(c0['model'][k], c1['model'][k]), k
    for k in c0['objective']: assert torch.equal(c0['objective'][k], c1['objective'][k]), k
    assert np.array_equal(p0['test_probs'], p1['test_probs']) and np.array_equal(p0['val_probs'], p1['val_probs'])
    r2 = _pretrain(fx, 'joint', tmp_path / 'pt_other', seed=4)
    c2 = torch.load(r2['checkpoint'], weights_only=False)
    assert not torch.equal(c0['model']['encoder.gru.weight_ih_l0'], c2['model']['encoder.gru.weight_ih_l0'])


def test_linear_probe_keeps_encoder_frozen(fx, tmp_path):
    r = _pretrain(fx, 'supervised', tmp_path / 'p')
    net = pt.freeze_encoder(pt.load_pretrained(build_model('gru', 28, **TINY), r['checkpoint']))
    enc0 = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    groups = loop.param_groups(net, None, 1e-2)
    data = sf.SynthFeed(32, seed=0)(0)
    loop.fit(net, pt.SupervisedObjective(sf.synth_column_mask()), data, None,
             loop.TrainConfig(epochs=2, batch_size=16, progress=False), groups=groups)
    for k, v in net.encoder.state_dict().items(): assert torch.equal(v, enc0[k]), k       # weights and BN statistics


def test_fresh_feed_draws_new_records_each_epoch(fx, tmp_path):
    r = _pretrain(fx, 'supervised', tmp_path / 'f', epochs=2, fresh=True)
    assert r['cohort'] == 'fresh every epoch' and r['epochs_run'] == 2


# --- regimes ------------------------------------------------------------------------------------------------------

def test_frac0_removes_every_real_mi_positive_training_record(sample):
    ds, _ = sample
    full, zero = train.prepare_data(ds, 'superclass', 1.0, 0), train.prepare_data(ds, 'superclass', 0.0, 0)
    k = zero.columns.index('MI')
    assert full.train['y'][:, k].sum() > 0 and zero.train['y'][:, k].sum() == 0 and zero.info['n_train_mi_real'] == 0
    mi_ids = set(ds.meta.ecg_id.to_numpy()[ds.split_index('train')][ds.labels.mi.to_numpy()[ds.split_index('train')] == 1])
    assert not mi_ids & set(zero.train['ids'])
    assert len(zero.train['ids']) == len(full.train['ids']) - full.info['n_train_mi_real']          # every other record kept
    for sp in ('val', 'test'): assert np.array_equal(getattr(zero, sp)['ids'], getattr(full, sp)['ids'])
    # with the synthetic ratio set added, the real MI positives are still gone (synthetic ids are negative)
    syn = sf.ratio_synth_set(ds, 0.5, 0, 'superclass')
    z2 = train.prepare_data(ds, 'superclass', 0.0, 0, extra_train={k_: syn[k_] for k_ in ('signals', 'meta', 'targets')})
    real = z2.train['ids'] > 0
    assert z2.train['y'][real, k].sum() == 0 and z2.train['y'][~real, k].sum() == (syn['cls'] == 'MI').sum()


def test_ratio_set_is_deterministic_and_shared(sample, tmp_path):
    ds, s = sample
    a, b = sf.ratio_synth_set(ds, 0.2, 1, 'mi'), sf.ratio_synth_set(ds, 0.2, 1, 'mi')
    assert len(a['signals']) == round(0.2 * sf.n_real_train(ds)) and np.array_equal(a['signals'], b['signals'])
    r = pt.pretrain_model('mae', 'gru', None, 1, tmp_path / 'r', **pt.pretrain_options(s, epochs=1), task='mi', ds=ds, ratio=0.2, hparams=TINY, **FIT)
    assert r['n_synth'] == len(a['signals']) and r['ratio'] == 0.2


# --- the guard ----------------------------------------------------------------------------------------------------

def test_validation_and_test_records_never_enter_pretraining(fx, tmp_path):
    ds, s = fx
    r0 = _pretrain(fx, 'supervised', tmp_path / 'a')
    vt = ds.meta.index[ds.meta.split.to_numpy() != 'train']
    assert len(vt) > 0
    ds.meta.loc[vt, ['age', 'height', 'weight', 'sex']] = [119.0, 229.0, 249.0, 1]
    ds.signals = np.array(ds.signals); ds.signals[ds.meta.split.to_numpy() != 'train'] = np.nan   # poisoned val/test signals
    r1 = _pretrain((ds, s), 'supervised', tmp_path / 'b')
    c0, c1 = (torch.load(r['checkpoint'], weights_only=False) for r in (r0, r1))
    assert c0['meta_transform'] == c1['meta_transform'] and r1['real_signals_used'] == 0
    for k in c0['model']: assert torch.equal(c0['model'][k], c1['model'][k]), k
    with pytest.raises(MiEcgError, match='validation/test records'):
        sf.MetaSampler.fit(ds.meta, ds.labels)
    with pytest.raises(MiEcgError, match='validation/test records'):
        sf.check_training_rows(ds.meta.iloc[[int(np.flatnonzero(ds.meta.split.to_numpy() == 'val')[0])]])


# --- bad input ----------------------------------------------------------------------------------------------------

def test_checkpoint_of_another_model_is_refused(fx, tmp_path):
    ds, s = fx
    r = pt.pretrain_model('mae', 'transformer', 32, 0, tmp_path / 't', **pt.pretrain_options(s, epochs=1), ds=ds,
                          hparams=dict(d_model=16, n_heads=2, layers=1, ff=32, ms_blocks=1, head_hidden=16), **FIT)
    with pytest.raises(MiEcgError, match='another architecture'):
        pt.load_pretrained(build_model('gru', 28, **TINY), r['checkpoint'])
    with pytest.raises(MiEcgError, match='another architecture'):
        train.train_classifier(ds, 'superclass', 'gru', 1.0, 0, None, **train.train_options(s), init=r['checkpoint'], epochs=1, hparams=TINY, progress=False)
    bad = tmp_path / 'junk.pt'; bad.write_bytes(b'not a checkpoint')
    with pytest.raises(MiEcgError, match='cannot read'):
        pt.load_pretrained(build_model('gru', 28, **TINY), bad)


def test_unknown_strategy(fx):
    ds, s = fx
    with pytest.raises(MiEcgError, match='unknown pretraining strategy'):
        pt.pretrain_model('simclr', 'gru', 32, 0, None, **pt.pretrain_options(s), ds=ds)
    with pytest.raises(MiEcgError, match='unknown pretraining strategy'):
        pt.make_objective('byol', build_model('gru', 1, **TINY))


@pytest.mark.parametrize('ratio', [0.0, 1.0, -0.2, 1.5])
def test_mask_ratio_outside_open_unit_interval(fx, ratio):
    ds, _ = fx
    s = load_settings(overrides={'pretrain.mask_ratio': min(max(ratio, 0.0), 1.0)}, env={}) if 0 <= ratio <= 1 else None
    with pytest.raises(MiEcgError, match='mask ratio out of range'):
        pt.MAEObjective.for_model(build_model('gru', 1, **TINY), mask_ratio=ratio)
    if s is not None:
        with pytest.raises(MiEcgError, match='mask ratio out of range'):
            pt.pretrain_model('mae', 'gru', 32, 0, None, **pt.pretrain_options(s, epochs=1), ds=ds, hparams=TINY, **FIT)


def test_other_bad_input(fx):
    ds, s = fx
    with pytest.raises(MiEcgError, match='ratio out of range'):
        sf.ratio_synth_set(ds, 0.0)
    with pytest.raises(MiEcgError, match='a ratio needs the real dataset'):
        pt.pretrain_model('mae', 'gru', None, 0, None, **pt.pretrain_options(s), ratio=0.1)
    with pytest.raises(MiEcgError, match='unknown head'):
        pt.load_pretrained(build_model('gru', 1, **TINY), {}, head='both')


# --- command line -------------------------------------------------------------------------------------------------

def _cli(argv, overrides):
    "`mi-ecg --set k=v ... <argv>` (the project's settings, no environment); returns what the command returns."
    from mi_ecg_nb.cli import run_command
    return run_command([a for k, v in overrides.items() for a in ('--set', f'{k}={v}')] + argv, env={})


def test_cli_pretrain_then_train_init(tmp_path):
    s = {'pretrain.epochs': 1, 'train.epochs': 1, 'train.batch_size': 32, 'paths.reports_dir': str(tmp_path / 'reports')}
    r = _cli(['pretrain', '--strategy', 'supervised', '--model', 'transformer', '--n-synth', '32', '--seed', '1', '--sample',
              '--out', str(tmp_path / 'p')], s)
    assert (tmp_path / 'p' / 'checkpoint.pt').is_file() and r['strategy'] == 'supervised' and r['n_synth'] == 32
    assert json.loads((tmp_path / 'p' / 'pretrain_result.json').read_text())['seed'] == 1
    t = _cli(['train', '--model', 'transformer', '--frac', '0', '--out', str(tmp_path / 't'), '--sample',
              '--init', str(tmp_path / 'p' / 'checkpoint.pt'), '--init-head', 'keep'], s)
    assert (tmp_path / 't' / 'predictions.npz').is_file() and t['init'].endswith('checkpoint.pt')
    # the folders appear whole and point at themselves; a second run into them is refused unless --overwrite
    assert t['checkpoint'] == str(tmp_path / 't' / 'checkpoint.pt') and r['checkpoint'] == str(tmp_path / 'p' / 'checkpoint.pt')
    assert json.loads((tmp_path / 't' / 'train_result.json').read_text())['out_dir'] == str(tmp_path / 't')
    assert not [q for q in tmp_path.iterdir() if q.name.startswith('.')]
    before = (tmp_path / 't' / 'train_result.json').read_bytes()
    with pytest.raises(MiEcgError, match='not empty'):
        _cli(['train', '--model', 'transformer', '--frac', '0', '--out', str(tmp_path / 't'), '--sample'], s)
    assert (tmp_path / 't' / 'train_result.json').read_bytes() == before
    with pytest.raises(MiEcgError, match='not empty'):
        _cli(['pretrain', '--strategy', 'supervised', '--model', 'transformer', '--n-synth', '32', '--sample', '--out', str(tmp_path / 'p')], s)
    with pytest.raises(SystemExit):
        _cli(['pretrain', '--strategy', 'simclr'], s)


def test_cli_and_sweep_follow_one_head_rule(tmp_path, monkeypatch):
    "`mi-ecg train --init CKPT` defaults to the head the sweep uses for the checkpoint's strategy; --init-head overrides."
    from mi_ecg_nb import cli, sweep
    from mi_ecg_nb.sweep_grid import RunSpec
    seen = []
    fake_train = lambda *a, init_head=None, **k: seen.append(init_head) or {}
    monkeypatch.setattr(cli, 'train_classifier', fake_train)
    monkeypatch.setattr(cli, 'load_ptbxl', lambda *a, **k: None)
    monkeypatch.setattr(train, 'train_classifier', fake_train)
    monkeypatch.setattr(sweep, '_load_data', lambda data, settings: type('DS', (), dict(is_sample=True))())
    s = load_settings(env={})
    for strategy in pt.STRATEGIES:
        ck = tmp_path / f'{strategy}.pt'
        torch.save(dict(kind='pretrain', strategy=strategy, model={}, arch={}), ck)
        _cli(['train', '--out', str(tmp_path / 'o'), '--init', str(ck)], {})
        sweep.real_run_one(RunSpec('t1', 'gru', strategy, init=str(ck)), tmp_path / 'r', s)
        _cli(['train', '--out', str(tmp_path / 'o'), '--init', str(ck), '--init-head', 'fresh'], {})
        cli_head, sweep_head, forced = seen[-3:]
        assert cli_head == sweep_head == pt.head_for(strategy) == ('fresh' if strategy == 'mae' else 'keep'), strategy
        assert forced == 'fresh'
    sweep.real_run_one(RunSpec('t1', 'gru', 'base'), tmp_path / 'r', s)
    _cli(['train', '--out', str(tmp_path / 'o')], {})
    assert seen[-2:] == ['fresh', 'fresh']
