"""darts (plain DARTS): one run, no cost at all. As published, its single architecture answers every
budget (``rule="published"``); under a budget rule its one distribution is restricted to the budget
(constrained MAP), like every other method's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from nas.methods.base import Answer, MethodSpec, arch_of_index, descriptor_table, fixed_architecture
from nas.methods.budget import DEFAULT_MARGIN, answer_budgets
from nas.methods.derive import SearchRun, check_budgets, log_probs

PUBLISHED = "published"  # the DARTS paper's answer: one architecture for every budget

if TYPE_CHECKING:
    from nas.search.config import SearchConfig


def _darts_overrides(cfg: SearchConfig, device: str | None, tradeoff: float | None) -> dict:
    """darts: one learned alpha, no cost, first-order gradient through the relaxation, tau = 1.

    The relaxation is sampled like every other run of the profile (``mode``: single-path with a
    straight-through Gumbel-softmax gradient by default, as in GDAS; ``--set mode=mixed`` weights
    every op as in the DARTS paper at about 5x the cost per step, ``nas.search.bench``)."""
    out = {"method": "darts", "hypernet": "alpha", "devices": ("params",), "estimator": "relaxed",
           "order": "first", "weight_paths": "hypernet", "tau_max": 1.0, "tau_min": 1.0, "loss": "none"}
    return out


def darts_budget_answers(runs: Sequence[SearchRun], device: str, budgets: Sequence[float], *,
                         rule: str = PUBLISHED, margin: bool = DEFAULT_MARGIN, rerank: int = 0) -> list[Answer]:
    """darts: its single architecture for every budget, whether it fits or not (``rule="published"``),
    or its distribution restricted to each budget by a budget rule (``nas.methods.budget``)."""
    (run,) = runs
    if rule == PUBLISHED:
        i, cost = fixed_architecture(run, device)
        return [Answer(device, float(b), arch_of_index(i), cost, None, run.run_dir.name) for b in budgets]
    table = run.device_table(device)
    logp = log_probs(run.probs(descriptor_table(run, device), [0.0]))  # a sweep of one step
    cheapest = check_budgets(table, budgets, run.cheapest_achievable(table))
    found = answer_budgets(run.space, table, logp, budgets, cheapest, rule, margin, rerank,
                           run.scorer() if rerank > 1 else None)
    return [Answer(device, float(b), run.space.format(run.space.from_indices(idx)), float(run.predicted(table, idx)),
                   None, run.run_dir.name) for b, (_, idx) in zip(budgets, found)]


SPEC = MethodSpec("darts",
                  "plain DARTS (first order, the profile's sampling mode): one run, no cost, one architecture",
                  "all", None, _darts_overrides, darts_budget_answers)
