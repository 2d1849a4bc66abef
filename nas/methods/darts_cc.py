"""darts-cc (DARTS-CC, hardware-agnostic): one run with the parameter count as the only cost. The
hypernetwork knows only its own descriptor (params): a query derives with it and checks the
prediction on the device's lookup table, by the same least-pressure rule as ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.methods.base import MethodSpec
from nas.methods.ours import tradeoff_budget_answers

if TYPE_CHECKING:
    from nas.search.config import SearchConfig


def _darts_cc_overrides(cfg: SearchConfig, device: str | None, tradeoff: float | None) -> dict:
    """darts-cc: ours with the parameter count as the only cost (a controlled ablation of the hardware)."""
    return {"method": "darts-cc", "devices": ("params",)}


SPEC = MethodSpec("darts-cc", "DARTS-CC: one run, hypernetwork over lam, parameter count as the cost",
                  "all", "lam_norm", _darts_cc_overrides, tradeoff_budget_answers)
