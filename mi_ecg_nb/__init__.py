"""Simulated 12-lead ECGs with controllable MI morphology, synthetic pretraining of GRU/Transformer classifiers, fine-tuning on scarce PTB-XL, executed report notebooks.

Modules:

- `mi_ecg_nb.ptbxl`: Find, download, verify and read PTB-XL v1.0.3 (100 Hz) fast, and turn it into the labels, splits, metadata and training fractions of the paper."""

__version__ = "0.1.0"
