"""The NAS-Bench-201 space behind the :class:`~nas.spaces.base.SearchSpace` protocol.

One cell type with 6 edges and 5 ops (``nas.ops.NB201_PRIMITIVES``); 15,625 cells, so derivation
is exact by scoring every cell (:class:`~nas.spaces.base.EnumerableSpace`); a cell is valid when
it is not dead.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nas.ops import NB201_PRIMITIVES
from nas.spaces.base import EnumerableSpace
from nas.spaces.nb201.genotype import N_EDGES, Genotype, all_op_indices, dead_mask, genotype_from_indices
from nas.spaces.nb201.network import DiscreteNet, MacroConfig, SuperNet


class NB201Space(EnumerableSpace):
    """NAS-Bench-201: stem, 3 stages of N cells at C, 2C, 4C with residual reductions, head."""

    name = "nb201"
    primitives = NB201_PRIMITIVES
    n_edges = N_EDGES

    def supernet(self, C: int, N: int, in_channels: int, n_classes: int) -> SuperNet:
        return SuperNet(MacroConfig(C=C, N=N, in_channels=in_channels, n_classes=n_classes))

    def network(self, genotype: Genotype, C: int = 16, N: int = 5, in_channels: int = 3,
                n_classes: int = 10) -> DiscreteNet:
        return DiscreteNet(genotype, MacroConfig(C=C, N=N, in_channels=in_channels, n_classes=n_classes))

    def parse(self, text: str | Genotype) -> Genotype:
        return text if isinstance(text, Genotype) else Genotype.from_str(text)

    def format(self, genotype: Genotype) -> str:
        return genotype.to_str()

    def genotype_id(self, genotype: Genotype) -> str:
        return genotype.genotype_id

    def from_indices(self, idx: Sequence[int]) -> Genotype:
        return genotype_from_indices(idx)

    def indices(self, genotype: Genotype) -> np.ndarray:
        return np.array([NB201_PRIMITIVES.index(op) for op in genotype.ops], dtype=np.int64)

    def is_valid(self, genotype: Genotype) -> bool:
        return not genotype.is_dead()

    def cost_features(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        counts = [[g.ops.count(op) for op in NB201_PRIMITIVES] for g in genotypes]
        return np.array(counts, dtype=np.float64).reshape(-1, len(NB201_PRIMITIVES))

    def all_indices(self) -> np.ndarray:
        """Every cell, int64 (15625, 6), in base-5 order (not NB201's ``arch_index``)."""
        return all_op_indices()

    def valid_mask(self) -> np.ndarray:
        return ~dead_mask()


NB201 = NB201Space()
