"""A tiny sweep through the REAL training entry points (mi_ecg_nb.train), one epoch on the bundled PTB-XL sample,
executed through papermill, then its summary: a real-only arm, a Table 1 arm pretrained on simulated records, a Table 2
arm with synthetic records added to the training set and one pretrained (MAE) on the ratio's synthetic set. Everything
it writes is labelled a demonstration. A lost report is rendered again without retraining."""
import json
from pathlib import Path

import pytest

from mi_ecg_nb.config import load_settings
from mi_ecg_nb.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / 'data' / 'ptbxl-sample'

INI = """
[runtime]
device = cpu
[paths]
sample_dir = {sample}
ptbxl_dir = {tmp}/no-ptbxl
cache_dir = {tmp}/cache
reports_dir = {tmp}/reports
[train]
augment = false
[sweep:tiny]
description = one epoch of the real models on the bundled sample
data = sample
seeds = 0
fracs = 0.0
ratios = 0.0,0.5
table1_arms = gru-base,gru-supervised
table2_arms = gru-base,transformer-mae
epochs = 1
pretrain_epochs = 1
n_synth = 16
tables = t1,t2,lc
shares = 0.5
curve_arms = gru-base
"""


@pytest.mark.skipif(not (SAMPLE / 'ptbxl_database.csv').is_file(), reason='the bundled PTB-XL sample is missing')
def test_tiny_real_sweep(tmp_path):
    ini = tmp_path / 'settings.ini'
    ini.write_text(INI.format(sample=SAMPLE, tmp=tmp_path))
    s = load_settings(ini, env={})
    res = run_sweep('tiny', s, runner='real')
    assert res.ok, (res.status, res.summary)
    assert sorted(res.ids('done')) == sorted(['t1-gru-base-frac0-s0', 't1-gru-base-matched-supervised-frac0-s0', 't1-gru-supervised-frac0-s0',
                                       't2-gru-base-ratio0-s0', 't2-gru-base-ratio0.5-s0', 't2-transformer-base-matched-mae-ratio0.5-s0',
                                       't2-transformer-mae-ratio0.5-s0', 'lc-gru-base-share0.5-s0'])
    for rid in res.ids('done'):
        d = res.sweep_dir / rid
        assert {'report.ipynb', 'config.json', 'metrics.json', 'predictions.npz', 'history.csv', 'train_result.json', 'roc.png',
                'calibration.png', 'confusion.png', 'convergence.png'} <= {p.name for p in d.iterdir()}
        m = json.loads((d / 'metrics.json').read_text())
        assert m['demo'] is True and m['data']['kind'] == 'sample' and m['runner'] == 'real'
        if 'base-matched' in rid:                    # its twin's pretraining + fine-tuning steps, spent on real data only
            twin = json.loads((res.sweep_dir / rid.replace('base-matched-', '') / 'metrics.json').read_text())
            (pre,) = [json.loads(p.read_text()) for p in (res.sweep_dir / 'pretrain').glob('*/done.json') if p.parent.name.startswith(
                f"pt-{'superclass' if rid.startswith('t1') else 'mi'}-{m['spec']['model']}-{m['spec']['twin']}")]
            budget = pre['steps'] + twin['train_info']['steps']
            assert m['spec']['step_budget'] == budget == m['train_info']['steps'] and m['train_info']['n_extra'] == 0
            assert abs(m['train_info']['epochs_run'] - budget / m['train_info']['steps_per_epoch']) < 1
        else:
            assert m['train_info']['epochs_run'] == 1
        assert 'DEMONSTRATION' in (d / 'report.ipynb').read_text()
        assert (d / 'train' / 'checkpoint.pt').is_file()
        init = json.loads((d / 'train' / 'config.json').read_text())['init']
        if m['spec']['strategy'] in ('supervised', 'mae'):             # fine-tuned from its pretrained encoder
            assert init and Path(init).is_file() and Path(init).parent.parent == res.sweep_dir / 'pretrain', init
        else:
            assert init is None
    assert json.loads((res.sweep_dir / 't2-gru-base-ratio0.5-s0' / 'metrics.json').read_text())['train_info']['n_extra'] > 0
    assert json.loads((res.sweep_dir / 't2-gru-base-ratio0-s0' / 'metrics.json').read_text())['train_info'].get('n_extra', 0) == 0
    assert len(list((res.sweep_dir / 'pretrain').glob('*/checkpoint.pt'))) == 2     # one Table 1, one Table 2 pretraining
    assert json.loads((res.sweep_dir / 'sweep.json').read_text())['demo'] is True
    half, full = (json.loads((res.sweep_dir / r / 'metrics.json').read_text())['train_info']['n_train_real']
                  for r in ('lc-gru-base-share0.5-s0', 't1-gru-base-frac0-s0'))
    assert half < full and 'Label efficiency' in (res.sweep_dir / 'summary.ipynb').read_text()
    # frac 0 with the matched simulator: no real MI record reached the pretraining's simulator fit or its metadata
    (p1,) = (res.sweep_dir / 'pretrain').glob('pt-superclass-*/pretrain_result.json')
    pr = json.loads(p1.read_text())
    assert pr['n_meta_mi_rows'] == 0 and pr['n_meta_rows'] > 0 and pr['simulator'].startswith('matched:') and '(0 MI' in pr['simulator']
    ti = json.loads((res.sweep_dir / 't1-gru-supervised-frac0-s0' / 'metrics.json').read_text())['train_info']
    assert ti['simulator'] == pr['simulator'] and ti['n_train_real'] > 0
    assert 'DEMONSTRATION' in (res.sweep_dir / 'summary.html').read_text()
    d = res.sweep_dir / 't1-gru-supervised-frac0-s0'
    ckpt, metrics = d / 'train' / 'checkpoint.pt', (d / 'metrics.json').read_bytes()
    stamp = ckpt.stat().st_mtime_ns
    (d / 'report.ipynb').unlink()                                      # a lost report: only it is rendered again
    res2 = run_sweep('tiny', s, runner='real', summary=False)
    assert sorted(res2.ids('skipped')) == sorted(res.ids('done'))
    assert res2.status[d.name].get('report') == 'rendered' and (d / 'report.ipynb').is_file()
    assert ckpt.stat().st_mtime_ns == stamp and (d / 'metrics.json').read_bytes() == metrics    # nothing retrained
