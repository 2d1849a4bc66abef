"""Taking a profile's measurements: the timed networks and isolated components, end-to-end passes
measured in chunks with the CSV rewritten after each (an interrupted profile resumes), isolated-op
timings, pass agreement and the noise report; and measuring given architectures on a runtime.
NB201 and DARTS networks (the DARTS isolated-op parts: ``nas.costs.profile_darts``).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from nas.costs.latency import Batch, TimingPlan, measure_many
from nas.costs.runtimes import Runtime, get_runtime
from nas.costs.profile_config import (MEASUREMENT_COLUMNS, ProfileConfig, ProfileError, isolated_columns,
                                      sample_architectures)
from nas.costs.table import FITTED_OPS
from nas.ops import build_op
from nas.results import load_json, write_rows
from nas.spaces import get_space
from nas.spaces.nb201.genotype import Genotype
from nas.spaces.nb201.network import BENCHMARK_MACRO, DiscreteNet
from nas.stats import kendall_tau

log = logging.getLogger("nas.costs.profiling")


MEASURED_COLUMNS = ("arch_str", "latency_ms", "iqr_ms", "runs")  # the frame of measure_architectures


def network(arch: str, macro=None, seed: int = 0, space: str = "nb201") -> nn.Module:
    """The eval-mode network of ``arch`` (a ``space`` genotype string) with seeded weights.

    ``macro``: NB201 ``MacroConfig`` or DARTS ``DartsMacro`` (C, N, input channels, classes);
    default the space's benchmark network (NB201: C=16, N=5; DARTS: the mini network C=16, N=3).
    """
    torch.manual_seed(seed)
    if space == "nb201":
        return DiscreteNet(Genotype.from_str(arch), macro if macro is not None else BENCHMARK_MACRO).eval()
    sp = get_space(space)
    m = macro if macro is not None else sp.benchmark_macro
    return sp.network(sp.parse(arch), C=m.C, N=m.N, in_channels=m.in_channels, n_classes=m.n_classes).eval()


class _Head(nn.Module):
    """The network's head (BN-ReLU, global average pool, linear) as a module of its own."""

    def __init__(self, net: DiscreteNet):
        super().__init__()
        self.lastact, self.classifier = net.lastact, net.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(x).mean(dim=(2, 3)))


def isolated_components(cfg: ProfileConfig) -> dict[str, tuple[nn.Module, tuple[int, ...], dict]]:
    """Every module of the isolated-op LUT with its input shape and its ``isolated_ops.csv`` fields.

    NB201: keys are ``"<component>@<stage>"``; components are the ``FITTED_OPS`` (``none`` is no
    module in a discrete cell and costs 0) at stages 0, 1, 2 and the ``BASE_COMPONENTS`` taken from
    a real network of the configured skeleton. DARTS: ``nas.costs.profile_darts.isolated_components``.
    """
    if cfg.space == "darts":
        from nas.costs import profile_darts

        return profile_darts.isolated_components(cfg)
    torch.manual_seed(cfg.seed)
    macro, batch = cfg.macro, cfg.batch
    net = DiscreteNet(Genotype(("skip_connect",) * 6), macro).eval()
    stages = [(macro.C * 2**s, cfg.resolution // 2**s) for s in range(3)]  # (channels, px) of each stage

    def entry(module: nn.Module, stage: int, c_in: int, px_in: int) -> tuple[nn.Module, tuple[int, ...], dict]:
        channels, px = stages[stage]  # the csv records the stage (output) shape
        return module, (batch, c_in, px_in, px_in), {"stage": stage, "channels": channels, "resolution": px}

    out = {"stem@0": entry(net.stem, 0, macro.in_channels, cfg.resolution),
           "reduction_1@1": entry(net.layers[macro.N], 1, *stages[0]),
           "reduction_2@2": entry(net.layers[2 * macro.N + 1], 2, *stages[1]),
           "head@2": entry(_Head(net), 2, *stages[2])}
    for op in FITTED_OPS:
        for s, (c, px) in enumerate(stages):
            out[f"{op}@{s}"] = entry(build_op(op, c, c, 1, affine=True).eval(), s, c, px)
    return out


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A profile CSV, or an empty frame with ``columns`` when it does not exist yet."""
    if not path.is_file():
        return pd.DataFrame(columns=list(columns))
    df = pd.read_csv(path)
    if tuple(df.columns) != tuple(columns):
        raise ProfileError(f"{path}: columns {list(df.columns)} differ from {list(columns)}; "
                           "delete the file or use another --out folder")
    return df


def _check_resume(out: Path, cfg: ProfileConfig) -> dict:
    """Meta of the folder so far; ProfileError when it was measured under other conditions."""
    meta_path = out / "meta.json"
    if not meta_path.is_file():
        if (out / "measurements.csv").is_file():
            raise ProfileError(f"{out}: measurements.csv without meta.json, so its conditions are unknown; "
                               "delete the folder or use another --out folder")
        return {}
    meta = load_json(meta_path)
    old, new = meta.get("measurement_key", {}), cfg.measurement_key()
    diff = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
    if diff:
        raise ProfileError(f"{out} holds measurements taken under other settings {diff} (old, new); "
                           "rerun with the same settings to resume, or use another --out folder")
    return meta


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.std import tqdm  # text bars: no ipywidgets needed in notebooks

    return tqdm(total=total, desc=desc, unit="visit", disable=not enabled or total == 0)


def _measure(models: Mapping[str, tuple[nn.Module, tuple[int, ...]]], rt: Runtime, plan: TimingPlan,
             bar, failed: dict[str, str]) -> Batch:
    """measure_many over (module, shape) pairs, logging and collecting export failures."""

    def fail(key: str, message: str) -> None:
        log.warning("skipped %s on %s: %s", key, rt.name, message)
        failed[key] = message

    return measure_many({k: m for k, (m, _) in models.items()}, rt, input_shape={k: s for k, (_, s) in models.items()},
                        plan=plan, on_visit=bar.update, on_fail=fail)


def _pass_todo(cfg: ProfileConfig, archs: Sequence[str], rows: Sequence[Mapping]) -> list[list[str]]:
    """Per pass, the architectures still to measure, each pass in its own seeded random order."""
    done = Counter(r["arch_str"] for r in rows)
    return [[str(a) for a in np.random.default_rng(cfg.seed + 1 + p).permutation(list(archs)) if done[str(a)] <= p]
            for p in range(cfg.passes)]


def measure_end_to_end(cfg: ProfileConfig, out: Path, *, progress: bool = True,
                       failed: dict[str, str] | None = None) -> pd.DataFrame:
    """Measure what ``out/measurements.csv`` lacks for ``cfg.passes`` passes; return the per-arch means.

    In each pass, the architectures are shuffled (fit and test mixed) and measured ``cfg.chunk`` at
    a time with interleaved repeats; after each chunk the CSV (one row per architecture and pass)
    is rewritten atomically with every row so far.

    Returns:
        :func:`aggregate_passes` of the rows of the planned architectures.
    """
    fit, test = sample_architectures(cfg.n_fit, cfg.n_test, cfg.seed, cfg.space)
    split = {**{a: "fit" for a in fit}, **{a: "test" for a in test}}
    path = out / "measurements.csv"
    rows = _read_csv(path, MEASUREMENT_COLUMNS).to_dict("records")
    todo = _pass_todo(cfg, fit + test, rows)
    failed = {} if failed is None else failed
    rt, shape = cfg.resolved_runtime(), (cfg.batch, cfg.macro.in_channels, cfg.resolution, cfg.resolution)
    total = sum(map(len, todo)) * cfg.plan.visits
    with _progress(total, f"end-to-end {cfg.runtime} ({cfg.passes} passes)", progress) as bar:
        for archs in todo:
            for i in range(0, len(archs), cfg.chunk):
                chunk = archs[i:i + cfg.chunk]
                models = {a: (network(a, cfg.macro, cfg.seed, cfg.space), shape) for a in chunk}
                batch = _measure(models, rt, cfg.plan, bar, failed)
                rows += [{"arch_str": a, "latency_ms": m.median_ms, "iqr_ms": m.iqr_ms, "runs": m.n, "split": split[a]}
                         for a, m in batch.measured.items()]
                write_rows(path, rows, MEASUREMENT_COLUMNS)
    df = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
    return aggregate_passes(df[df["arch_str"].isin(split)])


def aggregate_passes(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per architecture: mean latency and IQR over its passes, total runs, its split.

    Returns:
        Frame with the ``measurements.csv`` columns plus ``passes``, in order of first measurement.
    """
    g = rows.groupby("arch_str", sort=False)
    out = g.agg(latency_ms=("latency_ms", "mean"), iqr_ms=("iqr_ms", "mean"), runs=("runs", "sum"),
                split=("split", "first"), passes=("latency_ms", "size"))
    return out.reset_index()[[*MEASUREMENT_COLUMNS, "passes"]]


def pass_agreement(rows: pd.DataFrame) -> dict[str, float]:
    """Test-retest agreement of the first two passes (a noise ceiling for any predictor's tau).

    Returns:
        ``n`` (architectures with two passes), ``kendall_tau`` between pass 1 and pass 2 and
        ``median_spread_pct`` (median |pass 1 - pass 2| / their mean, %); NaN without two passes.
    """
    k = rows.assign(k=rows.groupby("arch_str").cumcount())
    wide = k[k["k"] < 2].pivot(index="arch_str", columns="k", values="latency_ms").dropna()
    if wide.shape[1] < 2 or len(wide) < 2:
        return {"n": float(len(wide)) if wide.shape[1] >= 2 else 0.0, "kendall_tau": math.nan,
                "median_spread_pct": math.nan}
    a, b = wide[0].to_numpy(float), wide[1].to_numpy(float)
    return {"n": float(len(wide)), "kendall_tau": kendall_tau(a, b),
            "median_spread_pct": float(100 * np.median(np.abs(a - b) / ((a + b) / 2)))}


def measure_isolated(cfg: ProfileConfig, out: Path, *, progress: bool = True,
                     failed: dict[str, str] | None = None) -> pd.DataFrame:
    """Measure the isolated-op components (unless ``out/isolated_ops.csv`` has them all) and return its rows."""
    path = out / "isolated_ops.csv"
    comps, columns = isolated_components(cfg), isolated_columns(cfg.space)
    old = _read_csv(path, columns)
    if len(old) == len(comps):
        return old
    failed = {} if failed is None else failed
    plan = cfg.isolated_plan
    with _progress(len(comps) * plan.visits, f"isolated ops {cfg.runtime}", progress) as bar:
        batch = _measure({k: (m, s) for k, (m, s, _) in comps.items()}, cfg.resolved_runtime(), plan, bar, failed)
    rows = [{"component": k.split("@")[0], **comps[k][2], "latency_ms": m.median_ms, "iqr_ms": m.iqr_ms, "runs": m.n}
            for k, m in batch.measured.items()]
    write_rows(path, rows, columns)
    return pd.DataFrame(rows, columns=list(columns))


def _noisy(frame: pd.DataFrame, key: str, threshold: float) -> list[dict]:
    """Rows with IQR / median above ``threshold``, worst first."""
    rel = frame["iqr_ms"].to_numpy(float) / frame["latency_ms"].to_numpy(float)
    idx = np.flatnonzero(rel > threshold)
    return sorted(({"name": str(frame[key].iloc[i]), "rel_iqr": float(rel[i])} for i in idx),
                  key=lambda d: -d["rel_iqr"])


def _noise_report(meas: pd.DataFrame, iso: pd.DataFrame, threshold: float, passes: dict) -> dict:
    """The ``noisy`` block of meta.json (per-arch flags use the mean IQR over passes); logs a warning."""
    where = (iso["stage"].astype(str) if "stage" in iso else iso["cell"].astype(str) + "/" + iso["group"])
    iso_named = iso.assign(name=iso["component"] + "@" + where)
    e2e, ops = _noisy(meas, "arch_str", threshold), _noisy(iso_named, "name", threshold)
    rel = meas["iqr_ms"].to_numpy(float) / meas["latency_ms"].to_numpy(float)
    report = {"threshold": threshold, "flag": bool(e2e or ops), "n_end_to_end": len(e2e), "n_isolated": len(ops),
              "median_rel_iqr_end_to_end": float(np.median(rel)) if len(rel) else math.nan,
              "pass_agreement": passes, "end_to_end": e2e, "isolated": ops}
    if report["flag"]:
        log.warning("noisy measurement: %d of %d end-to-end and %d of %d isolated-op timings have IQR/median > %.2f "
                    "(worst %.2f); see meta.json 'noisy'", len(e2e), len(meas), len(ops), len(iso), threshold,
                    max([d["rel_iqr"] for d in e2e + ops]))
    return report


def measure_architectures_frame(archs: Iterable[str], runtime: str = "torch-cpu-1t", *, space: str = "nb201",
                                macro=None, resolution: int = 32, batch: int = 1, plan: TimingPlan = TimingPlan(),
                                threads: int | None = None, cache: str | Path | None = None,
                                progress: bool = False) -> pd.DataFrame:
    """Measured end-to-end latency of given architectures (e.g. derived ones) on a local runtime.

    Args:
        archs: genotype strings of ``space`` (duplicates are measured once).
        runtime: a name of ``nas.costs.runtimes.RUNTIMES``.
        space: ``nb201`` or ``darts``.
        macro, resolution, batch: the network and input that are timed; ``macro`` is an NB201
            ``MacroConfig`` or a DARTS ``DartsMacro`` (default the space's benchmark network).
        plan: runs, warm-up, rounds, seed (interleaved across the architectures; the seed also
            seeds the weights and the input).
        threads: override of the runtime's thread count (None: the runtime's own).
        cache: optional CSV (columns of ``measurements.csv``, split ``derived``); architectures in
            it are not measured again and new ones are added atomically. It holds no settings: use
            one cache per space, network, runtime and plan.
        progress: show a progress bar.

    Returns:
        Frame ``arch_str`` (canonical), ``latency_ms`` (median), ``iqr_ms``, ``runs``: one row per
        architecture that could be measured, in the order of ``archs`` (an export failure is
        logged and the architecture left out).

    Raises:
        RuntimeUnavailable: the runtime cannot run here (message ``skipped: ...``).
    """
    sp = get_space(space)
    macro = macro if macro is not None else getattr(sp, "benchmark_macro", BENCHMARK_MACRO)
    wanted = list(dict.fromkeys(sp.format(sp.parse(a)) for a in archs))
    rt = get_runtime(runtime, threads)
    rows = _read_csv(Path(cache), MEASUREMENT_COLUMNS).to_dict("records") if cache else []
    known = {r["arch_str"]: r for r in rows}
    todo = [a for a in wanted if a not in known]
    if todo:
        shape = (batch, macro.in_channels, resolution, resolution)
        with _progress(len(todo) * plan.visits, f"measure {runtime}", progress) as bar:
            batch_out = _measure({a: (network(a, macro, plan.seed, space), shape) for a in todo}, rt, plan, bar, {})
        new = [{"arch_str": a, "latency_ms": m.median_ms, "iqr_ms": m.iqr_ms, "runs": m.n, "split": "derived"}
               for a, m in batch_out.measured.items()]
        known.update({r["arch_str"]: r for r in new})
        if cache:
            write_rows(cache, rows + new, MEASUREMENT_COLUMNS)
    return pd.DataFrame([known[a] for a in wanted if a in known], columns=list(MEASUREMENT_COLUMNS))[
        list(MEASURED_COLUMNS)].reset_index(drop=True)


def measure_architectures(archs: Iterable[str], runtime: str = "torch-cpu-1t", **kwargs) -> dict[str, float]:
    """Canonical arch string -> median latency (ms) of :func:`measure_architectures_frame` (same arguments)."""
    frame = measure_architectures_frame(archs, runtime, **kwargs)
    return dict(zip(frame["arch_str"], frame["latency_ms"].astype(float)))
