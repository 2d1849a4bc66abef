"""Rank correlations with the NaN rules of every results file: a constant input has no rank order,
so its correlation is NaN rather than scipy's warning. Inputs are equal-length sequences of numbers.
"""

from __future__ import annotations

import math
from typing import Sequence


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rho of ``x`` and ``y``; NaN when either holds a single distinct value."""
    from scipy import stats  # deferred: scipy is slow to import

    return float(stats.spearmanr(x, y).statistic) if len(set(y)) > 1 and len(set(x)) > 1 else math.nan


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall tau-b of ``x`` and ``y`` (``scipy.stats.kendalltau``; NaN for a constant input)."""
    from scipy import stats

    return float(stats.kendalltau(x, y).statistic)
