"""The DARTS cell space: genotypes, derivation rules without enumeration, grouped costs, networks."""

import itertools

import numpy as np
import pytest
import torch

from nas.costs.resolve import complexity_table, count_flops, count_params
from nas.costs.table import CostTable
from nas.ops import DARTS_PRIMITIVES
from nas.spaces import get_space
from nas.spaces.base import cost_keys
from nas.spaces.darts import derive
from nas.spaces.darts.genotype import EDGES, DartsGenotype, GenotypeError
from nas.spaces.darts.network import DartsMacro, DartsNetwork
from nas.spaces.darts.space import EDGE_GROUPS, DartsSpace, darts_cells

SPACE = get_space("darts")
NONE = DARTS_PRIMITIVES.index("none")
# DARTS-V2 as published (Liu et al. 2019, genotypes.py), in its (op, input) pair form
DARTS_V2 = dict(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1), ("max_pool_3x3", 0),
            ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
)


def _score(logp, idx):
    return float(logp[np.arange(len(idx)), idx].sum())


def _random_table(seed, negative=False):
    rng = np.random.default_rng(seed)
    keys = cost_keys(SPACE)
    lo = -0.2 if negative else 0.1
    costs = {k: 0.0 if k.endswith("/none") else float(rng.uniform(lo, 2.0)) for k in keys}
    return CostTable.from_op_costs("rand", "ms", 5.0, costs, "analytic", space="darts")


def test_genotype_string_json_and_published_form_round_trip():
    g = DartsGenotype.from_darts(**DARTS_V2)
    assert SPACE.parse(SPACE.format(g)) == g and DartsGenotype.from_dict(g.to_dict()) == g
    assert g.inputs("normal")[3] == [("skip_connect", 0), ("dil_conv_3x3", 2)]
    assert SPACE.is_valid(g) and derive.is_rule_valid(SPACE.indices(g), "top2")
    d = g.to_dict()
    assert {e["op"] for e in d["reduce"]} == {"max_pool_3x3", "skip_connect"} and len(d["normal"]) == 8
    assert "," not in SPACE.format(g)  # fits a CSV cell unquoted


@pytest.mark.parametrize("bad, match", [
    ("normal=|sep_conv_3x3~0|", "expected 'normal="),
    ("normal=|a~0|a~1|+|a~0|a~1|a~2|+|a~0|a~1|a~2|a~3|+|a~0|a~1|a~2|a~3|a~4|;reduce=x", "unknown ops|groups"),
    ("reduce=|none~0|", "expected"),
])
def test_bad_strings_are_rejected_with_a_reason(bad, match):
    with pytest.raises(GenotypeError, match=match):
        SPACE.parse(bad)


def test_edges_that_do_not_exist_or_repeat_are_rejected():
    with pytest.raises(GenotypeError, match="no edge 3->2"):
        DartsGenotype.from_edges([("sep_conv_3x3", 3, 2)], [])
    with pytest.raises(GenotypeError, match="twice"):
        DartsGenotype.from_edges([("sep_conv_3x3", 0, 2), ("skip_connect", 0, 2)], [])
    with pytest.raises(GenotypeError, match="2 inputs"):
        DartsGenotype.from_darts(normal=DARTS_V2["normal"][:3], reduce=DARTS_V2["reduce"])


def test_validity_means_every_node_of_both_cells_has_an_input():
    g = DartsGenotype.from_darts(**DARTS_V2)
    ops = list(g.reduce)
    for e, (_, dst) in enumerate(EDGES):
        if dst == 4:
            ops[e] = "none"
    broken = DartsGenotype(g.normal, tuple(ops))
    assert broken.dead_nodes() == [("reduce", 4)] and not SPACE.is_valid(broken)


@pytest.mark.parametrize("rule", derive.RULES)
def test_sampling_follows_the_rule_and_covers_every_op(rule):
    idx = derive.sample(np.random.default_rng(0), 400, rule)
    assert all(derive.is_rule_valid(i, rule) for i in idx)
    assert set(np.unique(idx)) == set(range(len(DARTS_PRIMITIVES)))
    live = (idx != NONE).reshape(400, 2, 14)
    if rule == "top2":
        assert (live.sum(axis=2) == 8).all()


def _one_node_problem(seed, node, rule):
    """logp that leaves only the edges of one node free (every other edge has one possible op)."""
    rng = np.random.default_rng(seed)
    logp = np.log(rng.dirichlet(np.ones(8), size=28))
    fixed = derive.most_probable_free(logp, rule)
    free = derive.node_edges()[node]
    for e in set(range(28)) - set(free):
        logp[e] = -np.inf
        logp[e, fixed[e]] = 0.0
    return logp, fixed, free


@pytest.mark.parametrize("rule", derive.RULES)
@pytest.mark.parametrize("node", [2, 7])  # normal node 4 (4 inputs), reduction node 5 (5 inputs)
def test_bounded_derivation_is_exact_against_brute_force_on_one_node(rule, node):
    logp, fixed, free = _one_node_problem(node, node, rule)
    table = _random_table(node, negative=True)
    m = table.cost_matrix
    rest = float(m[np.arange(28), fixed].sum() - m[free, fixed[free]].sum())
    combos = []
    for combo in itertools.product(range(8), repeat=len(free)):
        idx = fixed.copy()
        idx[free] = combo
        if derive.is_rule_valid(idx, rule):
            combos.append((_score(logp, idx), float(m[free, list(combo)].sum())))
    scores, costs = np.array(combos).T
    for q in (0.2, 0.5, 0.9):
        slack = rest + float(np.quantile(costs, q))
        got = derive.most_probable_bounded(logp, m, slack, rule)
        assert derive.is_rule_valid(got, rule) and m[np.arange(28), got].sum() <= slack + 1e-9
        best = scores[costs + rest <= slack].max()
        assert _score(logp, got) == pytest.approx(best, abs=1e-9)
    unbounded = derive.most_probable_free(logp, rule)
    assert _score(logp, unbounded) == pytest.approx(scores.max(), abs=1e-9)


def test_bounds_below_the_cheapest_architecture_raise_and_the_cheapest_is_least():
    table = _random_table(3)
    cheap = SPACE.cheapest(table)
    assert SPACE.is_valid(SPACE.from_indices(cheap))
    others = SPACE.sample(np.random.default_rng(3), 500)
    assert table.arch_costs(cheap) <= table.arch_costs(others).min()
    logp = np.zeros((1, 28, 8))
    assert (SPACE.most_probable(logp, table, float(table.arch_costs(cheap)) + 1e-9) >= 0).all()
    with pytest.raises(ValueError, match="no valid architecture"):
        SPACE.most_probable(logp, table, float(table.arch_costs(cheap)) - 1e-3)


def test_top_k_is_distinct_ordered_within_the_bound_and_starts_at_the_most_probable():
    rng = np.random.default_rng(5)
    logp = np.log(rng.dirichlet(np.ones(8), size=28))
    table = _random_table(5)
    bound = float(np.median(table.arch_costs(SPACE.sample(rng, 300))))
    top = SPACE.top_k(logp, table, bound, 12)
    assert top.shape == (12, 28) and len({tuple(r) for r in top}) == 12
    assert (table.arch_costs(top) <= bound + 1e-9).all()
    scores = [_score(logp, r) for r in top]
    assert scores[0] == pytest.approx(_score(logp, SPACE.most_probable(logp[None], table, bound)[0]))
    assert scores[1:] == sorted(scores[1:], reverse=True) and scores[0] >= max(scores[1:]) - 1e-9
    assert SPACE.top_k(logp, table, table.base - 1.0, 3).shape == (0, 28)


def test_darts_published_rule_keeps_the_two_strongest_inputs_ignoring_none():
    rng = np.random.default_rng(6)
    w = rng.dirichlet(np.ones(8), size=28)
    w[:, NONE] = 0.99  # none dominates everywhere and still never wins
    g = darts_cells(w)
    idx = SPACE.indices(g)
    assert derive.is_rule_valid(idx, "top2")
    for edges in derive.node_edges():
        strength = np.delete(w[edges], NONE, axis=1).max(axis=1)
        assert set(edges[idx[edges] != NONE]) == set(edges[np.argsort(-strength)[:2]])
    with pytest.raises(GenotypeError, match="shape"):
        darts_cells(w[:14])


def test_a_top2_space_derives_published_style_cells():
    top2 = DartsSpace(rule="top2")
    logp = np.log(np.random.default_rng(7).dirichlet(np.ones(8), size=(2, 28)))
    for idx in top2.most_probable(logp):
        assert derive.is_rule_valid(idx, "top2")
    with pytest.raises(ValueError, match="unknown derivation rule"):
        DartsSpace(rule="top3")


def test_cost_groups_follow_the_strides_and_the_flops_table_is_exactly_additive():
    assert EDGE_GROUPS[:14] == (0,) * 14
    assert [g for g, (src, _) in zip(EDGE_GROUPS[14:], EDGES) if src < 2] == [1] * 8
    macro = DartsMacro(C=4, N=3, in_channels=1, n_classes=10)
    flops = complexity_table("flops", macro, 16, space="darts")
    params = complexity_table("params", macro, 16, space="darts")
    assert flops.descriptor().shape == (3 * 7 + 1,)
    for idx in SPACE.sample(np.random.default_rng(8), 4):
        g = SPACE.from_indices(idx)
        net = SPACE.network(g, C=4, N=3, in_channels=1, n_classes=10)
        assert count_flops(net, (1, 1, 16, 16)) / 1e6 == pytest.approx(flops.genotype_cost(g), rel=1e-9)
        assert count_params(net) / 1e6 == pytest.approx(params.genotype_cost(g), abs=1e-12)
    m = flops.cost_matrix
    skip = DARTS_PRIMITIVES.index("skip_connect")
    assert m[14, skip] > 0 and m[14 + 4, skip] == 0 == m[0, skip]  # a factorized reduction on 0->2, identity on 2->3
    probs = torch.full((28, 8), 1 / 8, dtype=torch.float64)
    assert float(flops.expected_cost(probs)) == pytest.approx(flops.reference_cost())


@pytest.mark.parametrize("N, reductions", [(1, set()), (2, {1}), (3, {1, 2}), (8, {2, 5}), (20, {6, 13})])
def test_reduction_cells_sit_where_darts_puts_them(N, reductions):
    assert DartsMacro(N=N).reductions() == reductions


@pytest.mark.parametrize("in_channels, side", [(1, 28), (3, 32)])
def test_networks_run_on_both_datasets_and_drop_paths_only_in_training(in_channels, side):
    torch.manual_seed(0)
    g = DartsGenotype.from_darts(**DARTS_V2)
    net = SPACE.network(g, C=4, N=3, in_channels=in_channels, n_classes=10)
    assert isinstance(net, DartsNetwork) and len(net.cells) == 3
    x = torch.randn(4, in_channels, side, side)
    net.drop_path_prob = 0.5
    net.eval()
    assert torch.equal(net(x), net(x))  # no drop path at evaluation
    net.train()
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, net(x))
    supernet = SPACE.supernet(4, 3, in_channels, 10)
    assert supernet(x, None, torch.as_tensor(SPACE.indices(g))).shape == (4, 10)
