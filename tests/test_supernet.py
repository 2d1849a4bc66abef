"""Supernet and discrete networks: shapes, modes, and exact additivity of parameters and FLOPs."""

import numpy as np
import pytest
import torch

from nas.spaces.nb201.genotype import all_op_indices, dead_mask, genotype_from_indices
from nas.search.sampling import gumbel_noise, relaxed_weights
from nas.spaces.nb201.network import MacroConfig, SuperNet, DiscreteNet
from nas.costs.resolve import complexity_table, count_flops, count_params

TINY = MacroConfig(C=4, N=1, in_channels=3, n_classes=10)


def _supernet():
    torch.manual_seed(0)
    return SuperNet(TINY)


@pytest.mark.parametrize("mode", ["mixed", "single-path"])
def test_supernet_forward_and_gradient_reach_logits(mode):
    net, x = _supernet(), torch.randn(2, 3, 16, 16)
    logits = torch.zeros(6, 5, requires_grad=True)
    w, index = relaxed_weights(logits, gumbel_noise((6, 5), torch.Generator().manual_seed(1)), 1.0, mode)
    out = net(x, w, index)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_single_path_equals_mixed_with_one_hot_weights():
    net, x = _supernet(), torch.randn(2, 3, 16, 16)
    index = torch.tensor([3, 1, 2, 0, 4, 3])
    one_hot = torch.nn.functional.one_hot(index, 5).float()
    assert torch.allclose(net(x, one_hot, index), net(x, one_hot, None), atol=1e-6)


def test_unweighted_single_path_equals_one_hot_weights_and_needs_an_index():
    net, x = _supernet(), torch.randn(2, 3, 16, 16)
    index = torch.tensor([0, 0, 2, 0, 4, 3])  # `none` on three edges: they are skipped, not added as zeros
    one_hot = torch.nn.functional.one_hot(index, 5).float()
    assert torch.allclose(net(x, None, index), net(x, one_hot, index), atol=1e-6)
    assert torch.allclose(net(x, None, index), net(x, one_hot, None), atol=1e-6)
    with pytest.raises(ValueError, match="needs op weights"):
        net(x, None, None)


def test_rows_of_relaxed_weights_sum_to_one():
    logits = torch.randn(6, 5)
    for mode in ("mixed", "single-path"):
        w, _ = relaxed_weights(logits, gumbel_noise((6, 5), None), 0.5, mode)
        assert torch.allclose(w.sum(-1), torch.ones(6))


@pytest.mark.parametrize("kind", ["params", "flops"])
def test_complexity_tables_are_exactly_additive(kind):
    table = complexity_table(kind, TINY, 16)
    rng = np.random.default_rng(0)
    live = np.flatnonzero(~dead_mask())
    for i in rng.choice(live, 5, replace=False):
        g = genotype_from_indices(all_op_indices()[i])
        net = DiscreteNet(g, TINY)
        value = count_params(net) / 1e6 if kind == "params" else count_flops(net, (1, 3, 16, 16)) / 1e6
        assert table.genotype_cost(g) == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_complexity_grows_with_width():
    small = complexity_table("params", MacroConfig(C=4, N=1), 32)
    large = complexity_table("params", MacroConfig(C=8, N=1), 32)
    assert large.op_cost_dict()["nor_conv_3x3"] > small.op_cost_dict()["nor_conv_3x3"] > 0
