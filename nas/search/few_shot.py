"""Few-shot supernets: one copy of the supernet weights per op of one edge (Zhao et al., ICML 2021).

A weight-sharing supernet trains every op of an edge in combination with every op of the others,
so ops that only pay off in combination (a chain of convolutions) are judged together with paths
that route around them. Splitting on one edge gives ``n_ops`` sub-supernets, one per op of that
edge; a single path runs through the sub-supernet its op on that edge selects. Training starts as
one supernet (``split_epoch`` epochs, every copy identical) and then copies its weights and their
momentum into the others, so each sub-supernet is fine-tuned only on the paths it owns; at the
same number of steps the compute is that of one supernet.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nas.spaces import get_space


class FewShotSupernet(nn.Module):
    """``n_ops`` supernets split on edge ``split_edge``; ``forward(x, weights, index)`` as the space's
    supernet, single paths only (``index`` (n_edges,) op indices). Before ``split`` every path runs
    through the first copy."""

    def __init__(self, parts: list[nn.Module], split_edge: int):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.split_edge = split_edge
        self.register_buffer("is_split", torch.zeros((), dtype=torch.bool))

    def part_of(self, index: torch.Tensor) -> int:
        """The sub-supernet that runs the path ``index`` (n_edges,)."""
        return int(index[self.split_edge]) if bool(self.is_split) else 0

    def forward(self, x: torch.Tensor, weights, index) -> torch.Tensor:
        if index is None:
            raise ValueError("a few-shot supernet runs single paths only (mode=single-path)")
        return self.parts[self.part_of(index)](x, weights, index)

    @torch.no_grad()
    def split(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Copy the first sub-supernet's weights (and, in ``optimizer``, their momentum buffers) into every
        other one; from now on each path trains only its own sub-supernet."""
        if bool(self.is_split):
            return
        source = list(self.parts[0].parameters())
        for part in self.parts[1:]:
            part.load_state_dict(self.parts[0].state_dict())
            if optimizer is not None:
                for p_src, p_dst in zip(source, part.parameters()):
                    if p_src in optimizer.state:
                        optimizer.state[p_dst] = copy.deepcopy(optimizer.state[p_src])
        self.is_split.fill_(True)


def build_supernet(cfg, in_channels: int, n_classes: int) -> nn.Module:
    """The supernet of a SearchConfig: the space's, or a FewShotSupernet of ``n_ops`` copies when
    ``cfg.split_edge >= 0`` (every copy initialised alike; the seed is the caller's)."""
    space = get_space(cfg.space)
    make = lambda: space.supernet(cfg.C, cfg.N, in_channels, n_classes)  # noqa: E731
    if cfg.split_edge < 0:
        return make()
    first = make()
    return FewShotSupernet([first] + [copy.deepcopy(first) for _ in space.primitives[1:]], cfg.split_edge)


def maybe_split(cfg, st) -> None:
    """Split the search state's few-shot supernet when its epoch reaches ``cfg.split_epoch``."""
    if isinstance(st.supernet, FewShotSupernet) and st.epoch >= cfg.split_epoch:
        st.supernet.split(st.w_optim)
