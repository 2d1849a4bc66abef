"""The one resolver from a device spec to a cost table, and the analytic tables (parameters, FLOPs).

A spec is a shared latency profile (``raspi4``, ...; NB201 only), ``params`` or ``flops``, a local
runtime (``local-<runtime>``, profiled on NB201 or DARTS) or a CSV path ``arch_str,latency_ms``.
:func:`build_table` caches named devices (fitted tables are immutable values) and fits a CSV every
time (the file may change), and reads a local runtime's LUT file every time too.

``params`` and ``flops`` are DARTS-CC's complexity measures counted on the real modules of the
space's benchmark network (NB201: C=16, N=5; DARTS: the mini network C=16, N=3; 3x32x32 input):
parameters with ``numel`` and FLOPs with ``torch.utils.flop_counter.FlopCounterMode``
(convolutions and the classifier; pools and additions are not counted). Both are exactly additive
over edges, so base = the all-``none`` network and each op's cost on the edges of one cost group =
(the network with that op on the group's edges - base) / edges in the group.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from nas.costs.devices import CSV_COLUMNS, SHARED_DEVICES, DeviceError, shared_device_table, table_from_csv
from nas.costs.table import CostTable
from nas.spaces import get_space
from nas.spaces.base import cost_groups, cost_keys, edge_groups
from nas.spaces.nb201.network import BENCHMARK_MACRO

ANALYTIC_DEVICES = ("params", "flops")


def count_params(net: torch.nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in net.parameters())


def count_flops(net: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass at ``input_shape`` (batch included), by FlopCounterMode."""
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(input_shape))
    return int(counter.get_total_flops())


@lru_cache(maxsize=8)
def complexity_table(kind: str, macro=None, resolution: int = 32, space: str = "nb201") -> CostTable:
    """``params`` (millions) or ``flops`` (MFLOPs per image) table of the space's network of size
    ``macro`` (C, N, input channels, classes; default the space's ``benchmark_macro``, NB201's
    benchmark network)."""
    sp = get_space(space)
    macro = macro if macro is not None else getattr(sp, "benchmark_macro", BENCHMARK_MACRO)
    if kind == "params":
        measure, unit = (lambda net: count_params(net) / 1e6), "M params"
    elif kind == "flops":
        shape = (1, macro.in_channels, resolution, resolution)
        measure, unit = (lambda net: count_flops(net, shape) / 1e6), "MFLOPs"
    else:
        raise DeviceError(f"unknown analytic cost {kind!r}; choose from {', '.join(ANALYTIC_DEVICES)}")
    groups, none = edge_groups(sp), sp.primitives.index("none")

    def cost_of(group: int, k: int) -> float:  # op k on every edge of the group, none elsewhere
        idx = np.where(groups == group, k, none)
        net = sp.network(sp.from_indices(idx), C=macro.C, N=macro.N, in_channels=macro.in_channels,
                         n_classes=macro.n_classes)
        return measure(net)

    base = cost_of(-1, none)
    costs = {key: (cost_of(g, k) - base) / max(1, int((groups == g).sum())) if k != none else 0.0
             for key, (g, k) in zip(cost_keys(sp), itertools.product(range(len(cost_groups(sp))),
                                                                     range(len(sp.primitives))))}
    return CostTable.from_op_costs(kind, unit, base, costs, origin="analytic", space=space)


FLOOR_FRACTION = 0.5  # predictions are trusted down to half the fastest measurement a table was fitted on


def build_table(name: str, *, n_fit: int = 300, seed: int = 0, space: str = "nb201") -> CostTable:
    """The cost table of a device spec (see the module docstring); a CSV is fitted on every call.

    ``n_fit`` and ``seed`` choose the architectures a shared profile is fitted on;
    ``local-<runtime>`` reads the committed regression LUT ``data/latency/<runtime>/lut-regression.json``
    (DARTS: ``data/latency/darts/<runtime>/``; ``local-<runtime>-isolated``: the isolated-op LUT).

    Raises:
        DeviceError: an unknown name (the message lists the known ones), an unusable CSV, or a
            device that exists only for NB201 asked for another space.
    """
    get_space(space)  # an unknown space raises ValueError naming the known ones
    if name in SHARED_DEVICES + ANALYTIC_DEVICES:
        return _named_table(name, n_fit, seed, space)
    if str(name).lower().endswith(".csv") or Path(name).is_file():
        return table_from_csv(name, space=space)
    if name.startswith("local-"):
        from nas.costs.profile_config import ProfileError
        from nas.costs.profiles import local_table  # deferred: profiles import torch-heavy measurement code

        try:
            return local_table(name, space=space)
        except (KeyError, FileNotFoundError, ProfileError) as exc:
            raise DeviceError(str(exc.args[0])) from exc
    known = ", ".join(SHARED_DEVICES + ANALYTIC_DEVICES)
    raise DeviceError(f"unknown device {name!r}; known devices: {known}; or give a CSV path with columns "
                      f"{','.join(CSV_COLUMNS)}")


@lru_cache(maxsize=64)
def _named_table(name: str, n_fit: int, seed: int, space: str) -> CostTable:
    """A shared or analytic device: an immutable value, built once per process."""
    if name in ANALYTIC_DEVICES:
        return complexity_table(name, space=space)
    _nb201_only(name, space)
    return shared_device_table(name, n_fit=n_fit, seed=seed)


def _nb201_only(name: str, space: str) -> None:
    if space != "nb201":
        raise DeviceError(f"device {name!r} is measured on NB201 architectures only, not on {space!r}; "
                          "use params, flops or a CSV of measurements of that space")


def build_tables(names: Sequence[str], *, n_fit: int = 300, seed: int = 0, space: str = "nb201") -> list[CostTable]:
    """Tables of the training devices, in order."""
    return [build_table(n, n_fit=n_fit, seed=seed, space=space) for n in names]


def resolve_device(spec: str, known: Mapping[str, CostTable], *, n_fit: int = 300, seed: int = 0,
                   space: str = "nb201") -> CostTable:
    """A table of ``known`` by name, else :func:`build_table` of ``spec``."""
    if spec in known:
        return known[spec]
    return build_table(spec, n_fit=n_fit, seed=seed, space=space)


def cost_floor(table: CostTable, *, n_fit: int = 300, seed: int = 0) -> float:
    """The least cost a prediction of ``table`` may report, in its unit: ``FLOOR_FRACTION`` of the fastest
    whole-network measurement it was fitted on (``fit["min_measured"]``; for a shared device whose stored
    table predates that field, the same fit made again), else 0.

    An additive fit extrapolates below its data for cells cheaper than any it saw (raspi4 and pixel3
    have a negative base: their cheapest cell is predicted at -0.32 ms, measured 2.88 ms); an accurate
    table must not be overruled (eyeriss's exact table puts its cheapest cell at 0.87 of its fastest
    fitted measurement), hence a fraction.
    """
    floor = (table.fit or {}).get("min_measured")
    if floor is None and table.name in SHARED_DEVICES and table.unit == "ms":
        floor = (build_table(table.name, n_fit=n_fit, seed=seed, space=table.space).fit or {}).get("min_measured")
    return FLOOR_FRACTION * max(float(floor), 0.0) if floor is not None else 0.0
