"""Cost tables: autograd oracle for the expected cost, exact least-squares recovery, descriptor, JSON."""

import json
import math

import numpy as np
import pytest
import torch

from nas.costs.table import (
    DESCRIPTOR_DIM,
    N_FIT_PARAMS,
    CostFitError,
    CostTable,
    fit_cost_table,
)
from nas.spaces.nb201.genotype import N_EDGES, Genotype, all_op_indices, dead_mask, genotype_from_indices
from nas.ops import NB201_PRIMITIVES

N_OPS = len(NB201_PRIMITIVES)
TRUE = {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 0.7, "nor_conv_3x3": 2.0, "avg_pool_3x3": 0.4}


def _table(base: float = 3.0, costs: dict = TRUE, name: str = "synthetic") -> CostTable:
    return CostTable(name, "ms", base, tuple(costs[op] for op in NB201_PRIMITIVES), "analytic")


def _live_archs(n: int, seed: int = 0) -> list[Genotype]:
    rng = np.random.default_rng(seed)
    live = np.flatnonzero(~dead_mask())
    return [genotype_from_indices(all_op_indices()[i]) for i in rng.choice(live, size=n, replace=False)]


def test_expected_cost_gradient_is_op_cost_autograd_oracle():
    t = _table()
    logits = torch.randn(3, N_EDGES, N_OPS, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    probs = logits.softmax(-1).requires_grad_(True)
    cost = t.expected_cost(probs)
    assert cost.shape == (3,) and cost.dtype == torch.float64
    cost.sum().backward()
    expected = torch.tensor(t.op_cost, dtype=torch.float64).expand(3, N_EDGES, N_OPS)
    torch.testing.assert_close(probs.grad, expected)


def test_expected_cost_follows_dtype_and_matches_reference():
    t = _table()
    uniform = torch.full((N_EDGES, N_OPS), 1.0 / N_OPS, dtype=torch.float32)
    cost = t.expected_cost(uniform)
    assert cost.shape == () and cost.dtype == torch.float32
    assert math.isclose(float(cost), t.reference_cost(), rel_tol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        t.expected_cost(torch.ones(N_EDGES, N_OPS + 1))


@pytest.mark.parametrize("g", _live_archs(5, seed=1), ids=str)
def test_one_hot_expected_cost_equals_genotype_cost(g):
    t = _table()
    idx = torch.tensor([NB201_PRIMITIVES.index(op) for op in g.ops])
    one_hot = torch.nn.functional.one_hot(idx, N_OPS).to(torch.float64)
    assert math.isclose(float(t.expected_cost(one_hot)), t.genotype_cost(g), rel_tol=1e-12)
    assert t.genotype_cost(g.to_str()) == t.genotype_cost(g)


def test_all_costs_aligned_with_all_op_indices():
    t = _table()
    costs = t.all_costs()
    assert costs.shape == (len(all_op_indices()),)
    for i in np.random.default_rng(0).choice(len(costs), size=50, replace=False):
        assert math.isclose(costs[i], t.genotype_cost(genotype_from_indices(all_op_indices()[i])), rel_tol=1e-12)


def test_fit_recovers_synthetic_table_exactly():
    t = _table()
    archs = _live_archs(12)
    fitted = fit_cost_table(archs, [t.genotype_cost(g) for g in archs], name="syn", origin="analytic")
    np.testing.assert_allclose(fitted.op_cost, t.op_cost, atol=1e-9)
    assert math.isclose(fitted.base, t.base, rel_tol=1e-9)
    assert fitted.fit["n_fit"] == 12 and fitted.origin == "analytic"


def test_fit_excludes_dead_and_scores_holdout():
    t = _table()
    dead = [genotype_from_indices(all_op_indices()[i]) for i in np.flatnonzero(dead_mask())[:7]]
    archs = _live_archs(20)
    values = [t.genotype_cost(g) for g in archs] + [1e6] * len(dead)  # dead rows would wreck the fit
    test = _live_archs(40, seed=5)
    fitted = fit_cost_table(archs + dead, values, name="syn", holdout=(test, [t.genotype_cost(g) for g in test]))
    np.testing.assert_allclose(fitted.op_cost, t.op_cost, atol=1e-9)
    assert fitted.fit["n_dead_skipped"] == 7 and fitted.fit["n_fit"] == 20 and fitted.fit["n_test"] == 40
    assert fitted.fit["r2"] > 0.999999 and fitted.fit["kendall_tau"] > 0.99


def test_fit_too_few_rows_says_how_many_needed():
    archs = _live_archs(N_FIT_PARAMS - 1)
    with pytest.raises(CostFitError, match=rf"at least {N_FIT_PARAMS}.*got {N_FIT_PARAMS - 1}"):
        fit_cost_table(archs, np.ones(len(archs)), name="x")


def test_fit_rank_deficient_names_missing_op():
    archs = [g for g in _live_archs(200) if "avg_pool_3x3" not in g.ops][:30]
    with pytest.raises(CostFitError, match="avg_pool_3x3"):
        fit_cost_table(archs, np.arange(len(archs), dtype=float), name="x")
    no_none = [g for g in _live_archs(300) if "none" not in g.ops][:30]  # none count constant: collinear
    with pytest.raises(CostFitError, match="collinear"):
        fit_cost_table(no_none, np.arange(len(no_none), dtype=float), name="x")


def test_descriptor_is_scale_free_and_fixed_length():
    t = _table()
    scaled = CostTable("x10", "us", 10 * t.base, tuple(10 * c for c in t.op_cost), "analytic")
    phi = t.descriptor()
    assert phi.shape == (DESCRIPTOR_DIM,) and np.isfinite(phi).all()
    np.testing.assert_allclose(scaled.descriptor(), phi, rtol=1e-12)
    assert math.isclose(phi[-1], t.base / t.reference_cost(), rel_tol=1e-12)  # all costs >= 0
    gpu_like = _table(base=-0.5, costs=dict(TRUE, skip_connect=-0.3))
    phi_gpu = gpu_like.descriptor()
    assert np.isfinite(phi_gpu).all() and np.all(np.abs(phi_gpu) <= 1) and phi_gpu[0] < 0


def test_json_round_trip(tmp_path):
    t = CostTable("dev", "ms", 1.5, tuple(TRUE[op] for op in NB201_PRIMITIVES), "measured",
                  fit={"n_fit": 300.0, "r2": 0.9, "kendall_tau": math.nan})
    d = json.loads(json.dumps(t.to_dict()))
    assert set(d["op_cost"]) == set(NB201_PRIMITIVES)  # ops named by string
    assert d["fit"]["kendall_tau"] is None
    path = t.save(tmp_path / "sub" / "dev.json")
    back = CostTable.load(path)
    assert (back.name, back.unit, back.base, back.op_cost, back.origin) == (t.name, t.unit, t.base, t.op_cost, t.origin)
    assert back.fit["r2"] == 0.9 and math.isnan(back.fit["kendall_tau"])
    assert [p.name for p in path.parent.iterdir()] == ["dev.json"]  # no temp file left behind


def test_none_cost_must_be_zero_or_moved_into_base():
    with pytest.raises(ValueError, match="none"):
        CostTable("x", "ms", 1.0, (0.5, 1, 2, 3, 4), "measured")
    t = CostTable.from_op_costs("x", "ms", 1.0, dict(zip(NB201_PRIMITIVES, (0.5, 1, 2, 3, 4))), "measured")
    g = Genotype.from_str("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    absolute = 1.0 + sum(dict(zip(NB201_PRIMITIVES, (0.5, 1, 2, 3, 4)))[op] for op in g.ops)
    assert t.op_cost[0] == 0 and math.isclose(t.genotype_cost(g), absolute)
