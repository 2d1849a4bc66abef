"""NAS-Bench-201 ground truth for EVALUATION ONLY: a search must never import this module.

Joins the trained CIFAR-10 accuracy of every NB201 cell (``data/benchmarks/nb201``) with its
measured latency on the shared devices (``data/hardware``) and scores what a method returns:
latency budgets at quantiles of a device's measured latency, the oracle (best accuracy within a
budget), budget regret with violations checked on *measured* latency, and a random-search
reference. Dead cells (no input-output path; 10 % accuracy) are never budgets' or oracles' members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from nas.costs.devices import REPO_ROOT, load_latency_table
from nas.spaces.nb201.genotype import Genotype, GenotypeError

ACCURACY_CSV = REPO_ROOT / "data" / "benchmarks" / "nb201" / "nb201_cifar10_accuracy.csv"
DEFAULT_METRIC = "cifar10_test_acc"
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0)


@dataclass(eq=False)
class NB201Benchmark:
    """Accuracy and measured latency of every NB201 cell, indexed by canonical arch string.

    Attributes:
        frame: one row per cell: ``arch_index, arch_str``, the accuracy columns, one measured
            latency column per device (ms) and ``dead`` (bool).
        devices: the latency columns of ``frame``.
        metrics: the accuracy columns of ``frame`` (%).
    """

    frame: pd.DataFrame
    devices: tuple[str, ...]
    metrics: tuple[str, ...]
    _frontier: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, acc_path: str | Path | None = None, latency_path: str | Path | None = None) -> "NB201Benchmark":
        """Read and join the accuracy and latency CSVs (defaults: the repository's ``data/`` copies)."""
        acc = pd.read_csv(acc_path or ACCURACY_CSV)
        lat = load_latency_table(latency_path)
        devices = tuple(c for c in lat.columns if c not in ("arch_index", "arch_str"))
        frame = acc.merge(lat, on="arch_str", how="inner", suffixes=("", "_lat"), validate="one_to_one")
        if len(frame) != len(acc) or (frame["arch_index"] != frame["arch_index_lat"]).any():
            raise ValueError("accuracy and latency tables disagree on architectures or indices")
        frame = frame.drop(columns="arch_index_lat").sort_values("arch_index").reset_index(drop=True)
        frame["dead"] = [Genotype.from_str(a).is_dead() for a in frame["arch_str"]]
        metrics = tuple(c for c in acc.columns if c not in ("arch_index", "arch_str"))
        return cls(frame.set_index("arch_str", drop=False), devices, metrics)

    def _key(self, arch: str | Genotype | int) -> str:
        if isinstance(arch, (int, np.integer)):
            if not 0 <= arch < len(self.frame) or self.frame["arch_index"].iat[int(arch)] != arch:
                raise KeyError(f"arch_index {arch} is not in the benchmark (0..{len(self.frame) - 1})")
            return str(self.frame["arch_str"].iat[int(arch)])
        try:
            key = (arch if isinstance(arch, Genotype) else Genotype.from_str(arch)).to_str()
        except GenotypeError as exc:
            raise KeyError(f"{arch!r} is not an NB201 architecture: {exc}") from exc
        if key not in self.frame.index:
            raise KeyError(f"{key!r} is not in the benchmark")
        return key

    def _check_device(self, device: str) -> None:
        if device not in self.devices:
            raise KeyError(f"no measured latency for device {device!r}; known: {', '.join(self.devices)}")

    def _check_metric(self, metric: str) -> None:
        if metric not in self.metrics:
            raise KeyError(f"unknown accuracy metric {metric!r}; known: {', '.join(self.metrics)}")

    def accuracy(self, arch: str | Genotype | int, metric: str = DEFAULT_METRIC) -> float:
        """Trained accuracy (%) of ``arch`` (string, genotype or NB201 index) under ``metric``."""
        self._check_metric(metric)
        return float(self.frame.at[self._key(arch), metric])

    def measured_latency(self, arch: str | Genotype | int, device: str) -> float:
        """Measured whole-network latency of ``arch`` on ``device`` (ms), from the shared CSV."""
        self._check_device(device)
        return float(self.frame.at[self._key(arch), device])

    def live(self) -> pd.DataFrame:
        """The non-dead rows of ``frame``."""
        return self.frame[~self.frame["dead"]]

    def budgets(self, device: str, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> dict[float, float]:
        """Latency budgets (ms): quantiles of ``device``'s measured latency over non-dead cells."""
        self._check_device(device)
        values = np.quantile(self.live()[device].to_numpy(), list(quantiles))
        return {float(q): float(v) for q, v in zip(quantiles, values)}

    def _oracle_frontier(self, device: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Live cells sorted by latency, with running best accuracy and the row achieving it."""
        if (device, metric) not in self._frontier:
            live = self.live().sort_values([device, metric, "arch_index"], ascending=[True, False, True])
            lat, acc = live[device].to_numpy(), live[metric].to_numpy()
            best = np.maximum.accumulate(acc)
            is_new = np.r_[True, acc[1:] > best[:-1]]  # strictly better than everything faster
            arg = np.maximum.accumulate(np.where(is_new, np.arange(len(acc)), 0))
            self._frontier[(device, metric)] = (lat, best, live["arch_str"].to_numpy()[arg])
        return self._frontier[(device, metric)]

    def oracle(self, device: str, budget_ms: float, metric: str = DEFAULT_METRIC) -> tuple[str, float]:
        """Best ``metric`` among non-dead cells with measured latency <= ``budget_ms``.

        Ties go to the faster cell. Raises ValueError when no cell fits the budget.
        """
        self._check_device(device)
        self._check_metric(metric)
        lat, best, arch = self._oracle_frontier(device, metric)
        i = int(np.searchsorted(lat, budget_ms, side="right")) - 1
        if i < 0:
            raise ValueError(f"no architecture runs within {budget_ms} ms on {device} (fastest: {lat[0]} ms)")
        return str(arch[i]), float(best[i])

    def budget_regret(self, device: str, returned: Mapping[float, str | Genotype | None],
                      metric: str = DEFAULT_METRIC,
                      quantiles: Sequence[float] = DEFAULT_QUANTILES) -> pd.DataFrame:
        """Score the architectures a method returns per latency budget.

        Args:
            device: a latency column of the benchmark.
            returned: budget (ms) -> architecture returned for it (None: nothing returned).
            metric: accuracy column.
            quantiles: used only to label each budget with the quantile it equals.

        Returns:
            Tidy rows ``device, budget_q`` (quantile whose budget matches, else NaN), ``budget_ms, arch,
            acc, oracle_arch, oracle_acc, regret`` (oracle_acc - acc; negative only for a
            violating arch), ``meas_latency_ms, violation`` (measured latency > budget).
        """
        q_of = {round(v, 9): q for q, v in self.budgets(device, quantiles).items()}
        rows = []
        for budget, arch in returned.items():
            o_arch, o_acc = self.oracle(device, budget, metric)
            key = None if arch is None else self._key(arch)
            acc = np.nan if key is None else self.accuracy(key, metric)
            lat = np.nan if key is None else self.measured_latency(key, device)
            rows.append({"device": device, "budget_q": q_of.get(round(float(budget), 9), np.nan),
                         "budget_ms": float(budget), "arch": key, "acc": acc, "oracle_arch": o_arch,
                         "oracle_acc": o_acc, "regret": o_acc - acc, "meas_latency_ms": lat,
                         "violation": bool(lat > budget)})
        return pd.DataFrame(rows)

    def random_search_regret(self, device: str, n: int, seeds: Sequence[int],
                             quantiles: Sequence[float] = DEFAULT_QUANTILES,
                             metric: str = DEFAULT_METRIC) -> pd.DataFrame:
        """Reference: ``n`` seeded random non-dead cells; per budget, the most accurate one within it.

        When no sampled cell fits a budget, the fastest sampled cell is returned (a violation).
        DESIGN.md's reference points: about 3-5 points of mean regret for n = 10, 1.0-1.75 for n = 50.

        Returns:
            One row per seed: ``device, n, seed, mean_regret`` (over the budgets),
            ``violations`` (budgets where the returned cell exceeds the budget).
        """
        live = self.live()
        budgets = self.budgets(device, quantiles)
        rows = []
        for seed in seeds:
            pick = live.iloc[np.random.default_rng(seed).choice(len(live), size=n, replace=False)]
            returned = {b: _best_within(pick, device, b, metric) for b in budgets.values()}
            r = self.budget_regret(device, returned, metric, quantiles)
            rows.append({"device": device, "n": n, "seed": seed, "mean_regret": float(r["regret"].mean()),
                         "violations": int(r["violation"].sum())})
        return pd.DataFrame(rows)


def _best_within(pick: pd.DataFrame, device: str, budget: float, metric: str) -> str:
    """Most accurate row of ``pick`` within ``budget`` (else the fastest row): its arch string."""
    ok = pick[pick[device] <= budget]
    if ok.empty:
        return str(pick.loc[pick[device].idxmin(), "arch_str"])
    return str(ok.sort_values([metric, device], ascending=[False, True])["arch_str"].iat[0])

