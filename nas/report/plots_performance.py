"""Figure of the search's speed, from ``results/summary/performance.csv`` only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nas.report.style import save, subplots

FIGURES = ("fig12_performance",)


def _label(r) -> str:
    device = "GPU " + r.device_name if r.torch_device.startswith("cuda") else f"CPU, {r.threads} thr."
    return f"{r.mode}\n{device}"


def fig12_performance(perf: pd.DataFrame, out_dir) -> Path:
    """Fig. 12: (a) search step vs child SGD step (ms) per configuration; (b) their ratio against the targets."""
    p = perf.sort_values(["torch_device", "mode", "threads"], kind="stable").reset_index(drop=True)
    labels = [_label(r) for r in p.itertuples(index=False)]
    x = np.arange(len(p))
    fig, axes = subplots(1, 2, figsize=(7.6, 3.0), layout="constrained")
    ax = axes[0]
    ax.bar(x - 0.2, p["child_step_ms"], 0.4, label="child SGD step", color="0.75", edgecolor="black")
    ax.bar(x + 0.2, p["search_step_ms"], 0.4, label="search step", color="C0", edgecolor="black", hatch="//")
    ax.bar(x + 0.2, p["hypernet_ms"], 0.4, label="of which hypernetwork", color="C3", edgecolor="black")
    ax.set_xticks(x, labels, fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("median time per step (ms, log)")
    ax.legend(fontsize=6)
    ax.set_title("(a) step time", fontsize=8)
    ax = axes[1]
    ax.bar(x, p["search_over_child"], 0.5, color="C0", edgecolor="black", hatch="//")
    for i, r in enumerate(p.itertuples(index=False)):
        ax.hlines(r.target_over_child, i - 0.35, i + 0.35, color="black", lw=1.5, ls="--")
        ax.text(i, r.search_over_child, f"{r.search_over_child:.2f}", ha="center", va="bottom", fontsize=6)
    ax.axhline(2.0, color="gray", lw=0.8, ls=":")
    ax.set_xticks(x, labels, fontsize=6)
    ax.set_ylabel("search step / child step")
    ax.set_title("(b) ratio; dashed: target, dotted: floor 2", fontsize=8)
    return save(fig, out_dir, "fig12_performance",
                "Speed of a search step against its floor, the SGD step of a discrete child network of the same "
                "macro-architecture and batch (medians over interleaved repeats; child: 8 uniformly drawn live "
                "cells). Single-path: REINFORCE architecture step (K forward-only paths) plus a single-path weight "
                "step, target 2.5; mixed: relaxed first-order step with every op weighted, target 1.2 x 5 ops. "
                "Red: the hypernetwork's own share. Command: python -m nas.search.bench search-step.",
                ["results/summary/performance.csv"])
