"""The DARTS cell space behind the :class:`~nas.spaces.base.SearchSpace` protocol.

Eight ops (``nas.ops.DARTS_PRIMITIVES``) on 28 edges: the 14 edges of the normal cell, then the 14
of the reduction cell (``nas.spaces.darts.genotype``). 8^28 architectures, so derivation works a node
at a time (``nas.spaces.darts.derive``) instead of by enumeration. The derivation rule is DARTS-CC's
one op per edge; :func:`darts_cells` gives DARTS's published top-2 rule from op weights.

Edges cost alike within three groups: the normal cell's, the reduction cell's edges leaving its
two inputs (stride 2), and its other edges (stride 1); a cost table holds one op cost per group.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nas.ops import DARTS_PRIMITIVES
from nas.spaces.darts import derive
from nas.spaces.darts.genotype import (EDGES, N_CELL_EDGES, N_EDGES, N_INPUTS, DartsGenotype, GenotypeError,
                                       genotype_from_indices)
from nas.spaces.darts.network import MINI_MACRO, DartsMacro, DartsNetwork, DartsSuperNet

COST_GROUPS = ("normal", "reduce_s2", "reduce_s1")
EDGE_GROUPS = tuple([0] * N_CELL_EDGES + [1 if src < N_INPUTS else 2 for src, _ in EDGES])


class DartsSpace:
    """The DARTS cell space; networks default to DARTS-CC's mini network (C=16, N=3 cells)."""

    name = "darts"
    primitives = DARTS_PRIMITIVES
    n_edges = N_EDGES
    cost_groups = COST_GROUPS
    edge_groups = EDGE_GROUPS
    benchmark_macro = MINI_MACRO

    def __init__(self, rule: str = "one-op-per-edge"):
        derive._live_range(rule)  # an unknown rule raises here
        self.rule = rule

    def supernet(self, C: int, N: int, in_channels: int, n_classes: int) -> DartsSuperNet:
        return DartsSuperNet(DartsMacro(C=C, N=N, in_channels=in_channels, n_classes=n_classes))

    def network(self, genotype: DartsGenotype | str, C: int = 16, N: int = 3, in_channels: int = 3,
                n_classes: int = 10) -> DartsNetwork:
        return DartsNetwork(self.parse(genotype), DartsMacro(C=C, N=N, in_channels=in_channels, n_classes=n_classes))

    def parse(self, text: str | DartsGenotype) -> DartsGenotype:
        return text if isinstance(text, DartsGenotype) else DartsGenotype.from_str(text)

    def format(self, genotype: DartsGenotype) -> str:
        return genotype.to_str()

    def genotype_id(self, genotype: DartsGenotype) -> str:
        return genotype.genotype_id

    def from_indices(self, idx: Sequence[int]) -> DartsGenotype:
        return genotype_from_indices(idx)

    def indices(self, genotype: DartsGenotype) -> np.ndarray:
        return np.array([DARTS_PRIMITIVES.index(op) for op in genotype.ops], dtype=np.int64)

    def is_valid(self, genotype: DartsGenotype) -> bool:
        return not genotype.dead_nodes()

    def most_probable(self, logp: np.ndarray, costs=None, bound: float | None = None) -> np.ndarray:
        logp = np.asarray(logp, dtype=np.float64).reshape(-1, N_EDGES, len(DARTS_PRIMITIVES))
        if bound is None:
            return np.stack([derive.most_probable_free(row, self.rule) for row in logp])
        out = []
        for row in logp:
            try:
                out.append(derive.most_probable_bounded(row, costs.cost_matrix, bound - costs.base, self.rule))
            except ValueError:
                raise ValueError(f"no valid architecture of darts costs at most {bound} {costs.unit}") from None
        return np.stack(out)

    def top_k(self, logp: np.ndarray, costs, bound: float, k: int) -> np.ndarray:
        try:
            return derive.top_k(np.asarray(logp, dtype=np.float64), costs.cost_matrix, bound - costs.base, self.rule, k)
        except ValueError:
            return np.zeros((0, N_EDGES), dtype=np.int64)

    def cheapest(self, costs) -> np.ndarray:
        return derive.most_probable_free(-costs.cost_matrix, self.rule)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return derive.sample(rng, n, self.rule)

    def cost_features(self, genotypes: Sequence[DartsGenotype]) -> np.ndarray:
        """Edges per (cost group, op), float64 (n, 3 * 8), group-major."""
        n_ops = len(DARTS_PRIMITIVES)
        out = np.zeros((len(genotypes), len(COST_GROUPS) * n_ops))
        groups = np.asarray(EDGE_GROUPS)
        for row, g in enumerate(genotypes):
            np.add.at(out[row], groups * n_ops + self.indices(g), 1.0)
        return out


def darts_cells(weights: np.ndarray) -> DartsGenotype:
    """DARTS's published derivation from op weights (28, 8) (softmax of the architecture parameters):
    each intermediate node keeps the two inputs whose strongest non-``none`` op weighs most, with
    that op."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (N_EDGES, len(DARTS_PRIMITIVES)):
        raise GenotypeError(f"DARTS weights have shape ({N_EDGES}, {len(DARTS_PRIMITIVES)}), got {w.shape}")
    none = DARTS_PRIMITIVES.index("none")
    live = np.where(np.arange(w.shape[1]) == none, -np.inf, w)
    idx = np.full(N_EDGES, none)
    for edges in derive.node_edges():
        keep = edges[np.argsort(-live[edges].max(axis=1), kind="stable")[:2]]
        idx[keep] = live[keep].argmax(axis=1)
    return genotype_from_indices(idx)


DARTS = DartsSpace()
