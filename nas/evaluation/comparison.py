"""The comparison of the methods (evaluation only): every method's budget answers scored on NAS-Bench-201.

For each method (``nas.methods.registry.METHODS``), seed and shared device, the method answers the five
latency budgets of the device (10/25/50/75/100 % quantiles of its measured latency); the answers
are scored with the benchmark's measured latency and trained accuracy. Outputs, all tidy:

* ``comparison.csv`` rows (long format, one metric per method x seed x device): ``mean_regret``,
  ``violations``, ``violation_rate``, ``hypervolume`` (of the accuracy vs measured-latency front of
  the five answers; latency divided by the device's largest measured latency, accuracy as a
  fraction; reference point (1, 0.10)), ``mean_acc``, ``distinct_archs``,
  ``spearman_lam_latency`` (lam-conditioned methods: measured latency along an 11-point lam
  sweep), ``spearman_beta_latency`` (fbnet: over its trade-off runs); per method and seed
  (``device = "all"``): ``search_seconds_total`` -- the wall-clock of every run the method needs
  for the whole front on all devices -- or, for fbnet searched on a subset of (device, beta),
  ``search_seconds_total_extrapolated`` = seconds per run x devices x trade-offs (at least the
  three of ``nas.methods.fbnet.FBNET_BETAS``: a front of five budgets needs a sweep), with
  ``search_seconds_measured``, ``search_seconds_per_run``, ``search_runs``,
  ``search_runs_full_front``; random search reports ``evaluated_archs`` instead. Reference rows:
  ``oracle`` (best architecture within each budget), ``oracle-front`` (hypervolume of the whole
  Pareto front of the space: the largest any set of answers can reach; five answers can exceed the
  five oracle answers' hypervolume by trading accuracy for speed) and the published NAS-Bench-201
  CIFAR-10 results (``published:*``, metric ``test_acc``).
* ``method_answers.csv``: every (method, seed, device, budget) answer with its scores.
* ``specialisation.csv``: the answer for device h at budget quantile q, measured on device h' at
  the same quantile of h' (``device`` = h, ``device_to`` = h'), as mean regret and violations on h'.
  The diagonal is the method's own regret.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from nas.methods.base import Answer, arch_of_index, fixed_architecture, lam_sweep
from nas.methods.fbnet import FBNET_BETAS, fbnet_tradeoff
from nas.methods.random_search import random_answers
from nas.methods.registry import METHODS, OURS, REPORT_ORDER, budget_answers, get_method
from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.methods.derive import SearchRun
from nas.costs.devices import SHARED_DEVICES
from nas.evaluation.evaluate import LAM_EVAL_GRID
from nas.results import SUMMARY_COLUMNS, write_rows
from nas.stats import spearman
from nas.search.run_io import finished_runs, load_run_info

METHOD_ORDER = REPORT_ORDER
REF_ACC = 10.0  # hypervolume reference accuracy (%): a dead or untrained network
# NAS-Bench-201 paper (Dong & Yang, ICLR 2020), Table 5, CIFAR-10 test accuracy (%), no latency budget
PUBLISHED_NB201 = {"darts": 54.30, "gdas": 93.61, "rea": 93.92, "optimum": 94.37}
PUBLISHED_CITATION = "Dong & Yang, NAS-Bench-201, ICLR 2020, Table 5 (CIFAR-10 test accuracy)"


@dataclass(frozen=True)
class ComparisonConfig:
    """Stage config of ``05_baselines``: where runs are, what is compared and how."""

    runs_dirs: tuple[str, ...] = ("results/runs", "results/runs/baselines")  # finished runs, any method
    summary_dir: str = "results/summary"
    devices: tuple[str, ...] = SHARED_DEVICES  # devices scored (and the full front's devices)
    dataset: str | None = None  # only runs searched on this dataset (None: any)
    n_random: int = 0  # random search: architectures per device (0: as many distinct as ours returns)
    random_seeds: tuple[int, ...] = ()  # random search seeds (empty: the seeds of the darts-cc-hw runs)


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


# ---------------------------------------------------------------------------------------------------
# Runs


def collect_runs(runs_dirs: Iterable[str | Path], dataset: str | None = None) -> dict[tuple[str, int], list[SearchRun]]:
    """Finished runs under ``runs_dirs`` (not recursive), grouped by (method, seed).

    A method whose one run covers every condition keeps one run per seed: the one with the most
    training devices (a run with a held-out device is not the method's front), then by name.
    """
    groups: dict[tuple[str, int], list[SearchRun]] = defaultdict(list)
    for folder in runs_dirs:
        if not Path(folder).is_dir():
            continue
        for run_dir in finished_runs(Path(folder)):
            run = SearchRun.load(run_dir)
            if dataset is None or run.config.dataset == dataset:
                groups[(run.config.method, run.config.seed)].append(run)
    out = {}
    for (method, seed), runs in sorted(groups.items()):
        runs = sorted(runs, key=lambda r: r.run_dir.name)
        one = method in METHODS and get_method(method).coverage == "all"
        out[(method, seed)] = [max(runs, key=lambda r: len(r.tables))] if one else runs
    return out


def group_id(method: str, runs: Sequence[SearchRun]) -> str:
    """The run_id written for a method's rows: its run, or ``<method>_<space>_<dataset>_s<seed>``."""
    if len(runs) == 1:
        return runs[0].run_dir.name
    cfg = runs[0].config
    return f"{method}_{cfg.space}_{cfg.dataset}_s{cfg.seed}"


def search_seconds(run: SearchRun) -> float:
    """Wall-clock of a finished search (``run.json``)."""
    return float(load_run_info(run.run_dir)["search_seconds"])


# ---------------------------------------------------------------------------------------------------
# Answers


def answer_searched(method: str, runs: list[SearchRun], bench: NB201Benchmark,
                    devices: Sequence[str]) -> MethodResult:
    """A searched method's answers to every device's budgets (devices it cannot answer are left out)."""
    res = MethodResult(method, runs[0].config.seed, group_id(method, runs), runs[0].config.dataset, runs)
    for device in devices:
        items = budget_answers(method, runs, device, list(bench.budgets(device).values()))
        if items:
            res.answers[device] = items
    return res


def answer_random(bench: NB201Benchmark, devices: Sequence[str], n_of: dict[str, int], seed: int,
                  dataset: str = "cifar10") -> MethodResult:
    """Random search with ``n_of[device]`` architectures per device."""
    res = MethodResult("random", seed, f"random_nb201_{dataset}_s{seed}", dataset)
    for device in devices:
        res.answers[device], archs = random_answers(bench, device, list(bench.budgets(device).values()),
                                                    n_of[device], seed)
        res.evaluated[device] = len(archs)
    return res


def answer_oracle(bench: NB201Benchmark, devices: Sequence[str], dataset: str = "cifar10") -> MethodResult:
    """The best architecture within each budget (the reference every regret is measured against)."""
    res = MethodResult("oracle", None, "oracle", dataset)
    for device in devices:
        res.answers[device] = []
        for b in bench.budgets(device).values():
            arch, _ = bench.oracle(device, b)
            res.answers[device].append(Answer(device, b, arch, bench.measured_latency(arch, device), None, ""))
    return res


def distinct_answers(result: MethodResult) -> dict[str, int]:
    """Number of distinct architectures a method returns per device."""
    return {d: len({a.arch for a in items}) for d, items in result.answers.items()}


def answer_all(cfg: ComparisonConfig, bench: NB201Benchmark) -> list[MethodResult]:
    """Every method's answers: searched methods from their runs, random search, the oracle."""
    groups = collect_runs(cfg.runs_dirs, cfg.dataset)
    results = [answer_searched(m, runs, bench, cfg.devices) for (m, _), runs in sorted(groups.items())
               if m in METHODS and get_method(m).answer is not None]
    ours = {r.seed: r for r in results if r.method == OURS}
    dataset = cfg.dataset or next((r.runs[0].config.dataset for r in results if r.runs), "cifar10")
    for seed in cfg.random_seeds or tuple(sorted(ours)) or (0,):
        if cfg.n_random:
            n_of = {d: cfg.n_random for d in cfg.devices}
        elif ours:  # as many as ours returns for that device (its own seed's run when there is one)
            n_of = distinct_answers(ours.get(seed, next(iter(ours.values()))))
        else:
            raise ValueError("random search needs n_random > 0 or a darts-cc-hw run whose answers it matches")
        results.append(answer_random(bench, cfg.devices, n_of, seed, dataset))
    results.append(answer_oracle(bench, cfg.devices, dataset))
    return results


# ---------------------------------------------------------------------------------------------------
# Metrics


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
    spec = get_method(res.method)
    values = {"search_runs": len(res.runs), "search_seconds_measured": float(sum(seconds)),
              "search_seconds_per_run": float(np.mean(seconds))}
    if spec.coverage == "all":
        values.update(search_runs_full_front=1, search_seconds_total=float(sum(seconds)))
    else:
        tradeoffs = sorted({fbnet_tradeoff(r) for r in res.runs})
        done = {(r.config.devices, fbnet_tradeoff(r)) for r in res.runs}
        # a front of five budgets needs a trade-off sweep: at least the default one (FBNET_BETAS)
        full = n_devices * max(len(tradeoffs), len(FBNET_BETAS))
        values["search_runs_full_front"] = full
        if len(done) >= full:
            values["search_seconds_total"] = float(sum(seconds))
        else:  # measured on a subset of (device, beta): the full grid costs per-run seconds x devices x betas
            values["search_seconds_total_extrapolated"] = float(np.mean(seconds)) * full
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


@dataclass
class Comparison:
    """The three tidy frames of the comparison."""

    metrics: pd.DataFrame  # comparison.csv rows
    answers: pd.DataFrame  # method_answers.csv
    specialisation: pd.DataFrame  # specialisation.csv


def build_comparison(cfg: ComparisonConfig, bench: NB201Benchmark | None = None) -> Comparison:
    """Answer, score and compare every method found under ``cfg.runs_dirs`` plus random search and the oracle."""
    bench = bench or NB201Benchmark.load()
    metrics, answers, spec = [], [], []
    results = answer_all(cfg, bench)
    for res in results:
        scored = score_answers(res, bench)
        answers.append(scored)
        metrics += device_metrics(res, scored, bench) + cost_metrics(res, len(cfg.devices))
        spec += specialisation(res, bench, cfg.devices)
    metrics += front_rows(bench, cfg.devices, results[-1].dataset) + published_rows()
    return Comparison(pd.DataFrame(metrics, columns=SUMMARY_COLUMNS["comparison.csv"]),
                      pd.concat(answers, ignore_index=True),
                      pd.DataFrame(spec, columns=SUMMARY_COLUMNS["specialisation.csv"]))


# ---------------------------------------------------------------------------------------------------
# Files

KEY = ("method", "search_space", "dataset", "seed", "run_id", "device", "device_given_as", "metric")


def merge_comparison(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``comparison.csv`` with ``new`` rows: every earlier row of a method ``new`` owns is dropped
    (all methods but darts-cc-hw, whose other rows -- held-out runs, devices given as CSV -- come
    from ``04_derive``); darts-cc-hw rows with the same key are replaced."""
    owned = set(new["method"]) - {OURS}
    keep = existing[~existing["method"].isin(owned)]
    keep = keep[~_keys(keep).isin(set(_keys(new)))]
    return pd.concat([keep, new], ignore_index=True)


def _keys(df: pd.DataFrame) -> pd.Series:
    """One string per row from the ``KEY`` columns, equal for a row read back from CSV (seed 0 == 0.0)."""
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return str(int(v)) if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer() else str(v)
    if df.empty:
        return pd.Series([], dtype=str)
    return df[list(KEY)].apply(lambda row: "|".join(cell(v) for v in row), axis=1)


def write_comparison(result: Comparison, summary_dir: str | Path) -> dict[str, Path]:
    """Write ``method_answers.csv`` and ``specialisation.csv``, and merge the metrics into ``comparison.csv``."""
    out = Path(summary_dir)
    path = out / "comparison.csv"
    existing = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=SUMMARY_COLUMNS["comparison.csv"])
    merged = merge_comparison(existing, result.metrics)
    frames = {"comparison.csv": merged, "method_answers.csv": result.answers,
              "specialisation.csv": result.specialisation}
    return {name: write_rows(out / name, _records(df), SUMMARY_COLUMNS[name]) for name, df in frames.items()}


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts with NaN written as empty cells."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in df.to_dict("records")]


# ---------------------------------------------------------------------------------------------------
# Table 4 (from comparison.csv only)

TABLE3_METRICS = ("mean_regret", "violations", "hypervolume", "spearman", "mean_acc")


def _fmt(values: pd.Series, digits: int | None) -> str:
    """Mean ± sd (sd only with several values); ``digits=None``: 0 decimals from 100 on, else 1."""
    v = values.dropna().astype(float)
    if v.empty:
        return ""
    if digits is None:
        digits = 0 if abs(v.mean()) >= 100 else 1
    if len(v) == 1:
        return f"{v.iloc[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Table 4: per method and device, mean ± sd over seeds; per method the mean over its devices and
    the search cost of the whole front (``*``: extrapolated from the measured runs)."""
    c = comparison[comparison["device_given_as"] == "name"].copy()
    # rows of nas.evaluation.comparison only: the (method, run, device) it scored, plus those runs' cost rows
    # ("all"); not 04_derive's held-out runs or local runtimes
    scored = c[c["metric"] == "hypervolume"]  # every scored device has one (oracle-front included)
    runs = scored[["method", "run_id"]].drop_duplicates()
    per_device = c.merge(scored[["method", "run_id", "device"]].drop_duplicates(), on=["method", "run_id", "device"])
    c = pd.concat([per_device, c[c["device"] == "all"].merge(runs, on=["method", "run_id"])], ignore_index=True)
    c["metric"] = c["metric"].replace({"spearman_lam_latency": "spearman", "spearman_beta_latency": "spearman"})
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    rows = []
    for method in sorted(c["method"].unique(), key=lambda m: order.get(m, 99)):
        m = c[c["method"] == method]
        per_dev = m[m["device"] != "all"]
        for device, g in per_dev.groupby("device"):
            rows.append(_table_row(method, device, g))
        seed_means = per_dev.groupby(["metric", "seed"], dropna=False)["value"].mean().reset_index()
        row = _table_row(method, f"mean ({per_dev['device'].nunique()} devices)", seed_means)
        row["search s (full front)"] = _cost_cell(m[m["device"] == "all"])
        rows.append(row)
    for _, r in comparison[comparison["metric"] == "test_acc"].iterrows():
        rows.append({"method": r["method"], "device": "(no budget)", "mean acc (%)": f"{r['value']:.2f}"})
    cols = ["method", "device", "seeds", "mean regret (pts)", "violations (of 5)", "hypervolume",
            "rho(trade-off, latency)", "mean acc (%)", "search s (full front)"]
    return pd.DataFrame(rows).reindex(columns=cols)


def _table_row(method: str, device: str, g: pd.DataFrame) -> dict:
    val = lambda k: g.loc[g["metric"] == k, "value"]  # noqa: E731
    n = int(g.loc[g["metric"] == "mean_regret", "seed"].notna().sum())
    return {"method": method, "device": device, "seeds": str(n) if n else "",
            "mean regret (pts)": _fmt(val("mean_regret"), 2), "violations (of 5)": _fmt(val("violations"), 1),
            "hypervolume": _fmt(val("hypervolume"), 3), "rho(trade-off, latency)": _fmt(val("spearman"), 2),
            "mean acc (%)": _fmt(val("mean_acc"), 2)}


def _cost_cell(g: pd.DataFrame) -> str:
    exact = g.loc[g["metric"] == "search_seconds_total", "value"]
    if exact.size:
        return _fmt(exact, None)
    extra = g.loc[g["metric"] == "search_seconds_total_extrapolated", "value"]
    if extra.size:
        runs = g.loc[g["metric"] == "search_runs", "value"]
        full = g.loc[g["metric"] == "search_runs_full_front", "value"]
        return f"{_fmt(extra, None)}* ({int(runs.mean())} of {int(full.mean())} runs)"
    archs = g.loc[g["metric"] == "evaluated_archs", "value"]
    return f"{int(archs.mean())} archs trained" if archs.size else ""


def write_comparison_table(comparison: pd.DataFrame, table_dir: str | Path, profile: str) -> dict[str, Path]:
    """Write ``table4_comparison.{md,tex}`` from ``comparison.csv``."""
    from nas.report.tables import write_table

    caption = (f"Table 4. Methods compared on NAS-Bench-201 (profile {profile}): mean budget regret (accuracy "
               "points) and violations over the 10/25/50/75/100 % latency budgets of each device, hypervolume of "
               "the five answers (latency / max latency, accuracy; reference (1, 10 %)), Spearman rho of measured "
               "latency vs the trade-off (lam; beta for fbnet), mean accuracy of the answers, and wall-clock "
               "search cost of the whole front (8 devices x 5 budgets; * = extrapolated from the measured "
               "per-run cost). Published rows: " + PUBLISHED_CITATION + ". Source: results/summary/comparison.csv.")
    return write_table(comparison_table(comparison), table_dir, "table4_comparison", caption)
