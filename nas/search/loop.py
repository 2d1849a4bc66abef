"""The search loop: epochs of the supernet phase, the generator phase, or both jointly.

``run_epoch(..., phase)`` runs one epoch of ``Stepper.step`` in one phase: ``supernet`` (phase 1,
weights alone on uniformly sampled single paths), ``generator`` (phase 2, the generator against
fixed weights, on batches of the hypernetwork half alone) or ``joint`` (both per batch). ``run_search``
runs a config's ``schedule``: ``joint`` -- ``warmup_epochs`` supernet epochs, then joint epochs
(DARTS-CC's own); ``two-phase`` -- the shared phase-1 supernet of the seed
(``nas.search.shared_supernet``, trained once and reused by every method), then ``epochs`` generator
epochs against it. Every step samples a trade-off lam
log-uniformly in [lam_min, lam_max] and a training device h (``nas.search.penalties``). The run
folder is checkpointed every epoch and a rerun of the same command resumes it
(``nas.search.run_io``); a search never sees benchmark ground truth (``nas.search.isolation``).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from tqdm.std import tqdm  # text bars: no widget warning in notebooks, compact executed outputs

from nas.costs.resolve import build_tables
from nas.provenance import reset_rss_peak
from nas.search import run_io
from nas.search.config import SearchConfig
from nas.search.data import SearchData, load_search_data
from nas.search.few_shot import maybe_split
from nas.search.isolation import evaluation_modules_blocked
from nas.search.penalties import CostPenalty, lam_of
from nas.search.sampling import temperature
from nas.search.shared_supernet import train_shared_supernet
from nas.search.step import SearchState, Stepper, build_state

_BAR_INTERVAL_S, _LOG_BAR_INTERVAL_S = 0.1, 5.0  # step-bar refresh: a terminal; a log or notebook (kept whole)


def cosine_lr(cfg: SearchConfig, epoch: int) -> float:
    """Weight learning rate of ``epoch``: cosine from ``w_lr`` to ``w_lr_min`` over ``cfg.epochs``."""
    return cfg.w_lr_min + 0.5 * (cfg.w_lr - cfg.w_lr_min) * (1 + math.cos(math.pi * epoch / cfg.epochs))


def epoch_phase(cfg: SearchConfig, epoch: int) -> str:
    """Phase of an epoch in the joint schedule: ``supernet`` during warm-up, then ``joint``."""
    return "supernet" if epoch < cfg.warmup_epochs else "joint"


def run_epoch(cfg: SearchConfig, st: SearchState, data: SearchData, stepper: Stepper, device_names,
              phase: str, progress: bool = True) -> dict:
    """One epoch of ``stepper.step`` in ``phase``; returns the epoch's mean statistics (a history row)."""
    epoch = st.epoch
    tau = temperature(epoch, cfg.epochs, cfg.tau_max, cfg.tau_min, cfg.tau_schedule)
    for group in st.w_optim.param_groups:
        group["lr"] = cosine_lr(cfg, epoch)
    sums: dict[str, float] = {}
    if phase != "generator":
        maybe_split(cfg, st)
    stepper.start_epoch()
    if phase == "generator":
        val_batch = cfg.val_batch_size or cfg.batch_size
        batches = ((None, val) for val in data.val_batches(epoch, val_batch, cfg.seed))
        total = data.val_steps_per_epoch(val_batch)
    else:
        batches, total = data.epoch_batches(epoch, cfg.batch_size, cfg.seed), data.steps_per_epoch(cfg.batch_size)
    label = {"supernet": " (weights)", "joint": "", "generator": " (generator)"}[phase]
    bar = tqdm(batches, total=total, leave=False, disable=not progress,
               mininterval=_BAR_INTERVAL_S if sys.stderr.isatty() else _LOG_BAR_INTERVAL_S,
               desc=f"epoch {epoch + 1}/{cfg.epochs}{label}")
    for step, (trn, val) in enumerate(bar, start=1):
        u, h, stats = stepper.step(len(device_names), tau, trn, val, phase)
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
        if phase != "supernet":
            bar.set_postfix(loss=f"{stats['val_loss']:.3f}", lam=f"{float(lam_of(u, cfg)):.3g}",
                            dev=device_names[h], cost=f"{stats['rel_cost']:.2f}", refresh=False)
    row = {k: v / step for k, v in sums.items()}
    row.update(epoch=epoch + 1, tau=tau, lr=st.w_optim.param_groups[0]["lr"], warmup=int(phase == "supernet"))
    if phase != "supernet":
        row.update(stepper.generator_entropy())
    return row


def train_epochs(cfg: SearchConfig, st: SearchState, data: SearchData, stepper: Stepper, device_names,
                 phase_of, out: Path | None = None, progress: bool = True, desc: str | None = None) -> None:
    """Run epochs ``st.epoch .. cfg.epochs - 1``, each in ``phase_of(epoch)``, checkpointing to ``out`` (and
    keeping a supernet snapshot every ``cfg.snapshot_every`` epochs)."""
    with tqdm(total=cfg.epochs, initial=st.epoch, desc=desc or f"search {cfg.method}", disable=not progress) as bar:
        while st.epoch < cfg.epochs:
            t0 = time.perf_counter()
            row = run_epoch(cfg, st, data, stepper, device_names, phase_of(st.epoch), progress)
            st.seconds += time.perf_counter() - t0
            row["seconds"] = st.seconds
            st.history.append(row)
            st.epoch += 1
            if out is not None:
                if cfg.snapshot_every and st.epoch % cfg.snapshot_every == 0 and phase_of(st.epoch - 1) != "generator":
                    run_io.save_snapshot(out, st)
                run_io.save_checkpoint(out, st)
            bar.update(1)
            bar.set_postfix(val_acc=f"{row.get('val_acc', float('nan')):.3f}", tau=f"{row['tau']:.2f}")


def torch_setup(cfg: SearchConfig) -> None:
    """Process-wide torch settings of a search: flush denormals (13x faster CPU steps), the thread count."""
    torch.set_flush_denormal(True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


def check_batches(cfg: SearchConfig, data: SearchData) -> None:
    """Raise ValueError when ``batch_size`` leaves an epoch without a single step on this data."""
    if data.steps_per_epoch(cfg.batch_size) < 1:
        raise ValueError(f"invalid SearchConfig: batch_size={cfg.batch_size} exceeds the data (weight half "
                         f"{len(data.y_train)}, hypernetwork half {len(data.y_val)} images); lower batch_size "
                         "or raise n_train / n_val")


def run_search(cfg: SearchConfig, out_dir: str | Path, *, data: SearchData | None = None,
               progress: bool = True, supernets_dir: str | Path | None = None) -> Path:
    """Run (or resume) a search in ``out_dir`` without access to benchmark ground truth; see ``_search``.

    ``supernets_dir``: where the two-phase schedule keeps (and finds) the shared phase-1 supernets
    (None: ``supernets/`` beside ``out_dir``); pass the same folder to every method's run to share them.
    """
    with evaluation_modules_blocked():
        return _search(cfg, out_dir, data, progress, supernets_dir)


def _search(cfg: SearchConfig, out_dir: str | Path, data: SearchData | None, progress: bool,
            supernets_dir: str | Path | None) -> Path:
    """Run (or resume) the config's schedule and write its run folder; returns the folder.

    The folder holds ``config.json``, ``devices.json`` (the cost tables trained on),
    ``history.csv`` (per-epoch metrics), ``checkpoint.ckpt`` (full state; never committed),
    and when finished ``hypernet.pt`` (the small generator state) and ``run.json`` (for a
    two-phase run it names the shared supernet folder and its phase-1 seconds).
    """
    cfg.validate(here=True)
    out = Path(out_dir)
    run_io.check_output_path(out, folder=True)
    if run_io.finished_search(out, cfg.to_dict()):  # a finished run is never searched again
        return out
    reset_rss_peak()  # run.json reports the peak memory of this search, not of earlier work in the process
    torch_setup(cfg)
    tables = build_tables(cfg.devices, n_fit=cfg.lut_n_fit, seed=cfg.lut_seed, space=cfg.space)
    data = data if data is not None else load_search_data(cfg)
    check_batches(cfg, data)
    run_io.prepare_run_dir(out, cfg.to_dict())  # only now, with every setting checked, is anything written
    st = build_state(cfg, data.in_channels, data.n_classes, tables[0].descriptor().size)
    resumed = run_io.load_checkpoint(out, st)  # a bad checkpoint fails here, before any training
    shared = None
    if cfg.schedule == "two-phase":  # phase 1 is found finished when resuming phase 2
        shared = train_shared_supernet(cfg, supernets_dir or out.parent / "supernets", data, progress)
        if not resumed:
            st.supernet.load_state_dict(run_io.load_supernet_state(shared))
    run_io.save_tables(out, tables)
    stepper = Stepper(cfg, st, CostPenalty(tables, cfg, torch.device(cfg.torch_device)))
    phase_of = (lambda e: "generator") if shared is not None else (lambda e: epoch_phase(cfg, e))
    train_epochs(cfg, st, data, stepper, [t.name for t in tables], phase_of, out, progress)
    run_io.finish_run(out, cfg.to_dict(), st, shared_supernet=shared)
    return out
