"""Budget rules: which architecture of a trade-off sweep answers "the best within budget b on device h".

A method offers a *sweep*: distributions over architectures (per-edge log-probabilities, shape
(S, n_edges, n_ops)) ordered by increasing cost pressure -- ours and DARTS-CC: lam_norm on a grid;
FBNet: its runs of one device by beta; DARTS: its one distribution. Every method answers budgets
through the same rule (``BUDGET_RULES``), so a comparison isolates what the conditioning adds.

With ``margin`` (off by default) the budget is first reduced by a safety margin from the device
table's own held-out error (``margin_fraction``: held-out RMSE relative to the table's
uniform-reference cost; 0 where the table reports none): ``bound = max(b * (1 - margin), cheapest)``.
Then:

* ``first-fit`` (the default, the rule of the committed results) -- the least pressure whose most
  probable valid architecture fits the bound; if no step of the sweep fits, the most probable valid
  architecture within the bound at the last step.
* ``constrained`` -- the most probable valid architecture within the bound (constrained MAP) under
  the least-pressure step (lam_norm = 0, the smallest beta): it fills the budget the first-fit
  rule leaves unused when the sweep jumps between cells, and keeps the device conditioning.
* ``constrained-expected`` -- constrained MAP under the step whose *expected* cost first fits the
  bound (the trade-off the generator's distribution puts at this budget; the last step if none).

With ``rerank`` = k > 1 (off by default), any rule's answer is replaced by the best of the k most
probable valid architectures within the bound at the chosen step, judged by the run's own supernet
(``scorer``: one-shot cross-entropy on held-out images of the search data, ``nas.search.one_shot``).

``python -m nas.evaluation.budget_rules`` compares the rules on the same runs.

Nothing here reads benchmark accuracy.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from nas.costs.table import CostTable

BUDGET_RULES = ("first-fit", "constrained", "constrained-expected")
DEFAULT_RULE, DEFAULT_MARGIN = "first-fit", False


def margin_fraction(table: CostTable) -> float:
    """Held-out RMSE of the table relative to its uniform-reference cost (0 where it reports none)."""
    rmse = (table.fit or {}).get("rmse")
    ref = table.reference_cost()
    if rmse is None or not math.isfinite(rmse) or not ref > 0:
        return 0.0
    return float(min(max(rmse / ref, 0.0), 0.5))


def expected_costs(table: CostTable, logp: np.ndarray) -> np.ndarray:
    """Expected whole-network cost (S,) under per-edge distributions exp(logp) (S, n_edges, n_ops)."""
    return table.expected_cost(torch.from_numpy(np.exp(logp))).numpy()


def choose(space, table: CostTable, logp: np.ndarray, budget: float, cheapest: float,
           rule: str = DEFAULT_RULE, margin: bool = DEFAULT_MARGIN, rerank: int = 0,
           scorer=None) -> tuple[int, np.ndarray]:
    """Answer one budget from a sweep: (sweep step, op indices (n_edges,)) under ``rule``.

    Args:
        space: the search space (``nas.spaces``) of the sweep.
        table: the device's cost table (budget and costs in its unit).
        logp: log-probabilities (S, n_edges, n_ops), steps ordered by increasing pressure.
        budget: the budget, in the table's unit; ``cheapest``: the cheapest valid cost on the table.
        rerank, scorer: re-rank the ``rerank`` most probable proposals by ``scorer`` (cells (k, n_edges) ->
            (k,), lower is better); ``rerank`` <= 1 keeps the rule's answer.
    """
    step, idx, bound = _choose(space, table, logp, budget, cheapest, rule, margin)
    if rerank > 1:
        if scorer is None:
            raise ValueError("rerank needs a scorer (the run's supernet weights: nas.search.one_shot.scorer_for)")
        proposals = space.top_k(logp[step], table, bound, rerank)
        if len(proposals) > 1:
            idx = proposals[int(np.argmin(scorer(proposals)))]
    return step, idx


def _choose(space, table, logp, budget, cheapest, rule, margin) -> tuple[int, np.ndarray, float]:
    if rule not in BUDGET_RULES:
        raise ValueError(f"unknown budget rule {rule!r}; choose from {', '.join(BUDGET_RULES)}")
    bound = max(budget * (1.0 - margin_fraction(table)) if margin else budget, cheapest)
    if rule == "first-fit":
        maps = space.most_probable(logp)  # (S, n_edges)
        fits = np.flatnonzero(table.arch_costs(maps) <= bound)
        if fits.size:
            return int(fits[0]), maps[fits[0]], bound
        step = len(logp) - 1
    elif rule == "constrained-expected":
        fits = np.flatnonzero(expected_costs(table, logp) <= bound)
        step = int(fits[0]) if fits.size else len(logp) - 1
    else:
        step = 0
    return step, space.most_probable(logp[step:step + 1], table, bound)[0], bound


def answer_budgets(space, table: CostTable, logp: np.ndarray, budgets: Sequence[float], cheapest: float,
                   rule: str = DEFAULT_RULE, margin: bool = DEFAULT_MARGIN, rerank: int = 0,
                   scorer=None) -> list[tuple[int, np.ndarray]]:
    """:func:`choose` for each budget."""
    return [choose(space, table, logp, float(b), cheapest, rule, margin, rerank, scorer) for b in budgets]
