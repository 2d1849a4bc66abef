"""Architecture generators: G(lam_norm, phi) -> per-edge op logits alpha.

``lam_norm`` is the normalised trade-off in [0, 1] (DARTS-CC's ``norm_lam``: 0 = no cost pressure,
1 = the most) and ``phi`` a device descriptor (``CostTable.descriptor()``). All generators accept
leading batch dimensions: lam_norm (...), phi (..., d) -> alpha (..., n_edges, n_ops).

* ``pwlinear`` -- DARTS-CC's piecewise-linear hypernetwork: K anchors at fixed pivots
  linspace(0, 1, K); alpha interpolates linearly between the two anchors around lam_norm. Each
  anchor is an affine function of phi, so the device shifts the anchors.
* ``mlp`` -- an MLP over [lam_norm, phi]; smooth in both.
* ``alpha`` -- plain DARTS: one learned alpha, ignoring both inputs (the lam = 0 baseline).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nas.spaces import get_space

INIT_SCALE = 1e-3  # DARTS initialises alpha as 1e-3 * N(0, 1): near-uniform op probabilities


class ArchGenerator(nn.Module):
    """Base class: maps (lam_norm, phi) to logits of shape (..., n_edges, n_ops)."""

    def __init__(self, n_edges: int, n_ops: int, phi_dim: int):
        super().__init__()
        self.n_edges, self.n_ops, self.phi_dim = n_edges, n_ops, phi_dim

    def _out(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.reshape(*flat.shape[:-1], self.n_edges, self.n_ops)


class PWLinearHyperNet(ArchGenerator):
    """alpha(l, phi) = sum_k w_k(l) (A_k + phi W_k), w = hat functions on fixed pivots."""

    def __init__(self, n_edges: int, n_ops: int, phi_dim: int, n_knots: int = 5):
        super().__init__(n_edges, n_ops, phi_dim)
        if n_knots < 2:
            raise ValueError(f"a piecewise-linear hypernetwork needs at least 2 knots, got {n_knots}")
        out = n_edges * n_ops
        self.anchors = nn.Parameter(INIT_SCALE * torch.randn(n_knots, out))
        self.device_maps = nn.Parameter(torch.zeros(n_knots, phi_dim, out))
        self.register_buffer("pivots", torch.linspace(0.0, 1.0, n_knots))

    def knot_weights(self, lam_norm: torch.Tensor) -> torch.Tensor:
        """Hat-function weights (..., K) that interpolate between neighbouring pivots."""
        spacing = self.pivots[1] - self.pivots[0]
        dist = (lam_norm.unsqueeze(-1) - self.pivots).abs() / spacing
        return torch.clamp(1.0 - dist, min=0.0)

    def forward(self, lam_norm: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        w = self.knot_weights(lam_norm)  # (..., K)
        per_knot = self.anchors + torch.einsum("...d,kdo->...ko", phi, self.device_maps)  # (..., K, out)
        return self._out(torch.einsum("...k,...ko->...o", w, per_knot))


class MLPHyperNet(ArchGenerator):
    """alpha = MLP([lam_norm, phi]) with two hidden ReLU layers."""

    def __init__(self, n_edges: int, n_ops: int, phi_dim: int, hidden: int = 64):
        super().__init__(n_edges, n_ops, phi_dim)
        self.net = nn.Sequential(
            nn.Linear(1 + phi_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, n_edges * n_ops),
        )
        nn.init.normal_(self.net[-1].weight, std=INIT_SCALE)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, lam_norm: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        lam = lam_norm.unsqueeze(-1).expand(*phi.shape[:-1], 1)
        return self._out(self.net(torch.cat([lam, phi], dim=-1)))


class PlainAlpha(ArchGenerator):
    """Plain DARTS: a single alpha (n_edges, n_ops), broadcast over any condition."""

    def __init__(self, n_edges: int, n_ops: int, phi_dim: int):
        super().__init__(n_edges, n_ops, phi_dim)
        self.alpha = nn.Parameter(INIT_SCALE * torch.randn(n_edges, n_ops))

    def forward(self, lam_norm: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        return self.alpha.expand(*lam_norm.shape, self.n_edges, self.n_ops)


HYPERNETS: dict[str, Callable[..., ArchGenerator]] = {
    "pwlinear": PWLinearHyperNet,
    "mlp": MLPHyperNet,
    "alpha": PlainAlpha,
}


def build_hypernet(kind: str, n_edges: int, n_ops: int, phi_dim: int, **kwargs) -> ArchGenerator:
    """Build a generator by name (``HYPERNETS`` keys); extra kwargs go to its constructor."""
    if kind not in HYPERNETS:
        raise KeyError(f"unknown hypernetwork {kind!r}; choose from {', '.join(HYPERNETS)}")
    return HYPERNETS[kind](n_edges, n_ops, phi_dim, **kwargs)


def build_generator(cfg, phi_dim: int) -> torch.nn.Module:
    """The architecture generator G of a config (``hypernet`` kind and its size) for descriptors of ``phi_dim``;
    its output shape (n_edges, n_ops) is that of the config's search space."""
    space = get_space(cfg.space)
    kwargs = {"pwlinear": {"n_knots": cfg.n_knots}, "mlp": {"hidden": cfg.hidden}}.get(cfg.hypernet, {})
    return build_hypernet(cfg.hypernet, space.n_edges, len(space.primitives), phi_dim, **kwargs)
