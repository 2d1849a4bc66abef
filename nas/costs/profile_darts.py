"""The isolated-op LUT of a DARTS-space profile (FBNet style), from the parts of the measured network.

Every non-``none`` op is timed alone at each shape it has in the network, per cell: a normal cell's
ops at (C_cell, px_in), stride 1; a reduction cell's ops on the edges leaving its two inputs at
(C_cell, px_in), stride 2 (cost group ``reduce_s2``), and its other ops at (C_cell, px_in / 2),
stride 1 (``reduce_s1``). One genotype is shared by all cells of a type, so one edge of group g
carrying op o costs ``sum over the cells of g's type of t(o, cell, g)``. The parts outside the
searchable edges are timed too and make the base: the stem, each cell's two preprocessing blocks
(``pre0``: 1x1 ReLU-Conv-BN or, after a reduction, a factorized reduction; ``pre1``) and the head
(global average pool and linear). The concatenation of a cell's nodes and the sums at the nodes
are not timed (free).
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from nas.costs.profile_config import ProfileConfig, ProfileError
from nas.costs.table import CostTable
from nas.ops import DARTS_PRIMITIVES, build_op
from nas.spaces.darts.genotype import N_CELL_EDGES, DartsGenotype
from nas.spaces.darts.network import DartsMacro, DartsNetwork
from nas.spaces.darts.space import COST_GROUPS

LIVE_OPS = tuple(op for op in DARTS_PRIMITIVES if op != "none")
BASE_GROUP = "base"


class _Head(nn.Module):
    """A DARTS network's head (global average pool, linear) as a module of its own."""

    def __init__(self, net: DartsNetwork):
        super().__init__()
        self.classifier = net.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.mean(dim=(2, 3)))


def _op_groups(reduction: bool) -> tuple[tuple[str, int], ...]:
    """(cost group, stride) of the op shapes of one cell."""
    return (("reduce_s2", 2), ("reduce_s1", 1)) if reduction else (("normal", 1),)


def part_keys(macro: DartsMacro) -> list[tuple[str, int, str]]:
    """(component, cell, group) of every part of the isolated-op LUT, in network order."""
    keys = [("stem", -1, BASE_GROUP)]
    for i, (*_, red, _red_prev) in enumerate(macro.cells()):
        keys += [("pre0", i, BASE_GROUP), ("pre1", i, BASE_GROUP)]
        keys += [(op, i, g) for g, _ in _op_groups(red) for op in LIVE_OPS]
    return keys + [("head", macro.N, BASE_GROUP)]


def isolated_components(cfg: ProfileConfig) -> dict[str, tuple[nn.Module, tuple[int, ...], dict]]:
    """Every module of the DARTS isolated-op LUT with its input shape (B, C, px, px) and its
    ``isolated_ops.csv`` fields; keys ``"<component>@<cell>/<group>"``."""
    torch.manual_seed(cfg.seed)
    macro, b = cfg.macro, cfg.batch
    net = DartsNetwork(DartsGenotype(("skip_connect",) * N_CELL_EDGES, ("skip_connect",) * N_CELL_EDGES), macro).eval()
    out = {}

    def add(name: str, cell: int, group: str, module: nn.Module, c_in: int, c_out: int, px: int, stride: int) -> None:
        fields = {"cell": cell, "group": group, "channels_in": c_in, "channels_out": c_out, "resolution": px,
                  "stride": stride}
        out[f"{name}@{cell}/{group}"] = (module.eval(), (b, c_in, px, px), fields)

    c_stem, px_pp = net.stem[0].out_channels, cfg.resolution
    add("stem", -1, BASE_GROUP, net.stem, macro.in_channels, c_stem, cfg.resolution, 1)
    px_p = px_pp
    for i, ((c_pp, c_p, c, red, red_prev), cell) in enumerate(zip(macro.cells(), net.cells)):
        add("pre0", i, BASE_GROUP, cell.pre.pre0, c_pp, c, px_pp, 2 if red_prev else 1)
        add("pre1", i, BASE_GROUP, cell.pre.pre1, c_p, c, px_p, 1)
        for group, stride in _op_groups(red):
            px = px_p if stride == 2 or not red else px_p // 2  # a reduction cell's stride-1 edges run at px_in / 2
            for op in LIVE_OPS:
                add(op, i, group, build_op(op, c, c, stride, affine=True), c, c, px, stride)
        px_pp, px_p = px_p, px_p // 2 if red else px_p
    c_last = net.classifier.in_features
    add("head", macro.N, BASE_GROUP, _Head(net), c_last, macro.n_classes, px_p, 1)
    return out


def isolated_table(rows: pd.DataFrame, macro: DartsMacro, name: str) -> CostTable:
    """DARTS isolated-op LUT from ``isolated_ops.csv`` rows (see the module docstring).

    Returns:
        A grouped ``darts`` table in ms: ``group/op`` = sum over the cells of t(op, cell, group),
        ``group/none`` = 0, base = stem + every pre0 and pre1 + head.

    Raises:
        ProfileError: a part of ``part_keys(macro)`` is missing from ``rows``.
    """
    t = {(c, int(i), g): float(v) for c, i, g, v in zip(rows["component"], rows["cell"], rows["group"],
                                                       rows["latency_ms"])}
    keys = part_keys(macro)
    missing = [k for k in keys if k not in t]
    if missing:
        raise ProfileError(f"isolated-op measurements missing for {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    costs = {f"{g}/none": 0.0 for g in COST_GROUPS}
    costs.update({f"{g}/{op}": sum(t[k] for k in keys if k[0] == op and k[2] == g) for g in COST_GROUPS
                  for op in LIVE_OPS})
    base = sum(t[k] for k in keys if k[2] == BASE_GROUP)
    return CostTable.from_op_costs(name, "ms", base, costs, origin="measured", space="darts")
