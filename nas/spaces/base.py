"""The search-space protocol: what search, derivation, costs and export need from a space.

An architecture is encoded for the core as op indices ``idx`` of shape (n_edges,), one op
(an index into ``primitives``) per searchable edge; the generator's logits have shape
(..., n_edges, n_ops) with the same axes. A space with several cell types (normal and reduction)
lays their edges end to end on the edge axis. Genotypes are the space's own validated values;
``parse``/``format`` convert them to and from their canonical string.

:class:`EnumerableSpace` implements derivation, cheapest architecture and sampling exactly by
scoring every architecture, for spaces small enough to list (``all_indices``); a larger space
implements the same methods without enumeration.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from torch import nn


@runtime_checkable
class SearchSpace(Protocol):
    """A search space: op axis, edge axis, networks, genotypes, derivation and cost features."""

    name: str  # registry key, written into cost tables and run configs
    primitives: tuple[str, ...]  # op names, the order of the op axis; contains "none"
    n_edges: int  # searchable edges (all cell types together), the edge axis

    def supernet(self, C: int, N: int, in_channels: int, n_classes: int) -> nn.Module:
        """Weights of all candidate ops; ``forward(x, weights (E, O) | None, index (E,) | None)``."""

    def network(self, genotype: Any, C: int = ..., N: int = ..., in_channels: int = 3,
                n_classes: int = 10) -> nn.Module:
        """The discrete network of one genotype; ``forward(x)`` -> logits (B, n_classes)."""

    def parse(self, text: str) -> Any:
        """Genotype from its canonical string; raises ValueError (a GenotypeError) when invalid."""

    def format(self, genotype: Any) -> str:
        """Canonical string of a genotype (``parse(format(g)) == g``)."""

    def genotype_id(self, genotype: Any) -> str:
        """Short stable hash of the canonical string."""

    def from_indices(self, idx: Sequence[int]) -> Any:
        """Genotype of op indices (n_edges,)."""

    def indices(self, genotype: Any) -> np.ndarray:
        """Op indices int64 (n_edges,) of a genotype (inverse of ``from_indices``)."""

    def is_valid(self, genotype: Any) -> bool:
        """False for an architecture the space excludes (NB201: a dead cell, no input-output path)."""

    def most_probable(self, logp: np.ndarray, costs=None, bound: float | None = None) -> np.ndarray:
        """Most probable valid architecture of each row of log-probabilities logp (L, n_edges, n_ops).

        With a cost table ``costs`` and ``bound``, only architectures with ``costs.arch_costs(idx) <=
        bound`` count. Returns op indices int64 (L, n_edges); a row with no admissible architecture
        raises ValueError.
        """

    def top_k(self, logp: np.ndarray, costs, bound: float, k: int) -> np.ndarray:
        """The ``k`` most probable valid architectures within ``bound`` under logp (n_edges, n_ops), most probable
        first (<= k, n_edges): the proposals a budget answer may re-rank."""

    def cheapest(self, costs) -> np.ndarray:
        """Op indices (n_edges,) of the valid architecture of least cost under table ``costs``."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` valid architectures drawn uniformly, op indices int64 (n, n_edges)."""

    def cost_features(self, genotypes: Sequence[Any]) -> np.ndarray:
        """Per-op edge counts float64 (n, n_groups * n_ops), group-major: the features of an additive
        cost table (see :func:`cost_groups`)."""


def cost_groups(space) -> tuple[str, ...]:
    """Names of the space's edge groups whose ops cost alike (``space.cost_groups``; default one group).

    In NB201 every edge of every cell has the same shape, so an op costs the same on each; in a
    space with reduction cells an edge with stride 2 does not, and the cost table holds one op
    cost per group (``space.edge_groups`` maps each edge to its group).
    """
    return tuple(getattr(space, "cost_groups", ("edge",)))


def edge_groups(space) -> np.ndarray:
    """Group of every edge, int64 (n_edges,) into :func:`cost_groups` (default all 0)."""
    groups = getattr(space, "edge_groups", None)
    return np.zeros(space.n_edges, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)


def cost_keys(space) -> tuple[str, ...]:
    """Names of a cost table's entries, group-major: the op names for one group, else ``group/op``."""
    groups = cost_groups(space)
    if len(groups) == 1:
        return tuple(space.primitives)
    return tuple(f"{g}/{op}" for g in groups for op in space.primitives)


class EnumerableSpace:
    """Exact derivation, cheapest architecture and sampling by scoring every architecture.

    Subclasses provide ``all_indices()`` (A, n_edges) and ``valid_mask()`` (A,), both cached.
    """

    n_edges: int

    def all_indices(self) -> np.ndarray:
        raise NotImplementedError

    def valid_mask(self) -> np.ndarray:
        raise NotImplementedError

    def most_probable_index(self, logp: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """Row of ``all_indices()`` (L,) of the most probable valid architecture per row of logp (L, E, O);
        ``allowed`` (A,) bool further restricts the architectures."""
        ops = self.all_indices()  # (A, E)
        scores = logp[:, np.arange(self.n_edges), ops].sum(axis=-1)  # (L, A)
        mask = self.valid_mask() if allowed is None else (self.valid_mask() & allowed)
        scores[:, ~mask] = -np.inf
        return scores.argmax(axis=1)

    def most_probable(self, logp: np.ndarray, costs=None, bound: float | None = None) -> np.ndarray:
        allowed = None
        if bound is not None:
            allowed = costs.arch_costs(self.all_indices()) <= bound
            if not (allowed & self.valid_mask()).any():
                raise ValueError(f"no valid architecture of {self.name} costs at most {bound} {costs.unit}")
        return self.all_indices()[self.most_probable_index(logp, allowed)]

    def top_k(self, logp: np.ndarray, costs, bound: float, k: int) -> np.ndarray:
        """The ``k`` most probable valid architectures with ``costs.arch_costs <= bound`` under one row of
        log-probabilities logp (n_edges, n_ops), most probable first: op indices (<= k, n_edges)."""
        ops = self.all_indices()
        scores = logp[np.arange(self.n_edges), ops].sum(axis=-1)
        scores[~(self.valid_mask() & (costs.arch_costs(ops) <= bound))] = -np.inf
        order = np.argsort(-scores, kind="stable")[:k]
        return ops[order[np.isfinite(scores[order])]]

    def cheapest(self, costs) -> np.ndarray:
        all_costs = np.where(self.valid_mask(), costs.arch_costs(self.all_indices()), np.inf)
        return self.all_indices()[int(all_costs.argmin())]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        rows = np.flatnonzero(self.valid_mask())
        return self.all_indices()[rng.choice(rows, size=n, replace=True)]
