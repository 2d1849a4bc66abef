"""The NAS-Bench-201 search space: cell, skeleton, supernet and discrete networks.

Skeleton (Dong & Yang, ICLR 2020): stem (3x3 conv + BN) -> N cells at C -> residual reduction
block -> N cells at 2C -> reduction -> N cells at 4C -> BN-ReLU -> global pool -> linear.
Every cell has 4 nodes and 6 edges (``nas.spaces.nb201.genotype.EDGES``) and all cells share one genotype.
The benchmark network is C=16, N=5 on 32x32 inputs; searches use smaller C and N on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from nas.spaces.nb201.genotype import EDGES, N_NODES, Genotype
from nas.ops import NB201_PRIMITIVES, ReLUConvBN, build_op, build_search_op

NONE_INDEX = NB201_PRIMITIVES.index("none")
_EDGE_INDEX = {edge: e for e, edge in enumerate(EDGES)}


@dataclass(frozen=True)
class MacroConfig:
    """Skeleton size: channels C of stage 1, N cells per stage, input channels and classes."""

    C: int = 16
    N: int = 5
    in_channels: int = 3
    n_classes: int = 10

    def layers(self) -> Iterator[tuple[int, int, bool]]:
        """Yield (C_in, C_out, is_reduction) for every layer after the stem."""
        c_prev = self.C
        for stage in range(3):
            c = self.C * 2**stage
            if stage:
                yield c_prev, c, True
            for _ in range(self.N):
                yield c, c, False
            c_prev = c


BENCHMARK_MACRO = MacroConfig(C=16, N=5)


class ResNetBasicBlock(nn.Module):
    """NB201 reduction block: two ReLU-Conv-BN (first with stride 2) plus pooled 1x1 shortcut."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, affine)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, affine)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(2, stride=2), nn.Conv2d(C_in, C_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class SearchCell(nn.Module):
    """A cell holding every candidate op on every edge; the architecture is passed in."""

    def __init__(self, C: int, affine: bool = False):
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(build_search_op(op, C, C, 1, affine) for op in NB201_PRIMITIVES) for _ in EDGES
        )

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, index: torch.Tensor | None) -> torch.Tensor:
        """Mix the ops of each edge.

        Args:
            x: (B, C, H, W) cell input.
            weights: (6, 5) op weights per edge (softmax or Gumbel sample; rows sum to 1), or
                None in single-path mode: the sampled ops run unscaled (no architecture gradient).
            index: (6,) sampled op per edge (single-path mode: only that op runs, scaled by its
                straight-through weight), or None (mixed mode: all ops but ``none`` run).
        """
        if weights is None and index is None:
            raise ValueError("mixed mode (index None) needs op weights")
        picks = [None] * len(EDGES) if index is None else index.tolist()  # one sync, not one per edge
        nodes = [x]
        for dst in range(1, N_NODES):
            total = None
            for src in range(dst):
                e = _EDGE_INDEX[(src, dst)]
                out = self._edge(e, nodes[src], None if weights is None else weights[e], picks[e])
                if out is not None:
                    total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]

    def _edge(self, e: int, h: torch.Tensor, w: torch.Tensor | None, k: int | None) -> torch.Tensor | None:
        """Weighted output of edge e, or None for a sampled ``none`` (it adds exactly zero)."""
        ops = self.edges[e]
        if k is not None:  # single path: only the sampled op runs
            if k == NONE_INDEX:
                return None
            return ops[k](h) if w is None else w[k] * ops[k](h)
        return sum(w[o] * ops[o](h) for o in range(len(ops)) if o != NONE_INDEX)


class InferCell(nn.Module):
    """A discrete cell built from a genotype; ``none`` edges hold no module and cost nothing."""

    def __init__(self, genotype: Genotype, C: int, affine: bool = True):
        super().__init__()
        self.genotype = genotype
        self.edges = nn.ModuleDict(
            {f"{s}_{d}": build_op(op, C, C, 1, affine) for (s, d), op in zip(EDGES, genotype.ops) if op != "none"}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in range(1, N_NODES):
            total = torch.zeros_like(x)
            for src in range(dst):
                key = f"{src}_{dst}"
                if key in self.edges:
                    total = total + self.edges[key](nodes[src])
            nodes.append(total)
        return nodes[-1]


class _Skeleton(nn.Module):
    """Stem, cells and reductions, head; ``make_cell(C)`` builds each cell."""

    def __init__(self, macro: MacroConfig, make_cell: Callable[[int], nn.Module], affine: bool):
        super().__init__()
        self.macro = macro
        # a supernet (affine=False) never keeps running statistics: every path is normalised by its own batch
        self.stem = nn.Sequential(
            nn.Conv2d(macro.in_channels, macro.C, 3, padding=1, bias=False),
            nn.BatchNorm2d(macro.C, affine=affine, track_running_stats=affine),
        )
        self.layers = nn.ModuleList(
            ResNetBasicBlock(c_in, c_out, affine) if red else make_cell(c_out) for c_in, c_out, red in macro.layers()
        )
        c_last = macro.C * 4
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_last, affine=affine, track_running_stats=affine),
                                     nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c_last, macro.n_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(x).mean(dim=(2, 3)))


class SuperNet(_Skeleton):
    """Weights of the NB201 supernet; ``forward(x, weights, index)`` takes the architecture."""

    def __init__(self, macro: MacroConfig):
        super().__init__(macro, lambda C: SearchCell(C, affine=False), affine=False)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, index: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n_classes) for images x (B, in_channels, H, W); see ``SearchCell.forward``."""
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, weights, index) if isinstance(layer, SearchCell) else layer(x)
        return self.head(x)


class DiscreteNet(_Skeleton):
    """The NB201 network of one genotype (the child network a search returns)."""

    def __init__(self, genotype: Genotype, macro: MacroConfig = BENCHMARK_MACRO):
        super().__init__(macro, lambda C: InferCell(genotype, C, affine=True), affine=True)
        self.genotype = genotype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)
