"""Every registered op builds, keeps shapes and has the parameters its name promises."""

import pytest
import torch

from nas.ops import NB201_PRIMITIVES, OPS, PARAMETER_FREE, build_op


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shapes_and_finite(name, stride):
    torch.manual_seed(0)
    op = build_op(name, 4, 4, stride, affine=True)
    x = torch.randn(2, 4, 8, 8)
    y = op(x)
    assert y.shape == (2, 4, 8 // stride, 8 // stride)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NB201_PRIMITIVES)
def test_parameter_free_ops_have_no_parameters(name):
    n = sum(p.numel() for p in build_op(name, 4, 4, 1, affine=True).parameters())
    assert (n == 0) == (name in PARAMETER_FREE)


def test_none_is_zero_and_unknown_op_lists_registry():
    assert build_op("none", 3, 3)(torch.randn(1, 3, 4, 4)).abs().sum() == 0
    with pytest.raises(KeyError, match="known ops"):
        build_op("conv_7x7", 3, 3)
