"""Architectures from a finished search for any device and trade-off or latency budget.

Derivation reads only the small files of a run folder (config, cost tables, generator state);
it needs neither the supernet weights nor data. For a device table h and lam_norm, the
architecture is the most probable *live* cell under the generator's per-edge distributions
softmax(G(lam_norm, phi(h))) -- the per-edge argmax unless that cell is dead (no input-output
path), found exactly by scoring all 15,625 NB201 cells. A budget query returns the architecture
for the least pressure (smallest lam_norm on a fine grid) whose predicted cost meets the budget;
if even lam_norm = 1 does not, the most probable live cell at lam_norm = 1 within the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from nas.search import run_io
from nas.costs.table import CostTable
from nas.spaces.nb201.genotype import N_EDGES, all_op_indices, dead_mask, genotype_from_indices
from nas.search.generators import ArchGenerator
from nas.search.config import SearchConfig
from nas.search.generators import build_generator
from nas.costs.resolve import build_table

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

    @classmethod
    def load(cls, run_dir: str | Path) -> "SearchRun":
        run_dir = Path(run_dir)
        run_io.require_finished(run_dir)
        cfg = SearchConfig.from_dict(run_io.load_json(run_dir / "config.json"))
        tables = {t.name: t for t in run_io.load_tables(run_dir)}
        gen = build_generator(cfg, next(iter(tables.values())).descriptor().size)
        gen.load_state_dict(torch.load(run_dir / run_io.HYPERNET, map_location="cpu", weights_only=True))
        return cls(run_dir, cfg, tables, gen.eval())

    def device_table(self, spec: str) -> CostTable:
        """A device trained on, any other known device (fitted like the run's), or a CSV path."""
        if spec in self.tables:
            return self.tables[spec]
        if spec.endswith(".csv") or Path(spec).is_file():  # a user file may change: fit it every time
            return build_table(spec, n_fit=self.config.lut_n_fit, seed=self.config.lut_seed)
        return _named_table(spec, self.config.lut_n_fit, self.config.lut_seed)

    @torch.no_grad()
    def probs(self, table: CostTable, lams: Sequence[float]) -> np.ndarray:
        """Op probabilities (L, 6, 5) for the device's descriptor at each lam_norm."""
        lam = torch.as_tensor(np.asarray(lams, dtype=np.float32))
        phi = torch.as_tensor(table.descriptor(), dtype=torch.float32).expand(len(lam), -1)
        return torch.softmax(self.generator(lam, phi), dim=-1).double().numpy()


@lru_cache(maxsize=64)
def _named_table(name: str, n_fit: int, seed: int) -> CostTable:
    """Tables of named devices are immutable values: fit each once per process."""
    return build_table(name, n_fit=n_fit, seed=seed)


def most_probable_live(probs: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Index into ``all_op_indices()`` of the most probable live cell for each row of probs (L, 6, 5).

    ``allowed`` (15625,) bool further restricts the cells (e.g. within a budget).
    """
    logp = np.log(np.clip(probs, 1e-300, None))  # (L, 6, 5)
    ops = all_op_indices()  # (A, 6)
    scores = logp[:, np.arange(N_EDGES), ops].sum(axis=-1)  # (L, A)
    mask = ~dead_mask() if allowed is None else (~dead_mask() & allowed)
    scores[:, ~mask] = -np.inf
    return scores.argmax(axis=1)


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
    idx = most_probable_live(run.probs(descriptor or table, lams))
    costs = table.all_costs()
    return [Derived(table.name, float(lam), None, str(genotype_from_indices(all_op_indices()[i])), float(costs[i]))
            for lam, i in zip(lams, idx)]


def cheapest_live(table: CostTable) -> tuple[str, float]:
    """The live cell with the lowest predicted cost on a device, and that cost."""
    costs = np.where(dead_mask(), np.inf, table.all_costs())
    i = int(costs.argmin())
    return str(genotype_from_indices(all_op_indices()[i])), float(costs[i])


def derive_budgets(run: SearchRun, device: str, budgets: Sequence[float], *,
                   descriptor: CostTable | None = None) -> list[Derived]:
    """Architecture for each budget (in the device's unit) under the least pressure that meets it.

    ``descriptor``: as in :func:`derive_lams`; costs and budgets are always the device's.
    """
    table = run.device_table(device)
    phi_table = descriptor or table
    cheap_arch, cheap_cost = cheapest_live(table)
    low = [b for b in budgets if not float(b) >= cheap_cost]
    if low:
        raise DeriveError(f"budget(s) {low} {table.unit} below the cheapest live architecture on {table.name}: "
                          f"{cheap_cost:.4g} {table.unit} ({cheap_arch}); ask for at least that")
    costs = table.all_costs()
    grid_idx = most_probable_live(run.probs(phi_table, LAM_GRID))
    grid_cost = costs[grid_idx]
    out = []
    for b in budgets:
        ok = np.flatnonzero(grid_cost <= b)
        if ok.size:
            lam, i = float(LAM_GRID[ok[0]]), int(grid_idx[ok[0]])
        else:
            lam, i = 1.0, int(most_probable_live(run.probs(phi_table, [1.0]), allowed=costs <= b)[0])
        out.append(Derived(table.name, lam, float(b), str(genotype_from_indices(all_op_indices()[i])), float(costs[i])))
    return out
