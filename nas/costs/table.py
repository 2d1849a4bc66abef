"""Cost tables: a device (or a budget like parameters or FLOPs) as base + per-edge op costs.

A :class:`CostTable` ``h`` of a search space (``nas.spaces``; NB201 by default) assigns each
architecture a cost

    cost_h(g) = base_h + sum_{e in edges} c_h[g_e],          c_h[none] = 0,

where ``base_h`` covers everything outside the searchable edges (stem, reduction blocks, head,
and whatever the ``none`` op itself costs). The same numbers give FBNet's differentiable expected
cost under per-edge op probabilities p (shape (..., n_edges, n_ops); NB201: (..., 6, 5)),

    E[cost_h](p) = base_h + sum_e sum_o p[e, o] * c_h[o],

and the scale-free descriptor phi(h) that conditions the hypernetwork (see
:meth:`CostTable.descriptor`). :func:`fit_cost_table` fits such a table to whole-network
measurements by least squares on the space's cost features (edges per op), leaving out the
architectures the space calls invalid (NB201: dead cells, no path from input to output).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from scipy import stats

from nas.ops import NB201_PRIMITIVES
from nas.results import atomic_writer
from nas.spaces import get_space
from nas.spaces.base import cost_groups, cost_keys, edge_groups

FITTED_OPS: tuple[str, ...] = tuple(op for op in NB201_PRIMITIVES if op != "none")  # NB201's
N_FIT_PARAMS = 1 + len(FITTED_OPS)  # NB201: base + one cost per non-none op = 5
DESCRIPTOR_DIM = len(FITTED_OPS) + 1  # NB201: 5
_FORMAT = "nas.costs.CostTable/1"


class CostFitError(ValueError):
    """Measurements that cannot determine a cost table (too few rows, missing ops, ...)."""


def fitted_ops(space: str = "nb201") -> tuple[str, ...]:
    """The entries whose cost is fitted (every op but the ``none`` reference; ``group/op`` in a space
    with several cost groups), in the table's order."""
    sp = get_space(space)
    return tuple(k for k, op in zip(cost_keys(sp), _ops_of_keys(sp)) if op != "none")


def _ops_of_keys(sp) -> list[str]:
    """The op of each cost-table entry (group-major)."""
    return list(sp.primitives) * len(cost_groups(sp))


@dataclass(frozen=True)
class CostTable:
    """Additive cost model of one device over the architectures of a search space.

    Attributes:
        name: device id, e.g. ``"raspi4"``, ``"params"``, ``"my_phone"``.
        unit: unit of every cost, e.g. ``"ms"``, ``"M params"``, ``"MFLOPs"``.
        base: cost of everything outside the searchable edges, in ``unit``.
        op_cost: per-edge cost of each op, aligned with the space's ``primitives``; ``none`` is 0.
            A space with several cost groups (``nas.spaces.base.cost_groups``: edges of different
            shapes) has one such row per group, flattened group-major.
        origin: provenance, e.g. ``"measured"``, ``"estimated"``, ``"analytic"``.
        fit: fit statistics (``n_fit``, ``n_test``, ``r2``, ``kendall_tau``, ...) or None.
        space: name of the search space (``nas.spaces``).
    """

    name: str
    unit: str
    base: float
    op_cost: tuple[float, ...]
    origin: str
    fit: Mapping[str, float] | None = None
    space: str = "nb201"

    def __post_init__(self) -> None:
        costs = tuple(float(c) for c in self.op_cost)
        keys = cost_keys(self._space)
        if len(costs) != len(keys):
            raise ValueError(f"op_cost needs {len(keys)} values {keys}, got {len(costs)}")
        if not all(math.isfinite(c) for c in costs) or not math.isfinite(float(self.base)):
            raise ValueError(f"cost table {self.name!r}: base and op costs must be finite")
        if any(c != 0.0 for c, op in zip(costs, _ops_of_keys(self._space)) if op == "none"):
            raise ValueError(
                f"cost table {self.name!r}: op_cost['none'] must be 0 (the reference); "
                "use CostTable.from_op_costs to move an absolute none cost into base"
            )
        object.__setattr__(self, "op_cost", costs)
        object.__setattr__(self, "base", float(self.base))
        if self.fit is not None:
            object.__setattr__(self, "fit", {str(k): float(v) for k, v in self.fit.items()})

    @property
    def _space(self):
        return get_space(self.space)

    @classmethod
    def from_op_costs(cls, name: str, unit: str, base: float, costs: Mapping[str, float], origin: str,
                      fit: Mapping[str, float] | None = None, space: str = "nb201") -> "CostTable":
        """Build from op-name (``group/op`` with several cost groups) -> cost; a nonzero ``none`` cost
        is moved into ``base`` (once per edge of its group).

        Raises:
            ValueError: when an op of the space is missing or an unknown op is given.
        """
        sp = get_space(space)
        keys, groups = cost_keys(sp), cost_groups(sp)
        missing = [k for k in keys if k not in costs]
        unknown = [k for k in costs if k not in keys]
        if missing or unknown:
            raise ValueError(f"cost table {name!r}: missing ops {missing}, unknown ops {unknown}")
        n_ops, per_group = len(sp.primitives), np.bincount(edge_groups(sp), minlength=len(groups))
        shifts = [float(costs[keys[g * n_ops + sp.primitives.index("none")]]) for g in range(len(groups))]
        op_cost = tuple(float(costs[k]) - shifts[j // n_ops] for j, k in enumerate(keys))
        base = float(base) + sum(n * sh for n, sh in zip(per_group, shifts))
        return cls(name, unit, base, op_cost, origin, fit, space)

    def op_cost_dict(self) -> dict[str, float]:
        """Op name (``group/op`` with several cost groups) -> per-edge cost."""
        return dict(zip(cost_keys(self._space), self.op_cost))

    @property
    def cost_matrix(self) -> np.ndarray:
        """Cost of each op on each edge, float64 (n_edges, n_ops)."""
        sp = self._space
        return np.asarray(self.op_cost).reshape(len(cost_groups(sp)), len(sp.primitives))[edge_groups(sp)]

    def genotype_cost(self, g) -> float:
        """Cost of one architecture (a genotype or its string): ``base + sum_e cost[e, g_e]``, in ``unit``."""
        sp = self._space
        return float(self.arch_costs(sp.indices(sp.parse(g))))

    def arch_costs(self, idx: np.ndarray) -> np.ndarray:
        """Costs float64 (...) of architectures given as op indices (..., n_edges)."""
        m = self.cost_matrix
        return self.base + m[np.arange(m.shape[0]), np.asarray(idx)].sum(axis=-1)

    def all_costs(self) -> np.ndarray:
        """Cost of every architecture of an enumerable space (NB201: (15625,)), aligned with its
        ``all_indices()``."""
        return self.arch_costs(self._space.all_indices())

    def expected_cost(self, probs: torch.Tensor) -> torch.Tensor:
        """Differentiable expected cost under independent per-edge op distributions.

        Args:
            probs: (..., n_edges, n_ops) op probabilities per edge (NB201: (..., 6, 5)), ops aligned
                with the space's primitives; rows should sum to 1 (``base`` is counted once regardless).

        Returns:
            (...) tensor ``base + sum_{e,o} probs[..., e, o] * op_cost[o]`` with the dtype and
            device of ``probs``; its gradient w.r.t. ``probs`` is ``op_cost`` on every edge.
        """
        m = self.cost_matrix
        if probs.shape[-2:] != m.shape:
            raise ValueError(f"probs must have shape (..., {m.shape[0]}, {m.shape[1]}), got {tuple(probs.shape)}")
        c = torch.as_tensor(m, dtype=probs.dtype, device=probs.device)
        return self.base + (probs * c).sum(dim=(-2, -1))

    def reference_cost(self) -> float:
        """Expected cost under uniform op probabilities on every edge."""
        return self.base + float(self.cost_matrix.mean(axis=1).sum())

    def descriptor(self) -> np.ndarray:
        """Scale-free device descriptor phi(h), float64 (n_ops,) (NB201: 5).

        ``phi[:-1]``: the costs of the fitted ops (every op but ``none``; NB201: skip, conv1x1,
        conv3x3, pool) divided by the largest absolute op cost, so the most expensive op reads 1
        and a slightly negative fitted cost (``skip_connect`` on GPUs) stays slightly negative.
        ``phi[-1]``: the base's share of the uniform-reference cost,
        ``base / (|base| + n_edges * mean_o |c_o|)``, which equals ``base / reference_cost()``
        whenever no cost is negative and lies in [-1, 1] always. Multiplying every cost by a
        positive factor (a change of unit) leaves phi unchanged. A table whose op costs are all 0
        gets zeros in ``phi[:-1]``.
        """
        sp = self._space
        ops = np.array([c for op, c in zip(_ops_of_keys(sp), self.op_cost) if op != "none"])
        scale = float(np.abs(ops).max())
        rel = ops / scale if scale > 0 else np.zeros_like(ops)
        denom = abs(self.base) + float(np.abs(self.cost_matrix).mean(axis=1).sum())
        share = self.base / denom if denom > 0 else 0.0
        return np.append(rel, share).astype(np.float64)

    def to_dict(self) -> dict:
        """JSON-safe dict with ops named by string; NaN fit statistics become None."""
        fit = None if self.fit is None else {k: (None if math.isnan(v) else v) for k, v in self.fit.items()}
        return {"format": _FORMAT, "space": self.space, "name": self.name, "unit": self.unit,
                "origin": self.origin, "base": self.base, "op_cost": self.op_cost_dict(), "fit": fit}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CostTable":
        """Inverse of :meth:`to_dict` (a missing ``space`` reads as nb201); raises ValueError on an
        unknown space or on ops that differ from the space's."""
        space = d.get("space", "nb201")
        ops = cost_keys(get_space(space))
        costs = d["op_cost"]
        if set(costs) != set(ops):
            raise ValueError(f"op_cost keys {sorted(costs)} differ from {space} ops {list(ops)}")
        fit = d.get("fit")
        fit = None if fit is None else {k: (math.nan if v is None else v) for k, v in fit.items()}
        return cls(d["name"], d["unit"], d["base"], tuple(costs[op] for op in ops), d["origin"], fit, space)

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically (``nas.results.atomic_writer``)."""
        with atomic_writer(path) as f:
            json.dump(self.to_dict(), f, indent=2, allow_nan=False)
            f.write("\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CostTable":
        """Read a table written by :meth:`save`."""
        with open(path) as f:
            return cls.from_dict(json.load(f))


def op_count_features(archs: Sequence, space: str = "nb201") -> tuple[np.ndarray, np.ndarray]:
    """Design matrix of the additive model and the invalid (NB201: dead) flags.

    Args:
        archs: genotypes or their strings.

    Returns:
        X: float64 (n, 1 + len(fitted_ops)) with columns [1, edges carrying op for op in
            ``fitted_ops(space)``] (NB201: (n, 5)), from the space's ``cost_features``.
        dead: bool (n,) True where the architecture is invalid (NB201: no input-output path).
    """
    sp = get_space(space)
    gs = [sp.parse(a) for a in archs]
    keep = [j for j, op in enumerate(_ops_of_keys(sp)) if op != "none"]
    counts = sp.cost_features(gs).reshape(len(gs), -1)[:, keep]  # (n, n_groups * (n_ops - 1))
    X = np.hstack([np.ones((len(gs), 1)), counts])
    return X, np.array([not sp.is_valid(g) for g in gs], dtype=bool)


def _check_design(X: np.ndarray, n_given: int, n_dead: int, space: str) -> None:
    n, n_params = X.shape
    ops = fitted_ops(space)
    if n < n_params:
        raise CostFitError(
            f"fitting base + {len(ops)} op costs needs at least {n_params} non-dead architectures; "
            f"got {n} ({n_given} given, {n_dead} dead left out). Measure at least {n_params - n} more."
        )
    if np.linalg.matrix_rank(X) < n_params:
        absent = [op for j, op in enumerate(ops) if not X[:, 1 + j].any()]
        if absent:
            raise CostFitError(f"op(s) {absent} never appear in the measured architectures, so their cost "
                               "cannot be fitted; add architectures that use them")
        raise CostFitError("the op counts are collinear (e.g. every architecture has the same number of 'none' "
                           "edges), so base and op costs cannot be separated; add more varied architectures")


def prediction_stats(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """r2, rmse, Kendall tau-b (``scipy.stats.kendalltau``) and Spearman rho of predictions vs truth.

    Ranks are computed after rounding both to 1e-9 of the largest |truth|, so an exactly additive
    device (``eyeriss``, ``fpga``) with tied latencies is not scored below 1 for round-off.
    """
    if len(y) < 2:
        return {"r2": math.nan, "rmse": math.nan, "kendall_tau": math.nan, "spearman": math.nan}
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan
    rp, ry = _snap(pred, y), _snap(y, y)  # float round-off must not break ties in the ranking
    return {"r2": r2, "rmse": float(np.sqrt(np.mean((y - pred) ** 2))),
            "kendall_tau": float(stats.kendalltau(rp, ry).statistic),
            "spearman": float(stats.spearmanr(rp, ry).statistic)}


def _snap(x: np.ndarray, ref: np.ndarray, digits: int = 9) -> np.ndarray:
    """Round ``x`` to ``digits`` significant digits of ``max|ref|`` so round-off ties stay ties."""
    scale = float(np.abs(ref).max()) or 1.0
    return np.round(x / scale, digits)


def _live_rows(archs, values, space: str) -> tuple[np.ndarray, np.ndarray, int]:
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(y) != len(archs):
        raise CostFitError(f"{len(archs)} architectures but {len(y)} values")
    if not np.isfinite(y).all():
        raise CostFitError(f"values must be finite; got {int((~np.isfinite(y)).sum())} NaN/inf")
    X, dead = op_count_features(archs, space)
    return X[~dead], y[~dead], int(dead.sum())


def fit_cost_table(archs: Sequence, values: Sequence[float], *, name: str, unit: str = "ms",
                   origin: str = "measured", holdout: tuple[Sequence, Sequence[float]] | None = None,
                   space: str = "nb201") -> CostTable:
    """Least-squares additive table ``value ~ base + sum_e c[op_e]`` with ``c[none] = 0``.

    Args:
        archs: architectures (strings or genotypes) with whole-network ``values``.
        values: measured cost of each architecture, in ``unit``.
        name, unit, origin: copied into the table.
        holdout: optional (archs, values) never used for fitting, scored into ``fit``.
        space: the search space of the architectures.

    Returns:
        The table; ``fit`` holds ``n_fit``, ``n_dead_skipped``, in-sample ``train_r2`` /
        ``train_rmse`` and, with ``holdout``, held-out ``r2``, ``rmse``, ``kendall_tau``,
        ``spearman``, ``n_test`` (dead holdout rows are left out too).

    Raises:
        CostFitError: fewer non-dead rows than parameters (NB201: 5), or a rank-deficient design.
    """
    X, y, n_dead = _live_rows(archs, values, space)
    _check_design(X, len(archs), n_dead, space)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    train = prediction_stats(X @ coef, y)
    fit = {"n_fit": float(len(y)), "n_dead_skipped": float(n_dead), "min_measured": float(y.min()),
           "train_r2": train["r2"], "train_rmse": train["rmse"]}
    if holdout is not None:
        Xt, yt, _ = _live_rows(*holdout, space)
        fit.update(prediction_stats(Xt @ coef, yt), n_test=float(len(yt)))
    sp = get_space(space)
    costs = {k: 0.0 for k, op in zip(cost_keys(sp), _ops_of_keys(sp)) if op == "none"}
    costs.update(zip(fitted_ops(space), coef[1:]))
    return CostTable.from_op_costs(name, unit, coef[0], costs, origin, fit, space)
