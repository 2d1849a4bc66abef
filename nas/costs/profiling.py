"""Latency profiles of the machine at hand: two lookup tables per runtime, and how well they predict.

A profile of one runtime (``python -m nas profile``, :func:`run_profile`) writes a folder:

* ``isolated_ops.csv`` and ``lut-isolated.json``: the FBNet / ProxylessNAS way. Every candidate op
  is timed alone at each of the three stage shapes (C, 2C, 4C channels at R, R/2, R/4 pixels), and
  so are the parts outside the cells (stem, the two reduction blocks, head). With N cells per stage
  and one genotype shared by all cells, one edge carrying ``op`` costs
  ``sum_stage N * t(op, stage)`` and ``base = t(stem) + t(red1) + t(red2) + t(head)``.
* ``measurements.csv`` and ``lut-regression.json``: ``n_fit`` random live architectures of the
  benchmark network measured end to end, fitted with :func:`nas.costs.table.fit_cost_table` (the same
  least-squares fit as for the shared devices).
* ``validation.csv``: ``n_test`` further random live architectures measured end to end, with the
  prediction of both tables; :func:`validation_stats` turns it into Kendall tau, Spearman rho, R2,
  MAPE, share within +-10 %, and the calibration line (measured = slope * predicted + intercept).
* ``meta.json``: the conditions (runtime, threads, batch, dtype, runs, warm-up, CPU, library
  versions, date, git commit), export failures, noisy measurements and wall-clock times.

End-to-end measurements are taken in ``passes`` passes over all architectures (each pass in its
own random order, latency = mean of the pass medians), in chunks of architectures whose repeats
are interleaved in a seeded random order; after each chunk ``measurements.csv`` (one row per
architecture and pass) is rewritten atomically, so an interrupted profile resumes and measures
only what is missing. The agreement of two passes (test-retest Kendall tau) is the noise ceiling
recorded in meta.json. The fit and test architectures come from the two ends
of one seeded permutation of the live cells, so a larger ``n_fit`` or ``n_test`` keeps every
measurement already made.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from nas.costs.table import FITTED_OPS, CostFitError, CostTable, fit_cost_table, prediction_stats
from nas.spaces.nb201.genotype import Genotype, all_op_indices, dead_mask, genotype_from_indices
from nas.costs.latency import (RUNTIME_NAMES, Batch, Runtime, RuntimeUnavailable, TimingPlan, available_cores, get_runtime,
                         measure_many)
from nas.ops import build_op
from nas.provenance import provenance
from nas.results import load_json, repo_root, save_json, write_rows
from nas.spaces.nb201.network import BENCHMARK_MACRO, DiscreteNet, MacroConfig

log = logging.getLogger("nas.costs.profiling")

LATENCY_DIR = repo_root() / "data" / "latency"
LUT_KINDS = ("isolated", "regression")
MEASUREMENT_COLUMNS = ("arch_str", "latency_ms", "iqr_ms", "runs", "split")
ISOLATED_COLUMNS = ("component", "stage", "channels", "resolution", "latency_ms", "iqr_ms", "runs")
VALIDATION_COLUMNS = ("arch_str", "measured_ms", "iqr_ms", "pred_isolated_ms", "pred_regression_ms")
BASE_COMPONENTS = ("stem", "reduction_1", "reduction_2", "head")
ISOLATED_ROUNDS = 2  # interleaved visits per isolated op (see ProfileConfig.isolated_plan)
_FORMAT = "nas.costs.profiling/1"
# Fields of ProfileConfig that change what a measurement means; a resumed profile must match them.
_MEASUREMENT_FIELDS = ("runtime", "space", "runs", "warmup", "rounds", "batch", "resolution", "C", "N", "seed",
                       "dtype")


class ProfileError(ValueError):
    """A profile that cannot run as asked (bad config, a folder made under other conditions)."""


@dataclass(frozen=True)
class ProfileConfig:
    """One profile of one runtime on the NB201 space.

    Attributes:
        runtime: one of ``nas.costs.latency.RUNTIME_NAMES``.
        space: search space (only ``nb201``).
        n_fit: random live architectures measured end to end to fit the regression LUT.
        n_test: further held-out architectures measured end to end to validate both LUTs.
        runs: timed calls per model (the median and IQR are over these).
        warmup: untimed calls per model before timing.
        rounds: interleaved visits per model (each times ceil(runs / rounds) calls); many short
            visits spread a model's runs over the whole chunk, so a burst of load hits every
            model of the chunk alike.
        chunk: architectures measured together (interleaved); the CSV is saved after each chunk
            (about a minute of work for the default network on one CPU thread).
        passes: end-to-end passes over all architectures, each in a new random order; an
            architecture's latency is the mean of its pass medians, so drift between the times
            two architectures were measured averages out.
        batch: images per call.
        resolution: input height and width, px.
        C: channels of the first stage.
        N: cells per stage.
        threads: override of the runtime's thread count (None: the runtime's own).
        seed: seed of the architecture sample, weights, inputs and the interleaved order.
        noisy_threshold: a measurement with IQR / median above this is flagged as noisy.
        dtype: tensor dtype (only float32).
        quick: a reduced profile for smoke runs (recorded in the meta file).
    """

    runtime: str = "torch-cpu-1t"
    space: str = "nb201"
    n_fit: int = 200
    n_test: int = 100
    runs: int = 100
    warmup: int = 10
    rounds: int = 20
    chunk: int = 100
    passes: int = 2
    batch: int = 1
    resolution: int = 32
    C: int = 16
    N: int = 5
    threads: int | None = None
    seed: int = 0
    noisy_threshold: float = 0.1
    dtype: str = "float32"
    quick: bool = False

    def __post_init__(self) -> None:
        get_runtime(self.runtime, self.threads)  # unknown runtime or bad threads -> ValueError
        if self.space != "nb201":
            raise ProfileError(f"unknown space {self.space!r}; only 'nb201' can be profiled")
        if self.dtype != "float32":
            raise ProfileError(f"dtype {self.dtype!r} is not supported; use float32")
        for name in ("n_fit", "n_test", "runs", "rounds", "chunk", "passes", "batch", "C", "N"):
            if getattr(self, name) < 1:
                raise ProfileError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.warmup < 0 or not self.noisy_threshold > 0:
            raise ProfileError(f"need warmup >= 0 and noisy_threshold > 0; got {self.warmup}, {self.noisy_threshold}")
        if self.resolution < 4 or self.resolution % 4:
            raise ProfileError(f"resolution must be a multiple of 4 (two stride-2 reductions), got {self.resolution}")
        n_live = int((~dead_mask()).sum())
        if self.n_fit + self.n_test > n_live:
            raise ProfileError(f"n_fit + n_test = {self.n_fit + self.n_test} exceeds the {n_live} live architectures")

    @classmethod
    def quick_config(cls, **overrides) -> "ProfileConfig":
        """A small profile (30 architectures, 20 runs) for smoke runs and CI."""
        base = {"n_fit": 20, "n_test": 10, "runs": 20, "warmup": 3, "rounds": 4, "passes": 1, "quick": True}
        return cls(**{**base, **overrides})

    @property
    def macro(self) -> MacroConfig:
        """The skeleton that is measured."""
        return MacroConfig(C=self.C, N=self.N)

    @property
    def plan(self) -> TimingPlan:
        """Runs, warm-up, rounds and seed of the end-to-end timing."""
        return TimingPlan(runs=self.runs, warmup=self.warmup, rounds=self.rounds, seed=self.seed)

    @property
    def isolated_plan(self) -> TimingPlan:
        """Timing of the isolated ops: steady state, 2 interleaved visits of runs / 2 calls each.

        An op of a few microseconds timed right after another module would mostly measure cache
        refills; FBNet-style tables time each op in a loop.
        """
        return dataclasses.replace(self.plan, rounds=min(self.rounds, ISOLATED_ROUNDS))

    def resolved_runtime(self) -> Runtime:
        """The runtime with the thread override applied."""
        return get_runtime(self.runtime, self.threads)

    def measurement_key(self) -> dict:
        """The settings a resumed profile must share with the measurements already in its folder."""
        key = {f: getattr(self, f) for f in _MEASUREMENT_FIELDS}
        key["threads"] = self.resolved_runtime().thread_count()
        return key


@dataclass
class ProfileResult:
    """What :func:`run_profile` produced (``skipped`` is the message when the runtime is absent)."""

    out_dir: Path
    skipped: str | None = None
    isolated: CostTable | None = None
    regression: CostTable | None = None
    validation: dict | None = None
    seconds: float = 0.0


def table_name(runtime: str, kind: str = "regression") -> str:
    """Device name of a local LUT: ``local-<runtime>`` (regression) or ``local-<runtime>-isolated``."""
    return f"local-{runtime}" if kind == "regression" else f"local-{runtime}-{kind}"


def sample_architectures(n_fit: int, n_test: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded disjoint random live NB201 cells: ``n_fit`` for fitting and ``n_test`` held out.

    Fit cells are the head of one seeded permutation of the live cells and test cells its tail,
    so each cell's split never depends on ``n_fit`` or ``n_test``.
    """
    live = np.flatnonzero(~dead_mask())
    if n_fit + n_test > len(live):
        raise ProfileError(f"n_fit + n_test = {n_fit + n_test} exceeds the {len(live)} live architectures")
    perm = np.random.default_rng(seed).permutation(live)
    return _arch_strings(perm[:n_fit]), _arch_strings(perm[len(perm) - n_test:][::-1])


def _arch_strings(indices: np.ndarray) -> list[str]:
    """Canonical strings of NB201 cells given by index into ``all_op_indices()``."""
    return [genotype_from_indices(all_op_indices()[i]).to_str() for i in indices]


def network(arch: str, macro: MacroConfig = BENCHMARK_MACRO, seed: int = 0) -> DiscreteNet:
    """The eval-mode network of ``arch`` with seeded weights."""
    torch.manual_seed(seed)
    return DiscreteNet(Genotype.from_str(arch), macro).eval()


class _Head(nn.Module):
    """The network's head (BN-ReLU, global average pool, linear) as a module of its own."""

    def __init__(self, net: DiscreteNet):
        super().__init__()
        self.lastact, self.classifier = net.lastact, net.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(x).mean(dim=(2, 3)))


def isolated_components(cfg: ProfileConfig) -> dict[str, tuple[nn.Module, tuple[int, ...], dict]]:
    """Every module of the isolated-op LUT with its input shape and its ``isolated_ops.csv`` fields.

    Keys are ``"<component>@<stage>"``; components are the ``FITTED_OPS`` (``none`` is no module in
    a discrete cell and costs 0) at stages 0, 1, 2 and the ``BASE_COMPONENTS`` taken from a real
    network of the configured skeleton.
    """
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


def isolated_table(rows: pd.DataFrame, N: int, name: str) -> CostTable:
    """Isolated-op LUT from ``isolated_ops.csv`` rows: per-edge cost = sum over stages of N * t(op, stage).

    Raises:
        ProfileError: an op or base component is missing from ``rows``.
    """
    t = {(c, int(s)): float(v) for c, s, v in zip(rows["component"], rows["stage"], rows["latency_ms"])}
    need = [(op, s) for op in FITTED_OPS for s in range(3)] + [("stem", 0), ("reduction_1", 1), ("reduction_2", 2),
                                                              ("head", 2)]
    missing = [k for k in need if k not in t]
    if missing:
        raise ProfileError(f"isolated-op measurements missing for {missing}")
    costs = {op: sum(N * t[(op, s)] for s in range(3)) for op in FITTED_OPS}
    base = t[("stem", 0)] + t[("reduction_1", 1)] + t[("reduction_2", 2)] + t[("head", 2)]
    return CostTable.from_op_costs(name, "ms", base, {**costs, "none": 0.0}, origin="measured")


def validation_stats(pred: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """Agreement of predicted with measured latency.

    Returns:
        ``kendall_tau``, ``spearman``, ``r2``, ``rmse`` (:func:`nas.costs.table.prediction_stats`),
        ``mape_pct`` (mean |pred - meas| / meas, %), ``within10_pct`` (share with that ratio <= 10 %)
        and ``slope``, ``intercept`` of the least-squares line measured = slope * pred + intercept.
    """
    p, y = np.asarray(pred, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    out = prediction_stats(p, y)
    rel = np.abs(p - y) / y
    out["mape_pct"] = float(100 * rel.mean()) if len(y) else math.nan
    out["within10_pct"] = float(100 * (rel <= 0.10).mean()) if len(y) else math.nan
    if len(y) >= 2 and np.ptp(p) > 0:
        slope, intercept = np.polyfit(p, y, 1)
    else:
        slope, intercept = math.nan, math.nan
    return {**out, "slope": float(slope), "intercept": float(intercept)}


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
    from tqdm.auto import tqdm

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
    fit, test = sample_architectures(cfg.n_fit, cfg.n_test, cfg.seed)
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
                models = {a: (network(a, cfg.macro, cfg.seed), shape) for a in chunk}
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
    return {"n": float(len(wide)), "kendall_tau": float(stats.kendalltau(a, b).statistic),
            "median_spread_pct": float(100 * np.median(np.abs(a - b) / ((a + b) / 2)))}


def measure_isolated(cfg: ProfileConfig, out: Path, *, progress: bool = True,
                     failed: dict[str, str] | None = None) -> pd.DataFrame:
    """Measure the isolated-op components (unless ``out/isolated_ops.csv`` has them all) and return its rows."""
    path = out / "isolated_ops.csv"
    comps = isolated_components(cfg)
    old = _read_csv(path, ISOLATED_COLUMNS)
    if len(old) == len(comps):
        return old
    failed = {} if failed is None else failed
    plan = cfg.isolated_plan
    with _progress(len(comps) * plan.visits, f"isolated ops {cfg.runtime}", progress) as bar:
        batch = _measure({k: (m, s) for k, (m, s, _) in comps.items()}, cfg.resolved_runtime(), plan, bar, failed)
    rows = [{"component": k.split("@")[0], **comps[k][2], "latency_ms": m.median_ms, "iqr_ms": m.iqr_ms, "runs": m.n}
            for k, m in batch.measured.items()]
    write_rows(path, rows, ISOLATED_COLUMNS)
    return pd.DataFrame(rows, columns=list(ISOLATED_COLUMNS))


def _noisy(frame: pd.DataFrame, key: str, threshold: float) -> list[dict]:
    """Rows with IQR / median above ``threshold``, worst first."""
    rel = frame["iqr_ms"].to_numpy(float) / frame["latency_ms"].to_numpy(float)
    idx = np.flatnonzero(rel > threshold)
    return sorted(({"name": str(frame[key].iloc[i]), "rel_iqr": float(rel[i])} for i in idx),
                  key=lambda d: -d["rel_iqr"])


def _noise_report(meas: pd.DataFrame, iso: pd.DataFrame, threshold: float, passes: dict) -> dict:
    """The ``noisy`` block of meta.json (per-arch flags use the mean IQR over passes); logs a warning."""
    iso_named = iso.assign(name=iso["component"] + "@" + iso["stage"].astype(str))
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


def regression_table(meas: pd.DataFrame, runtime: str) -> CostTable:
    """Least-squares LUT on the ``fit`` rows, with held-out statistics on the ``test`` rows.

    Raises:
        ProfileError: too few or too uniform fit architectures.
    """
    fit, test = meas[meas["split"] == "fit"], meas[meas["split"] == "test"]
    holdout = (list(test["arch_str"]), test["latency_ms"].to_numpy(float)) if len(test) else None
    try:
        return fit_cost_table(list(fit["arch_str"]), fit["latency_ms"].to_numpy(float), name=table_name(runtime),
                              unit="ms", origin="measured", holdout=holdout)
    except CostFitError as exc:
        raise ProfileError(f"regression LUT of {runtime}: {exc}") from exc


def validation_frame(meas: pd.DataFrame, tables: Mapping[str, CostTable]) -> pd.DataFrame:
    """``validation.csv``: every held-out architecture, measured and predicted by each LUT kind."""
    test = meas[meas["split"] == "test"]
    df = pd.DataFrame({"arch_str": test["arch_str"].to_numpy(), "measured_ms": test["latency_ms"].to_numpy(float),
                       "iqr_ms": test["iqr_ms"].to_numpy(float)})
    for kind in LUT_KINDS:
        df[f"pred_{kind}_ms"] = [tables[kind].genotype_cost(a) for a in df["arch_str"]]
    return df


def _meta(cfg: ProfileConfig, rt: Runtime, **extra) -> dict:
    """The meta.json record: conditions, machine, versions, provenance and ``extra``."""
    with rt.session():
        prov = provenance(cfg)
    info = rt.info()
    return {"format": _FORMAT, "runtime": info, "measurement_key": cfg.measurement_key(),
            "batch": cfg.batch, "dtype": cfg.dtype,
            "input": [cfg.batch, cfg.macro.in_channels, cfg.resolution, cfg.resolution],
            "macro": dataclasses.asdict(cfg.macro), "runs": cfg.runs, "warmup": cfg.warmup, "rounds": cfg.rounds,
            "machine": {"cpu_model": prov["cpu_model"], "cpu_count": prov["cpu_count"],
                        "available_cores": available_cores(), "threads": info["threads"]},
            "libraries": {k: info.get(k) for k in ("torch", "onnxruntime", "onnx", "cuda", "cudnn") if info.get(k)}
            | {"numpy": prov["numpy"], "python": prov["python"]},
            "date": prov["timestamp_utc"], "git_commit": prov["git_commit"], "provenance": prov, **extra}


def run_profile(cfg: ProfileConfig, out_dir: str | Path, *, progress: bool = True) -> ProfileResult:
    """Profile one runtime into ``out_dir`` (resuming what is there); see the module docstring.

    Returns:
        A :class:`ProfileResult`; ``skipped`` holds the message (and nothing is written) when the
        runtime cannot run on this machine.

    Raises:
        ProfileError: the folder holds measurements made under other settings, or the fit fails.
    """
    out, rt, t0 = Path(out_dir), cfg.resolved_runtime(), time.perf_counter()
    reason = rt.unavailable()
    if reason:
        log.warning(reason)
        return ProfileResult(out, skipped=reason)
    previous = _check_resume(out, cfg)
    save_json(out / "meta.json", {**previous, **_meta(cfg, rt, status="running")})
    failed: dict[str, str] = {}
    t1 = time.perf_counter()
    meas = measure_end_to_end(cfg, out, progress=progress, failed=failed)
    t2 = time.perf_counter()
    iso = measure_isolated(cfg, out, progress=progress, failed=failed)
    t3 = time.perf_counter()
    tables = {"regression": regression_table(meas, cfg.runtime),
              "isolated": isolated_table(iso, cfg.N, table_name(cfg.runtime, "isolated"))}
    val = validation_frame(meas, tables)
    write_rows(out / "validation.csv", val.to_dict("records"), VALIDATION_COLUMNS)
    summary = {k: validation_stats(val[f"pred_{k}_ms"], val["measured_ms"]) for k in LUT_KINDS}
    for kind, table in tables.items():
        table.save(out / f"lut-{kind}.json")
    seconds = {"end_to_end": t2 - t1, "isolated": t3 - t2, "total": time.perf_counter() - t0}
    history = previous.get("history", []) + [{"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **seconds}]
    meta = _meta(cfg, rt, status="complete", seconds=seconds, validation=summary, failed=failed,
                 noisy=_noise_report(meas, iso, cfg.noisy_threshold,
                                     pass_agreement(_read_csv(out / "measurements.csv", MEASUREMENT_COLUMNS))),
                 counts={"fit": int((meas["split"] == "fit").sum()), "test": int((meas["split"] == "test").sum())},
                 history=history, wall_seconds_all_runs=sum(h["total"] for h in history))
    save_json(out / "meta.json", meta)
    return ProfileResult(out, None, tables["isolated"], tables["regression"], summary, seconds["total"])


def local_table(name: str, root: str | Path | None = None) -> CostTable:
    """The committed LUT of a local runtime: ``local-<runtime>`` or ``local-<runtime>-isolated``.

    Raises:
        KeyError: ``name`` does not name a local runtime.
        FileNotFoundError: the runtime has not been profiled into ``root`` (default ``data/latency``).
    """
    root = Path(root) if root is not None else LATENCY_DIR
    rest = name.removeprefix("local-")
    kind = "isolated" if rest.endswith("-isolated") else "regression"
    runtime = rest.removesuffix("-isolated")
    if not name.startswith("local-") or runtime not in RUNTIME_NAMES:
        raise KeyError(f"{name!r} is not a local runtime; local devices are "
                       f"{', '.join(table_name(r) for r in RUNTIME_NAMES)} (add -isolated for the isolated-op LUT)")
    path = root / runtime / f"lut-{kind}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: runtime {runtime!r} has not been profiled; run "
                                f"`python -m nas profile --runtime {runtime} --space nb201 --out {root / runtime}`")
    return CostTable.load(path)


def measure_architectures(archs: Iterable[str], runtime: str = "torch-cpu-1t", *,
                          macro: MacroConfig = BENCHMARK_MACRO, resolution: int = 32, batch: int = 1,
                          plan: TimingPlan = TimingPlan(), cache: str | Path | None = None,
                          progress: bool = False) -> dict[str, float]:
    """Measured end-to-end latency (median, ms) of NB201 architectures on a local runtime.

    Args:
        archs: NB201 genotype strings (duplicates are measured once).
        runtime: a name of ``nas.costs.latency.RUNTIMES``.
        macro, resolution, batch: the network and input that are timed.
        plan: runs, warm-up, rounds, seed (interleaved across the architectures).
        cache: optional CSV (columns of ``measurements.csv``, split ``derived``); architectures in
            it are not measured again and new ones are added atomically.
        progress: show a progress bar.

    Returns:
        arch string -> median latency in ms, for every architecture that could be measured
        (an export failure is logged and the architecture left out).

    Raises:
        RuntimeUnavailable: the runtime cannot run here (message ``skipped: ...``).
    """
    wanted = list(dict.fromkeys(Genotype.from_str(a).to_str() for a in archs))
    rt = get_runtime(runtime)
    rows = _read_csv(Path(cache), MEASUREMENT_COLUMNS).to_dict("records") if cache else []
    known = {r["arch_str"]: float(r["latency_ms"]) for r in rows}
    todo = [a for a in wanted if a not in known]
    if todo:
        shape = (batch, macro.in_channels, resolution, resolution)
        with _progress(len(todo) * plan.visits, f"measure {runtime}", progress) as bar:
            batch_out = _measure({a: (network(a, macro, plan.seed), shape) for a in todo}, rt,
                                 plan, bar, {})
        new = {a: m for a, m in batch_out.measured.items()}
        known.update({a: m.median_ms for a, m in new.items()})
        if cache:
            rows += [{"arch_str": a, "latency_ms": m.median_ms, "iqr_ms": m.iqr_ms, "runs": m.n, "split": "derived"}
                     for a, m in new.items()]
            write_rows(cache, rows, MEASUREMENT_COLUMNS)
    return {a: known[a] for a in wanted if a in known}


def read_profile(profile_dir: str | Path) -> dict:
    """meta.json, measurements, validation frame and both LUTs of a finished profile folder."""
    d = Path(profile_dir)
    meta = load_json(d / "meta.json")
    if meta.get("status") != "complete":
        raise ProfileError(f"{d}: profile is not complete (status {meta.get('status')!r}); rerun the profile command")
    return {"dir": d, "meta": meta, "runtime": meta["runtime"]["name"],
            "measurements": aggregate_passes(_read_csv(d / "measurements.csv", MEASUREMENT_COLUMNS)),
            "validation": _read_csv(d / "validation.csv", VALIDATION_COLUMNS),
            "tables": {k: CostTable.load(d / f"lut-{k}.json") for k in LUT_KINDS}}


def latency_validation_rows(profile_dirs: Iterable[str | Path]) -> list[dict]:
    """Rows of ``results/summary/latency_validation.csv``: one per (runtime, LUT kind).

    ``n_fit`` is the number of end-to-end fit architectures for the regression LUT and 0 for the
    isolated-op LUT (it is built from op timings, not fitted); ``n_test`` is the held-out count.
    """
    rows = []
    for d in profile_dirs:
        p = read_profile(d)
        val, n_fit = p["validation"], int((p["measurements"]["split"] == "fit").sum())
        for kind in LUT_KINDS:
            s = validation_stats(val[f"pred_{kind}_ms"], val["measured_ms"])
            rows.append({"runtime": p["runtime"], "lut_kind": kind, "n_fit": n_fit if kind == "regression" else 0,
                         "n_test": len(val), **{k: s[k] for k in ("kendall_tau", "spearman", "r2", "mape_pct",
                                                                   "within10_pct", "slope", "intercept")}})
    return rows


def _latency_by_device(profile_dirs: Iterable[str | Path], latency_csv: str | Path | None) -> dict[str, pd.Series]:
    """Whole-network latency per device, indexed by arch string (shared: live cells; local: measured ones)."""
    from nas.costs.devices import SHARED_DEVICES, load_latency_table

    shared = load_latency_table(latency_csv)
    live = shared[~np.array([Genotype.from_str(a).is_dead() for a in shared["arch_str"]])].set_index("arch_str")
    out = {name: live[name].astype(float) for name in SHARED_DEVICES}
    for d in profile_dirs:
        p = read_profile(d)
        m = p["measurements"]
        out[table_name(p["runtime"])] = pd.Series(m["latency_ms"].to_numpy(float), index=m["arch_str"])
    return out


def device_similarity_all(profile_dirs: Iterable[str | Path] = (),
                          latency_csv: str | Path | None = None) -> pd.DataFrame:
    """Pairwise Kendall tau of whole-network latency between the shared devices and local runtimes.

    Each pair is compared on the architectures both have: the live cells of the shared table for
    two shared devices, the end-to-end measured cells (fit + test) of a local runtime otherwise.

    Returns:
        Long frame ``device_a, device_b, kendall_tau, n_archs`` over every ordered pair (tau = 1 on
        the diagonal), the layout of ``device_similarity.csv`` plus the count.
    """
    lat = _latency_by_device(profile_dirs, latency_csv)
    rows = []
    for a, sa in lat.items():
        for b, sb in lat.items():
            common = sa.index.intersection(sb.index)
            tau = 1.0 if a == b else float(stats.kendalltau(sa.loc[common], sb.loc[common]).statistic)
            rows.append({"device_a": a, "device_b": b, "kendall_tau": tau, "n_archs": len(common)})
    return pd.DataFrame(rows)


def op_cost_ratios(profile_dirs: Iterable[str | Path] = (), *, n_fit: int = 300, seed: int = 0) -> pd.DataFrame:
    """Per-op cost ratios per device, from each device's LUT.

    Shared devices use their fitted table (:func:`nas.costs.devices.shared_device_table`); local
    runtimes contribute one row per LUT kind.

    Returns:
        Frame ``device, lut_kind, conv1x1_ms, conv3x3_to_conv1x1, pool_to_conv1x1, skip_to_conv1x1``.
    """
    from nas.costs.devices import SHARED_DEVICES, shared_device_table

    tables = [("regression", shared_device_table(n, n_fit=n_fit, seed=seed)) for n in SHARED_DEVICES]
    for d in profile_dirs:
        p = read_profile(d)
        tables += [(k, p["tables"][k]) for k in LUT_KINDS]
    rows = []
    for kind, t in tables:
        c = t.op_cost_dict()
        ref = c["nor_conv_1x1"]
        ratio = (lambda op: c[op] / ref if ref != 0 else math.nan)  # noqa: E731
        rows.append({"device": t.name.removesuffix("-isolated"), "lut_kind": kind, "conv1x1_ms": ref,
                     "conv3x3_to_conv1x1": ratio("nor_conv_3x3"), "pool_to_conv1x1": ratio("avg_pool_3x3"),
                     "skip_to_conv1x1": ratio("skip_connect")})
    return pd.DataFrame(rows)


def write_latency_validation(profile_dirs: Iterable[str | Path], path: str | Path | None = None) -> Path:
    """Write ``results/summary/latency_validation.csv`` (declared in ``SUMMARY_COLUMNS``)."""
    path = Path(path) if path is not None else repo_root() / "results" / "summary" / "latency_validation.csv"
    return write_rows(path, latency_validation_rows(profile_dirs))


def profile_dirs(root: str | Path | None = None) -> list[Path]:
    """Finished profile folders under ``root`` (default ``data/latency``), sorted by name."""
    root = Path(root) if root is not None else LATENCY_DIR
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if (d / "meta.json").is_file()
                  and load_json(d / "meta.json").get("status") == "complete")


__all__ = [
    "LATENCY_DIR", "LUT_KINDS", "ProfileConfig", "ProfileError", "ProfileResult", "RuntimeUnavailable",
    "device_similarity_all", "isolated_table", "latency_validation_rows", "local_table", "measure_architectures",
    "measure_end_to_end", "measure_isolated", "op_cost_ratios", "profile_dirs", "read_profile", "regression_table",
    "run_profile", "sample_architectures", "table_name", "validation_stats", "write_latency_validation",
]
