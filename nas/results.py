"""Results as tidy files: atomic writers, JSON/CSV readers and writers, declared columns.

Every file the paper depends on is written here, so three rules hold everywhere:

* writes are atomic (a temporary file ``.tmp-<pid>-...`` beside the target, then ``os.replace``):
  a crash or an exception never leaves a half-written file, and the previous version stays intact;
  a temporary file left by a killed process is removed by :func:`remove_stale_temps`;
* CSV files have a stable, declared column order (``SUMMARY_COLUMNS`` for ``results/summary``);
* run records carry provenance (``nas.provenance``: git commit, versions, machine, config).

Heavy imports (pandas) happen inside the functions that need them; importing this module
touches nothing.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("nas.results")

TMP_PREFIX = ".tmp-"  # temporary files: .tmp-<pid>-<random>-<name>

# Column lists of every results/summary/*.csv (one row per record, units in the column names).
SUMMARY_COLUMNS: dict[str, tuple[str, ...]] = {
    "timing.csv": ("profile", "stage", "seconds", "status", "finished_at"),
    "runs.csv": (
        "run_id", "method", "search_space", "dataset", "seed", "path", "search_seconds", "device_set",
    ),
    "derived.csv": (
        "method", "search_space", "dataset", "seed", "run_id", "device", "lam", "budget_ms", "arch",
        "pred_latency_ms", "meas_latency_ms", "latency_origin", "params_m", "flops_m", "acc",
        "acc_source", "acc_metric", "device_given_as",
    ),
    "darts_derived.csv": (  # derived.csv's columns, then the training seeds and the retrained network
        "method", "search_space", "dataset", "seed", "run_id", "device", "lam", "budget_ms", "arch",
        "pred_latency_ms", "meas_latency_ms", "latency_origin", "params_m", "flops_m", "acc",
        "acc_source", "acc_metric", "device_given_as", "acc_sd", "n_train_seeds", "net",
    ),
    "darts_training.csv": ("dataset", "arch", "genotype_id", "seed", "schedule", "epochs", "n_train", "test_acc_pct",
                           "train_seconds", "params", "run_dir"),
    "darts_control.csv": ("method", "dataset", "seed", "device", "n", "rho_lam_measured"),
    "trainer_check.csv": ("arch", "bench_acc", "trained_acc", "train_seconds", "schedule"),
    "regret.csv": (
        "run_id", "device", "device_given_as", "budget_q", "budget_ms", "arch", "acc", "oracle_arch", "oracle_acc", "regret",
        "meas_latency_ms", "violation",
    ),
    "comparison.csv": (
        "method", "search_space", "dataset", "seed", "run_id", "device", "device_given_as", "metric", "value",
    ),
    "ranking.csv": ("method", "seed", "run_id", "metric", "device", "band", "n", "value"),
    "budget_rules.csv": ("method", "seed", "run_id", "rule", "margin", "rerank", "device", "metric", "value"),
    "method_answers.csv": (
        "method", "search_space", "dataset", "seed", "run_id", "device", "budget_q", "budget_ms", "tradeoff", "arch",
        "pred_latency_ms", "meas_latency_ms", "acc", "oracle_acc", "regret", "violation",
    ),
    "specialisation.csv": (
        "method", "search_space", "dataset", "seed", "run_id", "device", "device_to", "metric", "value",
    ),
    "arch_probs.csv": ("run_id", "device", "lam", "edge", "op", "prob"),
    "performance.csv": (
        "space", "mode", "estimator", "reinforce_samples", "C", "N", "batch_size", "threads", "torch_device",
        "device_name", "search_step_ms", "child_step_ms", "search_over_child", "target_over_child", "hypernet_ms",
        "hypernet_share", "data_ms", "peak_memory_mb", "memory_kind", "images_per_s", "child_images_per_s",
        "repeats", "profile", "torch", "python", "measured_at",
    ),
    "search_history.csv": (
        "run_id", "epoch", "warmup", "seconds", "tau", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
        "rel_cost", "entropy_lam0", "entropy_lam1",
    ),
    "oracle_front.csv": ("device", "latency_ms", "acc", "arch"),
    "random_reference.csv": ("device", "n", "seed", "mean_regret", "violations"),
    "device_similarity.csv": ("device_a", "device_b", "kendall_tau", "n_archs"),
    "latency_points.csv": ("runtime", "lut_kind", "arch", "measured_ms", "pred_ms"),
    "op_cost_ratios.csv": (
        "device", "lut_kind", "conv1x1_ms", "conv3x3_to_conv1x1", "pool_to_conv1x1", "skip_to_conv1x1",
    ),
    "latency_validation.csv": (
        "runtime", "lut_kind", "n_fit", "n_test", "kendall_tau", "spearman", "r2", "mape_pct", "within10_pct", "slope",
        "intercept", "space",
    ),
    "lut_fit.csv": (
        "device", "origin", "n_fit", "n_test", "r2", "kendall_tau", "spearman", "base", "cost_none_ms",
        "cost_skip_connect_ms", "cost_nor_conv_1x1_ms", "cost_nor_conv_3x3_ms", "cost_avg_pool_3x3_ms",
    ),
}


def repo_root() -> Path:
    """Return the repository root (the folder that holds ``nas/``)."""
    return Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w", newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; move it onto ``path`` only if the block succeeds.

    On an exception the temporary file is removed and an existing ``path`` is left untouched;
    temporary files of dead processes in the same folder are removed first.
    The file gets the usual permissions (0666 minus the umask), unlike ``mkstemp``'s 0600.

    Args:
        path: the final file; parent folders are created.
        mode: ``"w"`` (text, UTF-8) or ``"wb"``.
        newline: passed to ``open`` in text mode (``""`` for the csv module).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = path.with_name(f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temps(folder: str | os.PathLike) -> None:
    """Delete temporary files (or folders) in ``folder`` left by processes that died mid-write."""
    for tmp in Path(folder).glob(f"{TMP_PREFIX}*"):
        pid = tmp.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            log.info("removing stale temporary file %s", tmp)
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_writer(path) as handle:
        handle.write(text)
    return Path(path)


def _json_default(obj: Any) -> Any:
    """Make paths, dataclasses, sets and numpy/torch scalars and arrays JSON-serialisable."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically and return the path."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def load_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`save_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _columns_for(path: Path, rows: Sequence[Mapping], columns: Sequence[str] | None) -> tuple[str, ...]:
    """Resolve the column order: explicit, else declared for the file name, else first seen."""
    if columns is not None:
        return tuple(columns)
    if path.name in SUMMARY_COLUMNS:
        return SUMMARY_COLUMNS[path.name]
    return tuple(dict.fromkeys(key for row in rows for key in row))


def _check_keys(path: Path, row: Mapping, columns: Sequence[str]) -> None:
    """Raise ValueError if ``row`` has keys outside ``columns``."""
    unknown = [key for key in row if key not in columns]
    if unknown:
        raise ValueError(f"{path.name}: unknown column(s) {unknown}; declared columns are {list(columns)}")


def _cell(value: Any) -> Any:
    """Format one CSV cell: None becomes empty."""
    return "" if value is None else value


def write_rows(
    path: str | os.PathLike, rows: Sequence[Mapping], columns: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` as a tidy CSV with a stable column order, atomically.

    Args:
        path: the CSV file.
        rows: one mapping per record; missing keys (and None) are written as empty cells.
        columns: the column order; default ``SUMMARY_COLUMNS[path.name]`` when declared there,
            else the keys in order of first appearance.

    Raises:
        ValueError: a row has a key that is not a declared column.
    """
    path = Path(path)
    cols = _columns_for(path, rows, columns)
    for row in rows:
        _check_keys(path, row, cols)
    with atomic_writer(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(cols)
        writer.writerows([_cell(row.get(c)) for c in cols] for row in rows)
    return path


def append_row(path: str | os.PathLike, row: Mapping, columns: Sequence[str]) -> Path:
    """Append one record to a CSV (e.g. per-epoch metrics), writing the header once.

    The line is flushed before returning, so a killed run keeps every finished row.

    Raises:
        ValueError: ``row`` has an undeclared key, or the existing header differs from
            ``columns`` (the file was written with another schema).
    """
    path = Path(path)
    cols = tuple(columns)
    _check_keys(path, row, cols)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with path.open(newline="", encoding="utf-8") as handle:
            header = tuple(next(csv.reader(handle), ()))
        if header != cols:
            raise ValueError(f"{path}: header {list(header)} differs from columns {list(cols)}")
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(cols)
        writer.writerow([_cell(row.get(c)) for c in cols])
        handle.flush()
    return path


def read_rows(path: str | os.PathLike):
    """Read a CSV written by :func:`write_rows` or :func:`append_row` as a ``pandas.DataFrame``."""
    import pandas as pd  # deferred: pandas is slow to import

    return pd.read_csv(path)
