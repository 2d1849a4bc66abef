"""fbnet (FBNet, Wu et al. 2019): one run per (device, trade-off beta) with the loss
CE * a * log(LAT_ms)^beta and Gumbel-softmax at FBNet's temperature schedule; a budget query on
device h takes, among h's runs, the least pressure (smallest beta) whose architecture meets it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from nas.methods.base import (Answer, MethodSpec, arch_of_index, descriptor_table, fixed_architecture,
                              within_or_cheapest)
from nas.methods.derive import SearchRun

if TYPE_CHECKING:
    from nas.search.config import SearchConfig

FBNET_A = 0.2  # FBNet's scale alpha of CE * alpha * log(LAT)^beta (Wu et al. 2019; method-notes 3)
FBNET_BETA = 0.6  # FBNet's published exponent
FBNET_BETAS = (0.3, 0.6, 1.2)  # default trade-off sweep around the published value
FBNET_TAU0, FBNET_TAU_DECAY = 5.0, 0.045  # Gumbel temperature tau_e = 5 * exp(-0.045 e)


def fbnet_tau_min(epochs: int) -> float:
    """Last temperature of FBNet's schedule tau_e = 5 exp(-0.045 e), e = 0..epochs-1.

    ``nas.search.sampling.temperature(..., "exp")`` interpolates geometrically from tau_max to tau_min,
    which with these end points is exactly FBNet's per-epoch decay.
    """
    return FBNET_TAU0 * math.exp(-FBNET_TAU_DECAY * max(epochs - 1, 0))


def _fbnet_overrides(cfg: SearchConfig, device: str | None, tradeoff: float | None) -> dict:
    """fbnet: one alpha per (device, beta), CE * a * log(LAT_ms)^beta, Gumbel-softmax at FBNet's schedule."""
    if device is None:
        raise ValueError("an fbnet run is for one device; give device=")
    return {"method": "fbnet", "hypernet": "alpha", "devices": (device,), "loss": "fbnet-fixed",
            "fbnet_a": FBNET_A, "fbnet_beta": float(FBNET_BETA if tradeoff is None else tradeoff),
            "estimator": "relaxed", "order": "first", "weight_paths": "hypernet", "tau_schedule": "exp",
            "tau_max": FBNET_TAU0, "tau_min": fbnet_tau_min(cfg.epochs)}


def _fbnet_run_suffix(cfg: SearchConfig) -> str:
    """``_<device>_beta<beta>``: an fbnet run folder names its condition."""
    return f"_{Path(cfg.devices[0]).stem}_beta{getattr(cfg, 'fbnet_beta', float('nan')):g}"


def fbnet_tradeoff(run: SearchRun) -> float:
    """The fixed trade-off beta of an fbnet run."""
    return float(getattr(run.config, "fbnet_beta", math.nan))


def fbnet_budget_answers(runs: Sequence[SearchRun], device: str, budgets: Sequence[float]) -> list[Answer]:
    """fbnet: among the runs searched for ``device``, the smallest beta whose architecture meets the budget.

    "Least pressure" stands in for "most accurate" without looking at the benchmark. If no run's
    architecture fits, the most probable live cell within the budget under the largest beta.
    """
    mine = sorted((r for r in runs if r.config.devices == (device,)), key=fbnet_tradeoff)
    if not mine:
        return []
    found = [(r, *fixed_architecture(r, device)) for r in mine]
    costs = mine[-1].device_table(device).all_costs()
    out = []
    for b in budgets:
        fit = [(r, i, c) for r, i, c in found if c <= b]
        if fit:
            r, i, c = fit[0]
        else:
            r = mine[-1]
            i = within_or_cheapest(r.probs(descriptor_table(r, device), [0.0])[0], costs, b)
            c = float(costs[i])
        out.append(Answer(device, float(b), arch_of_index(i), float(c), fbnet_tradeoff(r), r.run_dir.name))
    return out


SPEC = MethodSpec("fbnet", "FBNet: one run per (device, beta), CE * 0.2 * log(LAT_ms)^beta",
                  "per-condition", "fbnet_beta", _fbnet_overrides, fbnet_budget_answers, _fbnet_run_suffix)
