"""Stage ``07_darts_space``: the DARTS cell space on Fashion-MNIST and CIFAR-10, derived architectures
retrained from scratch.

Per dataset and seed: one shared phase-1 supernet of the DARTS space (``nas.search.shared_supernet``),
then each searched method's phase 2 against it (``darts-cc-hw`` on ``devices``; ``darts-cc`` on
parameters; ``darts``, no cost; ``fbnet``, one run per trade-off of ``fbnet_betas`` on ``eval_device``).
Architectures: ours and darts-cc at each ``lams`` on ``eval_device`` (DARTS-CC's one-op-per-edge rule),
each fbnet run's most probable one, darts's one cell by DARTS's published top-2 rule, and ``random``:
for each of ours, a uniformly drawn valid architecture whose predicted cost on ``eval_device`` lies
within ``random_tolerance`` of it (the comparison at equal latency). Every distinct architecture is
trained from scratch with one schedule (``nas.train``) and timed end to end on each local runtime of
``measure_runtimes`` at the dataset's input shape.

Writes ``darts_derived.csv`` (the ``derived.csv`` columns; ``search_space = darts``, ``acc_source =
trained-<epochs>ep``; one row per architecture and device: ``params``, ``flops`` and each runtime) and
``darts_training.csv`` (one row per training run). Paths are relative to the working directory (the
notebook runs in ``notebooks/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from nas.search.config import SearchConfig
from nas.stages.environment import PROFILES

SPACE = "darts"
METHODS = ("darts-cc-hw", "darts-cc", "darts", "fbnet", "random")  # compared here, in report order


@dataclass(frozen=True)
class DartsSpaceConfig:
    """Config of stage 07 (the fields of the notebook's ``parameters`` cell); defaults: the default profile."""

    profile: str = "default"  # sizes of the searches (nas.search.config.PROFILES), then ``search`` on top
    datasets: tuple[str, ...] = ("fashion-mnist", "cifar10")
    seeds: tuple[int, ...] = (0,)  # search seeds
    methods: tuple[str, ...] = ("darts-cc-hw", "darts-cc", "darts", "fbnet", "random")
    devices: tuple[str, ...] = ("params", "flops", "local-torch-cpu-1t")  # darts-cc-hw's training devices
    eval_device: str = "local-torch-cpu-1t"  # the device whose trade-off sweep is retrained
    lams: tuple[float, ...] = (0.0, 0.5, 1.0)  # normalised trade-offs derived and retrained
    fbnet_betas: tuple[float, ...] = (0.3, 0.6, 1.2)  # fbnet: one run per exponent beta on eval_device
    random_tolerance: float = 0.05  # random: relative predicted-cost window around each of ours
    search: dict = field(default_factory=lambda: dict(
        C=8, N=3, n_train=10_000, n_val=5_000, resolution=16, schedule="two-phase", supernet_epochs=12, epochs=4,
        warmup_epochs=0, reinforce_samples=4, val_batch_size=64, w_lr_min=0.001))  # SearchConfig fields of every
    # search here (w_lr_min: the cosine decay these runs were searched with; the constant rate of the default
    # profile was measured on NAS-Bench-201 only)
    train: dict = field(default_factory=lambda: dict(C=8, N=3, n_train=10_000, epochs=3))  # TrainConfig fields
    train_seeds: tuple[int, ...] = (0,)  # training seeds of every architecture
    long_train: dict = field(default_factory=lambda: dict(n_train=0, epochs=2))  # TrainConfig fields on top of
    # ``train`` for ours' least-constrained architecture, trained again per dataset of long_datasets and seed
    long_datasets: tuple[str, ...] = ("fashion-mnist",)  # datasets of the longer training (empty: none)
    jobs: int = 2  # trainings in parallel (1 thread each when > 1)
    measure_runtimes: tuple[str, ...] = ("torch-cpu-1t",)  # local runtimes timing each derived network
    measure_runs: int = 30  # timed calls per network and runtime (batch 1)
    data_root: str = ""  # "": NAS_DATA_DIR or the repository's data/
    runs_dir: str = "../results/runs/darts"  # search and training folders of this stage
    supernets_dir: str = "../results/runs/supernets"  # the shared phase-1 supernets (as in 03 and 05)
    summary_dir: str = "../results/summary"  # darts_derived.csv, darts_training.csv, darts_control.csv
    fig_dir: str = "../figures"  # Fig. 18 (accuracy vs measured cost) and Fig. 19 (cells)

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"methods {unknown} are not run in the DARTS space; choose from {', '.join(METHODS)}")
        if not self.lams or not all(0.0 <= lam <= 1.0 for lam in self.lams):
            raise ValueError(f"lams must be normalised trade-offs in [0, 1], got {self.lams}")


def search_configs(cfg: DartsSpaceConfig) -> dict[str, SearchConfig]:
    """Run name -> SearchConfig of every search of the stage (the searched methods, every dataset and seed)."""
    from nas.methods.registry import baseline_run_name, build_config

    out = {}
    for dataset in cfg.datasets:
        for seed in cfg.seeds:
            for method in (m for m in cfg.methods if m != "random"):
                over = dict(cfg.search, space=SPACE, dataset=dataset, seed=seed, data_root=cfg.data_root or None)
                if method in ("darts-cc-hw", "darts"):  # darts-cc and fbnet set their own; darts ignores costs
                    over["devices"] = tuple(cfg.devices) if method == "darts-cc-hw" else ("params",)
                conditions = [dict(device=cfg.eval_device, tradeoff=b) for b in cfg.fbnet_betas] \
                    if method == "fbnet" else [{}]
                for cond in conditions:
                    c = build_config(method, cfg.profile, **cond, **over)
                    out[baseline_run_name(c)] = c
    return out


def plan(cfg: DartsSpaceConfig) -> dict[Path, SearchConfig]:
    """Run folder (``runs_dir/<run name>``) -> config of every search of the stage."""
    return {Path(cfg.runs_dir) / name: c for name, c in search_configs(cfg).items()}


def plan_table(cfg: DartsSpaceConfig) -> pd.DataFrame:
    """One row per planned search: name, method, dataset, seed and the shell command that runs it."""
    from nas.stages.baselines import cli_command
    from nas.stages.plan import repo_relative

    return pd.DataFrame([{"run": d.name, "method": c.method, "dataset": c.dataset, "seed": c.seed,
                          "command": cli_command(c, cfg.profile, repo_relative(d), supernets=repo_relative(cfg.supernets_dir))}
                         for d, c in plan(cfg).items()])


@dataclass(frozen=True)
class Proposal:
    """One architecture to retrain: who proposed it, for which query."""

    method: str
    dataset: str
    seed: int
    run_id: str
    lam: float  # normalised trade-off (nan: darts, random)
    arch: str
    pred_cost: float  # on eval_device


def proposals(cfg: DartsSpaceConfig, run_dirs: dict[str, Path]) -> list[Proposal]:
    """The architectures of every method (see the module docstring), in method order."""
    from nas.methods.derive import SearchRun, derive_lams, log_probs
    from nas.spaces import get_space
    from nas.spaces.darts.space import darts_cells

    space = get_space(SPACE)
    out: list[Proposal] = []
    runs = {name: SearchRun.load(d) for name, d in run_dirs.items()}
    for dataset in cfg.datasets:
        for seed in cfg.seeds:
            mine = {r.config.method: (name, r) for name, r in runs.items()
                    if r.config.dataset == dataset and r.config.seed == seed}
            fbnet = sorted(((name, r) for name, r in runs.items() if r.config.method == "fbnet"
                            and r.config.dataset == dataset and r.config.seed == seed),
                           key=lambda item: item[1].config.fbnet_beta)
            ours: list[Proposal] = []
            for method in ("darts-cc-hw", "darts-cc"):
                if method not in mine:
                    continue
                name, run = mine[method]
                descriptor = run.tables["params"] if method == "darts-cc" else None
                for d in derive_lams(run, cfg.eval_device, cfg.lams, descriptor=descriptor):
                    p = Proposal(method, dataset, seed, name, d.lam, d.arch, d.pred_latency_ms)
                    out.append(p)
                    ours += [p] if method == "darts-cc-hw" else []
            if "darts" in mine:
                name, run = mine["darts"]
                table = run.device_table(cfg.eval_device)
                probs = np.exp(log_probs(run.probs(run.tables[run.config.devices[0]], [0.0])))[0]
                g = darts_cells(probs)
                out.append(Proposal("darts", dataset, seed, name, float("nan"), space.format(g), table.genotype_cost(g)))
            for name, run in fbnet:  # its alpha knows no trade-off: its own beta is the run's
                d = derive_lams(run, cfg.eval_device, [0.0])[0]
                out.append(Proposal("fbnet", dataset, seed, name, float("nan"), d.arch, d.pred_latency_ms))
            if "random" in cfg.methods:
                out += random_matches(cfg, dataset, seed, ours)
    return out


def random_matches(cfg: DartsSpaceConfig, dataset: str, seed: int, ours: Sequence[Proposal]) -> list[Proposal]:
    """For each of ours, a valid architecture drawn uniformly among those predicted within
    ``random_tolerance`` of its cost on ``eval_device`` (seeded by search seed and position)."""
    from nas.costs.resolve import build_table
    from nas.spaces import get_space

    space, table = get_space(SPACE), build_table(cfg.eval_device, space=SPACE)
    rng = np.random.default_rng([seed, 7919])
    pool = space.sample(rng, 20_000)
    costs = table.arch_costs(pool)
    out = []
    for p in ours:
        near = np.flatnonzero(np.abs(costs - p.pred_cost) <= cfg.random_tolerance * abs(p.pred_cost))
        pick = int(rng.choice(near)) if len(near) else int(np.argmin(np.abs(costs - p.pred_cost)))
        out.append(Proposal("random", dataset, seed, "", float("nan"), space.format(space.from_indices(pool[pick])),
                            float(costs[pick])))
    return out


def train_configs(cfg: DartsSpaceConfig, props: Sequence[Proposal], *, long: bool = False):
    """(folder, TrainConfig) of every distinct (dataset, architecture, training seed); with ``long``, of ours'
    least-constrained architecture per dataset and search seed at the ``long_train`` schedule (folder
    ``train_long/``, one training seed, all threads)."""
    from nas.train.config import run_name, train_config_for_profile

    if long:
        ours = [p for p in props if p.method == "darts-cc-hw"]
        keys = dict.fromkeys((p.dataset, p.seed) for p in ours if p.dataset in cfg.long_datasets)
        props = [min((p for p in ours if (p.dataset, p.seed) == key), key=lambda p: p.lam) for key in keys]
    seen = {}
    threads = 1 if cfg.jobs > 1 and not long else 0
    for p in props:
        for seed in cfg.train_seeds[:1] if long else cfg.train_seeds:
            over = {**dict(cfg.train), **(dict(cfg.long_train) if long else {})}
            tc = train_config_for_profile(cfg.profile, **{**over, "space": SPACE, "genotype": p.arch,
                                                          "dataset": p.dataset, "seed": seed, "threads": threads,
                                                          "data_root": cfg.data_root or None})
            seen.setdefault(Path(cfg.runs_dir) / ("train_long" if long else "train") / run_name(tc), tc)
    return list(seen.items())


def run(cfg: DartsSpaceConfig) -> dict[str, Path]:
    """Search (or reuse), derive, retrain, time; write the stage's summaries and return their paths."""
    from nas.evaluation.darts_space import control_rows, derived_rows, timing_rows, training_rows
    from nas.report import plots_darts
    from nas.results import write_rows
    from nas.stages.baselines import run_configs
    from nas.train.batch import train_all

    configs = search_configs(cfg)
    dirs = run_configs(configs, cfg.runs_dir, supernets_dir=cfg.supernets_dir)
    props = proposals(cfg, dict(zip(configs, dirs)))
    jobs = train_configs(cfg, props)
    results = train_all(jobs, cfg.jobs)
    trained = training_rows(jobs, results, "short")
    long_jobs = train_configs(cfg, props, long=True)
    trained += training_rows(long_jobs, train_all(long_jobs, 1), "long")
    summary = Path(cfg.summary_dir)
    derived = derived_rows(cfg, props, trained)
    paths = {name: write_rows(summary / name, rows) for name, rows in
             (("darts_training.csv", trained), ("darts_derived.csv", derived))}
    paths["timing.csv"] = merge_timing(summary / "timing.csv", timing_rows(cfg.profile, dirs, trained, cfg.jobs))
    frame = pd.read_csv(paths["darts_derived.csv"])
    paths["darts_control.csv"] = write_rows(summary / "darts_control.csv", control_rows(frame).to_dict("records"))
    paths["fig18"] = plots_darts.fronts(frame, cfg.fig_dir)
    paths["fig19"] = plots_darts.cells(frame, cfg.fig_dir)
    return paths


def merge_timing(path: Path, rows: list[dict]) -> Path:
    """Replace the (profile, stage) rows of ``timing.csv`` given in ``rows``, keep the others, sorted."""
    from nas.results import write_rows

    keys = {(r["profile"], r["stage"]) for r in rows}
    old = pd.read_csv(path, dtype=str).to_dict("records") if path.exists() else []
    kept = [r for r in old if (r["profile"], r["stage"]) not in keys]
    return write_rows(path, sorted(kept + rows, key=lambda r: (r["profile"], r["stage"])))
