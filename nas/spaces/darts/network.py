"""The DARTS cell space's networks: the supernet (every op on every edge) and discrete networks.

Skeleton (Liu et al., ICLR 2019): stem (3x3 conv to 3C channels + BN) -> N cells -> global
average pool -> linear. Cells at positions ``N // 3`` and ``2N // 3`` (from 1 on) are reduction
cells that double the channels and halve the resolution; the others are normal cells. So N = 3 is
DARTS-CC's "mini" network (normal, reduce, reduce), N = 8 DARTS's search network and N = 20 its
evaluation network; N = 1 is one normal cell and N = 2 a normal then a reduction cell. Each cell
preprocesses its two inputs to C_cell channels (1x1 ReLU-Conv-BN, or a factorized reduction when
the previous cell reduced), and concatenates its four intermediate nodes: 4 C_cell channels out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nas.ops import DARTS_PRIMITIVES, FactorizedReduce, ReLUConvBN, build_op, build_search_op
from nas.spaces.darts.genotype import EDGES, N_CELL_EDGES, N_INPUTS, N_STEPS, DartsGenotype

NONE_INDEX = DARTS_PRIMITIVES.index("none")
STEM_MULTIPLIER = 3


@dataclass(frozen=True)
class DartsMacro:
    """Skeleton size: C channels of the first cells, N cells in all, input channels and classes."""

    C: int = 16
    N: int = 3
    in_channels: int = 3
    n_classes: int = 10

    def reductions(self) -> frozenset[int]:
        """Positions of the reduction cells (DARTS: N // 3 and 2N // 3, from position 1 on)."""
        return frozenset(p for p in (self.N // 3, 2 * self.N // 3) if 1 <= p < self.N)

    def cells(self) -> list[tuple[int, int, int, bool, bool]]:
        """(C_prev_prev, C_prev, C_cell, reduction, reduction_prev) of every cell, in order."""
        out, c_pp, c_p, c, red_prev = [], STEM_MULTIPLIER * self.C, STEM_MULTIPLIER * self.C, self.C, False
        for pos in range(self.N):
            red = pos in self.reductions()
            c = 2 * c if red else c
            out.append((c_pp, c_p, c, red, red_prev))
            c_pp, c_p, red_prev = c_p, N_STEPS * c, red
        return out


MINI_MACRO = DartsMacro(C=16, N=3)  # DARTS-CC's mini network
SEARCH_MACRO = DartsMacro(C=16, N=8)  # DARTS's search network


def edge_stride(e: int, reduction: bool) -> int:
    """Stride of cell edge e (0..13): 2 on the edges leaving the inputs of a reduction cell."""
    return 2 if reduction and EDGES[e][0] < N_INPUTS else 1


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``prob`` and rescale the rest by 1 / (1 - prob)."""
    if prob <= 0.0:
        return x
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


def _zeros_like_node(x: torch.Tensor, reduction: bool) -> torch.Tensor:
    """The output of a node without inputs (an invalid architecture; cost tables measure them): zeros."""
    s = 2 if reduction else 1
    return x.new_zeros(x.shape[0], x.shape[1], (x.shape[2] + s - 1) // s, (x.shape[3] + s - 1) // s)


class _Preprocess(nn.Module):
    """The two cell inputs brought to C channels at the cell's input resolution."""

    def __init__(self, c_pp: int, c_p: int, C: int, reduction_prev: bool, affine: bool):
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, C, affine) if reduction_prev else ReLUConvBN(c_pp, C, 1, 1, affine)
        self.pre1 = ReLUConvBN(c_p, C, 1, 1, affine)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> list[torch.Tensor]:
        return [self.pre0(s0), self.pre1(s1)]


class SearchCell(nn.Module):
    """Every candidate op on every edge; the architecture of this cell type is passed in."""

    def __init__(self, c_pp: int, c_p: int, C: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.pre = _Preprocess(c_pp, c_p, C, reduction_prev, affine=False)
        self.edges = nn.ModuleList(
            nn.ModuleList(_search_op(op, C, edge_stride(e, reduction)) for op in DARTS_PRIMITIVES)
            for e in range(N_CELL_EDGES))

    def forward(self, s0, s1, weights: torch.Tensor | None, picks: list | None) -> torch.Tensor:
        """Cell output (B, 4C, H', W'); ``weights`` (14, 8) or None, ``picks`` 14 op indices or None
        (the modes of ``nas.spaces.nb201.network.SearchCell``)."""
        nodes = self.pre(s0, s1)
        for dst in range(N_INPUTS, N_INPUTS + N_STEPS):
            total = None
            for e, (src, d) in enumerate(EDGES):
                if d != dst:
                    continue
                out = self._edge(e, nodes[src], None if weights is None else weights[e], None if picks is None else picks[e])
                if out is not None:
                    total = out if total is None else total + out
            nodes.append(_zeros_like_node(nodes[0], self.reduction) if total is None else total)
        return torch.cat(nodes[N_INPUTS:], dim=1)

    def _edge(self, e: int, h: torch.Tensor, w: torch.Tensor | None, k: int | None) -> torch.Tensor | None:
        ops = self.edges[e]
        if k is not None:
            if k == NONE_INDEX:
                return None
            return ops[k](h) if w is None else w[k] * ops[k](h)
        return sum(w[o] * ops[o](h) for o in range(len(ops)) if o != NONE_INDEX)


def _search_op(name: str, C: int, stride: int) -> nn.Module:
    """A supernet op; pools are followed by a BatchNorm without affine parameters, as in DARTS's search."""
    op = build_search_op(name, C, C, stride, affine=False)
    if name.endswith("pool_3x3"):
        return nn.Sequential(op, nn.BatchNorm2d(C, affine=False, track_running_stats=False))
    return op


class InferCell(nn.Module):
    """A discrete cell of one cell type of a genotype; ``none`` edges hold no module."""

    def __init__(self, ops: tuple[str, ...], c_pp: int, c_p: int, C: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.pre = _Preprocess(c_pp, c_p, C, reduction_prev, affine=True)
        self.edges = nn.ModuleDict({f"{s}_{d}": build_op(op, C, C, edge_stride(e, reduction), affine=True)
                                    for e, ((s, d), op) in enumerate(zip(EDGES, ops)) if op != "none"})
        self.drops = {key: not isinstance(op, nn.Identity) for key, op in self.edges.items()}

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        nodes = self.pre(s0, s1)
        for dst in range(N_INPUTS, N_INPUTS + N_STEPS):
            total = None
            for src in range(dst):
                key = f"{src}_{dst}"
                if key in self.edges:
                    out = self.edges[key](nodes[src])
                    if self.training and self.drops[key]:  # DARTS drops every op but the identity
                        out = drop_path(out, drop_prob)
                    total = out if total is None else total + out
            nodes.append(_zeros_like_node(nodes[0], self.reduction) if total is None else total)
        return torch.cat(nodes[N_INPUTS:], dim=1)


class _Skeleton(nn.Module):
    def __init__(self, macro: DartsMacro, make_cell, affine: bool):
        super().__init__()
        self.macro = macro
        c_stem = STEM_MULTIPLIER * macro.C
        self.stem = nn.Sequential(nn.Conv2d(macro.in_channels, c_stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_stem, affine=affine, track_running_stats=affine))
        self.cells = nn.ModuleList(make_cell(*shape) for shape in macro.cells())
        self.classifier = nn.Linear(N_STEPS * macro.cells()[-1][2], macro.n_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.mean(dim=(2, 3)))


class DartsSuperNet(_Skeleton):
    """Weights of the DARTS-space supernet; ``forward(x, weights (28, 8) | None, index (28,) | None)``."""

    def __init__(self, macro: DartsMacro):
        super().__init__(macro, SearchCell, affine=False)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, index: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n_classes) of images (B, in_channels, H, W); rows 0-13 of weights and index are
        the normal cell's edges, rows 14-27 the reduction cell's."""
        if weights is None and index is None:
            raise ValueError("mixed mode (index None) needs op weights")
        picks = None if index is None else index.tolist()
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            lo = N_CELL_EDGES if cell.reduction else 0
            w = None if weights is None else weights[lo:lo + N_CELL_EDGES]
            s0, s1 = s1, cell(s0, s1, w, None if picks is None else picks[lo:lo + N_CELL_EDGES])
        return self.head(s1)


class DartsNetwork(_Skeleton):
    """The network of one genotype; set ``drop_path_prob`` to drop paths while training."""

    def __init__(self, genotype: DartsGenotype, macro: DartsMacro = MINI_MACRO):
        def make(c_pp, c_p, C, red, red_prev):
            return InferCell(genotype.reduce if red else genotype.normal, c_pp, c_p, C, red, red_prev)
        super().__init__(macro, make, affine=True)
        self.genotype = genotype
        self.drop_path_prob = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.head(s1)
