"""Stage ``05_baselines``: the compared methods' runs (``nas.methods.registry``) and the comparison.

:func:`comparison_plan` names every run of the stage (the searched baselines at ``seeds`` or their own ``method_seeds``,
``darts-cc-hw`` at ``ours_seeds``, one shared schedule); :func:`cli_command` is the shell command
that runs one of them (``python -m nas plan`` prints them); :func:`run` runs them and writes
``comparison.csv``, ``method_answers.csv`` and ``specialisation.csv`` (``nas.evaluation.comparison``), the
budget-rule ablation ``budget_rules.csv`` and the ranking diagnostics ``ranking.csv`` of every run.
Paths of the config are relative to the working directory (the notebook runs in ``notebooks/``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from nas.costs.devices import SHARED_DEVICES
from nas.methods.fbnet import FBNET_BETAS
from nas.methods.registry import baseline_run_name, build_config, get_method
from nas.search.config import SearchConfig, config_for_profile
from nas.search.serialise import to_set_args
from nas.stages.environment import PROFILES


@dataclass(frozen=True)
class BaselinesConfig:
    """Config of stage 05 (the fields of the notebook's ``parameters`` cell)."""

    profile: str = "default"  # sizes of every search (nas.search.config.PROFILES)
    dataset: str = "cifar10"  # cifar10 | fashion-mnist | synthetic
    seeds: tuple[int, ...] = (0,)  # seeds of every baseline run (and of random search)
    methods: tuple[str, ...] = ("darts", "darts-cc", "fbnet")  # searched baselines run here
    method_seeds: dict = field(default_factory=lambda: {"darts": [0, 1, 2]})  # a method's seeds instead of `seeds`
    ours_seeds: tuple[int, ...] = (1, 2)  # darts-cc-hw seeds run here with the baselines' schedule (03 runs seed 0)
    fbnet_devices: tuple[str, ...] = ("raspi4",)  # devices of the fbnet runs (empty: all 8 shared devices)
    fbnet_betas: tuple[float, ...] = FBNET_BETAS  # FBNet's exponent beta per run (0.6 published)
    schedule: dict = field(default_factory=dict)  # SearchConfig fields for every run here, ours included
    run_suffix: str = ""  # appended to the run names of this stage
    n_random: int = 0  # random search: architectures per device (0: as many distinct as darts-cc-hw returns)
    threads: int = 0  # torch threads per search (0: the default)
    data_root: str = ""  # "": NAS_DATA_DIR or the repository's data/
    ours_runs_dir: str = "../results/runs"  # darts-cc-hw runs of 03_search compared here ("": none)
    runs_dir: str = "../results/runs/baselines"  # run folders of this stage
    supernets_dir: str = "../results/runs/supernets"  # two-phase: the shared phase-1 supernets (both stages)
    summary_dir: str = "../results/summary"  # comparison.csv, method_answers.csv, specialisation.csv

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")


def method_configs(method: str, profile: str, *, devices: Sequence[str] = SHARED_DEVICES,
                   tradeoffs: Sequence[float] | None = None, suffix: str = "", **overrides) -> dict[str, SearchConfig]:
    """Every run ``method`` needs, by run name: one for ``all`` methods, one per (device, beta) for fbnet.

    ``devices`` and ``tradeoffs`` matter only for per-condition methods (default betas:
    ``FBNET_BETAS``); a method without search gives ``{}``. ``suffix`` is appended to every run
    name (the comparison's shorter schedule keeps its runs apart from the main ones).
    """
    spec = get_method(method)
    if not spec.needs_search:
        return {}
    if spec.coverage == "all":
        cfgs = [build_config(method, profile, **overrides)]
    else:
        cfgs = [build_config(method, profile, device=d, tradeoff=t, **overrides)
                for d in devices for t in (tradeoffs or FBNET_BETAS)]
    return {baseline_run_name(c) + suffix: c for c in cfgs}


def comparison_plan(profile: str, *, dataset: str = "cifar10", seeds: Sequence[int] = (0,),
                    methods: Sequence[str] = ("darts", "darts-cc", "fbnet"),
                    method_seeds: Mapping[str, Sequence[int]] | None = None, ours_seeds: Sequence[int] = (),
                    fbnet_devices: Sequence[str] = (), fbnet_betas: Sequence[float] = FBNET_BETAS,
                    schedule: Mapping | None = None, run_suffix: str = "", data_root: str | None = None,
                    threads: int = 0) -> dict[str, SearchConfig]:
    """The runs of stage ``05_baselines`` by run name: ``methods`` at ``seeds`` (a method named in ``method_seeds``
    at its own seeds there), ``darts-cc-hw`` at ``ours_seeds``.

    ``schedule`` (SearchConfig fields such as epochs, n_train) applies to every run, ours included,
    so that the compared methods share data, schedule and seeds; ``run_suffix`` names such runs.
    ``fbnet_devices`` empty: every shared device.
    """
    common = dict(dataset=dataset, data_root=data_root, threads=threads, suffix=run_suffix, **dict(schedule or {}))
    unknown = sorted(set(method_seeds or {}) - set(methods))
    if unknown:
        raise ValueError(f"method_seeds names {unknown}, which are not among the methods {list(methods)}")
    out: dict[str, SearchConfig] = {}
    for method in methods:
        for seed in (method_seeds or {}).get(method, seeds):
            out.update(method_configs(method, profile, devices=tuple(fbnet_devices) or SHARED_DEVICES,
                                      tradeoffs=tuple(fbnet_betas), seed=int(seed), **common))
    for seed in ours_seeds:
        out.update(method_configs("darts-cc-hw", profile, seed=seed, **common))
    return out


def cli_command(cfg: SearchConfig, profile: str, out_dir: str | Path, python: str = "python",
                supernets: str | Path | None = None, supernet_only: bool = False) -> str:
    """The ``python -m nas search`` command that runs (or resumes) exactly ``cfg`` into ``out_dir``.

    Method, dataset, seed and devices are options of their own; every other field that differs
    from the profile's config is a ``--set`` word (``nas.search.serialise``). ``supernets``: the
    folder of shared phase-1 supernets of a two-phase run; ``supernet_only``: the command that trains
    only that phase-1 supernet (``out_dir`` is then the supernets folder).
    """
    default = config_for_profile(profile)
    args = [f"{shlex.quote(python)} -m nas search", f"--profile {profile}", f"--method {cfg.method}",
            f"--dataset {cfg.dataset}", f"--seed {cfg.seed}"]
    if cfg.space != default.space:
        args.append(f"--space {cfg.space}")
    if cfg.devices != default.devices:
        args.append("--devices " + " ".join(map(shlex.quote, cfg.devices)))
    base = replace(default, method=cfg.method, dataset=cfg.dataset, seed=cfg.seed, devices=cfg.devices,
                   space=cfg.space)
    sets = to_set_args(cfg, base)
    if sets:
        args.append("--set " + " ".join(sets))
    args.append(f"--out {shlex.quote(str(out_dir))}")
    if supernet_only:
        args.append("--supernet-only")
    elif supernets is not None and cfg.schedule == "two-phase":
        args.append(f"--supernets {shlex.quote(str(supernets))}")
    return " ".join(args)


def run_configs(configs: Mapping[str, SearchConfig], runs_dir: str | Path, *, data=None,
                progress: bool = True, supernets_dir: str | Path | None = None) -> list[Path]:
    """Run (or resume) every config into ``runs_dir/<name>``; returns the run folders."""
    from nas.search.loop import run_search

    return [run_search(cfg, Path(runs_dir) / name, data=data, progress=progress, supernets_dir=supernets_dir)
            for name, cfg in configs.items()]


def _named_configs(cfg: BaselinesConfig) -> dict[str, SearchConfig]:
    return comparison_plan(cfg.profile, dataset=cfg.dataset, seeds=cfg.seeds, methods=cfg.methods,
                           method_seeds=cfg.method_seeds, ours_seeds=cfg.ours_seeds, fbnet_devices=cfg.fbnet_devices,
                           fbnet_betas=cfg.fbnet_betas,
                           schedule=cfg.schedule, run_suffix=cfg.run_suffix, data_root=cfg.data_root or None,
                           threads=cfg.threads)


def plan(cfg: BaselinesConfig) -> dict[Path, SearchConfig]:
    """Run folder (``runs_dir/<run name>``) -> config of every search of the stage."""
    return {Path(cfg.runs_dir) / name: c for name, c in _named_configs(cfg).items()}


def plan_table(cfg: BaselinesConfig) -> pd.DataFrame:
    """One row per planned run: name, method, seed, devices and the shell command that runs it."""
    from nas.stages.plan import repo_relative

    return pd.DataFrame([{"run": d.name, "method": c.method, "seed": c.seed, "devices": "+".join(c.devices),
                          "command": cli_command(c, cfg.profile, repo_relative(d))} for d, c in plan(cfg).items()])


def run(cfg: BaselinesConfig) -> dict[str, Path]:
    """Run (or reuse) every planned search, then compare every method; return {file name: path}."""
    from nas.evaluation.budget_rules import ablation_rows
    from nas.evaluation.comparison import ComparisonConfig, build_comparison, write_comparison
    from nas.results import SUMMARY_COLUMNS, write_rows

    run_configs(_named_configs(cfg), cfg.runs_dir, supernets_dir=cfg.supernets_dir)
    compared = ComparisonConfig(runs_dirs=tuple(d for d in (cfg.ours_runs_dir, cfg.runs_dir) if d),
                                summary_dir=cfg.summary_dir, dataset=cfg.dataset, n_random=cfg.n_random)
    paths = write_comparison(build_comparison(compared), cfg.summary_dir)
    rules = Path(cfg.summary_dir) / "budget_rules.csv"  # every budget rule on the same runs (an ablation)
    paths["budget_rules.csv"] = write_rows(rules, ablation_rows(compared.runs_dirs), SUMMARY_COLUMNS["budget_rules.csv"])
    paths["ranking.csv"] = write_rows(Path(cfg.summary_dir) / "ranking.csv", all_ranking_rows(compared.runs_dirs),
                                      SUMMARY_COLUMNS["ranking.csv"])
    return paths


def all_ranking_rows(runs_dirs) -> list[dict]:
    """``ranking.csv``: the ranking diagnostics (``nas.evaluation.ranking``) of every finished run of ``runs_dirs``
    with supernet weights (each shared phase-1 supernet is scored once; its scores are cached beside it)."""
    from nas.evaluation.ranking import ranking_rows
    from nas.search import run_io
    from nas.spaces.nb201.benchmark import NB201Benchmark

    bench = NB201Benchmark.load()
    return [row for d in runs_dirs for r in run_io.finished_runs(Path(d)) if run_io.has_supernet(r)
            for row in ranking_rows(r, bench=bench)]
