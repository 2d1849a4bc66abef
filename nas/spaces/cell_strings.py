"""The NB201-style cell string shared by the cell spaces: one ``+``-separated group per node, each
``|op~j|`` item naming the op on the edge from node j, e.g. ``|a~0|+|b~0|c~1|`` for nodes 1 and 2."""

from __future__ import annotations

from typing import Sequence


def format_cell(ops: Sequence[str], first: int, n_nodes: int) -> str:
    """String of ``ops`` for nodes ``first .. first + n_nodes - 1``, node i taking inputs 0..i-1."""
    it = iter(ops)
    return "+".join("|" + "|".join(f"{next(it)}~{j}" for j in range(i)) + "|" for i in range(first, first + n_nodes))


def parse_cell(text: str, first: int, n_nodes: int, error: type[ValueError], what: str) -> list[str]:
    """The ops of a cell string (inverse of :func:`format_cell`); raises ``error`` naming ``what``."""
    groups = text.strip().split("+")
    if len(groups) != n_nodes:
        raise error(f"{what}: expected {n_nodes} '+'-separated node groups")
    ops = []
    for node, group in zip(range(first, first + n_nodes), groups):
        if not (group.startswith("|") and group.endswith("|")):
            raise error(f"{what}: group {group!r} must start and end with '|'")
        items = group[1:-1].split("|")
        if len(items) != node:
            raise error(f"{what}: node {node} needs {node} inputs, got {len(items)}")
        for src, item in enumerate(items):
            op, sep, idx = item.partition("~")
            if not sep or idx != str(src):
                raise error(f"{what}: item {item!r} must read '<op>~{src}'")
            ops.append(op)
    return ops
