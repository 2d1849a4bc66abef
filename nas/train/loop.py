"""Train a derived architecture from scratch and report its accuracy on the official test split.

``train_architecture(cfg, out_dir)`` builds ``get_space(cfg.space).network(genotype, C, N)``, trains
it with SGD (momentum, weight decay, gradient clipping) under a per-epoch cosine learning rate, with
drop path (DARTS: ``drop_path_prob = drop_path * epoch / epochs`` on networks that have the
attribute), checkpoints the run folder after every epoch (``nas.train.run_io``) and writes
``result.json`` at the end. Calling it again on the same folder resumes from the checkpoint and
gives the same weights and metrics as an uninterrupted run; a finished run is returned untrained.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.std import tqdm  # text bars: no widget warning in notebooks, compact executed outputs

from nas.spaces import get_space
from nas.train import run_io
from nas.train.config import TrainConfig
from nas.train.data import TrainData, load_train_data

_BAR_INTERVAL_S, _LOG_BAR_INTERVAL_S = 0.1, 5.0  # step-bar refresh: a terminal; a log or notebook


@dataclass
class TrainState:
    """The network, its optimizer and schedule, and the progress: epochs done, seconds, history rows."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    epoch: int = 0
    seconds: float = 0.0  # wall-clock of the finished epochs (training and their evaluations)
    history: list[dict] = field(default_factory=list)
    started_commit: str | None = None  # the checkout's commit when epoch 1 began (kept across resumes)


def torch_setup(cfg: TrainConfig) -> None:
    """Process-wide torch settings of a run: flush denormals (much faster CPU steps), the thread count."""
    torch.set_flush_denormal(True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


def build_state(cfg: TrainConfig, data: TrainData) -> TrainState:
    """Seed torch with ``cfg.seed``, then build the network (on ``cfg.device``), SGD and the cosine schedule."""
    torch.manual_seed(cfg.seed)
    net = get_space(cfg.space).network(cfg.parsed_genotype(), C=cfg.C, N=cfg.N, in_channels=data.in_channels,
                                       n_classes=data.n_classes).to(cfg.device)
    optimizer = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.lr_min)
    return TrainState(net, optimizer, scheduler)


def set_drop_path(cfg: TrainConfig, net: nn.Module, epoch: int) -> float | None:
    """Set ``net.drop_path_prob = drop_path * epoch / epochs`` (epoch from 0) where the network has the
    attribute; returns the value set, or None for a network without drop path."""
    if not hasattr(net, "drop_path_prob"):
        return None
    net.drop_path_prob = cfg.drop_path * epoch / cfg.epochs
    return net.drop_path_prob


@torch.no_grad()
def evaluate(net: nn.Module, data: TrainData) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (%) of ``net`` on the test split (eval mode)."""
    net.eval()
    loss, correct = 0.0, 0
    for x, y in data.test_batches():
        logits = net(x)
        loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    n = len(data.y_test)
    return loss / n, 100.0 * correct / n


def train_epoch(cfg: TrainConfig, st: TrainState, data: TrainData, progress: bool = True) -> dict:
    """One epoch of SGD steps on augmented batches, then a scheduler step; returns its history row."""
    st.net.train()
    drop = set_drop_path(cfg, st.net, st.epoch)
    lr = st.optimizer.param_groups[0]["lr"]
    loss_sum, correct, n = 0.0, 0, 0
    bar = tqdm(data.epoch_batches(st.epoch, cfg.batch_size, cfg.seed, cfg.cutout), leave=False,
               total=data.steps_per_epoch(cfg.batch_size), disable=not progress, desc=f"epoch {st.epoch + 1}",
               mininterval=_BAR_INTERVAL_S if sys.stderr.isatty() else _LOG_BAR_INTERVAL_S)
    for x, y in bar:
        st.optimizer.zero_grad(set_to_none=True)
        logits = st.net(x)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(st.net.parameters(), cfg.grad_clip)
        st.optimizer.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        n += len(y)
        bar.set_postfix(loss=f"{loss_sum / n:.3f}", refresh=False)
    st.scheduler.step()
    return {"epoch": st.epoch + 1, "lr": lr, "drop_path_prob": drop, "train_loss": loss_sum / n,
            "train_acc_pct": 100.0 * correct / n}


def _evaluated(cfg: TrainConfig, epoch: int) -> bool:
    """Whether epoch ``epoch`` (from 1) ends with a test evaluation: every ``eval_every``, and the last."""
    return epoch == cfg.epochs or bool(cfg.eval_every and epoch % cfg.eval_every == 0)


def train_architecture(cfg: TrainConfig, out_dir: str | Path, *, progress: bool = True,
                       stop_after: int | None = None, data: TrainData | None = None) -> dict:
    """Train (or resume, or return the finished) run of ``cfg`` in ``out_dir``.

    Args:
        cfg: the run's config (validated here, CUDA included).
        out_dir: run folder: ``config.json``, ``checkpoint.pt``, ``history.csv``, ``result.json``.
        progress: show tqdm bars over epochs and steps.
        stop_after: return once this many epochs are done (an interrupted run, resumable); None: all.
        data: the data to train on (default ``load_train_data(cfg)``).

    Returns:
        The ``result.json`` dict (``test_acc_pct``, ``test_loss``, ``params``, ``train_seconds``, ...,
        ``provenance``); for a run stopped early ``{"finished": False, "epoch": epochs done}``.

    Raises:
        RunError: ``out_dir`` holds a run of another config, or a corrupt checkpoint.
        ValueError: an invalid config, or a batch size larger than the training images.
    """
    cfg.validate(here=True)
    out = Path(out_dir)
    run_io.check_output_path(out, folder=True)
    done = run_io.finished_result(out, cfg)
    if done is not None:  # a finished run is never trained again
        return done
    torch_setup(cfg)
    data = data if data is not None else load_train_data(cfg)
    if data.steps_per_epoch(cfg.batch_size) < 1:
        raise ValueError(f"invalid TrainConfig: batch_size={cfg.batch_size} exceeds the {len(data.y_train)} "
                         "training images; lower batch_size or raise n_train")
    run_io.prepare_run_dir(out, cfg)  # only now, with every setting checked, is anything written
    st = build_state(cfg, data)
    run_io.load_checkpoint(out, st, cpu_threads_matter=cfg.device == "cpu")
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    with tqdm(total=cfg.epochs, initial=st.epoch, desc=f"train {cfg.space} {cfg.dataset}", disable=not progress) as bar:
        while st.epoch < last:
            t0 = time.perf_counter()
            row = train_epoch(cfg, st, data, progress)
            if _evaluated(cfg, row["epoch"]):
                row["test_loss"], row["test_acc_pct"] = evaluate(st.net, data)
            st.seconds += time.perf_counter() - t0
            st.history.append({**row, "seconds": st.seconds})
            st.epoch += 1
            run_io.save_checkpoint(out, st)
            bar.update(1)
            bar.set_postfix(train_acc=f"{row['train_acc_pct']:.1f}",
                            test_acc=f"{row.get('test_acc_pct', float('nan')):.1f}")
    if st.epoch < cfg.epochs:
        return {"finished": False, "epoch": st.epoch}
    return run_io.write_result(out, _result(cfg, st, data), cfg, st.started_commit)


def _result(cfg: TrainConfig, st: TrainState, data: TrainData) -> dict:
    """The result fields of a finished run (its last history row holds the final test evaluation)."""
    space, last = get_space(cfg.space), st.history[-1]
    genotype = cfg.parsed_genotype()
    return {
        "space": cfg.space, "genotype": space.format(genotype), "genotype_id": space.genotype_id(genotype),
        "dataset": cfg.dataset, "seed": cfg.seed, "epochs": st.epoch,
        "test_acc_pct": last["test_acc_pct"], "test_loss": last["test_loss"], "train_acc_pct": last["train_acc_pct"],
        "train_loss": last["train_loss"], "params": sum(p.numel() for p in st.net.parameters()),
        "n_train": len(data.y_train), "n_test": len(data.y_test), "train_seconds": round(st.seconds, 1),
        "drop_path_applied": hasattr(st.net, "drop_path_prob"),
    }
