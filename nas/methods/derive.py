"""Architectures from a finished search for any device and trade-off or latency budget.

Derivation reads only the small files of a run folder (config, cost tables, generator state);
it needs neither the supernet weights nor data. For a device table h and lam_norm, the
architecture is the most probable *valid* one under the generator's per-edge distributions
softmax(G(lam_norm, phi(h))), by the space's rule (``SearchSpace.most_probable``; NB201: the
per-edge argmax unless that cell is dead, found exactly by scoring all 15,625 cells). A budget
query is answered by a budget rule over the lam_norm sweep ``LAM_GRID`` (``nas.methods.budget``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from nas.costs.resolve import build_table, cost_floor
from nas.costs.table import CostTable
from nas.methods.budget import DEFAULT_MARGIN, DEFAULT_RULE, answer_budgets
from nas.search import run_io
from nas.search.config import SearchConfig
from nas.search.generators import ArchGenerator, build_generator
from nas.search.one_shot import SCORE_IMAGES
from nas.spaces import get_space
from nas.spaces.nb201.space import NB201

LAM_GRID = np.linspace(0.0, 1.0, 101)
COLUMNS = ("device", "lam", "budget_ms", "arch", "pred_latency_ms")


class DeriveError(ValueError):
    """A derivation request that cannot be answered (bad lam, budget below the cheapest, ...)."""


@dataclass(frozen=True)
class Derived:
    """One derived architecture: the query and the answer with its predicted cost."""

    device: str
    lam: float
    budget_ms: float | None
    arch: str
    pred_latency_ms: float

    def row(self) -> dict:
        return {"device": self.device, "lam": round(self.lam, 6), "budget_ms": self.budget_ms,
                "arch": self.arch, "pred_latency_ms": round(self.pred_latency_ms, 6)}


@dataclass(frozen=True)
class SearchRun:
    """A finished search loaded for derivation."""

    run_dir: Path
    config: SearchConfig
    tables: dict[str, CostTable]
    generator: ArchGenerator
    score_images: int = SCORE_IMAGES  # held-out images per one-shot score when re-ranking

    @classmethod
    def load(cls, run_dir: str | Path) -> "SearchRun":
        run_dir = Path(run_dir)
        run_io.require_finished(run_dir)
        cfg = SearchConfig.from_dict(run_io.load_config(run_dir))
        tables = {t.name: t for t in run_io.load_tables(run_dir)}
        gen = build_generator(cfg, next(iter(tables.values())).descriptor().size)
        gen.load_state_dict(run_io.load_hypernet_state(run_dir))
        return cls(run_dir, cfg, tables, gen.eval())

    @property
    def space(self):
        """The run's search space (``nas.spaces``)."""
        return get_space(self.config.space)

    def device_table(self, spec: str) -> CostTable:
        """A device trained on, or any other device spec (``nas.costs.resolve.build_table``, fitted like the run's)."""
        if spec in self.tables:
            return self.tables[spec]
        return build_table(spec, n_fit=self.config.lut_n_fit, seed=self.config.lut_seed, space=self.config.space)

    def predicted(self, table: CostTable, idx: np.ndarray) -> np.ndarray:
        """Predicted costs of architectures (op indices (..., n_edges)) on ``table``, never below its floor
        (``nas.costs.resolve.cost_floor``)."""
        floor = cost_floor(table, n_fit=self.config.lut_n_fit, seed=self.config.lut_seed)
        return np.maximum(table.arch_costs(idx), floor)

    def scorer(self):
        """One-shot scorer of cells by this run's supernet weights (``nas.search.one_shot.scorer_for``)."""
        from nas.search.one_shot import scorer_for

        return scorer_for(self.run_dir, self.score_images)

    def cheapest_achievable(self, table: CostTable) -> float:
        """Predicted cost of the cheapest valid architecture on ``table``, held at its floor."""
        return float(self.predicted(table, self.space.cheapest(table)))

    @torch.no_grad()
    def probs(self, table: CostTable, lams: Sequence[float]) -> np.ndarray:
        """Op probabilities (L, n_edges, n_ops) (NB201: (L, 6, 5)) for the device's descriptor at each lam_norm."""
        lam = torch.as_tensor(np.asarray(lams, dtype=np.float32))
        phi = torch.as_tensor(table.descriptor(), dtype=torch.float32).expand(len(lam), -1)
        return torch.softmax(self.generator(lam, phi), dim=-1).double().numpy()


def log_probs(probs: np.ndarray) -> np.ndarray:
    """log of op probabilities (..., n_edges, n_ops), clipped at 1e-300 so a zero stays finite."""
    return np.log(np.clip(probs, 1e-300, None))


def most_probable_live(probs: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """NB201: index into ``all_op_indices()`` of the most probable live cell for each row of probs (L, 6, 5).

    ``allowed`` (15625,) bool further restricts the cells (e.g. within a budget).
    """
    return NB201.most_probable_index(log_probs(probs), allowed)


def _arch(space, idx) -> str:
    return space.format(space.from_indices(idx))


def _check_lams(lams: Sequence[float]) -> None:
    bad = [x for x in lams if not (0.0 <= float(x) <= 1.0)]
    if bad:
        raise DeriveError(f"--lam takes the normalised trade-off in [0, 1] (0: no latency pressure, 1: the most); "
                          f"got {bad}")


def derive_lams(run: SearchRun, device: str, lams: Sequence[float], *,
                descriptor: CostTable | None = None) -> list[Derived]:
    """Architecture for each lam_norm on ``device``.

    ``descriptor`` is the table whose phi conditions the generator (default: the device's own; a
    run that never saw hardware, e.g. DARTS-CC on parameters, is asked with its own table).
    """
    _check_lams(lams)
    table = run.device_table(device)
    idx = run.space.most_probable(log_probs(run.probs(descriptor or table, lams)))  # (L, n_edges)
    costs = run.predicted(table, idx)
    return [Derived(table.name, float(lam), None, _arch(run.space, a), float(c)) for lam, a, c in zip(lams, idx, costs)]


def cheapest_live(table: CostTable) -> tuple[str, float]:
    """The valid architecture with the lowest predicted cost on a device (in the table's space), and that cost."""
    space = get_space(table.space)
    idx = space.cheapest(table)
    return _arch(space, idx), float(table.arch_costs(idx))


def derive_budgets(run: SearchRun, device: str, budgets: Sequence[float], *,
                   descriptor: CostTable | None = None, rule: str = DEFAULT_RULE,
                   margin: bool = DEFAULT_MARGIN, rerank: int = 0) -> list[Derived]:
    """Architecture for each budget (in the device's unit) by a budget rule over the lam_norm sweep
    ``LAM_GRID`` (``nas.methods.budget``: constrained MAP by default, ``first-fit`` the least pressure
    whose architecture fits).

    ``descriptor``: as in :func:`derive_lams`; costs and budgets are always the device's. ``rerank`` = k > 1:
    the best of the k most probable proposals within each budget by the run's supernet (``run.scorer()``).
    """
    table, space = run.device_table(device), run.space
    cheap_cost = check_budgets(table, budgets, run.cheapest_achievable(table))
    logp = log_probs(run.probs(descriptor or table, LAM_GRID))  # (G, n_edges, n_ops)
    out = []
    scorer = run.scorer() if rerank > 1 else None
    for b, (step, idx) in zip(budgets, answer_budgets(space, table, logp, budgets, cheap_cost, rule, margin,
                                                      rerank, scorer)):
        out.append(Derived(table.name, float(LAM_GRID[step]), float(b), _arch(space, idx),
                           float(run.predicted(table, idx))))
    return out


def check_budgets(table: CostTable, budgets: Sequence[float], achievable: float | None = None) -> float:
    """The cheapest achievable cost on ``table`` (``achievable``: the cheapest valid architecture's
    prediction held at the table's floor; default its raw prediction); DeriveError if a budget is
    below it (or not a number)."""
    cheap_arch, cheap_cost = cheapest_live(table)
    cheap_cost = cheap_cost if achievable is None else float(achievable)
    low = [b for b in budgets if not float(b) >= cheap_cost]
    if low:
        raise DeriveError(f"budget(s) {low} {table.unit} below the cheapest achievable latency on {table.name}: "
                          f"{cheap_cost:.4g} {table.unit} ({cheap_arch}); ask for at least that")
    return cheap_cost
