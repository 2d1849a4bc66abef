"""Hypernetworks: shapes, batching, DARTS-CC piecewise-linear interpolation."""

import pytest
import torch

from nas.search.generators import HYPERNETS, PWLinearHyperNet, build_hypernet


@pytest.mark.parametrize("kind", sorted(HYPERNETS))
def test_shapes_and_batched_equals_looped(kind):
    torch.manual_seed(0)
    gen = build_hypernet(kind, 6, 5, 5)
    lam, phi = torch.rand(4), torch.randn(4, 5)
    batched = gen(lam, phi)
    assert batched.shape == (4, 6, 5)
    for i in range(4):
        assert torch.allclose(batched[i], gen(lam[i], phi[i]), atol=1e-6)


def test_pwlinear_hits_anchors_and_is_linear_between_knots():
    torch.manual_seed(0)
    gen = PWLinearHyperNet(6, 5, 5, n_knots=5).double()
    with torch.no_grad():
        gen.device_maps.normal_()
    phi = torch.randn(5, dtype=torch.float64)
    anchors = gen.anchors + torch.einsum("d,kdo->ko", phi, gen.device_maps)
    for k, p in enumerate(gen.pivots):
        assert torch.allclose(gen(p.double(), phi).flatten(), anchors[k])
    a, b = torch.tensor(0.3, dtype=torch.float64), torch.tensor(0.45, dtype=torch.float64)
    mid = gen((a + b) / 2, phi)
    assert torch.allclose(mid, (gen(a, phi) + gen(b, phi)) / 2)  # 0.3 and 0.45 lie between knots 0.25, 0.5


def test_pwlinear_gradient_matches_autograd_oracle():
    """d alpha / d anchors is the hat weight of each knot (checked against autograd in float64)."""
    gen = PWLinearHyperNet(2, 3, 2, n_knots=3).double()
    lam, phi = torch.tensor(0.3, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    gen(lam, phi).sum().backward()
    expected = torch.tensor([0.4, 0.6, 0.0], dtype=torch.float64)  # hats at pivots 0, 0.5, 1
    assert torch.allclose(gen.anchors.grad, expected.unsqueeze(1).expand(3, 6))


def test_unknown_hypernet_lists_choices():
    with pytest.raises(KeyError, match="pwlinear"):
        build_hypernet("transformer", 6, 5, 5)
