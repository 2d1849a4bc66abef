"""A tiny search space for the tests only: 3 nodes, 3 edges x 3 ops, one stage of N cells.

It implements the :class:`nas.spaces.base.SearchSpace` protocol with its own genotype value and
networks, so the tests can run search -> derive -> cost -> export through the same code as NB201.
Genotype string: ``|op~0|+|op~0|op~1|`` (edges (0->1), (0->2), (1->2)).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from nas.ops import build_op
from nas.spaces.base import EnumerableSpace

PRIMITIVES = ("none", "skip_connect", "nor_conv_3x3")
EDGES = ((0, 1), (0, 2), (1, 2))
NONE = PRIMITIVES.index("none")


@dataclass(frozen=True)
class TinyGenotype:
    """One op name per edge of ``EDGES``."""

    ops: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != len(EDGES) or any(op not in PRIMITIVES for op in self.ops):
            raise ValueError(f"a tiny genotype is {len(EDGES)} ops of {PRIMITIVES}, got {self.ops}")

    def __str__(self) -> str:
        a, b, c = self.ops
        return f"|{a}~0|+|{b}~0|{c}~1|"


class _Cell(nn.Module):
    """All ops on every edge (search) or one op per edge (``genotype`` given)."""

    def __init__(self, C: int, genotype: TinyGenotype | None = None):
        super().__init__()
        affine = genotype is not None
        ops = [list(PRIMITIVES) for _ in EDGES] if genotype is None else [[op] for op in genotype.ops]
        self.edges = nn.ModuleList(nn.ModuleList(build_op(o, C, C, 1, affine) for o in names) for names in ops)

    def forward(self, x, weights=None, index=None):
        nodes = [x]
        for dst in (1, 2):
            total = torch.zeros_like(x)
            for e, (src, d) in enumerate(EDGES):
                if d != dst:
                    continue
                ops = self.edges[e]
                if len(ops) == 1:  # discrete
                    total = total + ops[0](nodes[src])
                elif index is not None:  # single path
                    k = int(index[e])
                    out = ops[k](nodes[src])
                    total = total + (out if weights is None else weights[e, k] * out)
                else:  # mixed
                    total = total + sum(weights[e, o] * ops[o](nodes[src]) for o in range(len(ops)) if o != NONE)
            nodes.append(total)
        return nodes[-1]


class TinyNet(nn.Module):
    """Stem conv -> N cells at C -> BN-ReLU -> global pool -> linear; ``forward(x, weights, index)``."""

    def __init__(self, C: int, N: int, in_channels: int, n_classes: int, genotype: TinyGenotype | None = None):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList(_Cell(C, genotype) for _ in range(N))
        self.head = nn.Sequential(nn.BatchNorm2d(C), nn.ReLU())
        self.classifier = nn.Linear(C, n_classes)

    def forward(self, x, weights=None, index=None):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, weights, index)
        return self.classifier(self.head(x).mean(dim=(2, 3)))


class TinySpace(EnumerableSpace):
    """27 architectures; valid when a path of non-``none`` edges links node 0 to node 2."""

    name = "tiny"
    primitives = PRIMITIVES
    n_edges = len(EDGES)

    def supernet(self, C, N, in_channels, n_classes):
        return TinyNet(C, N, in_channels, n_classes)

    def network(self, genotype, C=4, N=1, in_channels=3, n_classes=10):
        return TinyNet(C, N, in_channels, n_classes, genotype)

    def parse(self, text):
        if isinstance(text, TinyGenotype):
            return text
        groups = str(text).split("+")
        items = [item for g in groups for item in g.strip("|").split("|")]
        if len(groups) != 2 or len(items) != len(EDGES):
            raise ValueError(f"{text!r} is not a tiny genotype string |a~0|+|b~0|c~1|")
        ops = []
        for item, (src, _) in zip(items, EDGES):
            op, sep, j = item.partition("~")
            if sep != "~" or j != str(src):
                raise ValueError(f"{text!r}: item {item!r} must read '<op>~{src}'")
            ops.append(op)
        return TinyGenotype(tuple(ops))

    def format(self, genotype):
        return str(genotype)

    def genotype_id(self, genotype):
        return hashlib.sha1(str(genotype).encode()).hexdigest()[:10]

    def from_indices(self, idx):
        return TinyGenotype(tuple(PRIMITIVES[int(i)] for i in idx))

    def indices(self, genotype):
        return np.array([PRIMITIVES.index(op) for op in genotype.ops], dtype=np.int64)

    def is_valid(self, genotype):
        live = [op != "none" for op in genotype.ops]
        return live[1] or (live[0] and live[2])

    def cost_features(self, genotypes):
        return np.array([[g.ops.count(op) for op in PRIMITIVES] for g in genotypes],
                        dtype=np.float64).reshape(-1, len(PRIMITIVES))

    @lru_cache(maxsize=1)
    def all_indices(self):
        return np.array(list(itertools.product(range(len(PRIMITIVES)), repeat=len(EDGES))), dtype=np.int64)

    @lru_cache(maxsize=1)
    def valid_mask(self):
        return np.array([self.is_valid(self.from_indices(i)) for i in self.all_indices()])


TINY = TinySpace()
