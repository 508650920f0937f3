"""The generic training loop: overfitting, checkpoints, determinism, early stopping, objectives."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

from mi_ecg_nb.augment import Augment
from mi_ecg_nb.config import MiEcgError, seed_everything
from mi_ecg_nb.models import ClassifierObjective, MAEDecoder, build_model, pos_weight_from_targets
from mi_ecg_nb.config import TrainConfig
from mi_ecg_nb.loop import fit, load_checkpoint, predict

torch.set_num_threads(1)
TINY = dict(hidden=16, stem_channels=16, head_hidden=32)


def toy(n, seed=0, T=200):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, 2, generator=g) < 0.5).float()
    x = 0.3 * torch.randn(n, 12, T, generator=g)
    x[:, 1, 100:120] += 2.0 * y[:, :1]
    x[:, 7, 50:70] += 2.0 * y[:, 1:2]
    return dict(x=x, meta=torch.rand(n, 4, generator=g), y=y)


def model(seed=0, name='gru', **kw):
    seed_everything(seed, 'init')
    hp = TINY if name == 'gru' else dict(d_model=32, n_heads=2, layers=1, ff=32, head_hidden=32)
    return build_model(name, 2, **{**hp, **kw})


CFG = TrainConfig(epochs=2, batch_size=32, lr=3e-3, progress=False, device='cpu', seed=0)
TR, VA = toy(192, 1), toy(96, 2)


@pytest.mark.parametrize('name', ['gru', 'transformer'])
def test_overfits_a_tiny_batch(name):
    tr = toy(16, 5)
    cfg = replace(CFG, epochs=80, batch_size=16, warmup_epochs=0, weight_decay=0, augment=False)
    res = fit(model(name=name, dropout=0.0), ClassifierObjective('bce'), tr, None, cfg)
    assert res.history.train_loss.iloc[-1] < 0.1 * res.history.train_loss.iloc[0]
    assert res.history.train_loss.iloc[-1] < 0.07


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    obj = ClassifierObjective(pos_weight=pos_weight_from_targets(TR['y']))
    res = fit(model(), obj, TR, VA, CFG, tmp_path, augment=Augment(), checkpoint_extra=dict(task='toy'))
    m2, ck = load_checkpoint(tmp_path / 'checkpoint.pt')
    assert ck['task'] == 'toy' and ck['epoch'] == res.best_epoch and ck['arch'] == res.model.arch
    np.testing.assert_array_equal(predict(m2, obj, VA), predict(res.model, obj, VA))
    assert (tmp_path / 'history.csv').is_file() and (tmp_path / 'history.png').is_file()


def test_same_seed_same_weights_other_seed_other_weights():
    obj = ClassifierObjective()
    runs = [fit(model(s), obj, TR, VA, replace(CFG, epochs=1, seed=s), augment=Augment()).model for s in (3, 3, 4)]
    a, b, c = (r.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    np.testing.assert_array_equal(predict(runs[0], obj, VA), predict(runs[1], obj, VA))


def test_early_stopping_stops_when_validation_stops_improving():
    m = model()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm1d): mod.momentum = 0.0         # frozen statistics: nothing changes at lr 0
    res = fit(m, ClassifierObjective(), TR, VA, replace(CFG, epochs=30, lr=0.0, patience=3, monitor='val_loss'))
    assert len(res.history) == 4 and res.best_epoch == 1 and res.stopped_early


def test_monitor_val_auc_keeps_the_best_epoch(tmp_path):
    res = fit(model(), ClassifierObjective(), TR, VA, replace(CFG, epochs=3, monitor='val_auc'), tmp_path)
    assert res.best_epoch == int(res.history.val_auc.idxmax()) + 1
    assert res.best['val_auc'] == pytest.approx(res.history.val_auc.max())


class Recon(nn.Module):
    "A reconstruction objective with its own parameters (like the MAE): the loop must train and save them."
    def __init__(self, m):
        super().__init__(); self.dec = MAEDecoder.for_model(m, hidden=16); self.w = nn.Parameter(torch.zeros(()))
    def loss(self, model, batch):
        rec = self.dec(model.encoder(batch['x']), T=batch['x'].shape[-1])
        l = (rec - batch['x']).pow(2).mean() * torch.exp(-self.w) + self.w
        return l, {'w': self.w.detach()}


def test_any_objective_with_parameters_is_trained_and_saved(tmp_path):
    m = model(); obj = Recon(m)
    res = fit(m, obj, dict(x=TR['x']), dict(x=VA['x']), CFG, tmp_path)
    assert float(obj.w.detach()) != 0.0 and 'train_w' in res.history and 'val_loss' in res.history
    assert torch.load(tmp_path / 'checkpoint.pt', weights_only=False)['objective']['w'] == obj.w.detach()


def test_fresh_data_every_epoch():
    seen = []
    def data(epoch): seen.append(epoch); return toy(64, 10 + epoch)
    fit(model(), ClassifierObjective(), data, VA, replace(CFG, epochs=3))
    assert seen == [0, 1, 2]


@pytest.mark.parametrize('bad, match', [
    (lambda: fit(model(), object(), TR, VA, CFG), 'loss\\(model, batch\\)'),
    (lambda: fit(model(), ClassifierObjective(), dict(TR, y=TR['y'][:5]), VA, CFG), 'differ in length'),
    (lambda: TrainConfig(monitor='accuracy'), 'monitor'),
    (lambda: TrainConfig(lr=float('nan')), 'lr'),
    (lambda: load_checkpoint('/nonexistent/checkpoint.pt'), 'not found'),
])
def test_bad_input(bad, match):
    with pytest.raises(MiEcgError, match=match): bad()


def test_divergence_is_reported():
    tr = dict(TR, x=TR['x'].clone()); tr['x'][0, 0, 0] = float('nan')
    with pytest.raises(MiEcgError, match='diverged'):
        fit(model(), ClassifierObjective(), tr, None, replace(CFG, epochs=1, batch_size=192))
