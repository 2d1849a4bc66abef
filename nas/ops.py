"""Candidate operations, named by string in one registry.

``OPS[name](C_in, C_out, stride, affine)`` builds the module; the same names key the cost tables,
the genotype strings and the parametrised tests, so adding an op here is all it takes to have it
built, costed and tested. NAS-Bench-201's ops (Dong & Yang, ICLR 2020): ReLU-Conv-BN convs, a 3x3
average pool without padding counted, identity as ``skip_connect`` (a factorized reduction at
stride 2) and a zero op. DARTS's ops (Liu et al., ICLR 2019) add separable convolutions (two
stacked ReLU-depthwise-pointwise-BN blocks), dilated separable convolutions (one block, dilation 2)
and a 3x3 max pool; ``avg_pool_3x3``, ``skip_connect`` and ``none`` are shared by both spaces.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

OpFactory = Callable[[int, int, int, bool], nn.Module]


class Zero(nn.Module):
    """The ``none`` op: a zero tensor of the output shape (N, C_out, H/stride, W/stride)."""

    def __init__(self, C_in: int, C_out: int, stride: int):
        super().__init__()
        self.C_out, self.stride = C_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        s = self.stride
        return x.new_zeros(n, self.C_out, (h + s - 1) // s, (w + s - 1) // s)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k x k) -> BatchNorm, the NB201 ``nor_conv_*`` block."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=affine),
        )


class FactorizedReduce(nn.Module):
    """Stride-2 identity substitute: two offset 1x1 convs concatenated, then BatchNorm."""

    def __init__(self, C_in: int, C_out: int, affine: bool):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class DepthwiseAvgPool3x3(nn.Module):
    """``AvgPool2d(3, stride, padding=1, count_include_pad=False)`` as a depthwise 3x3 convolution.

    A fixed all-ones kernel sums each window; dividing by the number of valid (non-padding) pixels
    per output position gives the same value (it is a sum of the same terms, then one division)
    at 2-4x less CPU time forward and backward than the pooling kernel at the sizes of a CPU
    supernet. The kernel is a buffer, not a parameter. (N, C, H, W) -> (N, C, ceil(H/s), ceil(W/s)).
    """

    def __init__(self, C: int, stride: int = 1):
        super().__init__()
        self.C, self.stride = C, stride
        self.register_buffer("kernel", torch.ones(C, 1, 3, 3), persistent=False)
        self._counts: dict[tuple, torch.Tensor] = {}

    def _valid_counts(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.shape[-2], x.shape[-1], x.device, x.dtype)
        if key not in self._counts:
            ones = x.new_ones(1, 1, *x.shape[-2:])
            self._counts[key] = nn.functional.conv2d(ones, x.new_ones(1, 1, 3, 3), stride=self.stride, padding=1)
        return self._counts[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = nn.functional.conv2d(x, self.kernel.to(x.dtype), stride=self.stride, padding=1, groups=self.C)
        return summed / self._valid_counts(x)


class DilConv(nn.Sequential):
    """ReLU -> depthwise k x k conv (dilation d) -> pointwise 1x1 -> BatchNorm (DARTS ``dil_conv_*``
    with d = 2, and one half of ``sep_conv_*`` with d = 1)."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, dilation: int, affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                      groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=affine),
        )


class SepConv(nn.Sequential):
    """DARTS ``sep_conv_*``: two depthwise-separable blocks, the first with the stride."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, affine: bool):
        super().__init__(DilConv(C_in, C_in, kernel, stride, 1, affine), DilConv(C_in, C_out, kernel, 1, 1, affine))


def _max_pool(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    pool = nn.MaxPool2d(3, stride=stride, padding=1)
    if C_in == C_out:
        return pool
    return nn.Sequential(ReLUConvBN(C_in, C_out, 1, 1, affine), pool)


def _pool(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if C_in == C_out:
        return pool
    return nn.Sequential(ReLUConvBN(C_in, C_out, 1, 1, affine), pool)


def _skip(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return FactorizedReduce(C_in, C_out, affine)


OPS: dict[str, OpFactory] = {
    "none": lambda C_in, C_out, stride, affine: Zero(C_in, C_out, stride),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda C_in, C_out, stride, affine: ReLUConvBN(C_in, C_out, 1, stride, affine),
    "nor_conv_3x3": lambda C_in, C_out, stride, affine: ReLUConvBN(C_in, C_out, 3, stride, affine),
    "avg_pool_3x3": _pool,
    "max_pool_3x3": _max_pool,
    "sep_conv_3x3": lambda C_in, C_out, stride, affine: SepConv(C_in, C_out, 3, stride, affine),
    "sep_conv_5x5": lambda C_in, C_out, stride, affine: SepConv(C_in, C_out, 5, stride, affine),
    "dil_conv_3x3": lambda C_in, C_out, stride, affine: DilConv(C_in, C_out, 3, stride, 2, affine),
    "dil_conv_5x5": lambda C_in, C_out, stride, affine: DilConv(C_in, C_out, 5, stride, 2, affine),
}

NB201_PRIMITIVES: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)

DARTS_PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

PARAMETER_FREE: frozenset[str] = frozenset({"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"})


def build_op(name: str, C_in: int, C_out: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """Build op ``name``; raises KeyError listing the registry for an unknown name."""
    if name not in OPS:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(OPS)}")
    return OPS[name](C_in, C_out, stride, affine)


def build_search_op(name: str, C_in: int, C_out: int, stride: int = 1, affine: bool = False) -> nn.Module:
    """Op ``name`` for a supernet: ``build_op`` with the 3x3 average pool as a depthwise convolution
    (``DepthwiseAvgPool3x3``, equal in value and faster on a CPU); discrete networks keep ``build_op``'s
    standard pooling layer (what ONNX exports and devices run)."""
    if name == "avg_pool_3x3" and C_in == C_out:
        return DepthwiseAvgPool3x3(C_in, stride)
    return build_op(name, C_in, C_out, stride, affine)
