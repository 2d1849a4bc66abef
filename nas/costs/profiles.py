"""Reading finished latency profiles (NB201: ``data/latency/<runtime>``, DARTS:
``data/latency/darts/<runtime>``): the local LUTs, the folders, and the summaries built from them
(``latency_validation.csv``, with a ``space`` column; device similarity and op cost ratios compare
NB201 profiles only).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from nas.costs.runtimes import RUNTIME_NAMES
from nas.costs.profile_config import (LUT_KINDS, MEASUREMENT_COLUMNS, PROFILE_SPACES, VALIDATION_COLUMNS, ProfileError,
                                      table_name)
from nas.costs.profile_measure import _read_csv, aggregate_passes
from nas.costs.profiling import validation_stats
from nas.costs.table import CostTable
from nas.results import load_json, repo_root, write_rows
from nas.spaces.nb201.genotype import Genotype
from nas.stats import kendall_tau

LATENCY_DIR = repo_root() / "data" / "latency"


def latency_dir(space: str = "nb201", root: str | Path | None = None) -> Path:
    """The folder that holds one profile folder per runtime: ``root`` (default ``data/latency``) for
    NB201, ``root/<space>`` for another space."""
    root = Path(root) if root is not None else LATENCY_DIR
    return root if space == "nb201" else root / space


def local_table(name: str, root: str | Path | None = None, space: str = "nb201") -> CostTable:
    """The committed LUT of a local runtime on ``space``: ``local-<runtime>`` or ``local-<runtime>-isolated``,
    read from ``latency_dir(space, root)/<runtime>``.

    Raises:
        KeyError: ``name`` does not name a local runtime, or ``space`` is not profiled.
        FileNotFoundError: the runtime has not been profiled on ``space`` (the message names the command).
        ProfileError: the file holds a table of another space.
    """
    if space not in PROFILE_SPACES:
        raise KeyError(f"local runtimes are profiled on {', '.join(PROFILE_SPACES)} only, not on {space!r}; "
                       "use params, flops or a CSV of measurements of that space")
    folder = latency_dir(space, root)
    rest = name.removeprefix("local-")
    kind = "isolated" if rest.endswith("-isolated") else "regression"
    runtime = rest.removesuffix("-isolated")
    if not name.startswith("local-") or runtime not in RUNTIME_NAMES:
        raise KeyError(f"{name!r} is not a local runtime; local devices are "
                       f"{', '.join(table_name(r) for r in RUNTIME_NAMES)} (add -isolated for the isolated-op LUT)")
    path = folder / runtime / f"lut-{kind}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: runtime {runtime!r} has not been profiled on {space}; run "
                                f"`python -m nas profile --runtime {runtime} --space {space} --out {folder / runtime}`")
    table = CostTable.load(path)
    if table.space != space:
        raise ProfileError(f"{path} holds a {table.space} table, not a {space} one; profile {space} into "
                           f"{latency_dir(space) / runtime}")
    return table


def read_profile(profile_dir: str | Path) -> dict:
    """meta.json, space, measurements, validation frame and both LUTs of a finished profile folder."""
    d = Path(profile_dir)
    meta = load_json(d / "meta.json")
    if meta.get("status") != "complete":
        raise ProfileError(f"{d}: profile is not complete (status {meta.get('status')!r}); rerun the profile command")
    return {"dir": d, "meta": meta, "runtime": meta["runtime"]["name"], "space": _space_of(meta),
            "measurements": aggregate_passes(_read_csv(d / "measurements.csv", MEASUREMENT_COLUMNS)),
            "validation": _read_csv(d / "validation.csv", VALIDATION_COLUMNS),
            "tables": {k: CostTable.load(d / f"lut-{k}.json") for k in LUT_KINDS}}


def _space_of(meta: dict) -> str:
    """Space a profile was measured on (profiles from before DARTS profiling are NB201's)."""
    return meta.get("measurement_key", {}).get("space", "nb201")


def _nb201_profile(p: dict) -> dict:
    if p["space"] != "nb201":
        raise ProfileError(f"{p['dir']} is a {p['space']} profile; device similarity and op cost ratios compare "
                           "NB201 architectures and op costs only")
    return p


def latency_validation_rows(profile_dirs: Iterable[str | Path]) -> list[dict]:
    """Rows of ``results/summary/latency_validation.csv``: one per (runtime, LUT kind, space).

    ``n_fit`` is the number of end-to-end fit architectures for the regression LUT and 0 for the
    isolated-op LUT (it is built from op timings, not fitted); ``n_test`` is the held-out count;
    ``space`` (the last column) is the profile's search space.
    """
    rows = []
    for d in profile_dirs:
        p = read_profile(d)
        val, n_fit = p["validation"], int((p["measurements"]["split"] == "fit").sum())
        for kind in LUT_KINDS:
            s = validation_stats(val[f"pred_{kind}_ms"], val["measured_ms"])
            rows.append({"runtime": p["runtime"], "lut_kind": kind, "n_fit": n_fit if kind == "regression" else 0,
                         "n_test": len(val), **{k: s[k] for k in ("kendall_tau", "spearman", "r2", "mape_pct",
                                                                   "within10_pct", "slope", "intercept")},
                         "space": p["space"]})
    return rows


def _latency_by_device(profile_dirs: Iterable[str | Path], latency_csv: str | Path | None) -> dict[str, pd.Series]:
    """Whole-network latency per device, indexed by arch string (shared: live cells; local: measured ones)."""
    from nas.costs.devices import SHARED_DEVICES, load_latency_table

    shared = load_latency_table(latency_csv)
    live = shared[~np.array([Genotype.from_str(a).is_dead() for a in shared["arch_str"]])].set_index("arch_str")
    out = {name: live[name].astype(float) for name in SHARED_DEVICES}
    for d in profile_dirs:
        p = _nb201_profile(read_profile(d))
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

    local = [(k, p["tables"][k]) for p in (_nb201_profile(read_profile(d)) for d in profile_dirs) for k in LUT_KINDS]
    tables = [("regression", shared_device_table(n, n_fit=n_fit, seed=seed)) for n in SHARED_DEVICES] + local
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


def profile_dirs(root: str | Path | None = None, space: str = "nb201") -> list[Path]:
    """Finished profile folders of ``space`` in ``latency_dir(space, root)`` (default root
    ``data/latency``), sorted by name."""
    folder = latency_dir(space, root)
    if not folder.is_dir():
        return []
    return sorted(d for d in folder.iterdir() if (d / "meta.json").is_file()
                  and (meta := load_json(d / "meta.json")).get("status") == "complete" and _space_of(meta) == space)
