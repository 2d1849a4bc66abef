"""Figures of the DARTS-space stage, read from ``darts_derived.csv`` only.

Fig. 18: retrained test accuracy vs measured latency (each local runtime) and vs parameters, per
dataset, every method, the trade-off lam as colour. Fig. 19: the derived normal and reduction cells
(graphviz) of ours at the smallest and largest lam, per dataset.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from nas.report.style import MARKERS, apply_style, save, subplots

FIGURES = ("fig18_darts_fronts", "fig19_darts_cells")  # drawn by stage 07 (checked by the smoke test)
METHOD_ORDER = ("darts-cc-hw", "darts-cc", "darts", "fbnet", "random")
SOURCE = "results/summary/darts_derived.csv"


def fronts(derived: pd.DataFrame, out_dir) -> Path:
    """Fig. 18: accuracy vs each measured cost (columns) per dataset (rows), every method."""
    apply_style()
    costs = [d for d in sorted(derived["device"].unique()) if d.startswith("local-")] + ["params"]
    datasets = list(dict.fromkeys(derived["dataset"]))
    fig, axes = subplots(len(datasets), len(costs), figsize=(7.0, 2.6 * len(datasets)), squeeze=False,
                         layout="constrained")
    sc = None
    for r, dataset in enumerate(datasets):
        for c, device in enumerate(costs):
            ax = axes[r, c]
            d = derived[(derived["dataset"] == dataset) & (derived["device"] == device)]
            x = d["meas_latency_ms"] if device.startswith("local-") else d["params_m"]
            for k, method in enumerate(m for m in METHOD_ORDER if m in set(d["method"])):
                g = d[d["method"] == method]
                gx = x[g.index]
                err = g["acc_sd"].where(g["n_train_seeds"] > 1)
                if err.notna().any():
                    ax.errorbar(gx, g["acc"], yerr=err, fmt="none", ecolor="gray", lw=0.6)
                if g["lam"].notna().any():
                    sc = ax.scatter(gx, g["acc"], c=g["lam"], cmap="viridis", vmin=0, vmax=1, marker=MARKERS[k],
                                    s=30, edgecolor="black", linewidth=0.4, label=method)
                    order = np.argsort(g["lam"].to_numpy())
                    ax.plot(gx.to_numpy()[order], g["acc"].to_numpy()[order], color="gray", lw=0.6, zorder=0)
                else:
                    ax.scatter(gx, g["acc"], marker=MARKERS[k], s=30, facecolor="white", edgecolor="black",
                               linewidth=0.8, label=method)
            ax.set_title(f"{dataset}", loc="left")
            ax.set_xlabel("measured latency (ms), " + device.removeprefix("local-") if device.startswith("local-")
                          else "parameters (M)")
            if c == 0:
                ax.set_ylabel("test accuracy (%)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=len(names), frameon=False, bbox_to_anchor=(0.5, 1.04))
    if sc is not None:
        fig.colorbar(sc, ax=axes, shrink=0.6, label="lam_norm (trade-off)")
    epochs = ", ".join(sorted(derived["acc_source"].unique()))
    nets = ", ".join(sorted(derived["net"].unique()))
    return save(fig, out_dir, "fig18_darts_fronts",
                "DARTS cell space: test accuracy of every derived architecture retrained from scratch "
                f"({epochs}; networks {nets}) against its latency measured end to end on this machine (batch 1) "
                "and its parameter count, per dataset. darts-cc-hw and darts-cc: lam sweep on the evaluation "
                "device (colour, joined in lam order); darts: its one cell (published top-2 rule); fbnet: one "
                "architecture per run (beta 0.3, 0.6, 1.2 on the evaluation device); random: "
                "architectures drawn at the predicted cost of each of ours. Error bars: sd over training seeds "
                "where there are several.", [SOURCE])


def cell_dot(arch: str, kind: str) -> str:
    """Graphviz DOT source of one cell type (``normal`` or ``reduce``) of a DARTS-space genotype: the inputs
    c_{k-2}, c_{k-1}, the intermediate nodes 0-3 with each live edge labelled by its op, the output c_{k}."""
    from nas.spaces import get_space

    g = get_space("darts").parse(arch)
    names = {0: "c_{k-2}", 1: "c_{k-1}"}
    lines = ['digraph cell {', '  graph [rankdir=LR, dpi=150, nodesep=0.15, ranksep=0.5];',
             '  node [shape=box, style="rounded,filled", fontsize=18, height=0.35];', '  edge [fontsize=16];',
             '  "c_{k-2}" [fillcolor=lightblue];', '  "c_{k-1}" [fillcolor=lightblue];']
    for node, inputs in enumerate(g.inputs(kind), start=2):
        names[node] = str(node - 2)
        lines.append(f'  "{names[node]}" [fillcolor=lightyellow];')
        lines += [f'  "{names[src]}" -> "{names[node]}" [label={op}];' for op, src in inputs]
    lines.append('  "c_{k}" [fillcolor=palegreen];')
    lines += [f'  "{names[node]}" -> "c_{{k}}" [style=dashed, arrowsize=0.5];' for node in range(2, 6)]
    return "\n".join(lines + ["}"])


def _render(dot: str, path: Path) -> Path:
    """PNG of DOT source by graphviz's ``dot`` binary (``make venv`` installs it; RuntimeError naming the fix)."""
    import shutil
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("Fig. 19 needs graphviz's `dot` (apt-get install graphviz, or conda install graphviz)")
    subprocess.run([exe, "-Tpng", "-o", str(path)], input=dot.encode(), check=True, capture_output=True)
    return path


def cells(derived: pd.DataFrame, out_dir) -> Path:
    """Fig. 19: normal and reduction cells of ours at the smallest and largest lam, per dataset."""
    import matplotlib.image as mpimg
    import tempfile

    apply_style()
    ours = derived[(derived["method"] == "darts-cc-hw") & derived["lam"].notna()]
    picks = []
    for (dataset, seed), g in ours.groupby(["dataset", "seed"], sort=False):
        if seed != ours["seed"].min():
            continue
        for lam in (g["lam"].min(), g["lam"].max()):
            picks.append((dataset, lam, g[g["lam"] == lam]["arch"].iloc[0]))
    panels = [(f"{dataset}, lam_norm {lam:g}: {kind} cell", cell_dot(arch, kind))
              for dataset, lam, arch in picks for kind in ("normal", "reduce")]
    with tempfile.TemporaryDirectory() as tmp:
        images = [mpimg.imread(_render(dot, Path(tmp) / f"{i}.png")) for i, (_, dot) in enumerate(panels)]
    # one cell per row, every graph at the same scale: labels print at one size (the widest fills 7 in)
    width_px = max(im.shape[1] for im in images)
    inch_per_px = 7.0 / width_px
    heights = [im.shape[0] * inch_per_px + 0.3 for im in images]  # + the title
    fig, axes = subplots(len(images), 1, figsize=(7.0, sum(heights)), squeeze=False, layout="constrained",
                         gridspec_kw={"height_ratios": heights})
    for ax, (title, _), im in zip(axes[:, 0], panels, images):
        ax.imshow(im)
        ax.set_xlim(-0.5, width_px - 0.5)  # the same pixels per inch in every row
        ax.set_axis_off()
        ax.set_title(title, loc="left")
    return save(fig, out_dir, "fig19_darts_cells",
                "Cells derived by darts-cc-hw in the DARTS space at the smallest and largest trade-off of the "
                "sweep (seed of the first search), normal and reduction cell; inputs c_{k-2}, c_{k-1}, "
                "intermediate nodes 0-3, output c_{k} (dashed: concatenation).", [SOURCE])


def summary_table(derived: pd.DataFrame, device: str) -> pd.DataFrame:
    """One row per (dataset, method, lam): accuracy (mean over training seeds), params, FLOPs, measured cost."""
    d = derived[derived["device"] == device]
    cols = ["dataset", "method", "lam", "acc", "acc_sd", "params_m", "flops_m", "meas_latency_ms", "pred_latency_ms"]
    return d[cols].assign(lam=d["lam"].map(lambda v: "" if math.isnan(v) else f"{v:g}")).reset_index(drop=True)
