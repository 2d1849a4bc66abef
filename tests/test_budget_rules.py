"""Budget rules (nas.methods.budget): every answer fits its bound, constrained MAP is the most
probable valid architecture within it, first-fit takes the least pressure that fits, the margin
only tightens the bound."""

import numpy as np
import pytest

from nas.costs.resolve import build_table
from nas.methods.budget import BUDGET_RULES, choose, margin_fraction
from nas.spaces import get_space

SPACE = get_space("nb201")


@pytest.fixture(scope="module")
def table():
    return build_table("raspi4")


def _sweep(seed: int, steps: int = 7) -> np.ndarray:
    """Log-probabilities (S, 6, 5) drifting from expensive ops to cheap ones as the step grows."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(steps, 6, 5)) + np.linspace(0, -3, steps)[:, None, None] * np.array([0, 0, 1, 2, 0])
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def _cheapest(table) -> float:
    return float(table.arch_costs(SPACE.cheapest(table)))


@pytest.mark.parametrize("rule", BUDGET_RULES)
@pytest.mark.parametrize("margin", [False, True])
def test_every_answer_is_valid_and_fits_its_bound(table, rule, margin):
    cheapest = _cheapest(table)
    for seed in range(3):
        logp = _sweep(seed)
        for budget in np.linspace(cheapest, 3 * table.reference_cost(), 6):
            step, idx = choose(SPACE, table, logp, float(budget), cheapest, rule, margin)
            bound = max(budget * (1 - margin_fraction(table)) if margin else budget, cheapest)
            assert 0 <= step < len(logp)
            assert SPACE.is_valid(SPACE.from_indices(idx))
            assert table.arch_costs(idx) <= bound + 1e-9


def test_constrained_is_the_most_probable_valid_architecture_within_the_budget(table):
    logp, cheapest = _sweep(0), _cheapest(table)
    budget = 0.8 * table.reference_cost()
    _, idx = choose(SPACE, table, logp, budget, cheapest, "constrained")
    all_idx = SPACE.all_indices()
    ok = SPACE.valid_mask() & (table.arch_costs(all_idx) <= budget)
    scores = logp[0][np.arange(6), all_idx].sum(-1)
    assert scores[ok].max() == pytest.approx(logp[0][np.arange(6), idx].sum())


def test_first_fit_takes_the_least_pressure_whose_map_fits(table):
    logp, cheapest = _sweep(1), _cheapest(table)
    map_costs = table.arch_costs(SPACE.most_probable(logp))
    budget = float(np.sort(map_costs)[len(map_costs) // 2])
    step, idx = choose(SPACE, table, logp, budget, cheapest, "first-fit")
    assert step == int(np.flatnonzero(map_costs <= budget)[0])
    assert np.array_equal(idx, SPACE.most_probable(logp[step:step + 1])[0])


def test_margin_comes_from_the_tables_held_out_error(table):
    assert 0 < margin_fraction(table) < 0.5  # raspi4: held-out RMSE of a 300-architecture fit
    assert margin_fraction(build_table("params")) == 0.0  # analytic: exact, no error reported


def test_unknown_rule_is_refused(table):
    with pytest.raises(ValueError, match="unknown budget rule"):
        choose(SPACE, table, _sweep(0), 10.0, _cheapest(table), "best-guess")


def test_top_k_proposals_are_valid_within_bound_and_most_probable_first(table):
    logp = _sweep(4)[0]
    bound = 1.2 * _cheapest(table) + 0.3 * table.reference_cost()
    props = SPACE.top_k(logp, table, bound, 12)
    assert len(props) == 12
    assert (table.arch_costs(props) <= bound).all()
    assert all(SPACE.is_valid(SPACE.from_indices(p)) for p in props)
    prob = logp[np.arange(6), props].sum(-1)
    assert (np.diff(prob) <= 1e-12).all()
    assert np.array_equal(props[0], SPACE.most_probable(logp[None], table, bound)[0])


@pytest.mark.parametrize("rule", BUDGET_RULES[1:])
def test_rerank_takes_the_best_scored_proposal_and_one_proposal_is_the_rule(table, rule):
    logp, cheapest = _sweep(5), _cheapest(table)
    budget = 0.8 * table.reference_cost()
    step, plain = choose(SPACE, table, logp, budget, cheapest, rule)
    target = SPACE.top_k(logp[step], table, budget, 5)[3]  # the fourth most probable: a scorer that prefers it
    scorer = lambda cells: np.abs(cells - target).sum(-1).astype(float)  # noqa: E731
    step2, chosen = choose(SPACE, table, logp, budget, cheapest, rule, rerank=5, scorer=scorer)
    assert step2 == step and np.array_equal(chosen, target) and not np.array_equal(chosen, plain)
    assert np.array_equal(choose(SPACE, table, logp, budget, cheapest, rule, rerank=1, scorer=scorer)[1], plain)
    with pytest.raises(ValueError, match="scorer"):
        choose(SPACE, table, logp, budget, cheapest, rule, rerank=5)
