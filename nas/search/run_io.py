"""Run folders: checkpoints with the full search state, and the small files a run leaves.

A run folder holds ``config.json`` (the SearchConfig), ``devices.json`` (cost tables trained on),
``history.csv`` (one row per epoch), ``checkpoint.ckpt`` (supernet, hypernetwork, optimizers,
generator state, epoch, history; never committed), and once finished ``hypernet.pt`` (generator
state dict, a few KB) and ``run.json`` (run summary and provenance); evaluation adds
``unseen/<device>_<tag>.csv`` (measurements describing a device the run did not train on). Every file is written to a
temporary name and renamed, so a kill at any moment leaves the previous version intact.

Every file is checked when read (parse, schema, finite values) and, once a run is finished, against
``checksums.json`` (sha256 of the other files, written last); a folder without it (runs finished
before checksums existed) is simply not checksummed. A failure is a :class:`RunError` naming the
file and the fix. A finished run is never searched again (:func:`finished_search`), and a
checkpoint is resumed only with the torch thread count it was written with (results depend on it).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nas.costs.table import CostTable
from nas.provenance import git_commit, provenance, rss_peak_mb
from nas.results import atomic_writer, read_rows, repo_root, save_json, write_rows
from nas.search.run_files import (CHECKSUMMED, CHECKSUMS, RunError, _bad, _finite, _nonfinite_tensors,  # noqa: F401
                                  _read_json, _torch_load, check_output_path, check_thread_count, file_sha256, save_checksums,
                                  verify_checksums)

CHECKPOINT = "checkpoint.ckpt"
# config fields that say where and how fast a run executes, not what it computes: a run resumed or
# reused with other values of these is the same run (the notebook and the shell name data differently)
LOCATION_FIELDS = {"data_root", "threads"}
HYPERNET = "hypernet.pt"
SUPERNET = "supernet.pt"  # final supernet weights: kept for ranking diagnostics and re-ranking
SNAPSHOTS = "snapshots"  # supernet weights at intermediate epochs (never committed)
RUN_KEYS = ("run_id", "method", "search_space", "dataset", "seed", "search_seconds", "epochs", "device_set", "finished")
def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_writer(path, "wb") as handle:
        torch.save(obj, handle)


def prepare_run_dir(out: Path, config: dict) -> None:
    """Create the folder and write config.json; refuse a folder holding another config
    (``LOCATION_FIELDS`` aside)."""
    check_output_path(out, folder=True)
    path = out / "config.json"
    if path.exists():
        _check_same_config(out, config)
        return
    out.mkdir(parents=True, exist_ok=True)
    save_json(path, config)


def _check_same_config(out: Path, config: dict) -> None:
    """RunError unless ``out`` holds ``config`` (a field the folder's config.json predates counts at its
    default: the behaviour it had before the field existed)."""
    from nas.search.config import SearchConfig

    old = SearchConfig.from_dict(load_config(out)).to_dict()
    diff = sorted(k for k in (set(old) | set(config)) - LOCATION_FIELDS if old.get(k) != config.get(k))
    if diff:
        raise RunError(f"{out} holds a run with another config (fields {diff}); use a new --out folder "
                       "or delete that folder to start over")


def finished_search(out: str | os.PathLike, config: dict) -> bool:
    """True when ``out`` holds a finished, intact run of ``config`` (``LOCATION_FIELDS`` aside), with or
    without a checkpoint: such a run is never searched again. False for an absent or unfinished
    folder; RunError for a finished run of another config or a corrupt one."""
    out = Path(out)
    if not (out / "run.json").exists():
        return False
    if not is_finished(out):
        return False
    _check_same_config(out, config)
    check_run(out)
    return True


def save_tables(out: Path, tables: list[CostTable]) -> None:
    save_json(out / "devices.json", {"devices": [t.to_dict() for t in tables]})


def load_tables(run_dir: Path) -> list[CostTable]:
    """The run's ``devices.json`` as cost tables (at least one; finite costs), or a RunError naming it."""
    path = Path(run_dir) / "devices.json"
    entries = _read_json(path).get("devices")
    if not isinstance(entries, list) or not entries:
        raise _bad(path, "no 'devices' list of cost tables")
    try:
        tables = [CostTable.from_dict(d) for d in entries]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(path, f"a cost table does not have the expected fields ({exc})") from None
    for t in tables:
        if not _finite(t.base) or not all(_finite(c) for c in t.op_cost):
            raise _bad(path, f"cost table {t.name!r} holds a non-finite cost")
    return tables


def load_config(run_dir: Path) -> dict:
    """The run's ``config.json`` (SearchConfig fields, every one valid) as a dict, or a RunError naming it."""
    from nas.search.config import SearchConfig  # deferred: the config imports the cost registries

    path = Path(run_dir) / "config.json"
    d = _read_json(path)
    try:
        SearchConfig.from_dict(d).validate()
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"not a valid search config ({exc})") from None
    return d


def load_run_info(run_dir: Path) -> dict:
    """The finished run's ``run.json`` (run summary, search seconds, provenance), or a RunError naming it."""
    path = Path(run_dir) / "run.json"
    info = _read_json(path)
    missing = [k for k in RUN_KEYS if k not in info]
    if missing:
        raise _bad(path, f"missing field(s) {missing}")
    if not _finite(info["search_seconds"]) or not isinstance(info["epochs"], int):
        raise _bad(path, "search_seconds must be a finite number and epochs an integer")
    return info


def load_history(run_dir: Path):
    """The run's ``history.csv`` (one row per epoch: 1, 2, ...) as a ``pandas.DataFrame``, or a RunError."""
    import pandas as pd  # deferred: pandas is slow to import

    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        raise _bad(path, "missing")
    try:
        h = read_rows(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"cannot be read as CSV ({' '.join(str(exc).split())})") from None
    epochs = pd.to_numeric(h["epoch"], errors="coerce") if "epoch" in h else None
    if epochs is None or list(epochs) != list(range(1, len(h) + 1)):
        raise _bad(path, "column 'epoch' must number the rows 1, 2, ...")
    numeric = h.select_dtypes("number")
    if len(numeric.columns) != len(h.columns) or (numeric.abs() == float("inf")).any().any():
        raise _bad(path, "every value must be a finite number (or empty)")
    return h


def load_hypernet_state(run_dir: Path) -> dict:
    """The generator state of ``hypernet.pt`` (tensors, all finite), or a RunError naming it."""
    path = Path(run_dir) / HYPERNET
    state = _torch_load(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise _bad(path, "not a state dict of tensors")
    bad = _nonfinite_tensors(state)
    if bad:
        raise _bad(path, f"NaN or inf in {bad[:3]}")
    return state


def check_run(run_dir: Path) -> None:
    """Check every file of a finished run: checksums, then parse, schema and finite values of each,
    and that ``hypernet.pt`` fits the generator ``config.json`` describes (a shared phase-1 run has no
    tables or generator: its config, run.json and history are checked)."""
    from nas.search.config import SearchConfig
    from nas.search.generators import build_generator

    run_dir = Path(run_dir)
    verify_checksums(run_dir)
    cfg = SearchConfig.from_dict(load_config(run_dir))
    info = load_run_info(run_dir)
    load_history(run_dir)
    if info["method"] == "supernet":  # a shared phase-1 run: no tables, no generator
        return
    tables = load_tables(run_dir)
    state = load_hypernet_state(run_dir)
    try:
        build_generator(cfg, tables[0].descriptor().size).load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise _bad(run_dir / HYPERNET, f"does not fit the generator of config.json ({' '.join(str(exc).split())[:200]})") \
            from None


def has_supernet(run_dir: Path) -> bool:
    """Whether the run's final supernet weights exist (its own ``supernet.pt`` or its shared phase-1 run's)."""
    return (supernet_folder(run_dir) / SUPERNET).is_file()


def load_supernet_state(run_dir: Path, path: Path | None = None) -> dict:
    """The final supernet weights of a run (``supernet.pt``, its own or its shared phase-1 run's; or the file
    ``path``, a snapshot), or a RunError (runs committed without them: search again to have them)."""
    path = Path(path) if path is not None else supernet_folder(run_dir) / SUPERNET
    state = _torch_load(path, f"{path.name} is kept by runs finished since it existed; search again to have it")
    bad = _nonfinite_tensors(state)
    if bad:
        raise _bad(path, f"NaN or inf in {bad[:3]}")
    return state


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
        "generator": st.generator.get_state(), "torch_threads": torch.get_num_threads(),
        "started_commit": st.started_commit,
    }
    _atomic_torch_save(state, out / CHECKPOINT)
    columns = list(dict.fromkeys(k for row in st.history for k in row))
    write_rows(out / "history.csv", st.history, columns)


def load_checkpoint(out: Path, st) -> bool:
    """Restore ``st`` from the folder's checkpoint if there is one; returns whether it did. A fresh state
    (no checkpoint) is stamped with the checkout's commit, the one its first epoch runs on."""
    path = out / CHECKPOINT
    if not path.exists():
        st.started_commit = git_commit()
        return False
    fix = f"delete {path} to restart the search from epoch 0"
    state = _torch_load(path, fix, weights_only=False)
    if not isinstance(state, dict) or _nonfinite_tensors({k: state.get(k, {}) for k in ("supernet", "hypernet")}):
        raise _bad(path, "not a search checkpoint, or NaN/inf in its weights", fix)
    if state.get("torch_threads") is not None:  # absent in checkpoints written before it was recorded
        check_thread_count(path, state["torch_threads"], fix)
    try:
        st.supernet.load_state_dict(state["supernet"])
        st.hypernet.load_state_dict(state["hypernet"])
        st.w_optim.load_state_dict(state["w_optim"])
        st.a_optim.load_state_dict(state["a_optim"])
        st.generator.set_state(state["generator"])
        st.epoch, st.seconds, st.history = int(state["epoch"]), float(state["seconds"]), list(state["history"])
        st.started_commit = state.get("started_commit")  # absent in checkpoints written before it was recorded
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise _bad(path, f"does not fit this search ({' '.join(str(exc).split())[:200]})", fix) from None
    return True


def finish_run(out: Path, config: dict, st, shared_supernet: Path | None = None) -> None:
    """Write the generator state, the final supernet weights and run.json (what derivation and summaries read).

    A two-phase run names its ``shared_supernet`` folder instead of copying the weights: run.json's
    ``supernet_run`` (relative to the run folder) and ``supernet_seconds`` (its phase-1 wall-clock,
    shared by every method that uses it; ``search_seconds`` is this run's phase 2 alone).
    """
    _atomic_torch_save(st.hypernet.state_dict(), out / HYPERNET)
    extra = {}
    if shared_supernet is None:
        _atomic_torch_save(st.supernet.state_dict(), out / SUPERNET)
    else:
        extra = {"supernet_run": Path(os.path.relpath(Path(shared_supernet).resolve(), out.resolve())).as_posix(),
                 "supernet_seconds": load_run_info(shared_supernet)["search_seconds"]}
    _write_run_json(out, config, st, config["method"], "+".join(Path(d).stem for d in config["devices"]), extra)
    save_checksums(out)


def _write_run_json(out: Path, config: dict, st, method: str, device_set: str, extra: dict) -> None:
    """run.json of a finished run (``RUN_KEYS``, peak memory, ``extra``, provenance; the provenance's
    ``git_commit`` is the checkout's at the finish, ``git_commit_at_start`` the one the run began on)."""
    save_json(out / "run.json", {
        "run_id": out.name, "method": method, "search_space": config["space"], "dataset": config["dataset"],
        "seed": config["seed"], "search_seconds": round(st.seconds, 1), "peak_rss_mb": round(rss_peak_mb(), 1),
        "epochs": st.epoch, "device_set": device_set, **extra, "finished": True,
        "provenance": provenance(config, st.started_commit),
    })


def save_snapshot(out: Path, st) -> None:
    """The supernet weights after epoch ``st.epoch`` as ``snapshots/supernet_e<epoch>.pt`` (never committed)."""
    (out / SNAPSHOTS).mkdir(exist_ok=True)
    _atomic_torch_save(st.supernet.state_dict(), out / SNAPSHOTS / f"supernet_e{st.epoch:03d}.pt")


def snapshots(folder: Path) -> dict[int, Path]:
    """Epoch -> snapshot file of a supernet folder (empty without snapshots)."""
    d = Path(folder) / SNAPSHOTS
    return {int(p.stem.split("_e")[-1]): p for p in sorted(d.glob("supernet_e*.pt"))} if d.is_dir() else {}


def finished_supernet(out: Path, config: dict) -> bool:
    """Whether ``out`` holds a finished phase-1 run of ``config`` (a folder of another config is a RunError)."""
    if not (Path(out) / "config.json").exists():
        return False
    _check_same_config(Path(out), config)
    return is_finished(out, weights=SUPERNET)


def finish_supernet(out: Path, config: dict, st) -> None:
    """Write a phase-1 run's weights (``supernet.pt``) and run.json, then its checksums."""
    _atomic_torch_save(st.supernet.state_dict(), out / SUPERNET)
    _write_run_json(out, config, st, "supernet", "", {})
    save_checksums(out)


def supernet_folder(run_dir: Path) -> Path:
    """The folder holding a run's final supernet weights: the run itself, or the shared phase-1 run it names."""
    run_dir = Path(run_dir)
    info = _read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    return (run_dir / info["supernet_run"]).resolve() if info.get("supernet_run") else run_dir


def is_finished(run_dir: Path, weights: str = HYPERNET) -> bool:
    """Whether the folder holds run.json (finished) and ``weights`` (a search: hypernet.pt; a shared phase-1
    run: supernet.pt); a corrupt run.json is a RunError."""
    p = Path(run_dir) / "run.json"
    return p.exists() and (Path(run_dir) / weights).exists() and bool(_read_json(p).get("finished"))


def require_finished(run_dir: Path) -> None:
    """Raise RunError unless the folder holds a finished search."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run folder {run_dir} does not exist; run `python -m nas search --out {run_dir}` first")
    if not is_finished(run_dir):
        raise RunError(f"{run_dir} holds no finished search (run.json / {HYPERNET} missing); finish it with "
                       f"`{resume_command(run_dir)}` (it resumes from the last checkpoint)")
    check_run(run_dir)


def resume_command(run_dir: Path) -> str:
    """The ``python -m nas search`` command that resumes (or restarts) the run of the folder's config.json."""
    from nas.search.config import PROFILES, SearchConfig
    from nas.search.serialise import to_set_args

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        return f"python -m nas search --out {run_dir}"
    cfg = SearchConfig.from_dict(load_config(run_dir))
    words = to_set_args(cfg, SearchConfig(**PROFILES["default"]))
    return f"python -m nas search --profile default --out {run_dir}" + (f" --set {' '.join(words)}" if words else "")


def run_record(run_dir: Path, root: Path | None = None) -> dict:
    """The ``runs.csv`` row of a finished run (path relative to ``root`` when given); its ``run_id`` is the
    folder's name, like every other table's (run.json's names the folder it was searched in)."""
    info = load_run_info(run_dir)
    path = Path(run_dir)
    if root is not None:
        path = path.resolve().relative_to(Path(root).resolve())
    keys = ("method", "search_space", "dataset", "seed", "search_seconds", "device_set")
    return {"run_id": Path(run_dir).name, **{k: info[k] for k in keys}, "path": path.as_posix()}


def runs_root(runs_dir: str | Path) -> Path:
    """The folder the paths of ``runs.csv`` are relative to: the repository root for runs inside it
    (``results/runs/<run_id>``), else the folder two above ``runs_dir`` (a copy of ``results/runs``)."""
    runs = Path(runs_dir).resolve()
    return repo_root() if runs.is_relative_to(repo_root()) else runs.parents[1]


def finished_runs(runs_dir: Path) -> list[Path]:
    """Finished run folders directly under ``runs_dir``, sorted by name."""
    return sorted(p for p in Path(runs_dir).iterdir() if p.is_dir() and is_finished(p))
