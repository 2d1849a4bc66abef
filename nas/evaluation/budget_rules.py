"""The budget-rule ablation: every searched method's runs answered by each rule of
``nas.methods.budget``, scored on measured latency and trained accuracy (evaluation only).

``python -m nas.evaluation.budget_rules [--runs-dir DIR ...] [--out CSV]`` writes tidy rows
(method, seed, run_id, rule, margin, device, metric, value) with metrics ``mean_regret``,
``violations`` (of 5 budgets), ``mean_fill`` (measured latency / budget) and ``distinct_archs``, and
prints the mean over devices per (method, rule, margin).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import pandas as pd

from nas.costs.devices import SHARED_DEVICES
from nas.evaluation.answers import collect_runs, group_id
from nas.methods.budget import BUDGET_RULES
from nas.methods.darts import PUBLISHED
from nas.methods.registry import budget_answers
from nas.results import SUMMARY_COLUMNS, write_rows
from nas.spaces.nb201.benchmark import NB201Benchmark

COLUMNS = SUMMARY_COLUMNS["budget_rules.csv"]
RUNS_DIRS = ("results/runs", "results/runs/baselines")


def _variants(method: str) -> list[tuple[str, bool]]:
    variants = [(rule, margin) for rule in BUDGET_RULES for margin in (True, False)]
    return variants + [(PUBLISHED, False)] if method == "darts" else variants


def ablation_rows(runs_dirs: Sequence[str | Path], devices: Sequence[str] = SHARED_DEVICES,
                  bench: NB201Benchmark | None = None) -> list[dict]:
    """One row per (method group, rule, margin, device, metric)."""
    bench = bench or NB201Benchmark.load()
    rows = []
    for (method, seed), runs in collect_runs(runs_dirs).items():
        for rule, margin in _variants(method):
            for device in devices:
                budgets = list(bench.budgets(device).values())
                answers = budget_answers(method, runs, device, budgets, rule=rule, margin=margin)
                if not answers:
                    continue
                scored = bench.budget_regret(device, {a.budget_ms: a.arch for a in answers})
                values = {"mean_regret": float(scored["regret"].mean()), "violations": int(scored["violation"].sum()),
                          "mean_fill": float((scored["meas_latency_ms"] / scored["budget_ms"]).mean()),
                          "distinct_archs": int(scored["arch"].nunique())}
                base = {"method": method, "seed": seed, "run_id": group_id(method, runs), "rule": rule,
                        "margin": margin, "device": device}
                rows += [{**base, "metric": k, "value": v} for k, v in values.items()]
    return rows


def summary_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Mean over devices per (method, rule, margin): regret, violations (sum), fill."""
    df = pd.DataFrame(rows)
    agg = {"mean_regret": "mean", "violations": "sum", "mean_fill": "mean", "distinct_archs": "mean"}
    wide = df.pivot_table(index=["method", "rule", "margin", "device"], columns="metric", values="value").reset_index()
    out = wide.groupby(["method", "rule", "margin"], sort=False).agg(agg).reset_index()
    out["worst_device_regret"] = wide.groupby(["method", "rule", "margin"], sort=False)["mean_regret"].max().values
    return out.round(3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.evaluation.budget_rules", description=__doc__.splitlines()[0])
    p.add_argument("--runs-dir", nargs="+", default=list(RUNS_DIRS), help="folders of finished runs")
    p.add_argument("--out", default="results/summary/budget_rules.csv", help="tidy CSV of the ablation")
    args = p.parse_args(argv)
    rows = ablation_rows(args.runs_dir)
    write_rows(args.out, rows, COLUMNS)
    print(summary_table(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
