"""Phase 1 of the two-phase schedule: supernet weights trained alone, shared by every method of a seed.

A phase-1 run depends only on the fields that shape the weights (space, data, network size, weight
optimiser, path sampling, epochs, seed; ``PHASE1_FIELDS``), never on the method, so every method's
phase 2 with the same values trains its architecture parameters against the *same* weights: the
comparison is paired. Its folder ``<supernets_dir>/supernet_<space>_<dataset>_s<seed>_<key>/`` holds
``config.json`` (the phase-1 SearchConfig), ``history.csv``, ``checkpoint.ckpt`` while it runs,
``snapshots/supernet_e<epoch>.pt`` every ``snapshot_every`` epochs (never committed), and when
finished ``supernet.pt`` (the weights, under 1 MB at the default size), ``run.json`` and checksums.
``key`` is a short hash of the phase-1 config, so two settings never share a folder.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from nas.search import run_io
from nas.search.config import SearchConfig

PHASE1_FIELDS = ("space", "dataset", "n_train", "n_val", "C", "N", "batch_size", "supernet_epochs", "mode",
                 "path_sampling", "resolution", "w_lr", "w_lr_min", "w_momentum", "w_weight_decay", "grad_clip",
                 "seed", "torch_device", "snapshot_every", "split_edge", "split_epoch")
# fields added after supernets were first committed: they enter a folder's key only where they differ from
# SearchConfig's default, so the folders of earlier settings keep their names
KEYED_WHEN_SET = ("split_edge", "split_epoch")
PHASE1_DESCRIPTOR_SIZE = 1  # the phase-1 state's unused generator takes a 1-d descriptor


def phase1_config(cfg: SearchConfig) -> SearchConfig:
    """The SearchConfig of ``cfg``'s phase 1: its ``PHASE1_FIELDS``, every other field at its default, ``epochs``
    = ``supernet_epochs`` (the weight learning rate's cosine spans phase 1)."""
    kept = {f: getattr(cfg, f) for f in PHASE1_FIELDS}
    return replace(SearchConfig(), **kept, schedule="two-phase", epochs=cfg.supernet_epochs, warmup_epochs=0,
                   data_root=cfg.data_root, threads=cfg.threads).validate()


def supernet_run_name(cfg: SearchConfig) -> str:
    """Folder name of ``cfg``'s phase-1 run: ``supernet_<space>_<dataset>_s<seed>_<8-hex key of the config>``."""
    p1, default = phase1_config(cfg).to_dict(), SearchConfig().to_dict()
    ident = {k: v for k, v in p1.items()
             if k not in run_io.LOCATION_FIELDS and not (k in KEYED_WHEN_SET and v == default[k])}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    return f"supernet_{cfg.space}_{cfg.dataset}_s{cfg.seed}_{key}"


def train_shared_supernet(cfg: SearchConfig, supernets_dir: str | Path, data, progress: bool = True) -> Path:
    """Run (or resume, or reuse when finished) ``cfg``'s phase 1 under ``supernets_dir``; returns its folder."""
    from nas.search.loop import train_epochs
    from nas.search.step import Stepper, build_state

    p1 = phase1_config(cfg)
    out = Path(supernets_dir) / supernet_run_name(cfg)
    if run_io.finished_supernet(out, p1.to_dict()):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out.parent / f".{out.name}.lock"):  # a second process waits, then finds it finished
        if run_io.finished_supernet(out, p1.to_dict()):
            return out
        run_io.prepare_run_dir(out, p1.to_dict())
        st = build_state(p1, data.in_channels, data.n_classes, PHASE1_DESCRIPTOR_SIZE)
        run_io.load_checkpoint(out, st)
        stepper = Stepper(p1, st, penalty=None)  # weight-only steps never read the cost penalty
        train_epochs(p1, st, data, stepper, ["-"], lambda e: "supernet", out, progress, desc="supernet (phase 1)")
        run_io.finish_supernet(out, p1.to_dict(), st)
    return out


@contextmanager
def _exclusive(lock_path: Path):
    """An advisory file lock (POSIX ``flock``) held for the duration of the block."""
    import fcntl

    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
