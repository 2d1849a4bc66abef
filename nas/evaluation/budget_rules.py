"""The budget-rule ablation: every searched method's runs answered by each rule of
``nas.methods.budget``, scored on measured latency and trained accuracy (evaluation only).

``python -m nas.evaluation.budget_rules [--runs-dir DIR ...] [--out CSV] [--rerank-k K] [--score-images N]``
writes tidy rows (method, seed, run_id, rule, margin, rerank, device, metric, value) with metrics ``mean_regret``,
``violations`` (of 5 budgets), ``mean_fill`` (measured latency / budget) and ``distinct_archs``, and
prints the mean over devices per (method, rule, margin). The re-ranking variants (runs with supernet weights)
score the ``K`` most probable proposals within each budget on ``N`` held-out images (default 10 and 512).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from nas.costs.devices import SHARED_DEVICES
from nas.evaluation.answers import collect_runs, group_id
from nas.methods.budget import BUDGET_RULES
from nas.methods.darts import PUBLISHED
from nas.methods.registry import budget_answers
from nas.results import SUMMARY_COLUMNS, write_rows
from nas.search import run_io
from nas.search.one_shot import SCORE_IMAGES
from nas.spaces.nb201.benchmark import NB201Benchmark

COLUMNS = SUMMARY_COLUMNS["budget_rules.csv"]
RUNS_DIRS = ("results/runs", "results/runs/baselines")


RERANK_K = 10  # proposals re-ranked by the supernet in the re-ranking variants


def _variants(method: str, with_supernet: bool, rerank_k: int = RERANK_K) -> list[tuple[str, bool, int]]:
    """(rule, margin, rerank) of every variant; re-ranking (of the constrained rules) needs supernet weights."""
    variants = [(rule, margin, 0) for rule in BUDGET_RULES for margin in (True, False)]
    if with_supernet:
        variants += [(rule, margin, rerank_k) for rule in BUDGET_RULES[1:] for margin in (True, False)]
    return variants + [(PUBLISHED, False, 0)] if method == "darts" else variants


def ablation_rows(runs_dirs: Sequence[str | Path], devices: Sequence[str] = SHARED_DEVICES,
                  bench: NB201Benchmark | None = None, rerank_k: int = RERANK_K,
                  score_images: int = SCORE_IMAGES) -> list[dict]:
    """One row per (method group, rule, margin, rerank, device, metric); the re-ranking variants score
    ``rerank_k`` proposals on ``score_images`` held-out images."""
    bench = bench or NB201Benchmark.load()
    rows = []
    for (method, seed), runs in collect_runs(runs_dirs).items():
        runs = [replace(r, score_images=score_images) for r in runs]
        with_supernet = all(run_io.has_supernet(r.run_dir) for r in runs)
        for rule, margin, rerank in _variants(method, with_supernet, rerank_k):
            for device in devices:
                budgets = list(bench.budgets(device).values())
                answers = budget_answers(method, runs, device, budgets, rule=rule, margin=margin, rerank=rerank)
                if not answers:
                    continue
                scored = bench.budget_regret(device, {a.budget_ms: a.arch for a in answers})
                values = {"mean_regret": float(scored["regret"].mean()), "violations": int(scored["violation"].sum()),
                          "mean_fill": float((scored["meas_latency_ms"] / scored["budget_ms"]).mean()),
                          "distinct_archs": int(scored["arch"].nunique())}
                base = {"method": method, "seed": seed, "run_id": group_id(method, runs), "rule": rule,
                        "margin": margin, "rerank": rerank, "device": device}
                rows += [{**base, "metric": k, "value": v} for k, v in values.items()]
    return rows


def summary_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Per (method, rule, margin, rerank), over seeds and devices: mean regret, its sd over seeds, violations
    (mean per seed, of 40), fill, the worst device's regret (mean over seeds)."""
    df = pd.DataFrame(rows)
    keys = ["method", "rule", "margin", "rerank"]
    wide = df.pivot_table(index=keys + ["seed", "device"], columns="metric", values="value").reset_index()
    per_seed = wide.groupby(keys + ["seed"], sort=False).agg(
        mean_regret=("mean_regret", "mean"), violations=("violations", "sum"), mean_fill=("mean_fill", "mean"),
        distinct_archs=("distinct_archs", "mean")).reset_index()
    out = per_seed.groupby(keys, sort=False).agg(
        seeds=("seed", "nunique"), mean_regret=("mean_regret", "mean"), sd_regret=("mean_regret", "std"),
        violations=("violations", "mean"), mean_fill=("mean_fill", "mean"),
        distinct_archs=("distinct_archs", "mean")).reset_index()
    worst = (wide.groupby(keys + ["device"], sort=False)["mean_regret"].mean().groupby(level=keys).max()
             .rename("worst_device_regret").reset_index())
    return out.merge(worst, on=keys, how="left").round(3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.evaluation.budget_rules", description=__doc__.splitlines()[0])
    p.add_argument("--runs-dir", nargs="+", default=list(RUNS_DIRS), help="folders of finished runs")
    p.add_argument("--out", default="results/summary/budget_rules.csv", help="tidy CSV of the ablation")
    p.add_argument("--rerank-k", type=int, default=RERANK_K, help="proposals re-ranked per budget (default %(default)s)")
    p.add_argument("--score-images", type=int, default=SCORE_IMAGES,
                   help="held-out images per one-shot score when re-ranking (default %(default)s)")
    args = p.parse_args(argv)
    if args.rerank_k < 2 or args.score_images < 1:
        p.error("--rerank-k must be at least 2 and --score-images at least 1")
    rows = ablation_rows(args.runs_dir, rerank_k=args.rerank_k, score_images=args.score_images)
    write_rows(args.out, rows, COLUMNS)
    print(summary_table(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
