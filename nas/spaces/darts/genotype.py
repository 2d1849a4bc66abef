"""DARTS cell-space genotypes as validated, hashable, serialisable values.

A DARTS cell (Liu et al., ICLR 2019) has two input nodes (0: the output of the cell before the
previous one, 1: of the previous cell) and four intermediate nodes 2..5; node i takes an edge from
every earlier node, so a cell has 2 + 3 + 4 + 5 = 14 edges, ordered by target node and then by
source (``EDGES``). The cell's output concatenates the four intermediate nodes. A genotype names
one op per edge of a normal cell and of a reduction cell (in a reduction cell the edges leaving
nodes 0 and 1 have stride 2); ``none`` is an absent edge. DARTS's published cells keep exactly two
inputs per node, DARTS-CC's keep one op per edge; both are genotypes of this one form, and a
genotype is valid when every intermediate node of both cells has at least one input.

Canonical string: ``normal=<cell>;reduce=<cell>`` with ``<cell>`` written like an NB201 cell,
one ``+``-separated group per intermediate node: ``|op~0|op~1|+|op~0|op~1|op~2|+...``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

from nas.ops import DARTS_PRIMITIVES
from nas.spaces.cell_strings import format_cell, parse_cell

N_INPUTS = 2  # input nodes of a cell
N_STEPS = 4  # intermediate nodes of a cell
EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for i in range(N_INPUTS, N_INPUTS + N_STEPS) for j in range(i))
N_CELL_EDGES = len(EDGES)  # 14
CELL_TYPES = ("normal", "reduce")
N_EDGES = len(CELL_TYPES) * N_CELL_EDGES  # 28: normal edges first, then reduction edges


class GenotypeError(ValueError):
    """A genotype string or value that is not a valid DARTS-space architecture."""


def _check_cell(ops: Sequence[str], kind: str) -> tuple[str, ...]:
    ops = tuple(ops)
    if len(ops) != N_CELL_EDGES:
        raise GenotypeError(f"a DARTS {kind} cell has {N_CELL_EDGES} edges, got {len(ops)} ops")
    unknown = sorted({op for op in ops if op not in DARTS_PRIMITIVES})
    if unknown:
        raise GenotypeError(f"unknown ops {unknown} in the {kind} cell; DARTS ops are {', '.join(DARTS_PRIMITIVES)}")
    return ops


def _cell_str(ops: Sequence[str]) -> str:
    return format_cell(ops, N_INPUTS, N_STEPS)


def _parse_cell(text: str, kind: str) -> tuple[str, ...]:
    return _check_cell(parse_cell(text, N_INPUTS, N_STEPS, GenotypeError, f"{kind} cell {text!r}"), kind)


@dataclass(frozen=True)
class DartsGenotype:
    """``normal[e]`` / ``reduce[e]``: the op on edge ``EDGES[e]`` (source, target) of each cell type."""

    normal: tuple[str, ...]
    reduce: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _check_cell(self.normal, "normal"))
        object.__setattr__(self, "reduce", _check_cell(self.reduce, "reduce"))

    @property
    def ops(self) -> tuple[str, ...]:
        """All 28 ops, normal edges first (the space's edge axis)."""
        return self.normal + self.reduce

    @classmethod
    def from_str(cls, text: str) -> "DartsGenotype":
        """Parse ``normal=<cell>;reduce=<cell>`` (see the module docstring)."""
        if not isinstance(text, str):
            raise GenotypeError(f"a DARTS genotype string is expected, got {type(text).__name__}")
        parts = dict(p.partition("=")[::2] for p in text.strip().split(";"))
        if sorted(parts) != sorted(CELL_TYPES):
            raise GenotypeError(f"{text!r}: expected 'normal=<cell>;reduce=<cell>'")
        return cls(_parse_cell(parts["normal"], "normal"), _parse_cell(parts["reduce"], "reduce"))

    def to_str(self) -> str:
        return f"normal={_cell_str(self.normal)};reduce={_cell_str(self.reduce)}"

    __str__ = to_str

    @property
    def genotype_id(self) -> str:
        """Short stable hash of the canonical string (10 hex digits)."""
        return hashlib.sha1(self.to_str().encode()).hexdigest()[:10]

    def dead_nodes(self) -> list[tuple[str, int]]:
        """(cell type, node) of every intermediate node without an input."""
        out = []
        for kind, ops in zip(CELL_TYPES, (self.normal, self.reduce)):
            for node in range(N_INPUTS, N_INPUTS + N_STEPS):
                if all(op == "none" for (_, dst), op in zip(EDGES, ops) if dst == node):
                    out.append((kind, node))
        return out

    def inputs(self, kind: str) -> list[list[tuple[str, int]]]:
        """Per intermediate node of cell ``kind``, its live inputs as DARTS lists them: [(op, source)]."""
        ops = self.normal if kind == "normal" else self.reduce
        return [[(op, src) for (src, dst), op in zip(EDGES, ops) if dst == node and op != "none"]
                for node in range(N_INPUTS, N_INPUTS + N_STEPS)]

    def to_dict(self) -> dict:
        """JSON value: both cells as lists of live edges ``{"op", "from", "to"}`` plus the canonical string."""
        cells = {kind: [{"op": op, "from": s, "to": d} for (s, d), op in zip(EDGES, ops) if op != "none"]
                 for kind, ops in zip(CELL_TYPES, (self.normal, self.reduce))}
        return {"space": "darts", "arch": self.to_str(), **cells}

    @classmethod
    def from_dict(cls, d: dict) -> "DartsGenotype":
        """Inverse of :meth:`to_dict` (the ``arch`` string is optional but must agree when given)."""
        if d.get("space", "darts") != "darts":
            raise GenotypeError(f"not a DARTS-space genotype: space={d.get('space')!r}")
        g = cls.from_edges(*(_edges_of(d.get(kind, ()), kind) for kind in CELL_TYPES))
        if "arch" in d and d["arch"] != g.to_str():
            raise GenotypeError(f"edges disagree with arch string {d['arch']!r}")
        return g

    @classmethod
    def from_edges(cls, normal: Iterable[tuple[str, int, int]], reduce: Iterable[tuple[str, int, int]]) -> "DartsGenotype":
        """Genotype of live edges (op, source, target) per cell; unlisted edges are ``none``."""
        return cls(_cell_from_edges(normal, "normal"), _cell_from_edges(reduce, "reduce"))

    @classmethod
    def from_darts(cls, normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> "DartsGenotype":
        """A genotype in DARTS's published form: per cell, two (op, source) pairs per intermediate node,
        in node order (e.g. DARTS-V2's ``normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...]``)."""
        def edges(pairs, kind):
            pairs = list(pairs)
            if len(pairs) != 2 * N_STEPS:
                raise GenotypeError(f"a DARTS {kind} cell lists 2 inputs for each of {N_STEPS} nodes, got {len(pairs)}")
            return [(op, int(src), N_INPUTS + k // 2) for k, (op, src) in enumerate(pairs)]
        return cls.from_edges(edges(normal, "normal"), edges(reduce, "reduce"))


def _edges_of(items, kind: str) -> list[tuple[str, int, int]]:
    try:
        return [(str(e["op"]), int(e["from"]), int(e["to"])) for e in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise GenotypeError(f"{kind} cell: every edge needs 'op', 'from' and 'to' ({exc})") from exc


def _cell_from_edges(edges: Iterable[tuple[str, int, int]], kind: str) -> tuple[str, ...]:
    ops = ["none"] * N_CELL_EDGES
    for op, src, dst in edges:
        if (src, dst) not in EDGES:
            raise GenotypeError(f"{kind} cell: there is no edge {src}->{dst} (node {dst} takes inputs 0..{dst - 1})")
        e = EDGES.index((src, dst))
        if ops[e] != "none":
            raise GenotypeError(f"{kind} cell: edge {src}->{dst} is given twice")
        ops[e] = op
    return _check_cell(ops, kind)


def genotype_from_indices(idx: Sequence[int]) -> DartsGenotype:
    """Genotype of 28 op indices into ``DARTS_PRIMITIVES`` (normal edges first)."""
    idx = [int(i) for i in idx]
    if len(idx) != N_EDGES:
        raise GenotypeError(f"a DARTS genotype has {N_EDGES} op indices, got {len(idx)}")
    ops = [DARTS_PRIMITIVES[i] for i in idx]
    return DartsGenotype(tuple(ops[:N_CELL_EDGES]), tuple(ops[N_CELL_EDGES:]))
