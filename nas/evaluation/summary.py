"""Rebuild ``results/summary/*.csv`` from run folders (idempotent: files are rewritten, never appended).

``runs.csv`` lists finished runs; ``derived.csv`` holds every derived architecture with measured
latency and benchmark accuracy; ``regret.csv`` scores each latency-budget query;
``comparison.csv`` holds one metric per (run, device) in long format; ``arch_probs.csv`` the op
probabilities per (device, lam, edge); ``search_history.csv`` the per-epoch search curves; and
``oracle_front.csv``, ``random_reference.csv`` and ``lut_fit.csv`` describe the space and the
devices (``nas.evaluation.reference``; the device similarity including this machine is stage 02's).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.evaluation import reference
from nas.methods.derive import SearchRun
from nas.costs.devices import SHARED_DEVICES
from nas.evaluation.evaluate import MODNAS_REFERENCE_INDICES, evaluate_local, evaluate_run, evaluate_unseen, measurement_csv
from nas.spaces.nb201.genotype import EDGES
from nas.ops import NB201_PRIMITIVES
from nas.costs.profiles import profile_dirs
from nas.results import SUMMARY_COLUMNS, write_rows
from nas.search import run_io
from nas.search.run_io import finished_runs, load_history, load_tables, run_record, unseen_csv


@dataclass(frozen=True)
class SummaryConfig:
    """Stage config of ``04_derive``: where runs are, where summaries go, how unseen devices are given."""

    runs_dir: str = "results/runs"
    summary_dir: str = "results/summary"
    unseen_n: int = 300  # random measured architectures describing an unseen device
    unseen_seed: int = 0
    reference_indices: tuple[int, ...] = MODNAS_REFERENCE_INDICES  # MODNAS's 10 device-describing cells
    latency_dir: str = "data/latency"  # profiles of this machine's runtimes (stage 02); each is evaluated too


def _unseen(run_dir: Path, cfg: SummaryConfig, bench: NB201Benchmark):
    """Evaluate every shared device the run did not train on, from measurement CSVs in the run folder."""
    trained = {t.name for t in load_tables(run_dir)}
    frames = []
    for device in (d for d in SHARED_DEVICES if d not in trained):
        for tag, kwargs in ((f"{cfg.unseen_n}random", dict(n=cfg.unseen_n, seed=cfg.unseen_seed)),
                            ("modnas10", dict(indices=cfg.reference_indices))):
            csv = measurement_csv(bench, device, unseen_csv(run_dir, device, tag), **kwargs)
            frames.append(evaluate_unseen(run_dir, device, csv, bench))
    return frames


def arch_probs(run_dir: Path, lams=tuple(np.round(np.linspace(0, 1, 21), 2))) -> pd.DataFrame:
    """Op probabilities per (device, lam_norm, edge, op) for every training device of a run."""
    run = SearchRun.load(run_dir)
    rows = []
    for name, table in run.tables.items():
        probs = run.probs(table, lams)  # (L, 6, 5)
        for (li, lam), (e, (src, dst)), (o, op) in itertools.product(enumerate(lams), enumerate(EDGES),
                                                                      enumerate(NB201_PRIMITIVES)):
            rows.append({"run_id": run_dir.name, "device": name, "lam": lam, "edge": f"{src}->{dst}", "op": op,
                         "prob": float(probs[li, e, o])})
    return pd.DataFrame(rows)


def search_history(run_dir: Path) -> pd.DataFrame:
    """The run's per-epoch history with its run_id."""
    h = load_history(run_dir)
    h.insert(0, "run_id", run_dir.name)
    return h


def space_tables(bench: NB201Benchmark) -> dict[str, pd.DataFrame]:
    """Summaries of the NB201 space and the devices, independent of any run."""
    return {"oracle_front.csv": reference.oracle_fronts(bench),
            "random_reference.csv": reference.random_reference(bench),
            "lut_fit.csv": reference.lut_fit()}


def rebuild_summaries(cfg: SummaryConfig) -> dict[str, Path]:
    """Evaluate every finished run under ``runs_dir`` and rewrite the summary CSVs; returns their paths."""
    runs, bench = finished_runs(Path(cfg.runs_dir)), NB201Benchmark.load()
    if not runs:
        raise FileNotFoundError(f"no finished run under {cfg.runs_dir}; run the search stage first")
    root = run_io.runs_root(cfg.runs_dir)
    derived, regret, metrics = [], [], []
    for run_dir in runs:
        trained = [t.name for t in load_tables(run_dir) if t.name in SHARED_DEVICES]
        parts = [evaluate_run(run_dir, trained, bench)] + _unseen(run_dir, cfg, bench)
        for d, r, m in parts:
            derived.append(d), regret.append(r), metrics.append(m)
        for profile in profile_dirs(cfg.latency_dir):
            d, m = evaluate_local(run_dir, profile, bench)
            derived.append(d), metrics.append(m)
    out = Path(cfg.summary_dir)
    tables = {
        "runs.csv": pd.DataFrame([run_record(r, root) for r in runs]),
        "derived.csv": pd.concat(derived, ignore_index=True),
        "regret.csv": pd.concat(regret, ignore_index=True),
        "comparison.csv": pd.concat(metrics, ignore_index=True),
        "arch_probs.csv": pd.concat([arch_probs(r) for r in runs], ignore_index=True),
        "search_history.csv": pd.concat([search_history(r) for r in runs], ignore_index=True),
        **space_tables(bench),
    }
    return {name: write_rows(out / name, df.to_dict("records"), SUMMARY_COLUMNS[name]) for name, df in tables.items()}
