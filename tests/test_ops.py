"""Every registered op builds, keeps shapes and has the parameters its name promises."""

import pytest
import torch

from nas.ops import NB201_PRIMITIVES, OPS, PARAMETER_FREE, DepthwiseAvgPool3x3, build_op, build_search_op


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shapes_and_finite(name, stride):
    torch.manual_seed(0)
    op = build_op(name, 4, 4, stride, affine=True)
    x = torch.randn(2, 4, 8, 8)
    y = op(x)
    assert y.shape == (2, 4, 8 // stride, 8 // stride)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", sorted(OPS))
def test_parameter_free_ops_have_no_parameters(name):
    n = sum(p.numel() for p in build_op(name, 4, 4, 1, affine=True).parameters())
    assert (n == 0) == (name in PARAMETER_FREE)


def test_none_is_zero_and_unknown_op_lists_registry():
    assert build_op("none", 3, 3)(torch.randn(1, 3, 4, 4)).abs().sum() == 0
    with pytest.raises(KeyError, match="known ops"):
        build_op("conv_7x7", 3, 3)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape", [(3, 4, 8, 8), (2, 5, 7, 9), (1, 2, 1, 3)])
def test_depthwise_avg_pool_equals_pooling_layer_in_value_and_gradient(shape, stride):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    fast = build_search_op("avg_pool_3x3", shape[1], shape[1], stride)
    ref = torch.nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    assert isinstance(fast, DepthwiseAvgPool3x3) and not list(fast.parameters())
    y_fast, y_ref = fast(x), ref(x)
    assert y_fast.shape == y_ref.shape
    assert torch.allclose(y_fast, y_ref, atol=1e-12)
    g = torch.randn_like(y_ref)
    (gx_fast,) = torch.autograd.grad(y_fast, x, g)
    (gx_ref,) = torch.autograd.grad(y_ref, x, g)
    assert torch.allclose(gx_fast, gx_ref, atol=1e-12)
    x32 = x.detach().float()
    assert (fast(x32) - ref(x32)).abs().max() < 1e-5  # float32, as the supernet runs


def test_search_ops_match_discrete_ops_except_the_pool_implementation():
    for name in NB201_PRIMITIVES:
        search, plain = build_search_op(name, 4, 4), build_op(name, 4, 4, affine=False)
        expected = DepthwiseAvgPool3x3 if name == "avg_pool_3x3" else type(plain)
        assert type(search) is expected
