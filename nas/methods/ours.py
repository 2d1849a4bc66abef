"""darts-cc-hw (this paper): one run for every device and lam; a budget query on device h is answered
by the budget rule (``nas.methods.budget``) over the lam sweep of the generator conditioned on phi(h).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from nas.methods.base import Answer, MethodSpec, descriptor_table
from nas.methods.budget import DEFAULT_MARGIN, DEFAULT_RULE
from nas.methods.derive import SearchRun, derive_budgets

if TYPE_CHECKING:
    from nas.search.config import SearchConfig


def _ours_overrides(cfg: SearchConfig, device: str | None, tradeoff: float | None) -> dict:
    """darts-cc-hw: the profile's configuration as it is."""
    return {"method": "darts-cc-hw"}


def tradeoff_budget_answers(runs: Sequence[SearchRun], device: str, budgets: Sequence[float], *,
                            rule: str = DEFAULT_RULE, margin: bool = DEFAULT_MARGIN, rerank: int = 0) -> list[Answer]:
    """darts-cc-hw and darts-cc: ``nas.methods.derive.derive_budgets`` (the budget rule over the lam_norm
    sweep ``LAM_GRID``) with the generator conditioned by :func:`descriptor_table`."""
    (run,) = runs
    items = derive_budgets(run, device, budgets, descriptor=descriptor_table(run, device), rule=rule, margin=margin,
                           rerank=rerank)
    return [Answer(device, float(d.budget_ms), d.arch, d.pred_latency_ms, d.lam, run.run_dir.name) for d in items]


SPEC = MethodSpec("darts-cc-hw", "ours: one run, hypernetwork over (lam, device descriptor)",
                  "all", "lam_norm", _ours_overrides, tradeoff_budget_answers)
