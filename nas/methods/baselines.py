"""The methods of the comparison (issue 6) as a registry: how each is searched and how it answers.

Every method answers the same question: *which architecture for device h within a latency budget
b?* They differ in what a search run covers and in how a budget is turned into an architecture.

=============  =====================================  ==============================================
method         runs                                   budget query on device h
=============  =====================================  ==============================================
darts-cc-hw    one run for every device and lam       least pressure lam whose architecture (derived
               (this paper)                           with phi(h)) meets b on h's lookup table
darts-cc       one run, parameter count as the only   the same rule, but the hypernetwork only knows
               cost (hardware-agnostic)               its own descriptor (params): derive with it,
                                                      check the prediction on h's lookup table
darts          one run, no cost at all                the single architecture, for every budget
fbnet          one run per (device, trade-off beta)   among h's runs, the least pressure (smallest
                                                      beta) whose architecture meets b
random         no search: N random live cells per     the most accurate sampled cell whose measured
               device, measured and "trained"         latency meets b (the fastest if none does)
=============  =====================================  ==============================================

"Meets b" always means the *predicted* latency (the device's lookup table, fitted like the run's)
except for ``random``, which measures every candidate it evaluates. When no architecture of a
lam/beta sweep meets b, the search methods fall back to the most probable live cell within b
under the strongest pressure (``darts`` has no pressure to fall back on and returns its cell).
Nothing here reads benchmark accuracy; ``random`` is handed the benchmark as an argument (it
evaluates every candidate, which is what random search does).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nas.costs.table import CostTable
from nas.methods.derive import LAM_GRID, SearchRun, derive_budgets, most_probable_live
from nas.spaces.nb201.genotype import all_op_indices, dead_mask, genotype_from_indices
from nas.search.config import SearchConfig, config_for_profile, run_name

FBNET_A = 0.2  # FBNet's scale alpha of CE * alpha * log(LAT)^beta (Wu et al. 2019; method-notes 3)
FBNET_BETA = 0.6  # FBNet's published exponent
FBNET_BETAS = (0.3, 0.6, 1.2)  # default trade-off sweep around the published value
FBNET_TAU0, FBNET_TAU_DECAY = 5.0, 0.045  # Gumbel temperature tau_e = 5 * exp(-0.045 e)


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
    """

    name: str
    summary: str
    coverage: str
    tradeoff: str | None
    overrides: Callable[[SearchConfig, str | None, float | None], dict] | None
    answer: Callable[[Sequence[SearchRun], str, Sequence[float]], list[Answer]] | None

    @property
    def needs_search(self) -> bool:
        return self.overrides is not None


# ---------------------------------------------------------------------------------------------------
# Search configurations


def _ours_overrides(cfg: SearchConfig, device: str | None, tradeoff: float | None) -> dict:
    """darts-cc-hw: the profile's configuration as it is."""
    return {"method": "darts-cc-hw"}


def _darts_cc_overrides(cfg: SearchConfig, device: str | None, tradeoff: float | None) -> dict:
    """darts-cc: ours with the parameter count as the only cost (a controlled ablation of the hardware)."""
    return {"method": "darts-cc", "devices": ("params",)}


def _darts_overrides(cfg: SearchConfig, device: str | None, tradeoff: float | None) -> dict:
    """darts: one learned alpha, no cost, first-order gradient through the relaxation, tau = 1.

    The relaxation is sampled like every other run of the profile (``mode``: single-path with a
    straight-through Gumbel-softmax gradient by default, as in GDAS; ``--set mode=mixed`` weights
    every op as in the DARTS paper at about 5x the cost per step, ``nas.search.bench``)."""
    out = {"method": "darts", "hypernet": "alpha", "devices": ("params",), "estimator": "relaxed",
           "order": "first", "weight_paths": "hypernet", "tau_max": 1.0, "tau_min": 1.0, "loss": "none"}
    return out


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


def build_config(method: str, profile: str, *, device: str | None = None, tradeoff: float | None = None,
                 **overrides) -> SearchConfig:
    """SearchConfig of one run of ``method``: profile, then the method's fields, then ``overrides``.

    The method's fields are computed after ``overrides`` are known (FBNet's last temperature
    depends on the number of epochs), and ``overrides`` win over them.
    """
    spec = get_method(method)
    if not spec.needs_search:
        raise ValueError(f"method {method!r} does not search")
    base = replace(config_for_profile(profile), **overrides)
    return replace(base, **{**spec.overrides(base, device, tradeoff), **overrides}).validate()


def baseline_run_name(cfg: SearchConfig) -> str:
    """Run folder name: ``nas.search.config.run_name`` plus ``_<device>_beta<beta>`` for an fbnet run."""
    name = run_name(cfg)
    if cfg.method == "fbnet":
        name += f"_{Path(cfg.devices[0]).stem}_beta{getattr(cfg, 'fbnet_beta', float('nan')):g}"
    return name


# ---------------------------------------------------------------------------------------------------
# Budget queries


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


def _within_or_cheapest(probs: np.ndarray, costs: np.ndarray, budget: float) -> int:
    """Most probable live cell with predicted cost <= budget; the cheapest live cell if none fits."""
    allowed = costs <= budget
    if not (allowed & ~dead_mask()).any():
        return int(np.where(dead_mask(), np.inf, costs).argmin())
    return int(most_probable_live(probs[None], allowed=allowed)[0])


def lam_sweep(run: SearchRun, device: str, lams: Sequence[float] = tuple(LAM_GRID)) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into ``all_op_indices()``) of the architectures of a lam-conditioned run on ``device``
    at each lam_norm, derived with :func:`descriptor_table`, and their predicted costs on ``device``."""
    probs = run.probs(descriptor_table(run, device), lams)
    idx = most_probable_live(probs)
    return idx, run.device_table(device).all_costs()[idx]


def tradeoff_budget_answers(runs: Sequence[SearchRun], device: str, budgets: Sequence[float]) -> list[Answer]:
    """darts-cc-hw and darts-cc: ``nas.methods.derive.derive_budgets`` (the least lam_norm on ``LAM_GRID``
    whose architecture meets the budget) with the generator conditioned by :func:`descriptor_table`."""
    (run,) = runs
    items = derive_budgets(run, device, budgets, descriptor=descriptor_table(run, device))
    return [Answer(device, float(d.budget_ms), d.arch, d.pred_latency_ms, d.lam, run.run_dir.name) for d in items]


def fixed_architecture(run: SearchRun, device: str) -> tuple[int, float]:
    """The one architecture of a condition-free run (darts, fbnet) and its predicted cost on ``device``."""
    probs = run.probs(descriptor_table(run, device), [0.0])
    i = int(most_probable_live(probs)[0])
    return i, float(run.device_table(device).all_costs()[i])


def darts_budget_answers(runs: Sequence[SearchRun], device: str, budgets: Sequence[float]) -> list[Answer]:
    """darts: its single architecture for every budget, whether it fits or not."""
    (run,) = runs
    i, cost = fixed_architecture(run, device)
    return [Answer(device, float(b), arch_of_index(i), cost, None, run.run_dir.name) for b in budgets]


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
            i = _within_or_cheapest(r.probs(descriptor_table(r, device), [0.0])[0], costs, b)
            c = float(costs[i])
        out.append(Answer(device, float(b), arch_of_index(i), float(c), fbnet_tradeoff(r), r.run_dir.name))
    return out


def random_answers(bench, device: str, budgets: Sequence[float], n: int, seed: int) -> tuple[list[Answer], list[str]]:
    """Random search with ``n`` distinct live cells (seeded per device), each measured and trained.

    ``bench`` is an ``nas.spaces.nb201.benchmark.NB201Benchmark``: random search evaluates every candidate, so
    the benchmark's measured latency and accuracy are its own evaluations. Per budget: the most
    accurate sampled cell with measured latency <= budget, else the fastest one (a violation).

    Returns:
        (answers, the sampled architectures).
    """
    from nas.spaces.nb201.benchmark import DEFAULT_METRIC  # deferred: evaluation only

    live = bench.live()
    if not 1 <= n <= len(live):
        raise ValueError(f"random search needs 1 <= n <= {len(live)}, got {n}")
    rng = np.random.default_rng([int(seed), zlib.crc32(device.encode())])
    pick = live.iloc[rng.choice(len(live), size=n, replace=False)]
    lat, acc = pick[device].to_numpy(float), pick[DEFAULT_METRIC].to_numpy(float)
    archs = pick["arch_str"].tolist()
    out = []
    for b in budgets:
        ok = np.flatnonzero(lat <= b)
        j = int(ok[np.lexsort((lat[ok], -acc[ok]))[0]]) if ok.size else int(lat.argmin())
        out.append(Answer(device, float(b), archs[j], float(lat[j]), None, ""))
    return out, archs


METHODS: dict[str, MethodSpec] = {
    "darts-cc-hw": MethodSpec("darts-cc-hw", "ours: one run, hypernetwork over (lam, device descriptor)",
                              "all", "lam_norm", _ours_overrides, tradeoff_budget_answers),
    "darts-cc": MethodSpec("darts-cc", "DARTS-CC: one run, hypernetwork over lam, parameter count as the cost",
                           "all", "lam_norm", _darts_cc_overrides, tradeoff_budget_answers),
    "darts": MethodSpec("darts",
                        "plain DARTS (first order, the profile's sampling mode): one run, no cost, one architecture",
                        "all", None, _darts_overrides, darts_budget_answers),
    "fbnet": MethodSpec("fbnet", "FBNet: one run per (device, beta), CE * 0.2 * log(LAT_ms)^beta",
                        "per-condition", "fbnet_beta", _fbnet_overrides, fbnet_budget_answers),
    "random": MethodSpec("random", "random search: N measured-and-trained live cells per device",
                         "none", None, None, None),
}


def get_method(name: str) -> MethodSpec:
    """The registered method ``name`` (ValueError naming the known ones)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]


def budget_answers(method: str, runs: Sequence[SearchRun], device: str, budgets: Sequence[float]) -> list[Answer]:
    """Answers of a searched ``method`` (its runs of one seed) to budget queries on ``device``."""
    spec = get_method(method)
    if spec.answer is None:
        raise ValueError(f"method {method!r} has no search runs to query; see random_answers")
    return spec.answer(runs, device, budgets)
