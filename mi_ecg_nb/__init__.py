"""Simulated 12-lead ECGs with controllable MI morphology, synthetic pretraining of GRU/Transformer classifiers, fine-tuning on scarce PTB-XL, executed report notebooks.

Modules:

- `mi_ecg_nb.augment`: Batched, on-device ECG augmentations: amplitude scaling, time masking, Gaussian noise, baseline wander and lead dropout — each with a probability and a strength, and the identity at strength 0.
- `mi_ecg_nb.evaluate`: AUROC (macro and per class), binary MI AUROC, threshold metrics chosen on validation, calibration, and paired bootstrap confidence intervals — all recomputed from a run's saved `predictions.npz`.
- `mi_ecg_nb.fidelity`: How close are simulated ECGs to real PTB-XL records? MMD², Kolmogorov–Smirnov, power spectra, clinical features, real-vs-real floors and a classifier two-sample test.
- `mi_ecg_nb.models`: BiGRU and Transformer ECG classifiers: separable encoders, metadata fusion heads, the classification losses and the light decoder the masked autoencoder uses.
- `mi_ecg_nb.pretrain`: What is optimised before a classifier sees scarce real data: a synthetic data feed, supervised pretraining on synthetic labels, a masked autoencoder, and a joint reconstruction + classification objective with dynamic loss weighting; plus the helpers that move a pretrained encoder into a fresh classifier.
- `mi_ecg_nb.ptbxl`: Find, download, verify and read PTB-XL v1.0.3 (100 Hz) fast, and turn it into the labels, splits, metadata and training fractions of the paper.
- `mi_ecg_nb.sim_fit`: Class-conditioned parameter distributions estimated from the PTB-XL training folds, written to a versioned file that ships with the package; and the `mi-ecg simulate` command.
- `mi_ecg_nb.simulate`: A batched, physiology-aware simulator of 10 s, 100 Hz, 12-lead ECGs of healthy and infarcted hearts: every knob visible, every record reproducible, thousands of records per second.
- `mi_ecg_nb.sweep`: Presets → a grid of runs with readable ids → each run trained, evaluated and written to its folder → one report notebook per run rendered from that folder (papermill) → a summary notebook with Tables 1 and 2. Resumable, parallel, and safe to kill.
- `mi_ecg_nb.sweep_results`: A finished sweep folder, read back: one row per run, Tables 1 and 2 (mean ± 95 % CI over seeds beside the paper's values), the paired bootstrap gains of pretraining, the best run, and the banners reports carry.
- `mi_ecg_nb.train`: One training loop for every model and stage (AdamW, cosine learning rate with warm-up, mixed precision on GPU, gradient clipping, early stopping, checkpoints), and the `mi-ecg train` entry point that trains the PTB-XL classifiers."""

__version__ = "0.1.0"
