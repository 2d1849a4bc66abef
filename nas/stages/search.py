"""Stage ``03_search``: the search-step benchmark, then the conditioned searches of one method.

One run per entry of ``holdouts`` ("" trains on all 8 shared devices, a name leaves that device
out so that ``04_derive`` can query it as unseen). Writes ``performance.csv`` (benchmark),
the run folders ``<runs_dir>/<run name>/`` and ``runs.csv``. Paths are relative to the working
directory (the notebook runs in ``notebooks/``); a finished run folder is reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from nas.search.config import SearchConfig, search_plan
from nas.stages.environment import PROFILES

PERFORMANCE_SHOWN = ("mode", "threads", "search_step_ms", "child_step_ms", "search_over_child", "target_over_child",
                     "hypernet_share", "peak_memory_mb", "images_per_s")


@dataclass(frozen=True)
class SearchStageConfig:
    """Config of stage 03 (the fields of the notebook's ``parameters`` cell)."""

    profile: str = "default"  # sizes of the search (nas.search.config.PROFILES)
    method: str = "darts-cc-hw"  # method id written to the results
    dataset: str = "cifar10"  # cifar10 | fashion-mnist | synthetic
    seed: int = 0  # weights, sampled conditions, Gumbel noise
    holdouts: tuple[str, ...] = ("", "pixel3")  # one search per entry; "" trains on all 8 shared devices
    epochs: int = 0  # 0: the profile's number of epochs
    data_root: str = ""  # "": NAS_DATA_DIR or the repository's data/
    runs_dir: str = "../results/runs"
    supernets_dir: str = "../results/runs/supernets"  # two-phase: the shared phase-1 supernets (both stages)
    summary_dir: str = "../results/summary"  # runs.csv and performance.csv
    bench_repeats: int = 40  # timed steps per benchmarked configuration (0: skip the benchmark)
    bench_modes: tuple[str, ...] = ("single-path", "mixed")
    bench_memory: bool = True  # peak memory per benchmarked configuration

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")


class SearchStageResult(NamedTuple):
    """What the stage shows: benchmark (None when skipped), one row per run, per-epoch history."""

    performance: pd.DataFrame | None
    runs: pd.DataFrame
    history: pd.DataFrame


def plan(cfg: SearchStageConfig) -> dict[Path, SearchConfig]:
    """Run folder (``runs_dir/<run name>``) -> config of every search of the stage."""
    over = {"epochs": cfg.epochs} if cfg.epochs else {}
    configs = search_plan(cfg.profile, method=cfg.method, dataset=cfg.dataset, seed=cfg.seed,
                          holdouts=tuple(cfg.holdouts), data_root=cfg.data_root or None, **over)
    return {Path(cfg.runs_dir) / name: c for name, c in configs.items()}


def plan_table(cfg: SearchStageConfig) -> pd.DataFrame:
    """The planned configs side by side: one column per run name, one row per SearchConfig field."""
    return pd.DataFrame({d.name: c.to_dict() for d, c in plan(cfg).items()})


def benchmark(cfg: SearchStageConfig, torch_device: str) -> pd.DataFrame | None:
    """Time a search step against a child step (``nas.search.bench``), merge into ``performance.csv``."""
    from nas.search.bench import BenchConfig, bench_search_step, write_performance

    if not cfg.bench_repeats:
        return None
    bench = BenchConfig(modes=tuple(cfg.bench_modes), profile=cfg.profile, repeats=cfg.bench_repeats,
                        memory=cfg.bench_memory, torch_device=torch_device)
    perf = bench_search_step(bench)
    write_performance(perf, Path(cfg.summary_dir) / "performance.csv")
    return pd.DataFrame(perf)[list(PERFORMANCE_SHOWN)]


def run(cfg: SearchStageConfig) -> SearchStageResult:
    """Benchmark, run (or reuse) every planned search, rewrite ``runs.csv``."""
    from nas.results import SUMMARY_COLUMNS, write_rows
    from nas.search import run_io
    from nas.search.loop import run_search

    configs = plan(cfg)
    performance = benchmark(cfg, next(iter(configs.values())).torch_device)
    run_dirs = [run_search(c, d, supernets_dir=cfg.supernets_dir) for d, c in configs.items()]
    root = run_io.runs_root(cfg.runs_dir)
    write_rows(Path(cfg.summary_dir) / "runs.csv",
               [run_io.run_record(r, root) for r in run_io.finished_runs(Path(cfg.runs_dir))],
               SUMMARY_COLUMNS["runs.csv"])
    runs = pd.DataFrame([{"run_id": d.name, **{k: run_io.load_run_info(d).get(k) for k in ("search_seconds", "peak_rss_mb")}}
                         for d in run_dirs])
    history = pd.concat({d.name: run_io.load_history(d) for d in run_dirs}).round(3)
    return SearchStageResult(performance, runs, history)
