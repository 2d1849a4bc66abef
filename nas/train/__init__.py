"""Retraining: train a derived architecture from scratch and report its test accuracy.

``config`` (``TrainConfig``, profiles), ``data`` (in-memory official splits, per-batch augmentation),
``loop`` (``train_architecture``), ``run_io`` (the run folder: config, checkpoint, history, result).
"""
