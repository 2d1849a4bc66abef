"""Figures of the comparison of the methods. Like ``nas.report.plots``: read ``results/summary`` files only, never
recompute a metric, save through :func:`nas.report.style.save` (PDF, PNG and a caption naming the sources).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from nas.methods.registry import REPORT_ORDER
from nas.report.style import MARKERS, save, subplots

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
    """Fig. 9: per device, accuracy vs measured latency of every method's budget answers and the oracle front."""
    devices = sorted(answers["device"].unique())
    methods = [m for m in _ordered(answers["method"].unique()) if m != "oracle"]
    ncol = max(1, (len(devices) + 1) // 2)
    fig, axes = subplots(2 if len(devices) > 1 else 1, ncol, figsize=(2.6 * ncol, 5.4), squeeze=False,
                             layout="constrained")
    for ax, device in zip(axes.flat, devices):
        f = front[front["device"] == device]
        ax.step(f["latency_ms"], f["acc"], where="post", color="gray", lw=1, label="oracle front")
        lows = [f["acc"].max() - 5] if not f.empty else []
        for i, method in enumerate(methods):
            d = _first_seed(answers, method)
            d = d[d["device"] == device].sort_values("budget_ms")
            if d.empty:
                continue
            ok, bad = d[~d["violation"].astype(bool)], d[d["violation"].astype(bool)]
            color = f"C{i}"
            ax.plot(d["meas_latency_ms"], d["acc"], ls=":", lw=0.6, color=color)
            ax.scatter(ok["meas_latency_ms"], ok["acc"], marker=MARKERS[i % len(MARKERS)], s=22, color=color,
                       edgecolor="black", linewidth=0.3, label=method)
            ax.scatter(bad["meas_latency_ms"], bad["acc"], marker=MARKERS[i % len(MARKERS)], s=22,
                       facecolor="none", edgecolor=color, linewidth=0.9)
            lows.append(d["acc"].min())
        for b in sorted(answers.loc[answers["device"] == device, "budget_ms"].unique()):
            ax.axvline(b, color="gray", lw=0.4, ls=":")
        ax.set_title(device, fontsize=8)
        ax.set_ylim(max(10, min(lows) - 2) if lows else 10, 95)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(devices):]:
        ax.axis("off")
    fig.supxlabel("measured latency (ms)", fontsize=8)
    fig.supylabel("NAS-Bench-201 CIFAR-10 test accuracy (%)", fontsize=8)
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside upper center", ncol=len(handles), fontsize=6)
    return save(fig, out_dir, "fig9_fronts_methods",
                "Accuracy vs measured latency of the architectures each method returns for the five latency budgets "
                "of each device (dotted vertical lines; first seed; hollow markers exceed their budget), with the "
                "NAS-Bench-201 oracle front.",
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
    fig, ax = subplots(figsize=(4.8, 3.0))
    x = np.arange(len(cost))
    for i, r in enumerate(cost.itertuples(index=False)):
        ax.bar(i, r.mean, yerr=r.sd or None, color=f"C{i}", edgecolor="black", hatch="//" if r.extrapolated else "",
               capsize=2)
        label = _duration(r.mean) + (f"\nextrapolated:\n{r.runs:.0f} of {r.full:.0f} runs" if r.extrapolated
                                     else f"\n{r.full:.0f} run" + ("s" if r.full != 1 else ""))
        ax.text(i, r.mean * 1.15, label, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, cost["method"], fontsize=7)
    ax.set_yscale("log")
    positive = cost.loc[cost["mean"] > 0, "mean"]
    if len(positive):  # a zero-cost bar (nothing to search) cannot sit on a log axis
        ax.set_ylim(positive.min() / 3, positive.max() * 20)
    ax.set_ylabel("search wall-clock for all devices\nand budgets (s, log scale)", fontsize=7)
    return save(fig, out_dir, "fig10_search_cost",
                "Wall-clock search cost of the whole front (8 devices x 5 budgets) per method: one run for the "
                "conditioned methods, one run per (device, trade-off) for fbnet. Hatched bars are extrapolated "
                "from the measured per-run cost of the runs actually made (labelled); error bars: sd over seeds.",
                ["results/summary/comparison.csv"])


def fig11_specialisation(spec: pd.DataFrame, out_dir, methods: list[str] | None = None) -> Path:
    """Fig. 11: specialisation matrices: the answer for device h (rows) scored on device h' (columns)."""
    s = spec[spec["metric"] == "mean_regret"]
    methods = methods or _ordered(s["method"].unique())
    grids = {m: s[s["method"] == m].pivot_table(index="device", columns="device_to", values="value", aggfunc="mean")
             for m in methods}
    grids = {m: g for m, g in grids.items() if not g.empty}
    values = np.concatenate([g.to_numpy().ravel() for g in grids.values()]) if grids else np.zeros(1)
    vmin, vmax = min(0.0, float(np.nanmin(values))), max(1.0, float(np.nanmax(values)))
    ncol = min(3, max(len(grids), 1))
    nrow = -(-max(len(grids), 1) // ncol)
    fig, axes = subplots(nrow, ncol, figsize=(3.3 * ncol, 3.2 * nrow), squeeze=False, layout="constrained")
    for i, (ax, (method, grid)) in enumerate(zip(axes.flat, grids.items())):
        sns.heatmap(grid, ax=ax, annot=True, fmt=".1f", cmap="Greys", vmin=vmin, vmax=vmax, cbar=False,
                    annot_kws={"fontsize": 5})
        ax.set_title(method, fontsize=8)
        ax.set_xlabel("measured on device h'" if i // ncol == nrow - 1 else "", fontsize=7)
        ax.set_ylabel("derived for device h" if i % ncol == 0 else "", fontsize=7)
        ax.tick_params(labelsize=5)
    for ax in list(axes.flat)[len(grids):]:
        ax.axis("off")
    if grids:
        fig.colorbar(axes.flat[0].collections[0], ax=axes, shrink=0.6, label="mean budget regret on h' (points)")
    return save(fig, out_dir, "fig11_specialisation",
                "Specialisation: mean budget regret (points) on device h' of the architectures a method returns for "
                "device h at the same budget quantiles (mean over seeds); the diagonal is the method's own regret; "
                "a negative value means the architecture exceeds the budget of h' (a violation).",
                ["results/summary/specialisation.csv"])
