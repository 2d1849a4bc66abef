"""Figure of the search's speed, from ``results/summary/performance.csv`` only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nas.report.style import TEXT_WIDTH_IN, save, subplots

FIGURES = ("fig12_performance",)


def _label(r) -> str:
    device = "GPU " + r.device_name if r.torch_device.startswith("cuda") else f"CPU, {r.threads} thr."
    return f"{r.mode}\n{device}"


def fig12_performance(perf: pd.DataFrame, out_dir) -> Path:
    """Fig. 12: (a) search step vs child SGD step (ms, linear) per configuration, the hypernetwork's
    time printed; (b) their ratio against the targets."""
    p = perf.sort_values(["torch_device", "mode", "threads"], kind="stable").reset_index(drop=True)
    labels = [_label(r) for r in p.itertuples(index=False)]
    x = np.arange(len(p))
    fig, axes = subplots(1, 2, figsize=(TEXT_WIDTH_IN, 3.2), layout="constrained")
    ax = axes[0]
    ax.bar(x - 0.2, p["child_step_ms"], 0.4, label="child SGD step", color="0.75", edgecolor="black")
    ax.bar(x + 0.2, p["search_step_ms"], 0.4, label="search step", color="C0", edgecolor="black", hatch="//")
    for i, r in enumerate(p.itertuples(index=False)):
        ax.text(i + 0.2, r.search_step_ms, f"{r.search_step_ms:.0f}\nhypernet.\n{r.hypernet_ms:.1f} "
                f"({100 * r.hypernet_share:.1f} %)", ha="center", va="bottom", fontsize=8)
        ax.text(i - 0.2, r.child_step_ms, f"{r.child_step_ms:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.45 * float(p[["search_step_ms", "child_step_ms"]].to_numpy().max()))
    ax.set_xticks(x, labels)
    ax.set_ylabel("median time per step (ms)")
    ax.legend(loc="upper right")
    ax.set_title("(a) step time")
    ax = axes[1]
    ax.bar(x, p["search_over_child"], 0.5, color="C0", edgecolor="black", hatch="//")
    for i, r in enumerate(p.itertuples(index=False)):
        ax.hlines(r.target_over_child, i - 0.35, i + 0.35, color="black", lw=1.5, ls="--")
        ax.text(i, r.search_over_child, f"{r.search_over_child:.2f}", ha="center", va="bottom", fontsize=8)
    ax.axhline(2.0, color="gray", lw=0.8, ls=":")
    ax.set_xticks(x, labels)
    ax.set_ylabel("search step / child step")
    ax.set_title("(b) ratio; dashed: target, dotted: ratio 2")
    return save(fig, out_dir, "fig12_performance",
                "Speed of a search step against its floor, the SGD step of a discrete child network of the same "
                "macro-architecture and batch (medians over interleaved repeats; child: 8 uniformly drawn live "
                "cells). Single-path: REINFORCE architecture step (K forward-only paths) plus a single-path weight "
                "step, target 2.5; mixed: relaxed first-order step with every op weighted, target 1.2 x 5 ops. "
                "Printed above each search bar: its time and the hypernetwork's part of it (ms, share). "
                "Command: python -m nas.search.bench search-step.",
                ["results/summary/performance.csv"])
