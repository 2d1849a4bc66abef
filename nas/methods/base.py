"""What every method of the comparison shares: the answer record, the method spec, and the queries
a method's runs are asked (the descriptor a generator is conditioned with, its architecture for one
or a sweep of trade-offs). Nothing here reads benchmark accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from nas.costs.table import CostTable
from nas.methods.derive import LAM_GRID, SearchRun, most_probable_live
from nas.spaces.nb201.genotype import all_op_indices, genotype_from_indices

if TYPE_CHECKING:
    from nas.search.config import SearchConfig


@dataclass(frozen=True)
class Answer:
    """The architecture a method returns for one (device, budget) query, with its provenance."""

    device: str
    budget_ms: float
    arch: str
    pred_latency_ms: float  # predicted by the device's lookup table (random: measured)
    tradeoff: float | None  # lam_norm (darts-cc-hw, darts-cc), beta (fbnet), None (darts, random)
    run_id: str  # the run that produced the architecture ("" for random)


@dataclass(frozen=True)
class MethodSpec:
    """One method of the comparison.

    Attributes:
        name: method id written to every results file.
        summary: one line for tables and notebooks.
        coverage: ``all`` (one run covers every device and trade-off), ``per-condition`` (one run
            per (device, trade-off)) or ``none`` (no search).
        tradeoff: what indexes the trade-off of a query: ``lam_norm``, ``fbnet_beta`` or None.
        overrides: SearchConfig fields of a run, from (profile config, device, trade-off); None
            for a method that does not search.
        answer: budget query (runs of one seed, device, budgets) -> answers; None for ``random``.
        run_suffix: text appended to a run's folder name (a per-condition method names its
            condition); None: nothing.
    """

    name: str
    summary: str
    coverage: str
    tradeoff: str | None
    overrides: Callable[[SearchConfig, str | None, float | None], dict] | None
    answer: Callable[[Sequence[SearchRun], str, Sequence[float]], list[Answer]] | None
    run_suffix: Callable[[SearchConfig], str] | None = None

    @property
    def needs_search(self) -> bool:
        return self.overrides is not None


def descriptor_table(run: SearchRun, device: str) -> CostTable:
    """The table whose descriptor phi conditions ``run``'s generator for a query on ``device``.

    A run that trained on ``device`` uses it; a run that knows a single table (darts-cc: params;
    fbnet: its device; darts: ignored) can only be asked with that one; otherwise (ours on an
    unseen device) the target device's own table, zero-shot.
    """
    if device in run.tables:
        return run.tables[device]
    if len(run.tables) == 1:
        return next(iter(run.tables.values()))
    return run.device_table(device)


def arch_of_index(i: int) -> str:
    """Genotype string of the cell at position ``i`` of ``nas.spaces.nb201.genotype.all_op_indices()`` (not NB201's
    ``arch_index``, which orders the cells differently)."""
    return str(genotype_from_indices(all_op_indices()[int(i)]))


def lam_sweep(run: SearchRun, device: str, lams: Sequence[float] = tuple(LAM_GRID)) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into ``all_op_indices()``) of the architectures of a lam-conditioned run on ``device``
    at each lam_norm, derived with :func:`descriptor_table`, and their predicted costs on ``device``."""
    probs = run.probs(descriptor_table(run, device), lams)
    idx = most_probable_live(probs)
    return idx, run.predicted(run.device_table(device), all_op_indices()[idx])


def fixed_architecture(run: SearchRun, device: str) -> tuple[int, float]:
    """The one architecture of a condition-free run (darts, fbnet) and its predicted cost on ``device``."""
    probs = run.probs(descriptor_table(run, device), [0.0])
    i = int(most_probable_live(probs)[0])
    return i, float(run.predicted(run.device_table(device), all_op_indices()[i]))
