"""Resolve device names into cost tables, including the analytic ones (parameters, FLOPs).

``params`` and ``flops`` are DARTS-CC's complexity measures counted on the real modules of the
benchmark network (C=16, N=5, 32x32 input): parameters with ``numel`` and FLOPs with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and the classifier; pools and
additions are not counted). Both are exactly additive over edges, so base = the all-``none``
network and each op's cost = (all-op network - base) / 6.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from nas.costs.table import CostTable
from nas.costs.devices import SHARED_DEVICES, DeviceError, shared_device_table, table_from_csv
from nas.spaces.nb201.genotype import N_EDGES, Genotype
from nas.ops import NB201_PRIMITIVES
from nas.spaces.nb201.network import BENCHMARK_MACRO, DiscreteNet, MacroConfig

ANALYTIC_DEVICES = ("params", "flops")


def _uniform_net(op: str, macro: MacroConfig) -> DiscreteNet:
    return DiscreteNet(Genotype((op,) * N_EDGES), macro)


def count_params(net: torch.nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in net.parameters())


def count_flops(net: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass at ``input_shape`` (batch included), by FlopCounterMode."""
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(input_shape))
    return int(counter.get_total_flops())


@lru_cache(maxsize=4)
def complexity_table(kind: str, macro: MacroConfig = BENCHMARK_MACRO, resolution: int = 32) -> CostTable:
    """``params`` (millions) or ``flops`` (MFLOPs per image) table of the NB201 network."""
    if kind == "params":
        measure, unit = (lambda net: count_params(net) / 1e6), "M params"
    elif kind == "flops":
        shape = (1, macro.in_channels, resolution, resolution)
        measure, unit = (lambda net: count_flops(net, shape) / 1e6), "MFLOPs"
    else:
        raise DeviceError(f"unknown analytic cost {kind!r}; choose from {', '.join(ANALYTIC_DEVICES)}")
    values = {op: measure(_uniform_net(op, macro)) for op in NB201_PRIMITIVES}
    base = values["none"]
    costs = {op: (v - base) / N_EDGES for op, v in values.items()}
    return CostTable.from_op_costs(kind, unit, base, costs, origin="analytic")


def build_table(name: str, *, n_fit: int = 300, seed: int = 0) -> CostTable:
    """One device: a shared latency column, ``params``/``flops``, a CSV path ``arch_str,latency_ms``, or
    ``local-<runtime>`` (the committed regression LUT ``data/latency/<runtime>/lut-regression.json``;
    ``local-<runtime>-isolated`` gives the isolated-op LUT)."""
    if name in SHARED_DEVICES:
        return shared_device_table(name, n_fit=n_fit, seed=seed)
    if name in ANALYTIC_DEVICES:
        return complexity_table(name)
    if name.endswith(".csv") or Path(name).is_file():
        return table_from_csv(name)
    if name.startswith("local-"):
        from nas.costs.profiles import local_table  # deferred: profiles import torch-heavy measurement code

        try:
            return local_table(name)
        except (KeyError, FileNotFoundError) as exc:
            raise DeviceError(str(exc.args[0])) from exc
    known = ", ".join(SHARED_DEVICES + ANALYTIC_DEVICES)
    raise DeviceError(f"unknown device {name!r}; known devices: {known}; or give a CSV path with columns "
                      "arch_str,latency_ms")


def build_tables(names: Sequence[str], *, n_fit: int = 300, seed: int = 0) -> list[CostTable]:
    """Tables of the training devices, in order."""
    return [build_table(n, n_fit=n_fit, seed=seed) for n in names]
