"""One source of defaults: the trimmed settings.ini gives the values the full one gave, and the library functions'
keyword defaults are the schema's defaults (the settings only reach them through the `*_options` helpers)."""
import configparser, inspect
from pathlib import Path

from mi_ecg_nb.config import SCHEMA, TrainConfig, load_settings, parse_value

ROOT = Path(__file__).resolve().parents[1]

# Every value of settings.ini as it stood before it was trimmed to paths, presets and non-default values
# (load_settings(old settings.ini, env={}).asdict()).
_ARMS = {'table1_arms': ('gru-base', 'gru-supervised'),
         'table2_arms': ('gru-base', 'gru-supervised', 'transformer-base', 'transformer-mae', 'transformer-joint')}
_PAPER_GRID = {'fracs': (0.0, 0.1, 0.5, 1.0), 'ratios': (0.0, 0.05, 0.1, 0.5, 1.0)}
OLD_SETTINGS = {
    'runtime': {'seed': 0, 'device': 'auto', 'num_threads': 0, 'log_level': 'INFO'},
    'paths': {'data_dir': 'data',
              'ptbxl_dir': 'data/ptbxl',
              'sample_dir': 'data/ptbxl-sample',
              'cache_dir': 'data/cache',
              'reports_dir': 'reports'},
    'ptbxl': {'sampling_rate': 100,
              'n_samples': 1000,
              'jobs': 0,
              'train_folds': (1, 2, 3, 4, 5, 6, 7, 8),
              'val_fold': 9,
              'test_fold': 10,
              'download_url': 'https://physionet.org/files/ptb-xl/1.0.3/',
              'use_sample_when_missing': True},
    'simulate': {'backend': 'numpy',
                 'params_file': '',
                 'fs': 100,
                 'duration': 10.0,
                 'batch_size': 8192,
                 'threads': 0,
                 'mi_base': 'fitted',
                 'noise': 'numpy',
                 'fit_n_per_class': 600,
                 'fit_jobs': 0},
    'fidelity': {'n_per_class': 500, 'n_perm': 200, 'split': 'heldout', 'jobs': 1},   # was 'train': real side held out on purpose
    'train': {'model': 'gru',
              'task': 'superclass',
              'epochs': 30,
              'batch_size': 128,
              'lr': 0.001,
              'weight_decay': 0.01,
              'warmup_epochs': 1.0,
              'patience': 5,
              'monitor': 'val_auc',
              'clip_grad': 1.0,
              'amp': True,
              'compile': False,
              'augment': True,
              'max_steps_per_epoch': 0,
              'min_steps_per_epoch': 0,           # added since: a floor for small training sets
              'min_delta': 0.0,                   # added since: was a fixed 0.0 of the loop
              'focal_gamma': 1.0,
              'loss': 'balanced_focal',
              'frac': 1.0},
    'pretrain': {'strategy': 'supervised',
                 'simulator': 'matched',            # added since: the simulator fitted on the records a run may see
                 'n_synth': 10000,
                 'epochs': 10,
                 'fresh_every_epoch': False,
                 'mask_ratio': 0.5,
                 'mask_segment': 50,
                 'mask_leads': False,
                 'finetune': 'full',
                 'encoder_lr_mult': 0.1},
    'evaluate': {'n_boot': 1000, 'bootstrap_seed': 0, 'threshold_rule': 'youden', 'n_bins': 10},
    # the presets as they stand (quick and curve trained to early stopping; cpu-full added)
    'sweep:demo': {'description': 'Demonstration on the bundled PTB-XL sample: 16 runs (5 of them base-matched controls) and 5 '
                                'pretrainings, about 5 min on a 2-core CPU; numbers are not meaningful.',
                 'data': 'sample',
                 'seeds': (0,),
                 'fracs': (0.0, 1.0),
                 'ratios': (0.0, 0.5),
                 'table1_arms': ('gru-base', 'gru-supervised'),
                 'table2_arms': ('gru-base', 'gru-supervised', 'transformer-base', 'transformer-mae', 'transformer-joint'),
                 'epochs': 3,
                 'pretrain_epochs': 2,
                 'n_synth': 1000,
                 'jobs': 1,
                 'max_steps_per_epoch': 0,
                 'tables': ('t1', 't2'),
                 'shares': (0.01, 0.05, 0.1, 0.25, 1.0),
                 'curve_arms': ('gru-base', 'gru-supervised', 'gru-mae'),
                 'patience': 0,
                 'min_delta': 0.0,
                 'min_steps_per_epoch': 0,
                 'matched_controls': True},
    'sweep:quick': {'description': 'Table 1 of the paper (all four fracs: GRU base, supervised pretraining and its base-matched '
                                 'control) with one seed, every run trained to early stopping on fold 9 (12-epoch cosine '
                                 'schedule, patience 2, min_delta 0.001), two runs at a time: 12 runs and 4 pretrainings on '
                                 'full PTB-XL, measured at 109 min on a 2-core CPU (cold simulator-fit cache; over the 90 min '
                                 'it was meant for). Table 2 and the Transformer arms are left to cpu-full and paper.',
                  'data': 'full',
                  'seeds': (0,),
                  'fracs': (0.0, 0.1, 0.5, 1.0),
                  'ratios': (0.0, 0.05, 0.1, 0.5, 1.0),
                  'table1_arms': ('gru-base', 'gru-supervised'),
                  'table2_arms': ('gru-base', 'gru-supervised', 'transformer-base', 'transformer-mae', 'transformer-joint'),
                  'epochs': 12,
                  'pretrain_epochs': 4,
                  'n_synth': 5000,
                  'jobs': 2,
                  'max_steps_per_epoch': 0,
                  'tables': ('t1',),
                  'shares': (0.01, 0.05, 0.1, 0.25, 1.0),
                  'curve_arms': ('gru-base', 'gru-supervised', 'gru-mae'),
                  'patience': 2,
                  'min_delta': 0.001,
                  'min_steps_per_epoch': 0,
                  'matched_controls': True},
    'sweep:cpu-full': {'description': 'The whole grid of the paper (Tables 1 and 2, every arm, base-matched controls) with one '
                                    'seed, trained to early stopping on fold 9 like quick, two runs at a time on a CPU. Its wall '
                                    "time on the 2-core CPU is not measured yet: about 10 h estimated from quick's measured runs "
                                    '(Table 1 about 2 h; the Transformer arms of Table 2 cost about twice a GRU run).',
                     'data': 'full',
                     'seeds': (0,),
                     'fracs': (0.0, 0.1, 0.5, 1.0),
                     'ratios': (0.0, 0.05, 0.1, 0.5, 1.0),
                     'table1_arms': ('gru-base', 'gru-supervised'),
                     'table2_arms': ('gru-base', 'gru-supervised', 'transformer-base', 'transformer-mae', 'transformer-joint'),
                     'epochs': 12,
                     'pretrain_epochs': 4,
                     'n_synth': 5000,
                     'jobs': 2,
                     'max_steps_per_epoch': 0,
                     'tables': ('t1', 't2'),
                     'shares': (0.01, 0.05, 0.1, 0.25, 1.0),
                     'curve_arms': ('gru-base', 'gru-supervised', 'gru-mae'),
                     'patience': 2,
                     'min_delta': 0.001,
                     'min_steps_per_epoch': 0,
                     'matched_controls': True},
    'sweep:paper': {'description': 'Tables 1 and 2 of arXiv 2506.23259: every arm, three seeds (meant for a GPU).',
                  'data': 'full',
                  'seeds': (0, 1, 2),
                  'fracs': (0.0, 0.1, 0.5, 1.0),
                  'ratios': (0.0, 0.05, 0.1, 0.5, 1.0),
                  'table1_arms': ('gru-base', 'gru-supervised'),
                  'table2_arms': ('gru-base', 'gru-supervised', 'transformer-base', 'transformer-mae', 'transformer-joint'),
                  'epochs': 30,
                  'pretrain_epochs': 10,
                  'n_synth': 20000,
                  'jobs': 4,
                  'max_steps_per_epoch': 0,
                  'tables': ('t1', 't2'),
                  'shares': (0.01, 0.05, 0.1, 0.25, 1.0),
                  'curve_arms': ('gru-base', 'gru-supervised', 'gru-mae'),
                  'patience': 0,
                  'min_delta': 0.0,
                  'min_steps_per_epoch': 0,
                  'matched_controls': True},
    'sweep:curve': {'description': 'Label efficiency, beyond the paper: the superclass GRU on nested stratified shares (1, 5, '
                                 '10, 25, 100 %) of the real training records, base vs supervised and MAE pretraining (with '
                                 'base-matched controls), one seed, full PTB-XL, every run trained to early stopping on fold '
                                 '9 (at most 20 epochs of at least 20 steps, patience 3, min_delta 0.001), two runs at a '
                                 'time: 25 runs and 10 pretrainings, measured at 80 min on a 2-core CPU with a cold '
                                 'simulator-fit cache (part of it beside other work).',
                  'data': 'full',
                  'seeds': (0,),
                  'fracs': (0.0, 0.1, 0.5, 1.0),
                  'ratios': (0.0, 0.05, 0.1, 0.5, 1.0),
                  'table1_arms': ('gru-base', 'gru-supervised'),
                  'table2_arms': ('gru-base', 'gru-supervised', 'transformer-base', 'transformer-mae', 'transformer-joint'),
                  'epochs': 20,
                  'pretrain_epochs': 4,
                  'n_synth': 5000,
                  'jobs': 2,
                  'max_steps_per_epoch': 0,
                  'tables': ('lc',),
                  'shares': (0.01, 0.05, 0.1, 0.25, 1.0),
                  'curve_arms': ('gru-base', 'gru-supervised', 'gru-mae'),
                  'patience': 3,
                  'min_delta': 0.001,
                  'min_steps_per_epoch': 20,
                  'matched_controls': True},
}


def test_the_trimmed_settings_file_gives_every_old_value():
    s = load_settings(ROOT / 'settings.ini', env={})
    assert s.asdict() == OLD_SETTINGS
    assert s.root == ROOT


def test_no_file_gives_the_old_values_of_every_schema_section(tmp_path):
    (tmp_path / 'settings.ini').write_text('')
    s = load_settings(tmp_path / 'settings.ini', env={})
    assert s.asdict() == {k: v for k, v in OLD_SETTINGS.items() if not k.startswith('sweep:')}


def test_settings_file_holds_only_paths_presets_and_changed_values():
    cp = configparser.ConfigParser(interpolation=None); cp.read(ROOT / 'settings.ini')
    for sec in cp.sections():
        if sec == 'paths' or sec.startswith('sweep:'): continue
        for k, v in cp[sec].items():
            assert parse_value(SCHEMA[sec][k], v, k, 'settings.ini') != SCHEMA[sec][k].default, f'[{sec}] {k} = {v} is the default'


def _defaults(f) -> dict:
    return {k: p.default for k, p in inspect.signature(f).parameters.items() if p.default is not inspect.Parameter.empty}


def test_library_defaults_are_the_schema_defaults():
    from mi_ecg_nb import evaluate, fidelity_report, pretrain, ptbxl, ptbxl_download, train
    sch = lambda sec, key: SCHEMA[sec][key].default
    checks = {
        ptbxl.load_ptbxl: {k: sch('ptbxl', k) for k in ('sampling_rate', 'jobs', 'train_folds', 'val_fold', 'test_fold',
                                                      'use_sample_when_missing')},
        ptbxl.assign_splits: {k: sch('ptbxl', k) for k in ('train_folds', 'val_fold', 'test_fold')},
        ptbxl_download.download_ptbxl: dict(url=sch('ptbxl', 'download_url')),
        train.train_classifier: dict(model=sch('train', 'model'), task=sch('train', 'task'), frac=sch('train', 'frac'),
                                     seed=sch('runtime', 'seed'), loss=sch('train', 'loss'),
                                     focal_gamma=sch('train', 'focal_gamma'), finetune=sch('pretrain', 'finetune'),
                                     encoder_lr_mult=sch('pretrain', 'encoder_lr_mult')),
        pretrain.pretrain_model: dict(strategy=sch('pretrain', 'strategy'), model=sch('train', 'model'), task=sch('train', 'task'),
                                      n_synth=sch('pretrain', 'n_synth'), seed=sch('runtime', 'seed'),
                                      epochs=sch('pretrain', 'epochs'), fresh=sch('pretrain', 'fresh_every_epoch'),
                                      loss=sch('train', 'loss'), focal_gamma=sch('train', 'focal_gamma'),
                                      mask_ratio=sch('pretrain', 'mask_ratio'), mask_segment=sch('pretrain', 'mask_segment'),
                                      mask_leads=sch('pretrain', 'mask_leads')),
        evaluate.evaluate_predictions: dict(n_boot=sch('evaluate', 'n_boot'), seed=sch('evaluate', 'bootstrap_seed'),
                                            rule=sch('evaluate', 'threshold_rule'), n_bins=sch('evaluate', 'n_bins')),
        fidelity_report.run_fidelity_report: dict(n_per_class=sch('fidelity', 'n_per_class'), seed=sch('runtime', 'seed'),
                                                  split=sch('fidelity', 'split'), n_perm=sch('fidelity', 'n_perm'),
                                                  jobs=sch('fidelity', 'jobs')),
    }
    for f, want in checks.items():
        got = _defaults(f)
        assert {k: got[k] for k in want} == want, f.__name__
    assert TrainConfig.from_settings(load_settings(ROOT / 'settings.ini', env={})) == TrainConfig()


def test_options_helpers_give_the_defaults_from_default_settings(tmp_path):
    from mi_ecg_nb import evaluate, pretrain, ptbxl, train
    (tmp_path / 'settings.ini').write_text('')
    s = load_settings(tmp_path / 'settings.ini', env={})
    for f, opts in ((ptbxl.load_ptbxl, ptbxl.ptbxl_options(s)), (train.train_classifier, train.train_options(s)),
                    (pretrain.pretrain_model, pretrain.pretrain_options(s)), (evaluate.evaluate_predictions, evaluate.eval_options(s))):
        got = _defaults(f)
        same = {k: v for k, v in opts.items() if k in got and got[k] is not None and k != 'cfg'}
        assert same == {k: got[k] for k in same}, f.__name__
    assert train.train_options(s)['cfg'] == TrainConfig() and pretrain.pretrain_options(s)['cfg'] == TrainConfig()
    s2 = load_settings(tmp_path / 'settings.ini', overrides={'train.lr': 0.5, 'pretrain.epochs': 2, 'ptbxl.jobs': 3}, env={})
    assert train.train_options(s2)['cfg'].lr == 0.5 and pretrain.pretrain_options(s2)['epochs'] == 2
    assert ptbxl.ptbxl_options(s2)['jobs'] == 3 and ptbxl.ptbxl_options(s2, jobs=None)['jobs'] == 3
