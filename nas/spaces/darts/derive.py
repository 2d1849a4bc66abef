"""Derivation in the DARTS cell space without enumerating it (8^28 architectures).

Two rules say which architectures a derivation may return, per intermediate node of both cells:

* ``one-op-per-edge`` (DARTS-CC): every edge carries its own op or ``none``; at least one input.
* ``top2`` (DARTS): exactly two inputs, each with a non-``none`` op.

The most probable architecture of a rule under per-edge log-probabilities ``logp`` (28, 8) is exact
without a bound (a node at a time). Under an additive cost bound (``cost`` (28, 8) per edge and op,
``base`` the rest) it is a multiple-choice knapsack, solved exactly by a dynamic programme over
Pareto fronts of (cost, log-probability). ``top_k`` adds the next most probable ones by a beam
search ordered by score plus the best remaining score.
"""

from __future__ import annotations

import numpy as np

from nas.ops import DARTS_PRIMITIVES
from nas.spaces.darts.genotype import CELL_TYPES, EDGES, N_CELL_EDGES

NONE = DARTS_PRIMITIVES.index("none")
RULES = ("one-op-per-edge", "top2")


def node_edges() -> list[np.ndarray]:
    """Edge indices (into the 28-edge axis) of each of the 8 intermediate nodes, normal cell first."""
    out = []
    for c in range(len(CELL_TYPES)):
        for node in sorted({d for _, d in EDGES}):
            out.append(np.array([c * N_CELL_EDGES + e for e, (_, d) in enumerate(EDGES) if d == node]))
    return out


def _live_range(rule: str) -> tuple[int, int, bool]:
    """(least live inputs, most counted, saturating count) of a rule."""
    if rule == "one-op-per-edge":
        return 1, 1, True
    if rule == "top2":
        return 2, 2, False
    raise ValueError(f"unknown derivation rule {rule!r}; choose from {', '.join(RULES)}")


def is_rule_valid(idx: np.ndarray, rule: str) -> bool:
    """Whether op indices (28,) obey ``rule`` at every intermediate node."""
    lo, _, saturate = _live_range(rule)
    for edges in node_edges():
        live = int((idx[edges] != NONE).sum())
        if live < lo or (not saturate and live != lo):
            return False
    return True


def most_probable_free(logp: np.ndarray, rule: str) -> np.ndarray:
    """Exact most probable architecture of ``rule`` under logp (28, 8): op indices (28,)."""
    _live_range(rule)
    best_live = np.where(np.arange(logp.shape[1]) == NONE, -np.inf, logp).argmax(axis=1)  # (28,)
    gain = logp[np.arange(len(logp)), best_live] - logp[:, NONE]  # live instead of none
    idx = logp.argmax(axis=1) if rule == "one-op-per-edge" else np.full(len(logp), NONE)
    for edges in node_edges():
        if rule == "top2":
            keep = edges[np.argsort(-gain[edges], kind="stable")[:2]]
            idx[keep] = best_live[keep]
        elif (idx[edges] == NONE).all():  # switch the one edge that loses least
            e = edges[int(np.argmax(gain[edges]))]
            idx[e] = best_live[e]
    return idx


def most_probable_bounded(logp: np.ndarray, cost: np.ndarray, slack: float, rule: str) -> np.ndarray:
    """Most probable architecture of ``rule`` with ``sum_e cost[e, op_e] <= slack``: op indices (28,).

    Exact: a dynamic programme over the edges (node by node) that keeps, for each count of live
    inputs of the current node, the Pareto front of (cost so far, log-probability so far), and drops
    partial architectures that cannot be completed within ``slack``. ``cost`` (28, 8) may be negative.

    Raises:
        ValueError: no architecture of the rule fits.
    """
    lo, cap, saturate = _live_range(rule)
    order = np.concatenate(node_edges())
    ends = set(np.cumsum([len(n) for n in node_edges()]) - 1)
    rest = np.append(np.cumsum(cost.min(axis=1)[order][::-1])[::-1], 0.0)  # cheapest completion after pos
    tol = 1e-9 * max(1.0, abs(slack), float(np.abs(cost).sum()))
    n_ops = logp.shape[1]
    spent, score, count = np.zeros(1), np.zeros(1), np.zeros(1, dtype=np.int64)
    history = []  # (parent, op) of every kept state, per edge
    for pos, e in enumerate(order):
        parent = np.repeat(np.arange(len(spent)), n_ops)
        o = np.tile(np.arange(n_ops), len(spent))
        c_new, s_new = spent[parent] + cost[e, o], score[parent] + logp[e, o]
        n_new = count[parent] + (o != NONE)
        ok = np.isfinite(s_new) & (c_new + rest[pos + 1] <= slack + tol)
        n_new = np.minimum(n_new, cap) if saturate else n_new
        ok &= n_new <= cap
        if pos in ends:  # the node is complete: it needs lo inputs; the count restarts at 0
            ok &= n_new >= lo
            n_new = np.zeros_like(n_new)
        keep = _pareto(c_new[ok], s_new[ok], n_new[ok])
        sel = np.flatnonzero(ok)[keep]
        if not len(sel):
            raise ValueError("no architecture of the rule fits the bound")
        spent, score, count = c_new[sel], s_new[sel], n_new[sel]
        history.append((parent[sel], o[sel]))
    state = int(np.argmax(score))
    idx = np.full(logp.shape[0], NONE)
    for pos in range(len(order) - 1, -1, -1):
        parent, o = history[pos]
        idx[order[pos]] = o[state]
        state = int(parent[state])
    return idx


def _pareto(cost: np.ndarray, score: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Indices of the states not dominated (cost <=, score >=, same count) by another state."""
    if not len(cost):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((-score, cost, count))  # by count, then cheapest first, best score first on ties
    s, n = score[order], count[order]
    keep = np.zeros(len(order), dtype=bool)
    for c in np.unique(n):
        block = np.flatnonzero(n == c)
        best_before = np.maximum.accumulate(np.concatenate([[-np.inf], s[block][:-1]]))
        keep[block] = s[block] > best_before
    return order[keep]


def top_k(logp: np.ndarray, cost: np.ndarray, slack: float, rule: str, k: int, beam: int = 0) -> np.ndarray:
    """Up to ``k`` distinct architectures of ``rule`` within ``slack``, most probable first: (<= k, 28).

    Beam search over the edges (node by node) keeping the ``beam`` (default max(256, 16 k)) partial
    architectures of highest score + best remaining score that can still fit; the exact most
    probable architecture (:func:`most_probable_bounded`) is always first.
    """
    lo, cap, saturate = _live_range(rule)
    beam = beam or max(256, 16 * k)
    order = np.concatenate(node_edges())
    ends = set(np.cumsum([len(n) for n in node_edges()]) - 1)
    rest_cost = np.append(np.cumsum(cost.min(axis=1)[order][::-1])[::-1], 0.0)  # cheapest completion after pos
    rest_score = np.append(np.cumsum(logp.max(axis=1)[order][::-1])[::-1], 0.0)
    ops = np.zeros((1, 0), dtype=np.int64)
    score, spent, count = np.zeros(1), np.zeros(1), np.zeros(1, dtype=np.int64)
    n_ops = logp.shape[1]
    for pos, e in enumerate(order):
        o = np.tile(np.arange(n_ops), len(ops))
        parent = np.repeat(np.arange(len(ops)), n_ops)
        new_count = count[parent] + (o != NONE)
        ok = np.isfinite(logp[e, o]) & (spent[parent] + cost[e, o] + rest_cost[pos + 1] <= slack + 1e-12)
        if saturate:
            new_count = np.minimum(new_count, cap)
        else:
            ok &= new_count <= cap
        if pos in ends:
            ok &= new_count >= lo
            new_count = np.zeros_like(new_count)
        parent, o, new_count = parent[ok], o[ok], new_count[ok]
        new_score = score[parent] + logp[e, o]
        keep = np.argsort(-(new_score + rest_score[pos + 1]), kind="stable")[:beam]
        ops = np.concatenate([ops[parent[keep]], o[keep, None]], axis=1)
        score, spent, count = new_score[keep], spent[parent[keep]] + cost[e, o[keep]], new_count[keep]
        if not len(ops):
            raise ValueError("no architecture of the rule fits the bound")
    out = np.full((len(ops), len(order)), NONE)
    out[:, order] = ops
    best = most_probable_bounded(logp, cost, slack, rule)
    rows = [best] + [r for r in out[np.argsort(-score, kind="stable")] if not np.array_equal(r, best)]
    return np.stack(rows[:k])


def sample(rng: np.random.Generator, n: int, rule: str, n_ops: int = len(DARTS_PRIMITIVES)) -> np.ndarray:
    """``n`` architectures drawn uniformly from those obeying ``rule``: op indices (n, 28)."""
    lo, _, saturate = _live_range(rule)
    idx = np.full((n, 2 * N_CELL_EDGES), NONE)
    live_ops = np.array([o for o in range(n_ops) if o != NONE])
    for edges in node_edges():
        if saturate:  # uniform ops per edge, redrawn where the node has no input (rejection)
            draw = rng.integers(0, n_ops, size=(n, len(edges)))
            while (bad := (draw == NONE).all(axis=1)).any():
                draw[bad] = rng.integers(0, n_ops, size=(int(bad.sum()), len(edges)))
            idx[:, edges] = draw
        else:  # two distinct inputs, uniform non-none ops
            pick = np.argsort(rng.random((n, len(edges))), axis=1)[:, :lo]
            rows = np.repeat(np.arange(n), lo)
            idx[rows, edges[pick.ravel()]] = rng.choice(live_ops, size=n * lo)
    return idx
