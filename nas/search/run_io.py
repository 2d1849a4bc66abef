"""Run folders: checkpoints with the full search state, and the small files a run leaves.

A run folder holds ``config.json`` (the SearchConfig), ``devices.json`` (cost tables trained on),
``history.csv`` (one row per epoch), ``checkpoint.ckpt`` (supernet, hypernetwork, optimizers,
generator state, epoch, history; never committed), and once finished ``hypernet.pt`` (generator
state dict, a few KB) and ``run.json`` (run summary and provenance); evaluation adds
``unseen/<device>_<tag>.csv`` (measurements describing a device the run did not train on). Every file is written to a
temporary name and renamed, so a kill at any moment leaves the previous version intact.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nas.costs.table import CostTable
from nas.provenance import provenance, rss_peak_mb
from nas.results import atomic_writer, load_json, read_rows, repo_root, save_json, write_rows

CHECKPOINT = "checkpoint.ckpt"
# config fields that say where and how fast a run executes, not what it computes: a run resumed or
# reused with other values of these is the same run (the notebook and the shell name data differently)
LOCATION_FIELDS = {"data_root", "threads"}
HYPERNET = "hypernet.pt"


class RunError(ValueError):
    """A run folder that does not hold what is asked of it."""


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_writer(path, "wb") as handle:
        torch.save(obj, handle)


def prepare_run_dir(out: Path, config: dict) -> None:
    """Create the folder and write config.json; refuse a folder holding another config
    (``LOCATION_FIELDS`` aside)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.json"
    if path.exists():
        old = load_json(path)
        diff = sorted(k for k in (set(old) | set(config)) - LOCATION_FIELDS if old.get(k) != config.get(k))
        if diff:
            raise RunError(f"{out} holds a run with another config (fields {diff}); use a new --out folder "
                           "or delete that folder to start over")
        return
    save_json(path, config)


def save_tables(out: Path, tables: list[CostTable]) -> None:
    save_json(out / "devices.json", {"devices": [t.to_dict() for t in tables]})


def load_tables(run_dir: Path) -> list[CostTable]:
    return [CostTable.from_dict(d) for d in load_json(Path(run_dir) / "devices.json")["devices"]]


def load_config(run_dir: Path) -> dict:
    """The run's ``config.json`` (SearchConfig fields) as a dict."""
    return load_json(Path(run_dir) / "config.json")


def load_run_info(run_dir: Path) -> dict:
    """The finished run's ``run.json`` (run summary, search seconds, provenance)."""
    return load_json(Path(run_dir) / "run.json")


def load_history(run_dir: Path):
    """The run's ``history.csv`` (one row per epoch) as a ``pandas.DataFrame``."""
    return read_rows(Path(run_dir) / "history.csv")


def load_hypernet_state(run_dir: Path) -> dict:
    """The finished run's generator state dict (``hypernet.pt``), on the CPU."""
    return torch.load(Path(run_dir) / HYPERNET, map_location="cpu", weights_only=True)


def unseen_csv(run_dir: Path, device: str, tag: str) -> Path:
    """Path of the measurement CSV that describes ``device`` (not trained on) to the run, by ``tag``:
    ``<run>/unseen/<device>_<tag>.csv``."""
    return Path(run_dir) / "unseen" / f"{device}_{tag}.csv"


def save_checkpoint(out: Path, st) -> None:
    """Full state after an epoch, then history.csv rewritten from it."""
    state = {
        "epoch": st.epoch, "seconds": st.seconds, "history": st.history,
        "supernet": st.supernet.state_dict(), "hypernet": st.hypernet.state_dict(),
        "w_optim": st.w_optim.state_dict(), "a_optim": st.a_optim.state_dict(),
        "generator": st.generator.get_state(),
    }
    _atomic_torch_save(state, out / CHECKPOINT)
    columns = list(dict.fromkeys(k for row in st.history for k in row))
    write_rows(out / "history.csv", st.history, columns)


def load_checkpoint(out: Path, st) -> bool:
    """Restore ``st`` from the folder's checkpoint if there is one; returns whether it did."""
    path = out / CHECKPOINT
    if not path.exists():
        return False
    state = torch.load(path, map_location="cpu", weights_only=False)
    st.supernet.load_state_dict(state["supernet"])
    st.hypernet.load_state_dict(state["hypernet"])
    st.w_optim.load_state_dict(state["w_optim"])
    st.a_optim.load_state_dict(state["a_optim"])
    st.generator.set_state(state["generator"])
    st.epoch, st.seconds, st.history = state["epoch"], state["seconds"], list(state["history"])
    return True


def finish_run(out: Path, config: dict, st) -> None:
    """Write the generator state and run.json (what derivation and summaries read)."""
    _atomic_torch_save(st.hypernet.state_dict(), out / HYPERNET)
    save_json(out / "run.json", {
        "run_id": out.name, "method": config["method"], "search_space": config["space"],
        "dataset": config["dataset"], "seed": config["seed"], "search_seconds": round(st.seconds, 1),
        "peak_rss_mb": round(rss_peak_mb(), 1),
        "epochs": st.epoch, "device_set": "+".join(Path(d).stem for d in config["devices"]),
        "finished": True, "provenance": provenance(config),
    })


def is_finished(run_dir: Path) -> bool:
    p = Path(run_dir) / "run.json"
    return p.exists() and (Path(run_dir) / HYPERNET).exists() and bool(load_run_info(run_dir).get("finished"))


def require_finished(run_dir: Path) -> None:
    """Raise RunError unless the folder holds a finished search."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run folder {run_dir} does not exist; run `python -m nas search --out {run_dir}` first")
    if not is_finished(run_dir):
        raise RunError(f"{run_dir} holds no finished search (run.json / {HYPERNET} missing); finish it with "
                       f"`python -m nas search --out {run_dir}` (the same command resumes)")


def run_record(run_dir: Path, root: Path | None = None) -> dict:
    """The ``runs.csv`` row of a finished run (path relative to ``root`` when given)."""
    info = load_run_info(run_dir)
    path = Path(run_dir)
    if root is not None:
        path = path.resolve().relative_to(Path(root).resolve())
    keys = ("run_id", "method", "search_space", "dataset", "seed", "search_seconds", "device_set")
    return {**{k: info[k] for k in keys}, "path": path.as_posix()}


def runs_root(runs_dir: str | Path) -> Path:
    """The folder the paths of ``runs.csv`` are relative to: the repository root for runs inside it
    (``results/runs/<run_id>``), else the folder two above ``runs_dir`` (a copy of ``results/runs``)."""
    runs = Path(runs_dir).resolve()
    return repo_root() if runs.is_relative_to(repo_root()) else runs.parents[1]


def finished_runs(runs_dir: Path) -> list[Path]:
    """Finished run folders directly under ``runs_dir``, sorted by name."""
    return sorted(p for p in Path(runs_dir).iterdir() if p.is_dir() and is_finished(p))
