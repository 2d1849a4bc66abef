"""A check of the retraining code against NAS-Bench-201: a handful of NB201 cells spread over the
benchmark's CIFAR-10 accuracy range, each trained from scratch by ``nas.train`` at a short schedule,
and the rank correlation of their test accuracy with the benchmark's (200 epochs, C=16, N=5).

    python -m nas.evaluation.trainer_check --n 6 --runs results/runs/trainer_check \\
        --out results/summary/trainer_check.csv [--set FIELD=VALUE ...]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from nas.stats import kendall_tau, spearman

DEFAULT_SCHEDULE = dict(space="nb201", dataset="cifar10", C=16, N=1, n_train=10_000, epochs=3)


def pick_cells(n: int, seed: int = 0) -> list[str]:
    """``n`` live NB201 cells at evenly spaced quantiles (5 % to 99 %) of benchmark accuracy, one drawn at
    random among the 20 nearest to each quantile (seeded)."""
    from nas.spaces.nb201.benchmark import DEFAULT_METRIC, NB201Benchmark

    live = NB201Benchmark.load().live().sort_values(DEFAULT_METRIC).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    out = []
    for q in np.linspace(0.05, 0.99, n):
        centre = int(q * (len(live) - 1))
        window = live["arch_str"].iloc[max(0, centre - 10):centre + 10].tolist()
        out.append(str(rng.choice([a for a in window if a not in out])))
    return out


def check(n: int, runs_dir: str | Path, *, jobs: int = 2, seed: int = 0, profile: str = "default",
          **overrides) -> pd.DataFrame:
    """Train the picked cells (``DEFAULT_SCHEDULE`` plus ``overrides``); one row per cell with its benchmark and
    trained accuracy, then the correlation rows (``arch`` = ``spearman`` / ``kendall``)."""
    from nas.spaces.nb201.benchmark import NB201Benchmark
    from nas.train.batch import train_all
    from nas.train.config import run_name, train_config_for_profile

    bench = NB201Benchmark.load()
    settings = {**DEFAULT_SCHEDULE, **overrides, "threads": 1 if jobs > 1 else overrides.get("threads", 0)}
    jobs_list = []
    for arch in pick_cells(n, seed):
        tc = train_config_for_profile(profile, genotype=arch, seed=seed, **settings)
        jobs_list.append((Path(runs_dir) / run_name(tc), tc))
    results = train_all(jobs_list, jobs)
    rows = [{"arch": tc.genotype, "bench_acc": bench.accuracy(tc.genotype), "trained_acc": r["test_acc_pct"],
             "train_seconds": r["train_seconds"], "schedule": f"{tc.dataset} C{tc.C} N{tc.N} {tc.epochs}ep "
             f"{tc.n_train or 'all'} images"} for (_, tc), r in zip(jobs_list, results)]
    frame = pd.DataFrame(rows)
    corr = [{"arch": name, "bench_acc": math.nan, "trained_acc": fn(frame["bench_acc"], frame["trained_acc"]),
             "train_seconds": math.nan, "schedule": rows[0]["schedule"]}
            for name, fn in (("spearman", spearman), ("kendall", kendall_tau))]
    return pd.concat([frame, pd.DataFrame(corr)], ignore_index=True)


def main(argv=None) -> int:
    from nas.results import write_rows
    from nas.search.serialise import parse_set
    from nas.train.config import TrainConfig

    p = argparse.ArgumentParser(prog="python -m nas.evaluation.trainer_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=6, help="NB201 cells to train (default 6)")
    p.add_argument("--runs", default="results/runs/trainer_check", help="training folders (reused when finished)")
    p.add_argument("--out", default="results/summary/trainer_check.csv", help="the tidy result CSV")
    p.add_argument("--jobs", type=int, default=2, help="trainings in parallel (1 thread each)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="TrainConfig fields")
    args = p.parse_args(argv)
    frame = check(args.n, args.runs, jobs=args.jobs, **parse_set(args.set, TrainConfig))
    write_rows(args.out, frame.to_dict("records"))
    print(frame.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
