"""Retraining run folders: config, per-epoch checkpoint and history, and the final result.

A folder holds ``config.json`` (the TrainConfig), ``checkpoint.pt`` (network, optimizer, scheduler,
epoch, history and the torch RNG states after the last finished epoch), ``history.csv`` (one row per
epoch) and, once finished, ``result.json`` (test accuracy and loss, parameters, seconds, provenance).
Every file is written to a temporary name and renamed (``nas.results.atomic_writer``), so a kill at
any moment leaves the previous version intact; a folder of another config is refused with a
:class:`~nas.search.run_files.RunError`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nas.provenance import git_commit, provenance
from nas.results import atomic_writer, save_json, write_rows
from nas.search.run_files import (RunError, _bad, _nonfinite_tensors, _read_json, _torch_load, check_output_path,
                                  check_thread_count)
from nas.train.config import TrainConfig

CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
# fields that say where and how fast a run executes, not what it computes (as nas.search.run_io)
LOCATION_FIELDS = {"data_root", "threads"}
HISTORY_COLUMNS = ("epoch", "lr", "drop_path_prob", "train_loss", "train_acc_pct", "test_loss", "test_acc_pct",
                   "seconds")


def load_config(out: Path) -> TrainConfig:
    """The folder's ``config.json`` as a valid TrainConfig, or a RunError naming it."""
    path = Path(out) / "config.json"
    try:
        return TrainConfig.from_dict(_read_json(path)).validate()
    except RunError:
        raise
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"not a valid train config ({' '.join(str(exc).split())})") from None


def check_same_config(out: Path, cfg: TrainConfig) -> None:
    """RunError unless the folder's config.json is ``cfg`` (``LOCATION_FIELDS`` aside)."""
    old, new = load_config(out).to_dict(), cfg.to_dict()
    diff = sorted(k for k in set(old) | set(new) if k not in LOCATION_FIELDS and old.get(k) != new.get(k))
    if diff:
        raise RunError(f"{out} holds a training run with another config (fields {diff}); use a new --out "
                       "folder or delete that folder to start over")


def prepare_run_dir(out: Path, cfg: TrainConfig) -> None:
    """Create the folder and write config.json; refuse a folder holding another config."""
    check_output_path(out, folder=True)
    if (out / "config.json").exists():
        check_same_config(out, cfg)
        return
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "config.json", cfg.to_dict())


def finished_result(out: Path, cfg: TrainConfig) -> dict | None:
    """The result of a finished run of ``cfg`` in ``out``, or None; RunError for another config's run."""
    path = Path(out) / RESULT
    if not path.exists():
        return None
    check_same_config(out, cfg)
    result = _read_json(path)
    if not result.get("finished"):
        raise _bad(path, "not a finished result", f"delete {path} to finish the run from its checkpoint")
    return result


def save_checkpoint(out: Path, st) -> None:
    """Full state after epoch ``st.epoch`` (atomic), then history.csv rewritten from it."""
    state = {
        "epoch": st.epoch, "seconds": st.seconds, "history": st.history,
        "model": st.net.state_dict(), "optimizer": st.optimizer.state_dict(), "scheduler": st.scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "torch_threads": torch.get_num_threads(), "started_commit": st.started_commit,
    }
    with atomic_writer(out / CHECKPOINT, "wb") as handle:
        torch.save(state, handle)
    write_rows(out / "history.csv", st.history, HISTORY_COLUMNS)


def load_checkpoint(out: Path, st, cpu_threads_matter: bool = True) -> bool:
    """Restore ``st`` from the folder's checkpoint if there is one; returns whether it did. A fresh state
    (no checkpoint) is stamped with the checkout's commit, the one its first epoch runs on."""
    path = out / CHECKPOINT
    if not path.exists():
        st.started_commit = git_commit()
        return False
    fix = f"delete {path} to restart the training from epoch 0"
    state = _torch_load(path, fix, weights_only=False)
    if not isinstance(state, dict) or _nonfinite_tensors(state.get("model", {})):
        raise _bad(path, "not a training checkpoint, or NaN/inf in its weights", fix)
    if cpu_threads_matter:
        check_thread_count(path, state.get("torch_threads"), fix)
    try:
        st.net.load_state_dict(state["model"])
        st.optimizer.load_state_dict(state["optimizer"])
        st.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        st.epoch, st.seconds, st.history = int(state["epoch"]), float(state["seconds"]), list(state["history"])
        st.started_commit = state.get("started_commit")  # absent in checkpoints written before it was recorded
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise _bad(path, f"does not fit this run ({' '.join(str(exc).split())[:200]})", fix) from None
    return True


def write_result(out: Path, result: dict, cfg: TrainConfig, started_commit: str | None = None) -> dict:
    """Write ``result`` plus ``finished`` and provenance as result.json; returns what was written. The provenance's
    ``git_commit`` is the checkout's at the finish, ``git_commit_at_start`` (when known) the one epoch 1 ran on."""
    result = {**result, "finished": True, "provenance": provenance(cfg, started_commit)}
    save_json(out / RESULT, result)
    return result
