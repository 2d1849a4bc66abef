"""Tidy results of the DARTS-space stage: retrained accuracy, parameters, FLOPs and measured latency
of every derived architecture (``darts_derived.csv``, the ``derived.csv`` columns) and the control
statistics over each method's trade-off sweep.

Predicted costs (``pred_latency_ms``) are the cost tables a search optimises: the space's benchmark
network (DARTS-CC's mini network, C=16, 3 cells, 3x32x32 input). Measured values
(``meas_latency_ms``; ``params``/``flops`` rows: counted) are of the network that was retrained,
at the dataset's input shape (``net`` column: C, cells, input).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from nas.stats import spearman

INPUT_SHAPES = {"fashion-mnist": (1, 28), "cifar10": (3, 32), "synthetic": (3, 16)}  # (channels, side)


def training_rows(jobs: Sequence, results: Sequence[dict], schedule: str) -> list[dict]:
    """``darts_training.csv``: one row per (folder, TrainConfig) job and its ``result.json`` dict; ``schedule``:
    ``short`` (every method's architectures) or ``long`` (ours' least-constrained one, trained longer)."""
    return [{"dataset": tc.dataset, "arch": tc.genotype, "genotype_id": r["genotype_id"], "seed": tc.seed,
             "schedule": schedule, "epochs": tc.epochs, "n_train": r["n_train"], "test_acc_pct": r["test_acc_pct"],
             "train_seconds": r["train_seconds"], "params": r["params"], "run_dir": str(folder)}
            for (folder, tc), r in zip(jobs, results)]


def _network_costs(arch: str, dataset: str, C: int, N: int, runtimes: Sequence[str], runs: int,
                   cache_dir: Path) -> dict[str, float]:
    """Counted params (M) and FLOPs (M) and measured latency (ms, batch 1) per runtime of the retrained network."""
    from nas.costs.latency import TimingPlan
    from nas.costs.profile_measure import measure_architectures
    from nas.costs.resolve import count_flops, count_params
    from nas.spaces import get_space
    from nas.spaces.darts.network import DartsMacro

    ch, side = INPUT_SHAPES[dataset]
    net = get_space("darts").network(arch, C=C, N=N, in_channels=ch, n_classes=10)
    out = {"params": count_params(net) / 1e6, "flops": count_flops(net, (1, ch, side, side)) / 1e6}
    macro = DartsMacro(C=C, N=N, in_channels=ch, n_classes=10)
    for rt in runtimes:
        meas = measure_architectures([arch], rt, space="darts", macro=macro, resolution=side,
                                     plan=TimingPlan(runs=runs, warmup=max(3, runs // 10), rounds=1),
                                     cache=cache_dir / f"measured_{rt}_{dataset}_C{C}_N{N}.csv")
        out[f"local-{rt}"] = meas.get(arch, math.nan)
    return out


def derived_rows(cfg, props: Sequence, trained: Sequence[dict]) -> list[dict]:
    """Rows of ``darts_derived.csv``: each proposal (``nas.stages.darts_space.Proposal``) on each device
    (``params``, ``flops``, ``local-<runtime>``), with its mean retrained accuracy."""
    from nas.costs.resolve import build_table
    from nas.spaces import get_space
    from nas.train.config import train_config_for_profile

    if not props:
        return []
    space = get_space("darts")
    tc = train_config_for_profile(cfg.profile, **{**dict(cfg.train), "space": "darts", "genotype": props[0].arch})
    short = [r for r in trained if r["schedule"] == "short"]
    acc = pd.DataFrame(short).groupby(["dataset", "arch"])["test_acc_pct"].agg(["mean", "std", "count"]) \
        if short else pd.DataFrame()
    devices = ["params", "flops"] + [f"local-{rt}" for rt in cfg.measure_runtimes]
    tables = {d: build_table(d, space="darts") for d in devices}
    cache_dir = Path(cfg.runs_dir) / "measured"
    rows, costs = [], {}
    for p in props:
        key = (p.arch, p.dataset)
        if key not in costs:
            costs[key] = _network_costs(p.arch, p.dataset, tc.C, tc.N, cfg.measure_runtimes, cfg.measure_runs,
                                        cache_dir)
        a = acc.loc[(p.dataset, p.arch)] if (p.dataset, p.arch) in acc.index else pd.Series({"mean": math.nan, "std": math.nan, "count": 0})
        ch, side = INPUT_SHAPES[p.dataset]
        for d in devices:
            rows.append({
                "method": p.method, "search_space": "darts", "dataset": p.dataset, "seed": p.seed,
                "run_id": p.run_id, "device": d, "lam": p.lam, "budget_ms": math.nan, "arch": space.format(space.parse(p.arch)),
                "pred_latency_ms": tables[d].genotype_cost(p.arch), "meas_latency_ms": costs[key][d],
                "latency_origin": "counted" if d in ("params", "flops") else "measured",
                "params_m": costs[key]["params"], "flops_m": costs[key]["flops"], "acc": float(a["mean"]),
                "acc_source": f"trained-{tc.epochs}ep", "acc_metric": f"{p.dataset}_test_acc",
                "device_given_as": "name", "acc_sd": float(a["std"]) if a["count"] > 1 else math.nan,
                "n_train_seeds": int(a["count"]), "net": f"C{tc.C}-N{tc.N}-{ch}x{side}x{side}"})
    return rows


def control_rows(derived: pd.DataFrame) -> pd.DataFrame:
    """Spearman rho between lam and measured cost of each lam-swept method, per dataset, seed and device."""
    swept = derived.dropna(subset=["lam"])
    out = []
    for (method, dataset, seed, device), g in swept.groupby(["method", "dataset", "seed", "device"]):
        g = g.sort_values("lam")
        out.append({"method": method, "dataset": dataset, "seed": seed, "device": device, "n": len(g),
                    "rho_lam_measured": spearman(g["lam"], g["meas_latency_ms"]) if g["lam"].nunique() > 1 else math.nan})
    return pd.DataFrame(out)


def equal_latency_wins(derived: pd.DataFrame, device: str) -> pd.DataFrame:
    """Ours vs random at matched predicted cost (the random architectures were drawn to match ours, in
    order): per dataset and seed, accuracy of both and the difference in points."""
    d = derived[derived["device"] == device]
    out = []
    for (dataset, seed), g in d.groupby(["dataset", "seed"]):
        ours = g[g["method"] == "darts-cc-hw"].reset_index(drop=True)
        rand = g[g["method"] == "random"].reset_index(drop=True)
        for i in range(min(len(ours), len(rand))):
            out.append({"dataset": dataset, "seed": seed, "lam": ours.loc[i, "lam"],
                        "ours_acc": ours.loc[i, "acc"], "random_acc": rand.loc[i, "acc"],
                        "ours_meas": ours.loc[i, "meas_latency_ms"], "random_meas": rand.loc[i, "meas_latency_ms"],
                        "diff_pts": ours.loc[i, "acc"] - rand.loc[i, "acc"]})
    return pd.DataFrame(out)


def timing_rows(profile: str, run_dirs: Sequence[Path], trained: Sequence[dict], jobs: int) -> list[dict]:
    """The stage's split for ``timing.csv`` (``07_darts_space/<part>``, status ``recorded``: sums of the seconds the
    run folders record). Phase 1 counts each shared supernet once; ``retraining`` is the wall-clock estimate
    sum(train_seconds) / jobs of the short schedule (run ``jobs`` at a time), ``retraining_long`` its own sum."""
    from datetime import datetime, timezone

    from nas.search import run_io

    infos = [run_io.load_run_info(Path(d)) for d in run_dirs]
    phase1 = {i.get("supernet_run"): float(i.get("supernet_seconds") or 0.0) for i in infos}
    short = sum(float(r["train_seconds"]) for r in trained if r["schedule"] == "short")
    parts = {"phase1_supernets": sum(phase1.values()), "phase2_searches": sum(float(i["search_seconds"]) for i in infos),
             "retraining": short / max(1, jobs),
             "retraining_long": sum(float(r["train_seconds"]) for r in trained if r["schedule"] == "long")}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return [{"profile": profile, "stage": f"07_darts_space/{k}", "seconds": f"{v:.1f}", "status": "recorded",
             "finished_at": now} for k, v in parts.items()]
