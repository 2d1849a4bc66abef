"""The SearchSpace protocol, checked on every registered space (nb201 and the test-only tiny space)."""

import numpy as np
import pytest
import torch

from nas.costs.resolve import build_table, complexity_table, count_params
from nas.costs.table import CostTable, fit_cost_table, op_count_features
from nas.export import export_model
from nas.methods.derive import SearchRun, cheapest_live, derive_budgets, derive_lams
from nas.search.loop import run_search
from nas.spaces import get_space, register_space, space_names, unregister_space
from nas.spaces.base import SearchSpace, cost_keys
from nas.spaces.nb201.network import MacroConfig
from tests.search_fixture import tiny_config, tiny_data
from tests.tiny_space import TINY

SPACES = list(dict.fromkeys([*space_names(), TINY.name]))
SMALL = MacroConfig(C=4, N=1, in_channels=3, n_classes=10)


@pytest.fixture(scope="module", autouse=True)
def tiny_registered():
    register_space(TINY)
    yield
    unregister_space(TINY.name)


@pytest.fixture(params=SPACES)
def space(request):
    return get_space(request.param)


def _table(space, seed=0, name="rand"):
    """A random additive table: one cost per op (per op and cost group in a space with several groups)."""
    keys = cost_keys(space)
    costs = np.random.default_rng(seed).uniform(0.1, 2.0, len(keys))
    costs = {k: 0.0 if k.split("/")[-1] == "none" else c for k, c in zip(keys, costs)}
    return CostTable.from_op_costs(name, "ms", 3.0, costs, "analytic", space=space.name)


def test_registry_names_and_unknown_space():
    assert "nb201" in space_names() and TINY.name in space_names()
    with pytest.raises(ValueError, match="known spaces: nb201"):
        get_space("toaster")
    with pytest.raises(ValueError, match="built-in"):
        register_space(get_space("nb201"))


def test_protocol_shape(space):
    assert isinstance(space, SearchSpace)
    assert "none" in space.primitives and len(set(space.primitives)) == len(space.primitives)
    assert space.n_edges >= 1


def test_genotype_round_trip_and_id(space):
    for idx in space.sample(np.random.default_rng(0), 20):
        g = space.from_indices(idx)
        text = space.format(g)
        assert space.parse(text) == g and space.format(space.parse(text)) == text
        assert (space.indices(g) == idx).all()
        assert space.genotype_id(g) == space.genotype_id(space.parse(text)) and len(space.genotype_id(g)) == 10
    with pytest.raises(ValueError):
        space.parse("|not_an_op~0|")


def test_sampling_gives_valid_architectures(space):
    idx = space.sample(np.random.default_rng(1), 50)
    assert idx.shape == (50, space.n_edges) and idx.min() >= 0 and idx.max() < len(space.primitives)
    assert all(space.is_valid(space.from_indices(i)) for i in idx)
    assert not space.is_valid(space.from_indices([space.primitives.index("none")] * space.n_edges))


def test_supernet_forward_in_both_modes(space):
    torch.manual_seed(0)
    net = space.supernet(4, 1, 3, 10)
    x = torch.randn(2, 3, 8, 8)
    logits = torch.zeros(space.n_edges, len(space.primitives), requires_grad=True)
    w = torch.softmax(logits, -1)
    assert net(x, w).shape == (2, 10)  # mixed: every op weighted
    index = torch.as_tensor(space.sample(np.random.default_rng(2), 1)[0])
    out = net(x, w, index)  # single path, straight-through weights
    out.sum().backward()
    assert out.shape == (2, 10) and logits.grad is not None and torch.isfinite(out).all()
    assert net(x, None, index).shape == (2, 10)  # single path without architecture gradient


def test_network_forward(space):
    g = space.from_indices(space.sample(np.random.default_rng(3), 1)[0])
    net = space.network(g, C=4, N=1, in_channels=1, n_classes=3)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def _score(logp, idx):
    return float(logp[np.arange(len(idx)), idx].sum())


def test_most_probable_is_the_most_probable_valid_one_and_respects_a_bound(space):
    rng = np.random.default_rng(4)
    logp = np.log(rng.dirichlet(np.ones(len(space.primitives)), size=(3, space.n_edges)))  # (L, E, O)
    none = space.primitives.index("none")
    logp[0, :, none] = 0.0  # row 0: `none` everywhere is the most probable, and invalid
    table = _table(space)
    bound = float(np.median(table.arch_costs(space.sample(rng, 200))))
    free, bounded = space.most_probable(logp), space.most_probable(logp, table, bound)
    assert free.shape == bounded.shape == (3, space.n_edges)
    candidates = space.sample(rng, 300)
    for row in range(3):
        assert space.is_valid(space.from_indices(free[row])) and space.is_valid(space.from_indices(bounded[row]))
        assert float(table.arch_costs(bounded[row])) <= bound
        assert all(_score(logp[row], free[row]) >= _score(logp[row], c) - 1e-12 for c in candidates)
        assert all(_score(logp[row], bounded[row]) >= _score(logp[row], c) - 1e-12
                   for c in candidates if table.arch_costs(c) <= bound)
    with pytest.raises(ValueError):
        space.most_probable(logp, table, table.base - 1.0)


def test_cost_features_are_additive_and_fit_back(space):
    table = _table(space, seed=5)
    archs = [space.format(space.from_indices(i)) for i in space.sample(np.random.default_rng(5), 40)]
    X, dead = op_count_features(archs, space.name)
    assert X.shape == (40, len(cost_keys(space)) - len(cost_keys(space)) // len(space.primitives) + 1)
    assert not dead.any()
    costs = np.array([table.genotype_cost(a) for a in archs])
    fitted_ops = [c for k, c in zip(cost_keys(space), table.op_cost) if k.split("/")[-1] != "none"]
    assert np.allclose(X @ np.r_[table.base, fitted_ops], costs)
    fit = fit_cost_table(archs, costs, name="refit", space=space.name)
    assert np.allclose(fit.op_cost, table.op_cost) and fit.base == pytest.approx(table.base)
    assert CostTable.from_dict(fit.to_dict()) == fit and fit.to_dict()["space"] == space.name
    probs = torch.full((space.n_edges, len(space.primitives)), 1.0 / len(space.primitives))
    assert float(table.expected_cost(probs)) == pytest.approx(table.reference_cost())


def test_parameter_table_is_exactly_additive(space):
    table = complexity_table("params", SMALL, 16, space=space.name)
    for idx in space.sample(np.random.default_rng(6), 5):
        g = space.from_indices(idx)
        net = space.network(g, C=SMALL.C, N=SMALL.N, in_channels=SMALL.in_channels, n_classes=SMALL.n_classes)
        assert count_params(net) / 1e6 == pytest.approx(table.genotype_cost(g), abs=1e-12)


def test_search_derive_cost_export_end_to_end(space, tmp_path):
    """The whole path on each space through the functions the CLI calls."""
    cfg = tiny_config(space=space.name, devices=("params", "flops"), epochs=2)
    run = SearchRun.load(run_search(cfg, tmp_path / "run", data=tiny_data(), progress=False))
    assert run.space is space and all(t.space == space.name for t in run.tables.values())
    lams = derive_lams(run, "params", [0.0, 0.5, 1.0])
    assert all(space.is_valid(space.parse(d.arch)) for d in lams)
    assert [d.pred_latency_ms for d in lams] == [run.tables["params"].genotype_cost(d.arch) for d in lams]
    cheap = cheapest_live(run.tables["flops"])[1]
    for d in derive_budgets(run, "flops", [cheap, 2 * cheap, 1e9]):
        assert d.pred_latency_ms <= d.budget_ms and space.is_valid(space.parse(d.arch))
    # a new device of this space from whole-network measurements (here: exactly additive ones)
    truth = _table(space, seed=7)
    archs = [space.format(space.from_indices(i)) for i in space.sample(np.random.default_rng(7), 30)]
    csv = tmp_path / "phone.csv"
    csv.write_text("arch_str,latency_ms\n" + "".join(f"{a},{truth.genotype_cost(a)}\n" for a in archs))
    phone = build_table(str(csv), space=space.name)
    assert phone.space == space.name and np.allclose(phone.op_cost, truth.op_cost)
    assert derive_lams(run, str(csv), [0.5])[0].device == "phone"
    for fmt in ("torchscript", "onnx"):
        err = export_model(lams[0].arch, fmt, tmp_path / f"net.{fmt}", macro=SMALL, resolution=8, space=space.name)
        assert err <= 1e-4 and (tmp_path / f"net.{fmt}").stat().st_size > 0


def test_shared_profiles_belong_to_nb201():
    with pytest.raises(ValueError, match="NB201"):
        build_table("raspi4", space=TINY.name)


def test_config_space_is_checked_against_the_registry():
    assert tiny_config(space=TINY.name).space == TINY.name
    with pytest.raises(ValueError, match="space must be one of"):
        tiny_config(space="toaster")
