"""fbnet (FBNet, Wu et al. 2019): one run per (device, trade-off beta) with the loss
CE * a * log(LAT_ms)^beta and Gumbel-softmax at FBNet's temperature schedule; a budget query on
device h is answered by the budget rule over h's runs ordered by beta (``nas.methods.budget``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from nas.methods.base import Answer, MethodSpec, descriptor_table
from nas.methods.budget import DEFAULT_MARGIN, DEFAULT_RULE, answer_budgets
from nas.methods.derive import SearchRun, log_probs

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


def fbnet_budget_answers(runs: Sequence[SearchRun], device: str, budgets: Sequence[float], *,
                         rule: str = DEFAULT_RULE, margin: bool = DEFAULT_MARGIN, rerank: int = 0) -> list[Answer]:
    """fbnet: its runs searched for ``device``, ordered by beta, are its trade-off sweep; the budget rule
    (``nas.methods.budget``) picks the run and the architecture, like every other method's.

    With ``rule="first-fit"``: the smallest beta whose architecture meets the budget ("least pressure"
    stands in for "most accurate" without looking at the benchmark), else the most probable valid cell
    within the budget under the largest beta.
    """
    mine = sorted((r for r in runs if r.config.devices == (device,)), key=fbnet_tradeoff)
    if not mine:
        return []
    table, space = mine[-1].device_table(device), mine[-1].space
    logp = np.concatenate([log_probs(r.probs(descriptor_table(r, device), [0.0])) for r in mine])  # (S, E, O)
    cheapest = mine[-1].cheapest_achievable(table)
    out = []
    scorer = mine[-1].scorer() if rerank > 1 else None  # a seed's fbnet runs share one phase-1 supernet
    for b, (step, idx) in zip(budgets, answer_budgets(space, table, logp, budgets, cheapest, rule, margin,
                                                      rerank, scorer)):
        r = mine[step]
        out.append(Answer(device, float(b), space.format(space.from_indices(idx)), float(r.predicted(table, idx)),
                          fbnet_tradeoff(r), r.run_dir.name))
    return out


SPEC = MethodSpec("fbnet", "FBNet: one run per (device, beta), CE * 0.2 * log(LAT_ms)^beta",
                  "per-condition", "fbnet_beta", _fbnet_overrides, fbnet_budget_answers, _fbnet_run_suffix)
