"""The compared methods' runs: every run a method needs, the stage ``05_baselines`` plan, and the
shell command of one run. Methods themselves live in ``nas.methods.registry`` (one module each);
their names are re-exported here for the code that imports them from this module.
"""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path
from typing import Mapping, Sequence

from nas.costs.devices import SHARED_DEVICES
from nas.methods.base import (Answer, MethodSpec, arch_of_index, descriptor_table, fixed_architecture,  # noqa: F401
                              lam_sweep, within_or_cheapest)
from nas.methods.darts import darts_budget_answers  # noqa: F401
from nas.methods.fbnet import (FBNET_A, FBNET_BETA, FBNET_BETAS, FBNET_TAU0, FBNET_TAU_DECAY,  # noqa: F401
                               fbnet_budget_answers, fbnet_tau_min, fbnet_tradeoff)
from nas.methods.ours import tradeoff_budget_answers  # noqa: F401
from nas.methods.random_search import random_answers  # noqa: F401
from nas.methods.registry import METHODS, baseline_run_name, budget_answers, build_config, get_method  # noqa: F401
from nas.search.config import SearchConfig, config_for_profile
from nas.search.loop import run_search


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
                    methods: Sequence[str] = ("darts", "darts-cc", "fbnet"), ours_seeds: Sequence[int] = (),
                    fbnet_devices: Sequence[str] = (), fbnet_betas: Sequence[float] = FBNET_BETAS,
                    schedule: Mapping | None = None, run_suffix: str = "", data_root: str | None = None,
                    threads: int = 0) -> dict[str, SearchConfig]:
    """The runs of stage ``05_baselines`` by run name: ``methods`` at ``seeds``, ``darts-cc-hw`` at ``ours_seeds``.

    ``schedule`` (SearchConfig fields such as epochs, n_train) applies to every run, ours included,
    so that the compared methods share data, schedule and seeds; ``run_suffix`` names such runs.
    ``fbnet_devices`` empty: every shared device.
    """
    common = dict(dataset=dataset, data_root=data_root, threads=threads, suffix=run_suffix, **dict(schedule or {}))
    out: dict[str, SearchConfig] = {}
    for seed in seeds:
        for method in methods:
            out.update(method_configs(method, profile, devices=tuple(fbnet_devices) or SHARED_DEVICES,
                                      tradeoffs=tuple(fbnet_betas), seed=seed, **common))
    for seed in ours_seeds:
        out.update(method_configs("darts-cc-hw", profile, seed=seed, **common))
    return out


def _cli_value(value) -> str:
    """``--set`` text that ``nas.cli`` parses back to ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "None"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def cli_command(cfg: SearchConfig, profile: str, out_dir: str | Path, python: str = "python") -> str:
    """The ``python -m nas search`` command that runs (or resumes) exactly ``cfg`` into ``out_dir``."""
    default = config_for_profile(profile)
    args = [f"{shlex.quote(python)} -m nas search", f"--profile {profile}", f"--method {cfg.method}", f"--dataset {cfg.dataset}",
            f"--seed {cfg.seed}"]
    if cfg.devices != default.devices:
        args.append("--devices " + " ".join(cfg.devices))
    skip = {"method", "dataset", "seed", "devices", "space"}
    sets = [f"{f.name}={_cli_value(getattr(cfg, f.name))}" for f in fields(cfg)
            if f.name not in skip and getattr(cfg, f.name) != getattr(default, f.name)]
    if sets:
        args.append("--set " + " ".join(sets))
    args.append(f"--out {out_dir}")
    return " ".join(args)


def run_configs(configs: Mapping[str, SearchConfig], runs_dir: str | Path, *, data=None,
                progress: bool = True) -> list[Path]:
    """Run (or resume) every config into ``runs_dir/<name>``; returns the run folders."""
    return [run_search(cfg, Path(runs_dir) / name, data=data, progress=progress) for name, cfg in configs.items()]
