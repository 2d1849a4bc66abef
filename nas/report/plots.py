"""Paper figures. Every function reads tidy files under ``results/summary`` only, never recomputes a
metric, and saves ``<name>.pdf``, ``<name>.png`` and ``<name>.txt`` (the caption, naming its sources).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from nas.report.style import MARKERS, apply_style, save, subplots  # noqa: F401  (apply_style: the notebook's)
from nas.spaces.nb201.genotype import EDGES, Genotype

FIGURES = (  # every figure the figure stage draws (checked by the smoke test)
    "fig1_budget_regret", "fig2_fronts", "fig3_arch_probs", "fig4_control", "fig5_cells",
    "fig6_device_similarity", "fig7_lut_scatter", "fig8_search_curves",
)


def budget_regret(comparison: pd.DataFrame, reference: pd.DataFrame, out_dir) -> Path:
    """Fig. 1: mean budget regret per device, against random search with 10 and 50 architectures."""
    ours = comparison[comparison["metric"] == "mean_regret"]
    fig, ax = subplots(figsize=(7.5, 3.2))
    labels = sorted(ours.apply(lambda r: f"{r.run_id.split('_s')[0]} [{r.device_given_as}]", axis=1).unique())
    devices = sorted(ours["device"].unique())
    x = np.arange(len(devices))
    width = 0.8 / max(len(labels), 1)
    hatches = ("", "//", "..", "xx")
    for i, (key, grp) in enumerate(ours.groupby(["run_id", "device_given_as"])):
        vals = grp.set_index("device")["value"].reindex(devices)
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, vals, width, hatch=hatches[i % 4], edgecolor="black",
               label=f"{key[0]} ({key[1]})")
    for j, (n, grp) in enumerate(reference.groupby("n")):
        stats = grp.groupby("device")["mean_regret"].agg(["mean", "std"]).reindex(devices)
        ax.errorbar(x, stats["mean"], stats["std"], fmt=MARKERS[j + 1], color="black", capsize=2,
                    label=f"random search, {n} archs (mean ± sd, 20 seeds)")
    ax.axhline(1.0, color="gray", ls="--", lw=1, label="target 1.0")
    ax.set_xticks(x, devices, rotation=30, ha="right")
    ax.set_ylabel("mean budget regret (accuracy points)")
    ax.legend(fontsize=6, ncol=2)
    return save(fig, out_dir, "fig1_budget_regret",
                "Mean budget regret (CIFAR-10 test accuracy points, NAS-Bench-201) over budgets at the "
                "10/25/50/75/100 % latency quantiles, per device; lower is better.",
                ["results/summary/comparison.csv", "results/summary/random_reference.csv"])


def fronts(derived: pd.DataFrame, front: pd.DataFrame, out_dir, run_id: str) -> Path:
    """Fig. 2: accuracy vs measured latency per device: oracle front, lam sweep and budget answers."""
    d = derived[(derived["run_id"] == run_id) & (derived["device_given_as"] == "name")]
    devices = sorted(d["device"].unique())
    fig, axes = subplots(2, (len(devices) + 1) // 2, figsize=(10, 5.2), squeeze=False, layout="constrained")
    for ax, device in zip(axes.flat, devices):
        f = front[front["device"] == device]
        ax.step(f["latency_ms"], f["acc"], where="post", color="gray", label="oracle front")
        lam = d[(d["device"] == device) & d["budget_ms"].isna()]
        sc = ax.scatter(lam["meas_latency_ms"], lam["acc"], c=lam["lam"], cmap="viridis", marker="o", s=18,
                        edgecolor="black", linewidth=0.3, label="lam sweep")
        bud = d[(d["device"] == device) & d["budget_ms"].notna()]
        ax.scatter(bud["meas_latency_ms"], bud["acc"], marker="x", color="red", s=30, label="budget answers")
        for b in bud["budget_ms"]:
            ax.axvline(b, color="red", lw=0.5, ls=":")
        ax.set_title(device, fontsize=8)
        ax.set_ylim(max(70, min(lam["acc"].min(), bud["acc"].min()) - 2), 95)
        ax.tick_params(labelsize=6)
    fig.supxlabel("measured latency (ms)", fontsize=8)
    fig.supylabel("NAS-Bench-201 CIFAR-10 test accuracy (%)", fontsize=8)
    for ax in list(axes.flat)[len(devices):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=5, loc="lower right")
    fig.colorbar(sc, ax=axes, shrink=0.6, label="lam_norm (trade-off)")
    return save(fig, out_dir, "fig2_fronts",
                f"Accuracy vs measured latency per device for run {run_id}: NAS-Bench-201 oracle front, "
                "architectures derived on an 11-point lam grid (colour) and for the five budgets (red x, "
                "dotted lines are the budgets).",
                ["results/summary/derived.csv", "results/summary/oracle_front.csv"])


def arch_probs(probs: pd.DataFrame, out_dir, run_id: str, devices: list[str]) -> Path:
    """Fig. 3: op probabilities vs lam per device (rows: edge/op; columns: lam)."""
    p = probs[(probs["run_id"] == run_id) & probs["device"].isin(devices)]
    fig, axes = subplots(1, len(devices), figsize=(2.6 * len(devices), 5), sharey=True, squeeze=False)
    for ax, device in zip(axes.flat, devices):
        grid = p[p["device"] == device].pivot_table(index=["edge", "op"], columns="lam", values="prob")
        sns.heatmap(grid, ax=ax, cmap="Greys", vmin=0, vmax=1, cbar=ax is axes.flat[-1],
                    xticklabels=5, yticklabels=True)
        ax.set_title(device, fontsize=8)
        ax.set_xlabel("lam_norm")
        ax.tick_params(axis="y", labelsize=5)
    return save(fig, out_dir, "fig3_arch_probs",
                f"Op probabilities softmax(G(lam, phi(h))) per edge vs the trade-off for run {run_id}: how the "
                "chosen ops shift with lam and between devices.",
                ["results/summary/arch_probs.csv"])


def control(derived: pd.DataFrame, comparison: pd.DataFrame, out_dir, run_id: str) -> Path:
    """Fig. 4: measured latency (relative to lam = 0) vs lam per device, with Spearman rho."""
    d = derived[(derived["run_id"] == run_id) & derived["budget_ms"].isna() & (derived["device_given_as"] == "name")]
    rho = comparison[(comparison["run_id"] == run_id) & (comparison["metric"] == "spearman_lam_latency")
                     & (comparison["device_given_as"] == "name")].set_index("device")["value"]
    fig, ax = subplots(figsize=(5, 3.2))
    for i, (device, g) in enumerate(d.groupby("device")):
        g = g.sort_values("lam")
        ax.plot(g["lam"], g["meas_latency_ms"] / g["meas_latency_ms"].iloc[0], marker=MARKERS[i % 8], ms=3,
                label=f"{device} (rho={rho.get(device, np.nan):.2f})")
    ax.set_xlabel("lam_norm (0: no latency pressure, 1: the most)")
    ax.set_ylabel("measured latency / latency at lam=0")
    ax.legend(fontsize=6)
    return save(fig, out_dir, "fig4_control", f"Control: measured latency of derived architectures vs lam, "
                f"run {run_id}; Spearman rho per device in the legend.",
                ["results/summary/derived.csv", "results/summary/comparison.csv"])


def _draw_cell(ax, arch: str, title: str) -> None:
    """Matplotlib drawing of an NB201 cell: 4 nodes on a line, one arc per non-`none` edge."""
    g = Genotype.from_str(arch)
    xs = np.arange(4)
    for (src, dst), op in zip(EDGES, g.ops):
        if op == "none":
            continue
        mid, h = (src + dst) / 2, 0.35 * (dst - src)
        t = np.linspace(0, np.pi, 30)
        ax.plot(mid + (dst - src) / 2 * np.cos(np.pi - t), h * np.sin(t), color="black", lw=0.8)
        ax.text(mid, h + 0.05, op.replace("nor_conv_", "conv").replace("_connect", "").replace("avg_pool_3x3", "pool"),
                ha="center", fontsize=5)
    ax.scatter(xs, np.zeros(4), s=120, color="white", edgecolor="black", zorder=3)
    for i in xs:
        ax.text(i, 0, str(i), ha="center", va="center", fontsize=6, zorder=4)
    ax.set_title(title, fontsize=6)
    ax.set_xlim(-0.5, 3.5), ax.set_ylim(-0.3, 1.4), ax.axis("off")


def cells(derived: pd.DataFrame, out_dir, run_id: str, devices: list[str], lams=(0.0, 0.5, 1.0)) -> Path:
    """Fig. 5: cell diagrams of the architectures derived for a few devices and trade-offs."""
    d = derived[(derived["run_id"] == run_id) & derived["budget_ms"].isna() & (derived["device_given_as"] == "name")]
    fig, axes = subplots(len(devices), len(lams), figsize=(2.2 * len(lams), 1.3 * len(devices)), squeeze=False)
    for r, device in enumerate(devices):
        for c, lam in enumerate(lams):
            row = d[(d["device"] == device) & np.isclose(d["lam"], lam)].iloc[0]
            _draw_cell(axes[r, c], row["arch"], f"{device}, lam={lam:g}: {row['acc']:.1f} %, {row['meas_latency_ms']:.2f} ms")
    return save(fig, out_dir, "fig5_cells", f"Derived cells (run {run_id}); arcs are edges i -> j labelled with "
                "their op; `none` edges are omitted. Drawn with matplotlib.", ["results/summary/derived.csv"])


def device_similarity(sim: pd.DataFrame, out_dir) -> Path:
    """Fig. 6: pairwise Kendall tau of whole-network latency between devices."""
    grid = sim.pivot(index="device_a", columns="device_b", values="kendall_tau")
    fig, ax = subplots(figsize=(5.4, 4.4))
    sns.heatmap(grid, annot=True, fmt=".2f", cmap="Greys", vmin=0, vmax=1, ax=ax, annot_kws={"fontsize": 6})
    ax.set_xlabel(""), ax.set_ylabel("")
    return save(fig, out_dir, "fig6_device_similarity", "Kendall tau of measured whole-network latency between "
                "devices: the 8 shared devices over the 15,284 live NAS-Bench-201 cells, this machine's runtimes "
                "(local-*) over the architectures they measured end to end.", ["results/summary/device_similarity.csv"])


def lut_scatter(points: pd.DataFrame, out_dir) -> Path:
    """Fig. 7: LUT-predicted vs measured end-to-end latency of held-out architectures, per runtime."""
    runtimes = sorted(points["runtime"].unique())
    fig, axes = subplots(1, len(runtimes), figsize=(3.6 * len(runtimes), 3.4), squeeze=False, layout="constrained")
    for ax, runtime in zip(axes.flat, runtimes):
        p = points[points["runtime"] == runtime]
        for i, (kind, g) in enumerate(p.groupby("lut_kind")):
            ax.scatter(g["measured_ms"], g["pred_ms"], s=9, marker=MARKERS[i], label=f"{kind} LUT", alpha=0.8)
        lim = [0, float(p[["measured_ms", "pred_ms"]].to_numpy().max()) * 1.05]
        ax.plot(lim, lim, color="gray", lw=0.8)
        ax.set_title(runtime, fontsize=8)
        ax.set_xlabel("measured latency (ms)"), ax.set_ylabel("predicted latency (ms)")
        ax.legend(fontsize=6)
    return save(fig, out_dir, "fig7_lut_scatter", "Latency predicted by the lookup tables of this machine's runtimes "
                "(isolated-op and regression) vs end-to-end measured latency of held-out NB201 architectures "
                "(benchmark network C=16, N=5, batch 1).", ["results/summary/latency_points.csv"])


def search_curves(history: pd.DataFrame, out_dir) -> Path:
    """Fig. 8: search curves: accuracy of sampled paths and expected relative cost per epoch."""
    fig, axes = subplots(1, 2, figsize=(7, 2.8))
    for i, (run_id, g) in enumerate(history.groupby("run_id")):
        axes[0].plot(g["epoch"], g["train_acc"], marker=MARKERS[i], ms=3, label=f"{run_id}: train (w)")
        axes[0].plot(g["epoch"], g["val_acc"], marker=MARKERS[i], ms=3, ls="--", label=f"{run_id}: val (G)")
        axes[1].plot(g["epoch"], g["rel_cost"], marker=MARKERS[i], ms=3, label=run_id)
    axes[0].set_xlabel("epoch"), axes[0].set_ylabel("accuracy of sampled paths")
    axes[1].set_xlabel("epoch"), axes[1].set_ylabel("expected edge cost / uniform")
    axes[0].legend(fontsize=5), axes[1].legend(fontsize=5)
    return save(fig, out_dir, "fig8_search_curves", "Search curves: mean accuracy of the sampled paths on the "
                "weight half and on the hypernetwork half (warm-up epochs have no hypernetwork step), and the "
                "expected cost of the searchable edges relative to uniform op probabilities.",
                ["results/summary/search_history.csv"])
