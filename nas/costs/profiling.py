"""Latency profiles of the machine at hand: two lookup tables per runtime, and how well they predict.

A profile of one runtime (``python -m nas profile``, :func:`run_profile`) writes a folder:

* ``isolated_ops.csv`` and ``lut-isolated.json``: the FBNet / ProxylessNAS way. Every candidate op
  is timed alone at each of the three stage shapes (C, 2C, 4C channels at R, R/2, R/4 pixels), and
  so are the parts outside the cells (stem, the two reduction blocks, head). With N cells per stage
  and one genotype shared by all cells, one edge carrying ``op`` costs
  ``sum_stage N * t(op, stage)`` and ``base = t(stem) + t(red1) + t(red2) + t(head)``.
* ``measurements.csv`` and ``lut-regression.json``: ``n_fit`` random live architectures of the
  benchmark network measured end to end, fitted with :func:`nas.costs.table.fit_cost_table` (the same
  least-squares fit as for the shared devices).
* ``validation.csv``: ``n_test`` further random live architectures measured end to end, with the
  prediction of both tables; :func:`validation_stats` turns it into Kendall tau, Spearman rho, R2,
  MAPE, share within +-10 %, and the calibration line (measured = slope * predicted + intercept).
* ``meta.json``: the conditions (runtime, threads, batch, dtype, runs, warm-up, CPU, library
  versions, date, git commit), export failures, noisy measurements and wall-clock times.

End-to-end measurements are taken in ``passes`` passes over all architectures (each pass in its
own random order, latency = mean of the pass medians), in chunks of architectures whose repeats
are interleaved in a seeded random order; after each chunk ``measurements.csv`` (one row per
architecture and pass) is rewritten atomically, so an interrupted profile resumes and measures
only what is missing. The agreement of two passes (test-retest Kendall tau) is the noise ceiling
recorded in meta.json. The fit and test architectures come from the two ends
of one seeded permutation of the live cells, so a larger ``n_fit`` or ``n_test`` keeps every
measurement already made.

On the DARTS space (``ProfileConfig(space="darts")``, folders ``data/latency/darts/<runtime>``) the
measured network is ``space.network(g, C, N)`` (default the mini network), the architectures are
two seeded streams of ``space.sample`` (again prefix-stable), the isolated-op LUT times every op
per cell and cost group (``nas.costs.profile_darts``) and both LUTs are grouped ``darts`` tables
(``group/op`` entries; the regression LUT has 22 parameters).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from nas.costs.runtimes import Runtime, available_cores
from nas.costs.profile_config import (LUT_KINDS, MEASUREMENT_COLUMNS, VALIDATION_COLUMNS, ProfileConfig, ProfileError,
                                      ProfileResult, table_name)
from nas.costs import profile_darts
from nas.costs.profile_measure import (_check_resume, _noise_report, _read_csv, measure_end_to_end, measure_isolated,
                                       pass_agreement)
from nas.costs.table import FITTED_OPS, CostFitError, CostTable, fit_cost_table, prediction_stats
from nas.provenance import provenance
from nas.results import save_json, write_rows

log = logging.getLogger("nas.costs.profiling")
_FORMAT = "nas.costs.profiling/1"


def isolated_table(rows: pd.DataFrame, N: int, name: str) -> CostTable:
    """Isolated-op LUT from ``isolated_ops.csv`` rows: per-edge cost = sum over stages of N * t(op, stage).

    Raises:
        ProfileError: an op or base component is missing from ``rows``.
    """
    t = {(c, int(s)): float(v) for c, s, v in zip(rows["component"], rows["stage"], rows["latency_ms"])}
    need = [(op, s) for op in FITTED_OPS for s in range(3)] + [("stem", 0), ("reduction_1", 1), ("reduction_2", 2),
                                                              ("head", 2)]
    missing = [k for k in need if k not in t]
    if missing:
        raise ProfileError(f"isolated-op measurements missing for {missing}")
    costs = {op: sum(N * t[(op, s)] for s in range(3)) for op in FITTED_OPS}
    base = t[("stem", 0)] + t[("reduction_1", 1)] + t[("reduction_2", 2)] + t[("head", 2)]
    return CostTable.from_op_costs(name, "ms", base, {**costs, "none": 0.0}, origin="measured")


def validation_stats(pred: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """Agreement of predicted with measured latency.

    Returns:
        ``kendall_tau``, ``spearman``, ``r2``, ``rmse`` (:func:`nas.costs.table.prediction_stats`),
        ``mape_pct`` (mean |pred - meas| / meas, %), ``within10_pct`` (share with that ratio <= 10 %)
        and ``slope``, ``intercept`` of the least-squares line measured = slope * pred + intercept.
    """
    p, y = np.asarray(pred, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    out = prediction_stats(p, y)
    rel = np.abs(p - y) / y
    out["mape_pct"] = float(100 * rel.mean()) if len(y) else math.nan
    out["within10_pct"] = float(100 * (rel <= 0.10).mean()) if len(y) else math.nan
    if len(y) >= 2 and np.ptp(p) > 0:
        slope, intercept = np.polyfit(p, y, 1)
    else:
        slope, intercept = math.nan, math.nan
    return {**out, "slope": float(slope), "intercept": float(intercept)}


def regression_table(meas: pd.DataFrame, runtime: str, space: str = "nb201") -> CostTable:
    """Least-squares LUT on the ``fit`` rows, with held-out statistics on the ``test`` rows.

    Raises:
        ProfileError: too few or too uniform fit architectures.
    """
    fit, test = meas[meas["split"] == "fit"], meas[meas["split"] == "test"]
    holdout = (list(test["arch_str"]), test["latency_ms"].to_numpy(float)) if len(test) else None
    try:
        return fit_cost_table(list(fit["arch_str"]), fit["latency_ms"].to_numpy(float), name=table_name(runtime),
                              unit="ms", origin="measured", holdout=holdout, space=space)
    except CostFitError as exc:
        raise ProfileError(f"regression LUT of {runtime}: {exc}") from exc


def validation_frame(meas: pd.DataFrame, tables: Mapping[str, CostTable]) -> pd.DataFrame:
    """``validation.csv``: every held-out architecture, measured and predicted by each LUT kind."""
    test = meas[meas["split"] == "test"]
    df = pd.DataFrame({"arch_str": test["arch_str"].to_numpy(), "measured_ms": test["latency_ms"].to_numpy(float),
                       "iqr_ms": test["iqr_ms"].to_numpy(float)})
    for kind in LUT_KINDS:
        df[f"pred_{kind}_ms"] = [tables[kind].genotype_cost(a) for a in df["arch_str"]]
    return df


def _meta(cfg: ProfileConfig, rt: Runtime, **extra) -> dict:
    """The meta.json record: conditions, machine, versions, provenance and ``extra``."""
    with rt.session():
        prov = provenance(cfg)
    info = rt.info()
    return {"format": _FORMAT, "runtime": info, "measurement_key": cfg.measurement_key(),
            "batch": cfg.batch, "dtype": cfg.dtype,
            "input": [cfg.batch, cfg.macro.in_channels, cfg.resolution, cfg.resolution],
            "macro": dataclasses.asdict(cfg.macro), "runs": cfg.runs, "warmup": cfg.warmup, "rounds": cfg.rounds,
            "machine": {"cpu_model": prov["cpu_model"], "cpu_count": prov["cpu_count"],
                        "available_cores": available_cores(), "threads": info["threads"]},
            "libraries": {k: info.get(k) for k in ("torch", "onnxruntime", "onnx", "cuda", "cudnn") if info.get(k)}
            | {"numpy": prov["numpy"], "python": prov["python"]},
            "date": prov["timestamp_utc"], "git_commit": prov["git_commit"], "provenance": prov, **extra}


def run_profile(cfg: ProfileConfig, out_dir: str | Path, *, progress: bool = True) -> ProfileResult:
    """Profile one runtime into ``out_dir`` (resuming what is there); see the module docstring.

    Returns:
        A :class:`ProfileResult`; ``skipped`` holds the message (and nothing is written) when the
        runtime cannot run on this machine.

    Raises:
        ProfileError: the folder holds measurements made under other settings, or the fit fails.
    """
    out, rt, t0 = Path(out_dir), cfg.resolved_runtime(), time.perf_counter()
    reason = rt.unavailable()
    if reason:
        log.warning(reason)
        return ProfileResult(out, skipped=reason)
    previous = _check_resume(out, cfg)
    save_json(out / "meta.json", {**previous, **_meta(cfg, rt, status="running")})
    failed: dict[str, str] = {}
    t1 = time.perf_counter()
    meas = measure_end_to_end(cfg, out, progress=progress, failed=failed)
    t2 = time.perf_counter()
    iso = measure_isolated(cfg, out, progress=progress, failed=failed)
    t3 = time.perf_counter()
    iso_name = table_name(cfg.runtime, "isolated")
    tables = {"regression": regression_table(meas, cfg.runtime, cfg.space),
              "isolated": profile_darts.isolated_table(iso, cfg.macro, iso_name) if cfg.space == "darts"
              else isolated_table(iso, cfg.N, iso_name)}
    val = validation_frame(meas, tables)
    write_rows(out / "validation.csv", val.to_dict("records"), VALIDATION_COLUMNS)
    summary = {k: validation_stats(val[f"pred_{k}_ms"], val["measured_ms"]) for k in LUT_KINDS}
    for kind, table in tables.items():
        table.save(out / f"lut-{kind}.json")
    seconds = {"end_to_end": t2 - t1, "isolated": t3 - t2, "total": time.perf_counter() - t0}
    history = previous.get("history", []) + [{"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **seconds}]
    meta = _meta(cfg, rt, status="complete", seconds=seconds, validation=summary, failed=failed,
                 noisy=_noise_report(meas, iso, cfg.noisy_threshold,
                                     pass_agreement(_read_csv(out / "measurements.csv", MEASUREMENT_COLUMNS))),
                 counts={"fit": int((meas["split"] == "fit").sum()), "test": int((meas["split"] == "test").sum())},
                 history=history, wall_seconds_all_runs=sum(h["total"] for h in history))
    save_json(out / "meta.json", meta)
    return ProfileResult(out, None, tables["isolated"], tables["regression"], summary, seconds["total"])
