"""Validation objectives of the architecture step: CE plus a cost penalty, by name (``PENALTIES``).

For a condition (lam_norm u, training device h) and per-edge op probabilities p:

* ``none``: CE (plain DARTS);
* ``additive`` (DARTS-CC formulation A): CE + lam * c, with c the expected cost of the
  searchable edges relative to uniform op probabilities and lam log-uniform in [lam_min, lam_max];
* ``fbnet``: CE * (log(1000 r) / log 1000) ** (beta_max * u), r the expected whole-network cost
  relative to uniform (scale-free in the device's unit);
* ``fbnet-fixed`` (FBNet as published, one fixed trade-off; the condition is ignored):
  CE * fbnet_a * log(LAT_ms) ** fbnet_beta, LAT the expected whole-network latency in ms.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from nas.costs.table import CostTable

FBNET_MIN_LATENCY = 1.0 + 1e-3  # fbnet-fixed: log(LAT) must stay positive for a fractional exponent


def lam_of(u: torch.Tensor, cfg) -> torch.Tensor:
    """Trade-off lam for normalised lam_norm = u in [0, 1] (log-uniform between lam_min and lam_max)."""
    return cfg.lam_min * (cfg.lam_max / cfg.lam_min) ** u


class CostPenalty:
    """Normalised expected costs of the training devices and the objective of ``cfg.loss``."""

    def __init__(self, tables: list[CostTable], cfg, device: torch.device):
        self.cfg = cfg
        self.op_cost = torch.tensor(np.stack([t.cost_matrix for t in tables]), dtype=torch.float32,
                                    device=device)  # (H, n_edges, n_ops)
        self.base = torch.tensor([t.base for t in tables], device=device)  # (H,)
        self.edge_ref = torch.tensor([t.reference_cost() - t.base for t in tables], device=device)  # (H,)
        self.phi = torch.tensor(np.stack([t.descriptor() for t in tables]), dtype=torch.float32, device=device)
        self._objective = PENALTIES[cfg.loss]

    def relative_cost(self, probs: torch.Tensor, h: int) -> torch.Tensor:
        """Expected cost of the searchable edges on device h relative to uniform probs (1 = uniform)."""
        return (probs * self.op_cost[h]).sum(dim=(-2, -1)) / self.edge_ref[h]

    def whole_cost(self, probs: torch.Tensor, h: int) -> torch.Tensor:
        """Expected whole-network cost on device h, in the device's unit."""
        return self.base[h] + self.relative_cost(probs, h) * self.edge_ref[h]

    def objective(self, ce: torch.Tensor, probs: torch.Tensor, h: int, u: torch.Tensor) -> torch.Tensor:
        """Validation objective for condition (u = lam_norm, device h)."""
        return self._objective(self, ce, probs, h, u)


Objective = Callable[[CostPenalty, torch.Tensor, torch.Tensor, int, torch.Tensor], torch.Tensor]


def _none(pen: CostPenalty, ce, probs, h, u):
    return ce


def _additive(pen: CostPenalty, ce, probs, h, u):
    return ce + lam_of(u, pen.cfg) * pen.relative_cost(probs, h)


def _fbnet(pen: CostPenalty, ce, probs, h, u):
    total = pen.whole_cost(probs, h) / (pen.base[h] + pen.edge_ref[h])
    factor = torch.log(1000.0 * torch.clamp(total, min=1e-2)) / math.log(1000.0)
    return ce * factor ** (pen.cfg.beta_max * u)


def _fbnet_fixed(pen: CostPenalty, ce, probs, h, u):
    lat = pen.whole_cost(probs, h)  # the device's unit (ms) enters the log
    return ce * pen.cfg.fbnet_a * torch.log(torch.clamp(lat, min=FBNET_MIN_LATENCY)) ** pen.cfg.fbnet_beta


PENALTIES: dict[str, Objective] = {"additive": _additive, "fbnet": _fbnet, "fbnet-fixed": _fbnet_fixed, "none": _none}
