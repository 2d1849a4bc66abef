"""Paper figures. Every function reads tidy files under ``results/summary`` only, never recomputes a
metric, and saves ``<name>.pdf``, ``<name>.png`` and ``<name>.txt`` (the caption, naming its sources).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from nas.report.style import MARKERS, TEXT_WIDTH_IN, apply_style, save, subplots  # noqa: F401  (apply_style: the notebook's)
from nas.spaces.nb201.genotype import EDGES, Genotype

FIGURES = (  # every figure the figure stage draws (checked by the smoke test)
    "fig1_budget_regret", "fig2_fronts", "fig3_arch_probs", "fig4_control", "fig5_cells",
    "fig6_device_similarity", "fig7_lut_scatter", "fig8_search_curves",
)


GIVEN_AS = {"name": "by name", "csv-10": "as 10 measurements", "csv-300": "as 300 measurements"}


def run_label(run: pd.Series, all_devices: set[str]) -> str:
    """A run's legend label from its ``runs.csv`` row: method and the shared devices it was trained without."""
    held_out = sorted(all_devices - set(str(run["device_set"]).split("+")))
    return f"{run['method']}, " + (f"without {'+'.join(held_out)}" if held_out else "all devices")


def run_labels(runs: pd.DataFrame) -> dict[str, str]:
    """``{run_id: label}`` for every run of ``runs.csv`` (labels from the run's own fields, never its id)."""
    all_devices = set().union(*(str(d).split("+") for d in runs["device_set"]))
    return {r["run_id"]: run_label(r, all_devices) for _, r in runs.iterrows()}


def held_out_runs(runs: pd.DataFrame) -> set[str]:
    """Run ids of ``runs.csv`` trained without some of the shared devices."""
    return {run_id for run_id, label in run_labels(runs).items() if ", without " in label}


def budget_regret(comparison: pd.DataFrame, reference: pd.DataFrame, runs: pd.DataFrame, out_dir) -> Path:
    """Fig. 1: mean budget regret per device and run (how the device was given), against random search."""
    ours = comparison[comparison["metric"] == "mean_regret"]
    labels = run_labels(runs)
    devices = sorted(ours["device"].unique())
    groups = sorted(ours.groupby(["run_id", "device_given_as"]).groups, key=lambda k: (k[0], k[1] != "name", k[1]))
    fig, ax = subplots(figsize=(TEXT_WIDTH_IN, 3.4))
    x = np.arange(len(devices))
    n_ref = reference["n"].nunique()
    slots = len(groups) + n_ref  # one slot per run and way of giving the device, then one per random search
    width = 0.84 / max(slots, 1)
    offset = lambda i: (i - (slots - 1) / 2) * width  # noqa: E731
    hatches = ("", "//", "..", "xx", "\\\\")
    for i, (run_id, given_as) in enumerate(groups):
        grp = ours[(ours["run_id"] == run_id) & (ours["device_given_as"] == given_as)]
        vals = grp.set_index("device")["value"].reindex(devices)
        ax.bar(x + offset(i), vals, width, hatch=hatches[i % len(hatches)], color=f"C{i}", edgecolor="black",
               label=f"{labels.get(run_id, run_id)}; device {GIVEN_AS.get(given_as, given_as)}")
    n_seeds = reference.groupby(["device", "n"])["seed"].nunique().max() if len(reference) else 0
    for j, (n, grp) in enumerate(reference.groupby("n")):
        stats = grp.groupby("device")["mean_regret"].agg(["mean", "std"]).reindex(devices)
        low = np.minimum(stats["std"], stats["mean"])  # regret is >= 0: the whisker stops at 0
        ax.errorbar(x + offset(len(groups) + j), stats["mean"], [low, stats["std"]], fmt=MARKERS[j + 1],
                    color="black", capsize=2, ms=4, label=f"random search, {n} archs (mean, sd over {n_seeds} seeds)")
    ax.axhline(1.0, color="gray", ls="--", lw=1, label="target 1.0")
    ax.set_xticks(x, devices, rotation=30, ha="right")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("mean budget regret (points)")
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.45, -0.3), frameon=False, columnspacing=1.0,
              handlelength=1.5)
    return save(fig, out_dir, "fig1_budget_regret",
                "Mean budget regret (CIFAR-10 test accuracy points, NAS-Bench-201) over budgets at the "
                "10/25/50/75/100 % latency quantiles, per device; lower is better. Bars: the searches of 03_search, "
                "labelled by method and training devices (all shared devices, or without the held-out one) and how "
                "the device was given to the hypernetwork (by name, or as whole-network latency measurements of 10 "
                f"or 300 architectures). Markers: random search, mean over {n_seeds} seeds; whiskers one sd, "
                "cut at 0 below (regret is never negative).",
                ["results/summary/comparison.csv", "results/summary/random_reference.csv", "results/summary/runs.csv"])


def _panels(n: int, ncol: int = 2, height: float = 2.0):
    """A figure of ``n`` panels in rows of ``ncol``, one text width wide; unused panels are hidden."""
    nrow = max(1, -(-n // ncol))
    fig, axes = subplots(nrow, ncol, figsize=(TEXT_WIDTH_IN, height * nrow), squeeze=False, layout="constrained")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, axes


def fronts(derived: pd.DataFrame, front: pd.DataFrame, out_dir, run_id: str) -> Path:
    """Fig. 2: accuracy vs measured latency per device: oracle front, lam sweep and budget answers."""
    d = derived[(derived["run_id"] == run_id) & (derived["device_given_as"] == "name")]
    devices = sorted(d["device"].unique())
    fig, axes = _panels(len(devices), ncol=3)
    for ax, device in zip(axes.flat, devices):
        lam = d[(d["device"] == device) & d["budget_ms"].isna()]
        bud = d[(d["device"] == device) & d["budget_ms"].notna()]
        inner = sorted(bud["budget_ms"])[:-1]  # the 100 % budget (the space's slowest cell) lies right of the panel
        right = 1.15 * max([lam["meas_latency_ms"].max(), bud["meas_latency_ms"].max()] + inner)
        f = front[(front["device"] == device) & (front["latency_ms"] <= right)]
        ax.step(f["latency_ms"], f["acc"], where="post", color="gray", label="oracle front")
        sc = ax.scatter(lam["meas_latency_ms"], lam["acc"], c=lam["lam"], cmap="viridis", vmin=0, vmax=1, marker="o",
                        s=18, edgecolor="black", linewidth=0.3, label="lam sweep")
        ax.scatter(bud["meas_latency_ms"], bud["acc"], marker="x", color="red", s=30, label="budget answers")
        for b in bud["budget_ms"]:
            ax.axvline(b, color="red", lw=0.5, ls=":")
        ax.set_title(device)
        ax.set_xlim(0, right)
        ax.set_ylim(max(70, min(lam["acc"].min(), bud["acc"].min()) - 2), 95)
    fig.supxlabel("measured latency (ms)")
    fig.supylabel("NAS-Bench-201 CIFAR-10 test accuracy (%)")
    handles, names = axes.flat[0].get_legend_handles_labels()
    spare = list(axes.flat)[len(devices):]
    (spare[0] if spare else fig).legend(handles, names, loc="center", frameon=False)
    fig.colorbar(sc, ax=axes, shrink=0.5, label="lam_norm (trade-off)")
    return save(fig, out_dir, "fig2_fronts",
                f"Accuracy vs measured latency per device for run {run_id}: NAS-Bench-201 oracle front (up to the "
                "slowest derived architecture), architectures derived on an 11-point lam grid (colour) and for the "
                "five budgets (red x; dotted lines are the budgets).",
                ["results/summary/derived.csv", "results/summary/oracle_front.csv"])


def arch_probs(probs: pd.DataFrame, out_dir, run_id: str, devices: list[str]) -> Path:
    """Fig. 3: op probabilities vs lam: their mean over the devices shown, then each device's difference from it."""
    p = probs[(probs["run_id"] == run_id) & probs["device"].isin(devices)]
    grids = {dev: p[p["device"] == dev].pivot_table(index=["edge", "op"], columns="lam", values="prob")
             for dev in devices}
    mean = sum(grids.values()) / len(grids)
    diffs = {dev: g - mean for dev, g in grids.items()}
    span = max(float(np.nanmax(np.abs(g.to_numpy()))) for g in diffs.values()) or 1e-3
    fig, axes = subplots(1, len(devices) + 1, figsize=(TEXT_WIDTH_IN, 6.2), sharey=True, squeeze=False,
                         layout="constrained")
    axes = axes.flat
    ylabels = [f"{edge} {op.replace('nor_conv_', 'conv').replace('_connect', '').replace('avg_pool_3x3', 'pool')}"
               for edge, op in mean.index]
    sns.heatmap(mean, ax=axes[0], cmap="Greys", vmin=0, vmax=1, xticklabels=5, yticklabels=ylabels,
                cbar_kws={"label": "probability", "location": "bottom", "shrink": 0.8})
    axes[0].set_title("mean")
    for ax, dev in zip(axes[1:], devices):
        sns.heatmap(diffs[dev], ax=ax, cmap="RdBu_r", vmin=-span, vmax=span, xticklabels=5, yticklabels=ylabels,
                    cbar=ax is axes[-1], cbar_kws={"label": "difference from the mean", "location": "bottom"})
        ax.set_title(dev)
    for ax in axes:
        ax.set_xlabel("lam_norm"), ax.set_ylabel("")
        ax.set_xticklabels([f"{float(t.get_text()):g}" for t in ax.get_xticklabels()], rotation=0)
    return save(fig, out_dir, "fig3_arch_probs",
                f"Op probabilities softmax(G(lam, phi(h))) per edge (rows: edge i->j and op) vs the trade-off lam "
                f"(columns), run {run_id}. Left: the mean over the {len(devices)} devices shown; the other panels: "
                f"each device's difference from that mean (red: more likely on this device; at most {span:.3f} in "
                "probability), which is how the devices differ.",
                ["results/summary/arch_probs.csv"])


def control(derived: pd.DataFrame, comparison: pd.DataFrame, out_dir, run_id: str) -> Path:
    """Fig. 4: measured latency (relative to lam = 0) vs lam per device, with Spearman rho."""
    d = derived[(derived["run_id"] == run_id) & derived["budget_ms"].isna() & (derived["device_given_as"] == "name")]
    rho = comparison[(comparison["run_id"] == run_id) & (comparison["metric"] == "spearman_lam_latency")
                     & (comparison["device_given_as"] == "name")].set_index("device")["value"]
    fig, ax = subplots(figsize=(TEXT_WIDTH_IN * 0.75, 3.4))
    for i, (device, g) in enumerate(d.groupby("device")):
        g = g.sort_values("lam")
        ax.plot(g["lam"], g["meas_latency_ms"] / g["meas_latency_ms"].iloc[0], marker=MARKERS[i % 8], ms=3,
                label=f"{device} (rho={rho.get(device, np.nan):.2f})")
    ax.set_xlabel("lam_norm (0: no latency pressure, 1: the most)")
    ax.set_ylabel("measured latency / latency at lam=0")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return save(fig, out_dir, "fig4_control", f"Control: measured latency of derived architectures vs lam, "
                f"run {run_id}; Spearman rho per device in the legend.",
                ["results/summary/derived.csv", "results/summary/comparison.csv"])


SHORT_OPS = {"skip_connect": "skip", "nor_conv_1x1": "1x1", "nor_conv_3x3": "3x3", "avg_pool_3x3": "pool"}


def _draw_cell(ax, arch: str, title: str) -> None:
    """Matplotlib drawing of an NB201 cell: 4 nodes on a line, one arrow i -> j per non-`none` edge,
    labelled with its op at the top of the arc."""
    g = Genotype.from_str(arch)
    for (src, dst), op in zip(EDGES, g.ops):
        if op == "none":
            continue
        mid, h = (src + dst) / 2, 0.4 * (dst - src)
        t = np.linspace(0, np.pi, 40)
        xs, ys = mid + (dst - src) / 2 * np.cos(np.pi - t), h * np.sin(t)
        end = int(np.nonzero(ys > 0.1)[0][-1])  # stop at the node's rim; the arrowhead ends there
        ax.plot(xs[:end], ys[:end], color="black", lw=0.8)
        ax.annotate("", xy=(xs[end], ys[end]), xytext=(xs[end - 2], ys[end - 2]),
                    arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 0.8, "mutation_scale": 9,
                                "shrinkA": 0, "shrinkB": 0})
        ax.text(mid, h, SHORT_OPS.get(op, op), ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"}, zorder=5)
    ax.scatter(np.arange(4), np.zeros(4), s=140, color="white", edgecolor="black", zorder=3)
    for i in range(4):
        ax.text(i, 0, str(i), ha="center", va="center", fontsize=8, zorder=4)
    ax.set_title(title, fontsize=8)
    ax.set_xlim(-0.4, 3.4), ax.set_ylim(-0.3, 1.4), ax.axis("off")


def cells(derived: pd.DataFrame, out_dir, run_id: str, devices: list[str], lams=(0.0, 0.5, 1.0)) -> Path:
    """Fig. 5: cell diagrams of the architectures derived for a few devices and trade-offs."""
    d = derived[(derived["run_id"] == run_id) & derived["budget_ms"].isna() & (derived["device_given_as"] == "name")]
    fig, axes = subplots(len(devices), len(lams), figsize=(TEXT_WIDTH_IN, 1.9 * len(devices)), squeeze=False)
    for r, device in enumerate(devices):
        for c, lam in enumerate(lams):
            row = d[(d["device"] == device) & np.isclose(d["lam"], lam)].iloc[0]
            _draw_cell(axes[r, c], row["arch"],
                       f"{device}, lam={lam:g}\n{row['acc']:.1f} %, {row['meas_latency_ms']:.2f} ms")
    return save(fig, out_dir, "fig5_cells", f"Derived cells (run {run_id}): nodes 0-3, an arrow i -> j per edge "
                "labelled with its op (skip: skip_connect, 1x1/3x3: ReLU-conv-BN, pool: 3x3 average pool); `none` "
                "edges are omitted. Titles: NAS-Bench-201 CIFAR-10 test accuracy and measured latency.",
                ["results/summary/derived.csv"])


def device_similarity(sim: pd.DataFrame, out_dir) -> Path:
    """Fig. 6: pairwise Kendall tau of whole-network latency between devices."""
    grid = sim.pivot(index="device_a", columns="device_b", values="kendall_tau")
    fig, ax = subplots(figsize=(TEXT_WIDTH_IN, 5.6))
    sns.heatmap(grid, annot=True, fmt=".2f", cmap="Greys", vmin=0, vmax=1, ax=ax, annot_kws={"fontsize": 8},
                cbar_kws={"label": "Kendall tau"})
    ax.set_xlabel(""), ax.set_ylabel("")
    return save(fig, out_dir, "fig6_device_similarity", "Kendall tau of measured whole-network latency between "
                "devices: the 8 shared devices over the 15,284 live NAS-Bench-201 cells, this machine's runtimes "
                "(local-*) over the architectures they measured end to end.", ["results/summary/device_similarity.csv"])


def lut_scatter(points: pd.DataFrame, out_dir) -> Path:
    """Fig. 7: LUT-predicted vs measured end-to-end latency of held-out architectures, per runtime."""
    runtimes = sorted(points["runtime"].unique())
    fig, axes = subplots(1, len(runtimes), figsize=(TEXT_WIDTH_IN, 2.9), squeeze=False, layout="constrained")
    for ax, runtime in zip(axes.flat, runtimes):
        p = points[points["runtime"] == runtime]
        for i, (kind, g) in enumerate(p.groupby("lut_kind")):
            ax.scatter(g["measured_ms"], g["pred_ms"], s=9, marker=MARKERS[i], label=f"{kind}", alpha=0.8)
        lim = [0, float(p[["measured_ms", "pred_ms"]].to_numpy().max()) * 1.05]
        ax.plot(lim, lim, color="gray", lw=0.8)
        ax.set_title(runtime)
        ax.set_xlabel("measured (ms)")
        ax.legend(title="lookup table", loc="upper left")
    axes.flat[0].set_ylabel("predicted latency (ms)")
    return save(fig, out_dir, "fig7_lut_scatter", "Latency predicted by the lookup tables of this machine's runtimes "
                "(isolated-op and regression) vs end-to-end measured latency of held-out NB201 architectures "
                "(benchmark network C=16, N=5, batch 1); grey: y = x.", ["results/summary/latency_points.csv"])


def _same_curves(history: pd.DataFrame, column: str) -> list[list[str]]:
    """Groups of run ids whose ``column`` curves are identical (drawn once, labelled with every run)."""
    groups: list[list[str]] = []
    for run_id, g in history.groupby("run_id"):
        values = g.sort_values("epoch")[column].to_numpy()
        for grp in groups:
            other = history[history["run_id"] == grp[0]].sort_values("epoch")[column].to_numpy()
            if other.shape == values.shape and np.allclose(other, values, equal_nan=True):
                grp.append(run_id)
                break
        else:
            groups.append([run_id])
    return groups


def search_curves(history: pd.DataFrame, out_dir, runs: pd.DataFrame | None = None) -> Path:
    """Fig. 8: search curves: accuracy (%) of sampled paths and expected relative cost per epoch."""
    labels = run_labels(runs) if runs is not None else {}
    name = lambda ids: " = ".join(labels.get(r, r) for r in ids)  # noqa: E731
    fig, axes = subplots(2, 1, figsize=(TEXT_WIDTH_IN * 0.8, 5.4), sharex=True, layout="constrained")
    styles = iter(range(99))
    for column, half, ls in (("train_acc", "train (w)", "-"), ("val_acc", "val (G)", "--")):
        for ids in _same_curves(history, column):
            i = next(styles)
            g = history[history["run_id"] == ids[0]].sort_values("epoch")
            axes[0].plot(g["epoch"], 100 * g[column], marker=MARKERS[i % 8], ms=3, ls=ls, color=f"C{i}",
                         label=f"{half}: {name(ids)}")
    for i, ids in enumerate(_same_curves(history, "rel_cost")):
        g = history[history["run_id"] == ids[0]].sort_values("epoch")
        axes[1].plot(g["epoch"], g["rel_cost"], marker=MARKERS[i % 8], ms=3, color=f"C{i}", label=name(ids))
    axes[0].set_ylabel("accuracy of sampled\npaths (%)")
    axes[1].set_xlabel("epoch"), axes[1].set_ylabel("expected edge cost\n/ uniform")
    axes[0].legend(loc="lower right"), axes[1].legend(loc="upper right")
    return save(fig, out_dir, "fig8_search_curves", "Search curves: mean accuracy (%) of the sampled paths on the "
                "weight half (train, solid) and on the hypernetwork half (val, dashed; warm-up epochs have no "
                "hypernetwork step), and the expected cost of the searchable edges relative to uniform op "
                "probabilities. Runs whose curves are identical (the weight phase is shared) are drawn once and "
                "labelled with both runs.", ["results/summary/search_history.csv", "results/summary/runs.csv"])
