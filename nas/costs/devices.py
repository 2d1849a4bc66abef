"""Devices fitted from measurements: the eight shared NB201 latency profiles and user CSVs.

Every device is a :class:`~nas.costs.table.CostTable` fitted from a *few* whole-network measurements,
never a predictor trained on the whole space: ``shared_device_table`` fits on a seeded sample of
``n_fit`` architectures of ``data/hardware/nb201_latency_ms.csv`` and reports held-out quality on
all the others; ``table_from_csv`` fits a new device of any search space from a CSV
``arch_str,latency_ms``. ``nas.costs.resolve.build_table`` turns a device spec into a table.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from nas.results import repo_root
from nas.costs.table import N_FIT_PARAMS, CostFitError, CostTable, fit_cost_table, op_count_features, prediction_stats
from nas.spaces import get_space
from nas.spaces.nb201.genotype import Genotype

REPO_ROOT = repo_root()
HARDWARE_DIR = REPO_ROOT / "data" / "hardware"
SHARED_DEVICES: tuple[str, ...] = (
    "eyeriss", "fpga", "gold_6226", "pixel3", "raspi4", "samsung_a50", "titan_rtx_1", "titan_rtx_256",
)
CSV_COLUMNS = ("arch_str", "latency_ms")
CV_FOLDS, CV_MIN_ROWS = 5, 20
DUPLICATE_RATIO = 2.0  # repeated measurements of one architecture may differ by this factor (max / min)
OUTLIER_FACTOR = 100.0  # a latency this many times above or below the file's median is not a measurement
_EXAMPLE_ARCH = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


class DeviceError(ValueError):
    """An unknown device name or an unusable device CSV."""


@lru_cache(maxsize=8)
def _read_latency_csv(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


def load_latency_table(path: str | Path | None = None) -> pd.DataFrame:
    """The shared NB201 latency table (one row per architecture, one column per device, ms).

    Args:
        path: CSV path; defaults to ``<repo>/data/hardware/nb201_latency_ms.csv``.

    Returns:
        A copy of the cached frame with columns ``arch_index, arch_str, <device>...``.
    """
    return _read_latency_csv(_latency_key(path)).copy()


def _latency_key(path: str | Path | None) -> str:
    """Resolved path of the shared latency CSV (the cache key)."""
    path = Path(path) if path is not None else HARDWARE_DIR / "nb201_latency_ms.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shared latency table not found")
    return str(path.resolve())


@lru_cache(maxsize=1)
def _device_rows() -> dict[str, dict]:
    df = pd.read_csv(HARDWARE_DIR / "devices.csv", dtype=str)
    df = df[df["space"] == "nasbench201"]
    return {r["column"]: r for r in df.to_dict("records")}


def device_info(name: str) -> dict:
    """Metadata of a shared device from ``devices.csv``.

    Returns:
        dict with ``name, class, device, batch_size, input``, ``origin`` (``"measured"`` or
        ``"estimated"``) and ``source`` (the full provenance line).

    Raises:
        KeyError: ``name`` is not one of ``SHARED_DEVICES``.
    """
    rows = _device_rows()
    if name not in rows:
        raise KeyError(f"unknown shared device {name!r}; known: {', '.join(SHARED_DEVICES)}")
    r = rows[name]
    origin = "estimated" if "estimated" in r["origin"].lower() else "measured"
    return {"name": name, "class": r["class"], "device": r["device"], "batch_size": r["batch_size"],
            "input": r["input"], "origin": origin, "source": r["origin"]}


@lru_cache(maxsize=8)
def _dead_flags(path: str) -> np.ndarray:
    return np.array([Genotype.from_str(a).is_dead() for a in _read_latency_csv(path)["arch_str"]], dtype=bool)


def _split(n_live: int, n_fit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n_live)`` into ``n_fit`` fit rows and the rest (sorted)."""
    if not N_FIT_PARAMS <= n_fit <= n_live:
        raise ValueError(f"n_fit must be in [{N_FIT_PARAMS}, {n_live}], got {n_fit}")
    perm = np.random.default_rng(seed).permutation(n_live)
    return np.sort(perm[:n_fit]), np.sort(perm[n_fit:])


def shared_device_table(name: str, *, n_fit: int = 300, seed: int = 0, path: str | Path | None = None) -> CostTable:
    """LUT of a shared device fitted on ``n_fit`` seeded random non-dead architectures.

    Held-out statistics (``r2``, ``kendall_tau``, ``spearman``, ``rmse``) in ``fit`` are over every
    other non-dead architecture of the space.
    """
    info = device_info(name)
    live = load_latency_table(path)[~_dead_flags(_latency_key(path))]
    fit_idx, test_idx = _split(len(live), n_fit, seed)
    archs, lat = live["arch_str"].to_numpy(), live[name].to_numpy(dtype=np.float64)
    return fit_cost_table(list(archs[fit_idx]), lat[fit_idx], name=name, unit="ms", origin=info["origin"],
                          holdout=(list(archs[test_idx]), lat[test_idx]))


def _read_user_csv(path: Path) -> pd.DataFrame:
    fix = f"expected a CSV with header '{','.join(CSV_COLUMNS)}' and one whole-network measurement per row"
    if not path.is_file():
        raise DeviceError(f"{path}: no such file; {fix}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DeviceError(f"{path}: cannot be read as CSV ({exc}); {fix}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise DeviceError(f"{path}: missing column(s) {missing}; found {list(df.columns)}; {fix}")
    return df


def _row_error(path: Path, i: int, problem: str, fix: str) -> DeviceError:
    return DeviceError(f"{path}, row {i + 1} (line {i + 2}): {problem}; {fix}")


def _example_arch(space: str) -> str:
    sp = get_space(space)
    return _EXAMPLE_ARCH if space == "nb201" else sp.format(sp.from_indices([len(sp.primitives) - 1] * sp.n_edges))


def _parse_rows(path: Path, df: pd.DataFrame, space: str) -> tuple[list[str], np.ndarray]:
    """Canonical arch strings and positive finite latencies, or a DeviceError naming the row."""
    sp = get_space(space)
    archs, lat = [], []
    for i, (arch, value) in enumerate(zip(df["arch_str"], df["latency_ms"])):
        try:
            archs.append(sp.format(sp.parse(arch)))
        except ValueError as exc:  # a GenotypeError
            label = "NB201" if space == "nb201" else space
            raise _row_error(path, i, f"arch_str is not a valid {label} genotype ({exc})",
                             f"write it as e.g. {_example_arch(space)}") from exc
        try:
            x = float(value)
        except ValueError:
            raise _row_error(path, i, f"latency_ms {value!r} is not a number", "write milliseconds, e.g. 12.5")
        if not math.isfinite(x) or x <= 0:
            raise _row_error(path, i, f"latency_ms {value!r} must be a finite positive number (NaN, inf, "
                             "zero and negative values are not latencies)", "re-measure or drop the row")
        lat.append(x)
    return archs, np.asarray(lat, dtype=np.float64)


def _check_plausible(path: Path, archs: list[str], lat: np.ndarray, space: str) -> None:
    """DeviceError for conflicting repeated measurements of one architecture or an implausible outlier
    among the live architectures (dead ones are left out of the fit anyway)."""
    rows: dict[str, list[int]] = {}
    for i, a in enumerate(archs):
        rows.setdefault(a, []).append(i)
    for a, idx in rows.items():
        values = lat[idx]
        if len(idx) > 1 and values.max() > DUPLICATE_RATIO * values.min():
            lines = ", ".join(f"line {i + 2}: {lat[i]:g}" for i in idx)
            raise DeviceError(f"{path}: architecture {a} is measured {len(idx)} times with conflicting latencies "
                              f"({lines}; more than {DUPLICATE_RATIO:g}x apart); re-measure it and keep one value "
                              "(or the median of repeats)")
    sp = get_space(space)
    live = [i for i, a in enumerate(archs) if sp.is_valid(sp.parse(a))]
    if len(live) >= 3:
        median = float(np.median(lat[live]))
        for i, x in ((i, lat[i]) for i in live):
            if not median / OUTLIER_FACTOR <= x <= median * OUTLIER_FACTOR:
                raise _row_error(path, i, f"latency_ms {x:g} is implausible ({OUTLIER_FACTOR:g}x away from the "
                                 f"file's median {median:g} ms)", "check the unit (milliseconds) or drop the row")


def _cross_validate(archs: list[str], y: np.ndarray, seed: int = 0, space: str = "nb201") -> dict[str, float]:
    """Pooled out-of-fold statistics of the additive fit over ``CV_FOLDS`` seeded folds."""
    X, _ = op_count_features(archs, space)
    folds = np.array_split(np.random.default_rng(seed).permutation(len(y)), CV_FOLDS)
    pred = np.empty_like(y)
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        if np.linalg.matrix_rank(X[train]) < X.shape[1]:
            return {"cv_folds": float(CV_FOLDS), "r2": math.nan, "kendall_tau": math.nan, "spearman": math.nan}
        coef, *_ = np.linalg.lstsq(X[train], y[train], rcond=None)
        pred[test] = X[test] @ coef
    return {"cv_folds": float(CV_FOLDS), "n_test": float(len(y)), **prediction_stats(pred, y)}


def table_from_csv(path: str | Path, *, name: str | None = None, space: str = "nb201") -> CostTable:
    """Fit a new device from a CSV of whole-network measurements ``arch_str,latency_ms``.

    Repeated architectures are averaged when they agree (within ``DUPLICATE_RATIO``); conflicting
    repeats and latencies ``OUTLIER_FACTOR`` away from the median are errors. Dead architectures are left out (counted in
    ``fit["n_dead_skipped"]``). With at least 20 live architectures, ``fit`` also holds
    5-fold cross-validated ``r2``, ``kendall_tau``, ``spearman`` (pooled out-of-fold).

    Args:
        path: the CSV file.
        name: device id; defaults to the file stem.
        space: the search space the ``arch_str`` column is parsed in.

    Raises:
        DeviceError: missing file or columns, a bad row (named by number), conflicting repeats, an
            implausible outlier, or too few rows.
    """
    path = Path(path)
    archs, lat = _parse_rows(path, _read_user_csv(path), space)
    _check_plausible(path, archs, lat, space)
    merged = pd.Series(lat).groupby(pd.Series(archs), sort=True).mean()
    try:
        table = fit_cost_table(list(merged.index), merged.to_numpy(), name=name or path.stem, unit="ms",
                               origin="measured", space=space)
    except CostFitError as exc:
        raise DeviceError(f"{path}: {exc}") from exc
    fit = dict(table.fit, n_rows=float(len(lat)), n_duplicates_merged=float(len(lat) - len(merged)))
    if table.fit["n_fit"] >= CV_MIN_ROWS:
        sp = get_space(space)
        live = [a for a in merged.index if sp.is_valid(sp.parse(a))]
        fit.update(_cross_validate(live, merged.loc[live].to_numpy(), space=space))
    return CostTable(table.name, table.unit, table.base, table.op_cost, table.origin, fit, space)


def shared_device_tables(*, n_fit: int = 300, seed: int = 0) -> dict[str, CostTable]:
    """All shared devices as fitted tables, keyed by name."""
    return {name: shared_device_table(name, n_fit=n_fit, seed=seed) for name in SHARED_DEVICES}


def lut_fit_report(n_fit: int = 300, seed: int = 0) -> pd.DataFrame:
    """Tidy fit quality of every shared device: one row per device.

    Columns: ``device, origin, n_fit, n_test, r2, kendall_tau, spearman, base`` and
    ``cost_<op>_ms`` for every op of ``NB201_PRIMITIVES`` (``none`` is 0 by definition).
    """
    rows = []
    for name, t in shared_device_tables(n_fit=n_fit, seed=seed).items():
        row = {"device": name, "origin": t.origin, "n_fit": int(t.fit["n_fit"]), "n_test": int(t.fit["n_test"]),
               "r2": t.fit["r2"], "kendall_tau": t.fit["kendall_tau"], "spearman": t.fit["spearman"],
               "base": t.base}
        row.update({f"cost_{op}_ms": c for op, c in t.op_cost_dict().items()})
        rows.append(row)
    return pd.DataFrame(rows)
