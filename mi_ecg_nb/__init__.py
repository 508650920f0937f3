"""Simulated 12-lead ECGs with controllable MI morphology, synthetic pretraining of GRU/Transformer classifiers, fine-tuning on scarce PTB-XL, executed report notebooks.

Modules:

- `mi_ecg_nb.augment`: Batched, on-device ECG augmentations: amplitude scaling, time masking, Gaussian noise, baseline wander and lead dropout — each with a probability and a strength, and the identity at strength 0.
- `mi_ecg_nb.cohort`: `simulate_cohort`: draw, render and label a cohort in one call; labels and metadata in the PTB-XL layout, records on ECG paper, the MI knobs one at a time, and a cohort written as a PTB-XL-like WFDB tree.
- `mi_ecg_nb.evaluate`: AUROC (macro and per class), binary MI AUROC, threshold metrics chosen on validation, calibration, and paired bootstrap confidence intervals of a run, recomputed from its saved `predictions.npz`; also the validation AUROC of the training loop and the AUC with its CI of the fidelity C2ST.
- `mi_ecg_nb.fidelity`: How close are simulated ECGs to real PTB-XL records? MMD², Kolmogorov–Smirnov, power spectra, clinical features, real-vs-real floors and a classifier two-sample test.
- `mi_ecg_nb.fidelity_report`: Run the simulator fidelity report: real PTB-XL and simulated records per class and the papermill template `91_fidelity_report`.
- `mi_ecg_nb.loop`: One training loop for every model and stage: AdamW, cosine learning rate with warm-up, mixed precision on GPU, gradient clipping, early stopping, checkpoints.
- `mi_ecg_nb.models`: BiGRU and Transformer ECG classifiers: separable encoders, metadata fusion heads, the classification losses and the light decoder the masked autoencoder uses.
- `mi_ecg_nb.pretrain`: What is optimised before a classifier sees scarce real data: supervised pretraining on synthetic labels, a masked autoencoder, and a joint reconstruction + classification objective with dynamic loss weighting; the helpers that move a pretrained encoder into a fresh classifier; and `pretrain_model`, which runs an objective through the training loop.
- `mi_ecg_nb.ptbxl`: Find and read PTB-XL v1.0.3 (100 Hz) fast, and turn it into the labels, splits, metadata and training fractions of the paper.
- `mi_ecg_nb.ptbxl_download`: Get PTB-XL v1.0.3 (100 Hz): download it from PhysioNet (resumable, SHA-256 verified), verify a tree and draw the bundled sample.
- `mi_ecg_nb.render`: From a parameter table to 12-lead signals in mV: Gaussian beat kernels on the sample grid, an amplitude matrix carrying the MI knobs, noise and artifacts at the electrodes; numpy or torch (CPU or GPU) from the same draws.
- `mi_ecg_nb.sim_fit`: Class-conditioned parameter distributions estimated from the PTB-XL training folds, written to a versioned file that ships with the package.
- `mi_ecg_nb.sim_params`: Every parameter of a simulated 12-lead ECG record (unit, accepted range, meaning), the class-conditioned distributions they come from, and the drawing of a cohort's parameter table.
- `mi_ecg_nb.sweep`: Presets → a grid of runs with readable ids → each run trained, evaluated and written to its folder → one report notebook per run rendered from that folder (papermill) → a summary notebook with Tables 1 and 2. Resumable, parallel, and safe to kill.
- `mi_ecg_nb.sweep_results`: A finished sweep folder, read back: one row per run, Tables 1 and 2 (mean ± 95 % CI over seeds beside the paper's values), the paired bootstrap gains of pretraining, the best run, and the banners reports carry.
- `mi_ecg_nb.synth_feed`: Class-balanced NORM/MI synthetic cohorts with metadata drawn from the real training split, fed to the training loop as one fixed cohort or fresh records every epoch; the `ratio x N_real` synthetic set of Table 2; and the guard that keeps real validation and test records out of pretraining.
- `mi_ecg_nb.train`: The PTB-XL classifiers: the data of the superclass and MI tasks and `train_classifier` (from scratch or from a pretrained encoder)."""

__version__ = "0.1.0"
