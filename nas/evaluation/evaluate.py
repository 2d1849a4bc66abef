"""Benchmark-mode evaluation of a finished search on the NB201 space (evaluation only).

For every shared device, derive architectures on a grid of trade-offs and for the latency
budgets at the 10/25/50/75/100 % quantiles of the device's measured latency, then look up what
the NB201 tables say about them: measured latency (HW-NAS-Bench / HELP) and trained CIFAR-10
accuracy. Outputs follow the results contract (``nas.results.SUMMARY_COLUMNS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from nas.spaces.nb201.benchmark import DEFAULT_METRIC, NB201Benchmark
from nas.methods.derive import Derived, SearchRun, derive_budgets, derive_lams
from nas.costs.devices import SHARED_DEVICES, device_info
from nas.spaces.nb201.genotype import space_positions
from nas.costs.resolve import complexity_table
from nas.stats import spearman

LAM_EVAL_GRID = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


def _run_fields(run: SearchRun) -> dict:
    cfg = run.config
    return {"method": cfg.method, "search_space": cfg.space, "dataset": cfg.dataset, "seed": cfg.seed,
            "run_id": run.run_dir.name}


def derived_rows(run: SearchRun, items: Sequence[Derived], bench: NB201Benchmark, device: str,
                 given_as: str = "name") -> list[dict]:
    """Rows of ``derived.csv`` for architectures derived for a benchmark device."""
    params, flops = complexity_table("params"), complexity_table("flops")
    origin = device_info(device)["origin"]
    rows = []
    for d in items:
        rows.append({**_run_fields(run), "device": device, "lam": d.lam, "budget_ms": d.budget_ms, "arch": d.arch,
                     "pred_latency_ms": d.pred_latency_ms, "meas_latency_ms": bench.measured_latency(d.arch, device),
                     "latency_origin": origin, "params_m": params.genotype_cost(d.arch),
                     "flops_m": flops.genotype_cost(d.arch), "acc": bench.accuracy(d.arch),
                     "acc_source": "nb201-table", "acc_metric": DEFAULT_METRIC, "device_given_as": given_as})
    return rows


def evaluate_device(run: SearchRun, bench: NB201Benchmark, device: str, spec: str | None = None,
                    given_as: str = "name"):
    """Derived rows, per-budget regret rows and metric rows of one device.

    ``spec`` is what derivation is given for the device (default: its name; a CSV path makes it
    an unseen device described only by its measurements, labelled ``given_as``).
    """
    spec = spec or device
    lam_items = derive_lams(run, spec, LAM_EVAL_GRID)
    budgets = bench.budgets(device)
    budget_items = derive_budgets(run, spec, list(budgets.values()))
    derived = derived_rows(run, lam_items + budget_items, bench, device, given_as)
    regret = bench.budget_regret(device, {d.budget_ms: d.arch for d in budget_items})
    regret.insert(0, "run_id", run.run_dir.name)
    regret.insert(2, "device_given_as", given_as)
    lat = [r["meas_latency_ms"] for r in derived[: len(lam_items)]]
    rho = spearman(LAM_EVAL_GRID, lat)
    base = {**_run_fields(run), "device": device, "device_given_as": given_as}
    metrics = [
        {**base, "metric": "mean_regret", "value": float(regret["regret"].mean())},
        {**base, "metric": "violations", "value": int(regret["violation"].sum())},
        {**base, "metric": "violation_rate", "value": float(regret["violation"].mean())},
        {**base, "metric": "spearman_lam_latency", "value": rho},
    ]
    return derived, regret, metrics


def evaluate_run(run_dir: str | Path, devices: Sequence[str] = SHARED_DEVICES,
                 bench: NB201Benchmark | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(derived, regret, metrics) frames of a finished run over benchmark devices."""
    run = SearchRun.load(run_dir)
    bench = bench or NB201Benchmark.load()
    derived, regret, metrics = [], [], []
    for device in devices:
        d, r, m = evaluate_device(run, bench, device)
        derived += d
        regret.append(r)
        metrics += m
    return pd.DataFrame(derived), pd.concat(regret, ignore_index=True), pd.DataFrame(metrics)


# NB201 indices of the 10 reference architectures MODNAS (Sukthanker et al., ICLR 2025) measures
# to describe a device (from DESIGN.md).
MODNAS_REFERENCE_INDICES = (11982, 431, 55, 9, 14451, 8636, 9881, 13479, 6196, 1462)


def measurement_csv(bench: NB201Benchmark, device: str, path: str | Path, *, n: int = 300, seed: int = 0,
                    indices: Sequence[int] | None = None) -> Path:
    """Write ``arch_str,latency_ms`` of a device as a user would: ``n`` random live cells or given indices."""
    from nas.results import write_rows

    frame = bench.frame.set_index("arch_index", drop=False)
    if indices is None:
        live = bench.live()
        pick = live.iloc[np.random.default_rng(seed).choice(len(live), size=n, replace=False)]
    else:
        pick = frame.loc[list(indices)]
    rows = [{"arch_str": a, "latency_ms": v} for a, v in zip(pick["arch_str"], pick[device])]
    return write_rows(path, rows, ("arch_str", "latency_ms"))


def evaluate_unseen(run_dir: str | Path, device: str, csv_path: str | Path, bench: NB201Benchmark | None = None):
    """Evaluate a device the run never trained on, given only as a measurement CSV."""
    run = SearchRun.load(run_dir)
    if device in run.tables:
        raise ValueError(f"{device} was a training device of {run.run_dir.name}; it is not unseen")
    bench = bench or NB201Benchmark.load()
    n_rows = len(pd.read_csv(csv_path))
    derived, regret, metrics = evaluate_device(run, bench, device, spec=str(csv_path), given_as=f"csv-{n_rows}")
    return pd.DataFrame(derived), regret, pd.DataFrame(metrics)


def evaluate_local(run_dir: str | Path, profile_dir: str | Path, bench: NB201Benchmark | None = None):
    """Evaluate a runtime of this machine (``local-<runtime>``): derive, then *measure* the architectures.

    Budgets are the 10/25/50/75/100 % quantiles of the end-to-end latency of the profile's
    measured architectures; the derived architectures are measured on the runtime (cached in the
    profile folder, ``derived_measurements.csv``), so violations and the control statistic use
    measured latency. Accuracy comes from the NB201 table. Budget regret needs the best
    architecture within each budget over the whole space, which has no measured latency here; it
    is reported against the lookup table's prediction (metric ``mean_regret_vs_lut_oracle``).
    """
    from nas.costs.profile_config import table_name
    from nas.costs.profile_measure import measure_architectures
    from nas.costs.profiles import read_profile

    run, bench = SearchRun.load(run_dir), bench or NB201Benchmark.load()
    profile = read_profile(profile_dir)
    name, latencies = table_name(profile["runtime"]), profile["measurements"]["latency_ms"].to_numpy(float)
    budgets = [float(b) for b in np.quantile(latencies, [0.1, 0.25, 0.5, 0.75, 1.0])]
    items = derive_lams(run, name, LAM_EVAL_GRID) + derive_budgets(run, name, budgets)
    meas = measure_architectures([d.arch for d in items], profile["runtime"],
                                 cache=Path(profile_dir) / "derived_measurements.csv")
    params, flops = complexity_table("params"), complexity_table("flops")
    derived = [{**_run_fields(run), "device": name, "lam": d.lam, "budget_ms": d.budget_ms, "arch": d.arch,
                "pred_latency_ms": d.pred_latency_ms, "meas_latency_ms": meas.get(d.arch, np.nan),
                "latency_origin": "measured", "params_m": params.genotype_cost(d.arch),
                "flops_m": flops.genotype_cost(d.arch), "acc": bench.accuracy(d.arch), "acc_source": "nb201-table",
                "acc_metric": DEFAULT_METRIC, "device_given_as": "name"} for d in items]
    return pd.DataFrame(derived), _local_metrics(run, run.device_table(name), derived, bench)


def _local_metrics(run: SearchRun, table, derived: list[dict], bench: NB201Benchmark) -> pd.DataFrame:
    lam_rows = [r for r in derived if r["budget_ms"] is None]
    budget_rows = [r for r in derived if r["budget_ms"] is not None]
    lat = [r["meas_latency_ms"] for r in lam_rows]
    rho = spearman(LAM_EVAL_GRID, lat)
    pred, live = table.all_costs(), bench.live()
    pred_live = pd.Series(pred[space_positions(live["arch_str"])], index=live.index)
    regret = [live.loc[pred_live <= r["budget_ms"], DEFAULT_METRIC].max() - r["acc"] for r in budget_rows]
    base = {**_run_fields(run), "device": table.name, "device_given_as": "name"}
    return pd.DataFrame([
        {**base, "metric": "mean_regret_vs_lut_oracle", "value": float(np.mean(regret))},
        {**base, "metric": "violations", "value": int(sum(r["meas_latency_ms"] > r["budget_ms"] for r in budget_rows))},
        {**base, "metric": "violation_rate",
         "value": float(np.mean([r["meas_latency_ms"] > r["budget_ms"] for r in budget_rows]))},
        {**base, "metric": "spearman_lam_latency", "value": rho},
    ])

