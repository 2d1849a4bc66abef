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
  ``search_runs_full_front`` and ``search_seconds_shared_phase1`` (two-phase schedule: the shared
  phase-1 supernet the method's runs trained against, counted once in its totals and in every
  other method's of the same seed; ``search_seconds_per_run`` is phase 2 alone); random search reports ``evaluated_archs`` instead. Reference rows:
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas.costs.devices import SHARED_DEVICES
from nas.methods.registry import OURS
from nas.results import SUMMARY_COLUMNS, write_rows
from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.evaluation.answers import answer_all
from nas.evaluation.scores import cost_metrics, device_metrics, front_rows, published_rows, score_answers, specialisation


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
