"""Reading finished latency profiles (``data/latency/<runtime>``): the local LUTs, the folders, and
the summaries built from them (``latency_validation.csv``, device similarity, op cost ratios).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from nas.costs.runtimes import RUNTIME_NAMES
from nas.costs.profile_config import LUT_KINDS, MEASUREMENT_COLUMNS, VALIDATION_COLUMNS, ProfileError, table_name
from nas.costs.profile_measure import _read_csv, aggregate_passes
from nas.costs.profiling import validation_stats
from nas.costs.table import CostTable
from nas.results import load_json, repo_root, write_rows
from nas.spaces.nb201.genotype import Genotype
from nas.stats import kendall_tau

LATENCY_DIR = repo_root() / "data" / "latency"


def local_table(name: str, root: str | Path | None = None) -> CostTable:
    """The committed LUT of a local runtime: ``local-<runtime>`` or ``local-<runtime>-isolated``.

    Raises:
        KeyError: ``name`` does not name a local runtime.
        FileNotFoundError: the runtime has not been profiled into ``root`` (default ``data/latency``).
    """
    root = Path(root) if root is not None else LATENCY_DIR
    rest = name.removeprefix("local-")
    kind = "isolated" if rest.endswith("-isolated") else "regression"
    runtime = rest.removesuffix("-isolated")
    if not name.startswith("local-") or runtime not in RUNTIME_NAMES:
        raise KeyError(f"{name!r} is not a local runtime; local devices are "
                       f"{', '.join(table_name(r) for r in RUNTIME_NAMES)} (add -isolated for the isolated-op LUT)")
    path = root / runtime / f"lut-{kind}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: runtime {runtime!r} has not been profiled; run "
                                f"`python -m nas profile --runtime {runtime} --space nb201 --out {root / runtime}`")
    return CostTable.load(path)


def read_profile(profile_dir: str | Path) -> dict:
    """meta.json, measurements, validation frame and both LUTs of a finished profile folder."""
    d = Path(profile_dir)
    meta = load_json(d / "meta.json")
    if meta.get("status") != "complete":
        raise ProfileError(f"{d}: profile is not complete (status {meta.get('status')!r}); rerun the profile command")
    return {"dir": d, "meta": meta, "runtime": meta["runtime"]["name"],
            "measurements": aggregate_passes(_read_csv(d / "measurements.csv", MEASUREMENT_COLUMNS)),
            "validation": _read_csv(d / "validation.csv", VALIDATION_COLUMNS),
            "tables": {k: CostTable.load(d / f"lut-{k}.json") for k in LUT_KINDS}}


def latency_validation_rows(profile_dirs: Iterable[str | Path]) -> list[dict]:
    """Rows of ``results/summary/latency_validation.csv``: one per (runtime, LUT kind).

    ``n_fit`` is the number of end-to-end fit architectures for the regression LUT and 0 for the
    isolated-op LUT (it is built from op timings, not fitted); ``n_test`` is the held-out count.
    """
    rows = []
    for d in profile_dirs:
        p = read_profile(d)
        val, n_fit = p["validation"], int((p["measurements"]["split"] == "fit").sum())
        for kind in LUT_KINDS:
            s = validation_stats(val[f"pred_{kind}_ms"], val["measured_ms"])
            rows.append({"runtime": p["runtime"], "lut_kind": kind, "n_fit": n_fit if kind == "regression" else 0,
                         "n_test": len(val), **{k: s[k] for k in ("kendall_tau", "spearman", "r2", "mape_pct",
                                                                   "within10_pct", "slope", "intercept")}})
    return rows


def _latency_by_device(profile_dirs: Iterable[str | Path], latency_csv: str | Path | None) -> dict[str, pd.Series]:
    """Whole-network latency per device, indexed by arch string (shared: live cells; local: measured ones)."""
    from nas.costs.devices import SHARED_DEVICES, load_latency_table

    shared = load_latency_table(latency_csv)
    live = shared[~np.array([Genotype.from_str(a).is_dead() for a in shared["arch_str"]])].set_index("arch_str")
    out = {name: live[name].astype(float) for name in SHARED_DEVICES}
    for d in profile_dirs:
        p = read_profile(d)
        m = p["measurements"]
        out[table_name(p["runtime"])] = pd.Series(m["latency_ms"].to_numpy(float), index=m["arch_str"])
    return out


def device_similarity_all(profile_dirs: Iterable[str | Path] = (),
                          latency_csv: str | Path | None = None) -> pd.DataFrame:
    """Pairwise Kendall tau of whole-network latency between the shared devices and local runtimes.

    Each pair is compared on the architectures both have: the live cells of the shared table for
    two shared devices, the end-to-end measured cells (fit + test) of a local runtime otherwise.

    Returns:
        Long frame ``device_a, device_b, kendall_tau, n_archs`` over every ordered pair (tau = 1 on
        the diagonal), the layout of ``device_similarity.csv`` plus the count.
    """
    lat = _latency_by_device(profile_dirs, latency_csv)
    rows = []
    for a, sa in lat.items():
        for b, sb in lat.items():
            common = sa.index.intersection(sb.index)
            tau = 1.0 if a == b else kendall_tau(sa.loc[common], sb.loc[common])
            rows.append({"device_a": a, "device_b": b, "kendall_tau": tau, "n_archs": len(common)})
    return pd.DataFrame(rows)


def op_cost_ratios(profile_dirs: Iterable[str | Path] = (), *, n_fit: int = 300, seed: int = 0) -> pd.DataFrame:
    """Per-op cost ratios per device, from each device's LUT.

    Shared devices use their fitted table (:func:`nas.costs.devices.shared_device_table`); local
    runtimes contribute one row per LUT kind.

    Returns:
        Frame ``device, lut_kind, conv1x1_ms, conv3x3_to_conv1x1, pool_to_conv1x1, skip_to_conv1x1``.
    """
    from nas.costs.devices import SHARED_DEVICES, shared_device_table

    tables = [("regression", shared_device_table(n, n_fit=n_fit, seed=seed)) for n in SHARED_DEVICES]
    for d in profile_dirs:
        p = read_profile(d)
        tables += [(k, p["tables"][k]) for k in LUT_KINDS]
    rows = []
    for kind, t in tables:
        c = t.op_cost_dict()
        ref = c["nor_conv_1x1"]
        ratio = (lambda op: c[op] / ref if ref != 0 else math.nan)  # noqa: E731
        rows.append({"device": t.name.removesuffix("-isolated"), "lut_kind": kind, "conv1x1_ms": ref,
                     "conv3x3_to_conv1x1": ratio("nor_conv_3x3"), "pool_to_conv1x1": ratio("avg_pool_3x3"),
                     "skip_to_conv1x1": ratio("skip_connect")})
    return pd.DataFrame(rows)


def write_latency_validation(profile_dirs: Iterable[str | Path], path: str | Path | None = None) -> Path:
    """Write ``results/summary/latency_validation.csv`` (declared in ``SUMMARY_COLUMNS``)."""
    path = Path(path) if path is not None else repo_root() / "results" / "summary" / "latency_validation.csv"
    return write_rows(path, latency_validation_rows(profile_dirs))


def profile_dirs(root: str | Path | None = None) -> list[Path]:
    """Finished profile folders under ``root`` (default ``data/latency``), sorted by name."""
    root = Path(root) if root is not None else LATENCY_DIR
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if (d / "meta.json").is_file()
                  and load_json(d / "meta.json").get("status") == "complete")
