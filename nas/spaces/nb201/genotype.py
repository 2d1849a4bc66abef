"""NAS-Bench-201 genotypes as validated, hashable, serialisable values.

A genotype names one op per cell edge. Edges are ordered as in the canonical NB201 string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: (0->1), (0->2), (1->2), (0->3), (1->3), (2->3),
where ``op~j`` is the edge from node j into the node of that ``+``-separated group.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nas.ops import NB201_PRIMITIVES
from nas.spaces.cell_strings import format_cell, parse_cell

N_NODES = 4
EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for i in range(1, N_NODES) for j in range(i))
N_EDGES = len(EDGES)  # 6


class GenotypeError(ValueError):
    """A genotype string or value that is not a valid NB201 architecture."""


@dataclass(frozen=True)
class Genotype:
    """One NB201 cell: ``ops[e]`` is the op on edge ``EDGES[e]`` (source, target)."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        object.__setattr__(self, "ops", ops)
        if len(ops) != N_EDGES:
            raise GenotypeError(f"an NB201 cell has {N_EDGES} edges, got {len(ops)} ops: {ops}")
        unknown = [op for op in ops if op not in NB201_PRIMITIVES]
        if unknown:
            raise GenotypeError(f"unknown ops {unknown}; NB201 ops are {', '.join(NB201_PRIMITIVES)}")

    @classmethod
    def from_str(cls, arch: str) -> "Genotype":
        """Parse the canonical string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""
        if not isinstance(arch, str):
            raise GenotypeError(f"an NB201 genotype string is expected, got {type(arch).__name__}")
        ops = parse_cell(arch, 1, N_NODES - 1, GenotypeError, repr(arch))
        return cls(tuple(ops))

    def to_str(self) -> str:
        """The canonical NB201 string."""
        return format_cell(self.ops, 1, N_NODES - 1)

    __str__ = to_str

    @property
    def genotype_id(self) -> str:
        """Short stable hash of the canonical string (10 hex digits)."""
        return hashlib.sha1(self.to_str().encode()).hexdigest()[:10]

    def is_dead(self) -> bool:
        """True when no path of non-``none`` edges links the input node to the output node."""
        reach = {0}
        for src, dst in EDGES:  # EDGES is topologically ordered by target node
            if src in reach and self.ops[EDGES.index((src, dst))] != "none":
                reach.add(dst)
        return N_NODES - 1 not in reach

    def op_counts(self) -> dict[str, int]:
        """Number of edges carrying each primitive (all primitives present as keys)."""
        return {op: self.ops.count(op) for op in NB201_PRIMITIVES}

    def to_dict(self) -> dict:
        return {"space": "nb201", "arch": self.to_str(), "ops": list(self.ops)}

    @classmethod
    def from_dict(cls, d: dict) -> "Genotype":
        if d.get("space", "nb201") != "nb201":
            raise GenotypeError(f"not an NB201 genotype: space={d.get('space')!r}")
        g = cls(tuple(d["ops"]))
        if "arch" in d and d["arch"] != g.to_str():
            raise GenotypeError(f"ops {d['ops']} disagree with arch string {d['arch']!r}")
        return g


@lru_cache(maxsize=1)
def all_op_indices() -> np.ndarray:
    """Every NB201 cell as op indices into ``NB201_PRIMITIVES``: int array (15625, 6)."""
    return np.array(list(itertools.product(range(len(NB201_PRIMITIVES)), repeat=N_EDGES)), dtype=np.int64)


@lru_cache(maxsize=1)
def dead_mask() -> np.ndarray:
    """Boolean (15625,) aligned with ``all_op_indices``: True where the cell is dead."""
    none = NB201_PRIMITIVES.index("none")
    live = all_op_indices() != none  # (A, 6) edge carries signal
    reach = [np.ones(len(live), dtype=bool)] + [np.zeros(len(live), dtype=bool)] * (N_NODES - 1)
    for e, (src, dst) in enumerate(EDGES):
        reach[dst] = reach[dst] | (reach[src] & live[:, e])
    return ~reach[N_NODES - 1]


def genotype_from_indices(idx) -> Genotype:
    """Genotype from a length-6 sequence of op indices."""
    return Genotype(tuple(NB201_PRIMITIVES[int(i)] for i in idx))


def space_positions(archs) -> np.ndarray:
    """Row of each NB201 arch string in ``all_op_indices()`` (its op indices read as base-5 digits)."""
    idx = np.array([[NB201_PRIMITIVES.index(op) for op in Genotype.from_str(a).ops] for a in archs]).reshape(-1, N_EDGES)
    return idx @ (len(NB201_PRIMITIVES) ** np.arange(N_EDGES - 1, -1, -1))
