"""Scores of the comparison (benchmark measured latency and trained accuracy): per-answer regret and
violations, per-device metrics (regret, violations, hypervolume, trade-off rho), the search cost
of the whole front, the oracle front, the published NAS-Bench-201 results and specialisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from nas.evaluation.evaluate import LAM_EVAL_GRID
from nas.methods.base import Answer, arch_of_index, fixed_architecture, lam_sweep
from nas.methods.derive import SearchRun
from nas.methods.fbnet import FBNET_BETAS, fbnet_tradeoff
from nas.methods.registry import METHODS, get_method
from nas.results import SUMMARY_COLUMNS
from nas.search.run_io import load_run_info
from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.stats import spearman

REF_ACC = 10.0  # hypervolume reference accuracy (%): a dead or untrained network
# NAS-Bench-201 paper (Dong & Yang, ICLR 2020), Table 5, CIFAR-10 test accuracy (%), no latency budget
PUBLISHED_NB201 = {"darts": 54.30, "gdas": 93.61, "rea": 93.92, "optimum": 94.37}
PUBLISHED_CITATION = "Dong & Yang, NAS-Bench-201, ICLR 2020, Table 5 (CIFAR-10 test accuracy)"


@dataclass
class MethodResult:
    """One method at one seed: its runs and its answers per device (five budgets each)."""

    method: str
    seed: int | None
    group_id: str  # run_id of a single run, or the common name of a method's runs
    dataset: str | None = None
    runs: list[SearchRun] = field(default_factory=list)
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    evaluated: dict[str, int] = field(default_factory=dict)  # random search: archs per device


def search_seconds(run: SearchRun) -> float:
    """Wall-clock of a finished search (``run.json``; for a two-phase run its phase 2 alone)."""
    return float(load_run_info(run.run_dir)["search_seconds"])


def shared_phase1_seconds(runs: Sequence[SearchRun]) -> float:
    """Wall-clock of the distinct shared phase-1 supernets the runs trained against (0 for joint runs):
    counted once however many runs share one."""
    seen: dict[Path, float] = {}
    for r in runs:
        info = load_run_info(r.run_dir)
        if info.get("supernet_run"):
            seen[(r.run_dir / info["supernet_run"]).resolve()] = float(info["supernet_seconds"])
    return float(sum(seen.values()))


def hypervolume(latency: Sequence[float], acc: Sequence[float], max_latency: float, ref_acc: float = REF_ACC) -> float:
    """Area dominated by (latency, accuracy) points, minimising latency and maximising accuracy.

    Latency is divided by ``max_latency`` and accuracy (%) by 100; the reference point is
    (1, ref_acc / 100). Points beyond the reference add nothing. Result in [0, 1 - ref_acc/100].
    """
    lat = np.asarray(latency, dtype=float) / max_latency
    a = (np.asarray(acc, dtype=float) - ref_acc) / 100.0
    keep = np.isfinite(lat) & np.isfinite(a) & (lat <= 1.0) & (a > 0)
    lat, a = lat[keep], a[keep]
    if lat.size == 0:
        return 0.0
    order = np.argsort(lat, kind="stable")
    lat, best = lat[order], np.maximum.accumulate(a[order])
    widths = np.diff(np.append(lat, 1.0))
    return float((widths * best).sum())


def _base(res: MethodResult, device: str) -> dict:
    return {"method": res.method, "search_space": "nb201", "dataset": res.dataset,
            "seed": res.seed, "run_id": res.group_id, "device": device, "device_given_as": "name"}


def score_answers(res: MethodResult, bench: NB201Benchmark) -> pd.DataFrame:
    """``method_answers.csv`` rows: each answer with quantile, measured latency, accuracy, regret, violation."""
    rows = []
    for device, items in res.answers.items():
        q_of = {round(v, 9): q for q, v in bench.budgets(device).items()}
        for a in items:
            r = bench.budget_regret(device, {a.budget_ms: a.arch}).iloc[0]
            base = _base(res, device)
            base.pop("device_given_as")
            rows.append({**base, "run_id": a.run_id or res.group_id, "budget_q": q_of.get(round(a.budget_ms, 9)),
                         "budget_ms": a.budget_ms, "tradeoff": a.tradeoff, "arch": r["arch"],
                         "pred_latency_ms": a.pred_latency_ms, "meas_latency_ms": r["meas_latency_ms"],
                         "acc": r["acc"], "oracle_acc": r["oracle_acc"], "regret": r["regret"],
                         "violation": bool(r["violation"])})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS["method_answers.csv"])


def tradeoff_rho(res: MethodResult, device: str, bench: NB201Benchmark) -> tuple[str, float] | None:
    """(metric, Spearman rho of measured latency vs the method's trade-off) on ``device``, if it has one."""
    spec = METHODS.get(res.method)
    if spec is None or spec.tradeoff is None or not res.runs:
        return None
    if spec.tradeoff == "lam_norm":
        idx, _ = lam_sweep(res.runs[0], device, LAM_EVAL_GRID)
        lat = [bench.measured_latency(arch_of_index(i), device) for i in idx]
        return "spearman_lam_latency", spearman(LAM_EVAL_GRID, lat)
    mine = [r for r in res.runs if r.config.devices == (device,)]
    if len(mine) < 2:
        return None
    lat = [bench.measured_latency(arch_of_index(fixed_architecture(r, device)[0]), device)
           for r in mine]
    return "spearman_beta_latency", spearman([fbnet_tradeoff(r) for r in mine], lat)


def device_metrics(res: MethodResult, scored: pd.DataFrame, bench: NB201Benchmark) -> list[dict]:
    """Per-device rows of ``comparison.csv`` for one method and seed."""
    rows = []
    for device, g in scored.groupby("device", sort=False):
        base = _base(res, device)
        max_lat = bench.budgets(device)[1.0]
        values = {"mean_regret": float(g["regret"].mean()), "violations": int(g["violation"].sum()),
                  "violation_rate": float(g["violation"].mean()),
                  "hypervolume": hypervolume(g["meas_latency_ms"], g["acc"], max_lat),
                  "mean_acc": float(g["acc"].mean()), "distinct_archs": int(g["arch"].nunique())}
        rho = tradeoff_rho(res, device, bench)
        if rho is not None:
            values[rho[0]] = rho[1]
        rows += [{**base, "metric": k, "value": v} for k, v in values.items()]
    return rows


def cost_metrics(res: MethodResult, n_devices: int) -> list[dict]:
    """``device = "all"`` rows: the search cost of the whole front (all devices x budgets)."""
    base = _base(res, "all")
    if res.method == "random":
        return [{**base, "metric": "evaluated_archs", "value": int(sum(res.evaluated.values()))},
                {**base, "metric": "search_runs", "value": 0}]
    if not res.runs:
        return []
    seconds = [search_seconds(r) for r in res.runs]
    phase1 = shared_phase1_seconds(res.runs)  # the shared supernet, counted once in every method's total
    spec = get_method(res.method)
    values = {"search_runs": len(res.runs), "search_seconds_measured": float(sum(seconds)) + phase1,
              "search_seconds_per_run": float(np.mean(seconds)), "search_seconds_shared_phase1": phase1}
    if spec.coverage == "all":
        values.update(search_runs_full_front=1, search_seconds_total=float(sum(seconds)) + phase1)
    else:
        tradeoffs = sorted({fbnet_tradeoff(r) for r in res.runs})
        done = {(r.config.devices, fbnet_tradeoff(r)) for r in res.runs}
        # a front of five budgets needs a trade-off sweep: at least the default one (FBNET_BETAS)
        full = n_devices * max(len(tradeoffs), len(FBNET_BETAS))
        values["search_runs_full_front"] = full
        if len(done) >= full:
            values["search_seconds_total"] = float(sum(seconds)) + phase1
        else:  # measured on a subset of (device, beta): the full grid costs per-run seconds x devices x betas
            values["search_seconds_total_extrapolated"] = float(np.mean(seconds)) * full + phase1
    return [{**base, "metric": k, "value": v} for k, v in values.items()]


def front_rows(bench: NB201Benchmark, devices: Sequence[str], dataset: str | None) -> list[dict]:
    """``oracle-front`` rows: hypervolume of each device's whole accuracy-latency Pareto front."""
    from nas.evaluation.reference import oracle_fronts

    front = oracle_fronts(bench, devices)
    res = MethodResult("oracle-front", None, "oracle-front", dataset)
    return [{**_base(res, d), "metric": "hypervolume",
             "value": hypervolume(g["latency_ms"], g["acc"], bench.budgets(d)[1.0])}
            for d, g in front.groupby("device", sort=False)]


def published_rows() -> list[dict]:
    """Published NAS-Bench-201 CIFAR-10 test accuracies (no latency budget), with the citation as run_id."""
    return [{"method": f"published:{name}", "search_space": "nb201", "dataset": "cifar10", "seed": None,
             "run_id": PUBLISHED_CITATION, "device": "all", "device_given_as": "name", "metric": "test_acc",
             "value": acc} for name, acc in PUBLISHED_NB201.items()]


def specialisation(res: MethodResult, bench: NB201Benchmark, devices: Sequence[str]) -> list[dict]:
    """``specialisation.csv`` rows: the answer for h at quantile q of h, scored on h' at quantile q of h'."""
    rows = []
    for h, items in res.answers.items():
        q_of_h = {round(v, 9): q for q, v in bench.budgets(h).items()}
        arch_of_q = {q_of_h[round(a.budget_ms, 9)]: a.arch for a in items}
        for h2 in devices:
            b2 = bench.budgets(h2)
            r = bench.budget_regret(h2, {b2[q]: arch for q, arch in arch_of_q.items()})
            base = {**_base(res, h), "device_to": h2}
            base.pop("device_given_as")
            rows += [{**base, "metric": "mean_regret", "value": float(r["regret"].mean())},
                     {**base, "metric": "violations", "value": int(r["violation"].sum())}]
    return rows
