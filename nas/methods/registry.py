"""The method registry: every method of the comparison by name, in report order.

Every method answers the same question: *which architecture for device h within a latency budget
b?* They differ in what a search run covers and in how a budget is turned into an architecture
(one module each: ``ours``, ``darts_cc``, ``darts``, ``fbnet``, ``random_search``).

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
Nothing here reads benchmark accuracy; ``random`` is handed the benchmark as an argument.

A new method is one module with a ``SPEC`` (its overrides and its budget answers) plus its entry
in ``METHODS`` below.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from nas.methods import darts, darts_cc, fbnet, ours, random_search
from nas.methods.base import Answer, MethodSpec
from nas.methods.derive import SearchRun
from nas.search.config import SearchConfig, config_for_profile, run_name

# in report order (tables and figures list methods in this order)
METHODS: dict[str, MethodSpec] = {s.name: s for s in (
    ours.SPEC,
    darts_cc.SPEC,
    darts.SPEC,
    fbnet.SPEC,
    random_search.SPEC,
)}
OURS = ours.SPEC.name
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
SEARCHED_METHODS: tuple[str, ...] = tuple(name for name, s in METHODS.items() if s.needs_search)  # a run's method
REFERENCES = ("oracle", "oracle-front")  # reference rows of the comparison, after every method
REPORT_ORDER: tuple[str, ...] = METHOD_NAMES + REFERENCES


def get_method(name: str) -> MethodSpec:
    """The registered method ``name`` (ValueError naming the known ones)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]


def budget_answers(method: str, runs: Sequence[SearchRun], device: str, budgets: Sequence[float],
                   **rule) -> list[Answer]:
    """Answers of a searched ``method`` (its runs of one seed) to budget queries on ``device``; ``rule``
    (``rule=``, ``margin=``) overrides the method's budget rule (``nas.methods.budget``)."""
    spec = get_method(method)
    if spec.answer is None:
        raise ValueError(f"method {method!r} has no search runs to query; see random_answers")
    return spec.answer(runs, device, budgets, **rule)


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
    """Run folder name: ``nas.search.config.run_name`` plus the method's ``run_suffix`` (fbnet:
    ``_<device>_beta<beta>``)."""
    spec = METHODS.get(cfg.method)
    suffix = spec.run_suffix(cfg) if spec is not None and spec.run_suffix is not None else ""
    return run_name(cfg) + suffix
