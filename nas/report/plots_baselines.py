"""Figures of the comparison of the methods. Like ``nas.report.plots``: read ``results/summary`` files only, never
recompute a metric, save through :func:`nas.report.style.save` (PDF, PNG and a caption naming the sources).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nas.methods.registry import REPORT_ORDER
from nas.report.style import MARKERS, TEXT_WIDTH_IN, save, subplots, use_file_backend

FIGURES = ("fig9_fronts_methods", "fig10_search_cost", "fig11_specialisation")
METHOD_ORDER = REPORT_ORDER  # methods, then the reference rows (nas.methods.registry)


def _ordered(methods) -> list[str]:
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(set(methods), key=lambda m: (order.get(m, 99), m))


def _first_seed(df: pd.DataFrame, method: str) -> pd.DataFrame:
    """Rows of ``method`` at its smallest seed (a front is one seed's answers)."""
    m = df[df["method"] == method]
    seeds = m["seed"].dropna()
    return m if seeds.empty else m[m["seed"] == seeds.min()]


def fig9_fronts_methods(answers: pd.DataFrame, front: pd.DataFrame, out_dir) -> Path:
    """Fig. 9: per device, accuracy vs measured latency of every method's budget answers and the oracle front.

    A point answers one or more budgets; a point that exceeds any of them gets a red ring and, beside
    it, how many of its budgets it exceeds, so a violation is never hidden under a kept budget.
    """
    devices = sorted(answers["device"].unique())
    methods = [m for m in _ordered(answers["method"].unique()) if m != "oracle"]
    nrow = max(1, -(-len(devices) // 2))
    fig, axes = subplots(nrow, 2, figsize=(TEXT_WIDTH_IN, 2.1 * nrow + 0.6), squeeze=False, layout="constrained")
    totals = {m: (int(_first_seed(answers, m)["violation"].astype(bool).sum()), len(_first_seed(answers, m)))
              for m in methods}
    for ax, device in zip(axes.flat, devices):
        budgets = sorted(answers.loc[answers["device"] == device, "budget_ms"].unique())
        right = 1.15 * max(budgets[:-1] + [answers.loc[answers["device"] == device, "meas_latency_ms"].max()])
        f = front[(front["device"] == device) & (front["latency_ms"] <= right)]
        ax.step(f["latency_ms"], f["acc"], where="post", color="gray", lw=1, label="oracle front")
        lows = [f["acc"].max() - 5] if not f.empty else []
        for i, method in enumerate(methods):
            d = _first_seed(answers, method)
            d = d[d["device"] == device].sort_values("budget_ms")
            if d.empty:
                continue
            color, marker = f"C{i}", MARKERS[i % len(MARKERS)]
            ax.plot(d["meas_latency_ms"], d["acc"], ls=":", lw=0.6, color=color)
            points = d.groupby(["meas_latency_ms", "acc"])["violation"].agg(lambda v: int(v.astype(bool).sum()))
            points = points.reset_index()
            ax.scatter(points["meas_latency_ms"], points["acc"], marker=marker, s=24, color=color,
                       edgecolor="black", linewidth=0.3, zorder=3,
                       label=f"{method} ({totals[method][0]} of {totals[method][1]} over budget)")
            bad = points[points["violation"] > 0]
            ax.scatter(bad["meas_latency_ms"], bad["acc"], marker="o", s=90, facecolor="none", edgecolor="red",
                       linewidth=1.0, zorder=4)
            for r in bad.itertuples(index=False):
                ax.annotate(str(r.violation), (r.meas_latency_ms, r.acc), xytext=(4 + 6 * i, -10), textcoords="offset points",
                            color="red", fontsize=8, zorder=5)
            lows.append(d["acc"].min())
        for b in budgets:
            ax.axvline(b, color="gray", lw=0.4, ls=":")
        ax.set_title(device)
        ax.set_xlim(0, right)
        ax.set_ylim(max(10, min(lows) - 2) if lows else 10, 95)
    for ax in list(axes.flat)[len(devices):]:
        ax.axis("off")
    fig.supxlabel("measured latency (ms)")
    fig.supylabel("NAS-Bench-201 CIFAR-10 test accuracy (%)")
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside upper center", ncol=2)
    return save(fig, out_dir, "fig9_fronts_methods",
                "Accuracy vs measured latency of the architectures each method returns for the five latency budgets "
                "of each device (dotted vertical lines; the 100 % budget lies right of each panel; first seed), with the NAS-Bench-201 oracle front. A point "
                "can answer several budgets; a red ring marks a point whose measured latency exceeds at least one "
                "of them, the red number how many (the legend gives each method's total).",
                ["results/summary/method_answers.csv", "results/summary/oracle_front.csv"])


def _cost_per_method(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean and sd over seeds of the full-front search seconds, and whether extrapolated."""
    c = comparison[comparison["device"] == "all"]
    rows = []
    for method in _ordered(c["method"].unique()):
        m = c[c["method"] == method]
        for metric, extrapolated in (("search_seconds_total", False), ("search_seconds_total_extrapolated", True)):
            v = m.loc[m["metric"] == metric, "value"].astype(float)
            if v.size:
                runs = m.loc[m["metric"] == "search_runs", "value"].astype(float)
                full = m.loc[m["metric"] == "search_runs_full_front", "value"].astype(float)
                rows.append({"method": method, "mean": v.mean(), "sd": v.std(ddof=1) if v.size > 1 else 0.0,
                             "extrapolated": extrapolated, "runs": runs.mean(), "full": full.mean()})
    return pd.DataFrame(rows, columns=["method", "mean", "sd", "extrapolated", "runs", "full"])


def _duration(seconds: float) -> str:
    """Seconds as a short human duration (s, min or h)."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def fig10_search_cost(comparison: pd.DataFrame, out_dir) -> Path:
    """Fig. 10: wall-clock search cost of the whole front per method (log scale; hatched = extrapolated)."""
    cost = _cost_per_method(comparison)
    fig, ax = subplots(figsize=(TEXT_WIDTH_IN * 0.8, 3.4))
    x = np.arange(len(cost))
    seeds = comparison.loc[comparison["device"] == "all"].groupby("method")["seed"].nunique()
    for i, r in enumerate(cost.itertuples(index=False)):
        ax.bar(i, r.mean, yerr=r.sd or None, color=f"C{i}", edgecolor="black", hatch="//" if r.extrapolated else "",
               capsize=2)
        label = _duration(r.mean) + (f"\nextrapolated:\n{r.runs:.0f} of {r.full:.0f} runs" if r.extrapolated
                                     else f"\n{r.full:.0f} run" + ("s" if r.full != 1 else ""))
        ax.text(i, r.mean * 1.15, label, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, cost["method"])
    ax.set_yscale("log")
    positive = cost.loc[cost["mean"] > 0, "mean"]
    if len(positive):  # a zero-cost bar (nothing to search) cannot sit on a log axis
        ax.set_ylim(positive.min() / 3, positive.max() * 20)
    ax.set_ylabel("search wall-clock for all devices\nand budgets (s, log scale)")
    return save(fig, out_dir, "fig10_search_cost",
                "Wall-clock search cost of the whole front (8 devices x 5 budgets) per method: one run for the "
                "conditioned methods, one run per (device, trade-off) for fbnet. Hatched bars are extrapolated "
                "from the measured per-run cost of the runs actually made (labelled). "
                + ("Error bars: sd over seeds." if seeds.max() > 1 else
                   "One seed per method: no error bars (no seed variance to show yet)."),
                ["results/summary/comparison.csv"])


def _spec_grid(spec: pd.DataFrame, method: str, metric: str) -> pd.DataFrame:
    """The (device h x device h') grid of ``metric`` for ``method``, mean over seeds."""
    m = spec[(spec["method"] == method) & (spec["metric"] == metric)]
    return m.pivot_table(index="device", columns="device_to", values="value", aggfunc="mean")


def _draw_spec(ax, regret: pd.DataFrame, violations: pd.DataFrame, vmax: float) -> None:
    """One specialisation matrix: grey = regret (points, printed), red = violated budgets, boxed diagonal."""
    from matplotlib.patches import Rectangle

    ax.imshow(regret.to_numpy(), cmap="Greys", vmin=0, vmax=vmax, aspect="equal")
    two_lines = len(regret) > 1
    for r, dev in enumerate(regret.index):
        for c, dev_to in enumerate(regret.columns):
            v = regret.iat[r, c]
            n = violations.loc[dev, dev_to] if dev in violations.index and dev_to in violations.columns else 0
            ax.text(c, r - (0.17 if two_lines and n else 0), "" if np.isnan(v) else f"{v:.1f}", ha="center",
                    va="center", fontsize=8)
            if n:
                ax.text(c + (0 if two_lines else 0.3), r + (0.22 if two_lines else 0.3), f"{n:.0f}", ha="center",
                        va="center", fontsize=8, color="red", fontweight="bold")
            if dev == dev_to:
                ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="C0", lw=1.6))
    ax.set_xticks(range(len(regret.columns)), regret.columns, rotation=90)
    ax.set_yticks(range(len(regret.index)), regret.index)
    ax.grid(False)


def fig11_specialisation(spec: pd.DataFrame, out_dir, methods: list[str] | None = None) -> Path:
    """Fig. 11: specialisation matrices: the answer for device h (rows) scored on device h' (columns).

    Two matrices per row, square cells of one size: a method with one device (fbnet) is one row of
    cells, not a stretched panel.
    """
    methods = methods or _ordered(spec.loc[spec["metric"] == "mean_regret", "method"].unique())
    grids = {m: (_spec_grid(spec, m, "mean_regret"), _spec_grid(spec, m, "violations")) for m in methods}
    grids = {m: g for m, g in grids.items() if not g[0].empty}
    names = list(grids)
    mosaic = [names[i:i + 2] + ["."] * (2 - len(names[i:i + 2])) for i in range(0, len(names), 2)] or [[".", "."]]
    use_file_backend()
    fig = plt.figure(figsize=(TEXT_WIDTH_IN, 3.1 * len(mosaic) + 0.3), layout="constrained")
    axes = fig.subplot_mosaic(mosaic, empty_sentinel=".")
    values = np.concatenate([g[0].to_numpy().ravel() for g in grids.values()]) if grids else np.ones(1)
    vmax = 1.6 * max(1.0, float(np.nanmax(values)))  # the darkest cell stays light enough for black text
    for method in grids:
        ax = axes[method]
        _draw_spec(ax, *grids[method], vmax)
        ax.set_title(method)
        ax.set_ylabel("derived for h")
    for ax in axes.values():
        ax.set_xlabel("")
    fig.supxlabel("measured on device h'")
    return save(fig, out_dir, "fig11_specialisation",
                "Specialisation: mean budget regret (points, printed and grey) on device h' of the architectures a "
                "method returns for device h at the same budget quantiles (mean over seeds); red: how many of "
                "the five budgets of h' they exceed (violations; none printed when 0). Boxed diagonal: the "
                "method's own device. fbnet searched one device only, hence one row. oracle: the best architecture "
                "within the budget of h; it is negative on h' where it beats the best of h' by exceeding its budget.",
                ["results/summary/specialisation.csv"])
