"""Figures of the budget answers a reviewer asks for: the unseen device, regret by budget quantile,
predicted vs measured latency, and seed variance. Like ``nas.report.plots``: read ``results/summary``
files only, never recompute a metric, save through :func:`nas.report.style.save`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nas.report.plots import GIVEN_AS, held_out_runs, run_labels
from nas.report.plots_baselines import _ordered
from nas.report.style import MARKERS, TEXT_WIDTH_IN, save, subplots

FIGURES = ("fig13_unseen_device", "fig14_regret_by_budget", "fig15_pred_vs_measured", "fig16_seed_variance")


def _methods(df: pd.DataFrame) -> list[str]:
    """The compared methods of ``df`` in report order, without the reference rows."""
    return [m for m in _ordered(df["method"].unique()) if m not in ("oracle", "oracle-front")
            and not str(m).startswith("published")]


def fig13_unseen_device(derived: pd.DataFrame, front: pd.DataFrame, comparison: pd.DataFrame, runs: pd.DataFrame,
                        out_dir) -> Path:
    """Fig. 13: the held-out device, given by name (trained on) or as 10 or 300 measured architectures
    (never seen), against its oracle front: one panel per way of giving it."""
    csv_rows = derived[derived["device_given_as"].str.startswith("csv")]
    device = sorted(csv_rows["device"].unique())[0] if len(csv_rows) else sorted(derived["device"].unique())[0]
    d = derived[derived["device"] == device]
    labels = run_labels(runs)
    ways = sorted(d.groupby(["run_id", "device_given_as"]).groups, key=lambda k: (k[1] != "name", len(k[1]), k[1]))
    regret = comparison[(comparison["device"] == device) & (comparison["metric"] == "mean_regret")]
    regret = regret.set_index(["run_id", "device_given_as"])["value"]
    fig, axes = subplots(1, len(ways), figsize=(TEXT_WIDTH_IN, 3.3), sharey=True, squeeze=False, layout="constrained")
    right = 1.15 * float(np.nanmax(d[["meas_latency_ms", "budget_ms"]].to_numpy()))
    f = front[(front["device"] == device) & (front["latency_ms"] <= right)]
    for ax, (run_id, given_as) in zip(axes.flat, ways):
        g = d[(d["run_id"] == run_id) & (d["device_given_as"] == given_as)]
        lam, bud = g[g["budget_ms"].isna()], g[g["budget_ms"].notna()]
        ax.step(f["latency_ms"], f["acc"], where="post", color="gray", label="oracle front")
        ax.scatter(lam["meas_latency_ms"], lam["acc"], c=lam["lam"], cmap="viridis", vmin=0, vmax=1, s=18,
                   edgecolor="black", linewidth=0.3, label="lam sweep")
        over = bud["meas_latency_ms"] > bud["budget_ms"]
        ax.scatter(bud["meas_latency_ms"], bud["acc"], marker="x", color="red", s=30, label="budget answers")
        ax.scatter(bud.loc[over, "meas_latency_ms"], bud.loc[over, "acc"], marker="o", s=90, facecolor="none",
                   edgecolor="red", label="over its budget")
        for b in bud["budget_ms"]:
            ax.axvline(b, color="red", lw=0.5, ls=":")
        value = regret.get((run_id, given_as), np.nan)
        ax.set_title(f"{GIVEN_AS.get(given_as, given_as)}\n{labels.get(run_id, run_id).split(', ', 1)[-1]}\n"
                     f"mean regret {value:.2f}")
        ax.set_xlim(0, right)
        ax.set_ylim(max(70, float(g["acc"].min()) - 2), 95)
    axes.flat[0].set_ylabel("NAS-Bench-201 CIFAR-10 test accuracy (%)")
    axes.flat[0].legend(loc="lower right")
    fig.supxlabel(f"measured latency on {device} (ms)")
    return save(fig, out_dir, "fig13_unseen_device",
                f"The device {device} held out: answers of the run trained with it (given by name) and of the run "
                f"trained without it, where {device} is given only as whole-network measurements of 10 or 300 "
                "architectures (lookup table fitted from them), against its NAS-Bench-201 oracle front. Dots: lam "
                "sweep (colour: lam_norm); red x: the five budget answers (dotted: the budgets), ringed if their "
                "measured latency exceeds the budget. Titles: mean budget regret (points).",
                ["results/summary/derived.csv", "results/summary/oracle_front.csv",
                 "results/summary/comparison.csv", "results/summary/runs.csv"])


def fig14_regret_by_budget(answers: pd.DataFrame, out_dir) -> Path:
    """Fig. 14: regret per budget quantile and method: one dot per device (first seed), median bar."""
    methods = _methods(answers)
    quantiles = sorted(answers["budget_q"].unique())
    fig, ax = subplots(figsize=(TEXT_WIDTH_IN, 3.4))
    width = 0.8 / max(len(methods), 1)
    rng = np.random.default_rng(0)  # horizontal jitter only, for legibility
    for i, method in enumerate(methods):
        m = answers[answers["method"] == method]
        m = m[m["seed"] == m["seed"].min()] if m["seed"].notna().any() else m
        for j, q in enumerate(quantiles):
            v = m.loc[m["budget_q"] == q, "regret"].to_numpy(float)
            if not v.size:
                continue
            x0 = j + (i - (len(methods) - 1) / 2) * width
            ax.scatter(x0 + rng.uniform(-0.3, 0.3, v.size) * width, v, s=10, color=f"C{i}", marker=MARKERS[i % 8],
                       alpha=0.8, label=method if j == 0 else None)
            ax.hlines(np.median(v), x0 - 0.45 * width, x0 + 0.45 * width, color="black", lw=1.5)
    ax.set_xticks(range(len(quantiles)), [f"{100 * q:g} %" for q in quantiles])
    ax.set_xlabel("latency budget (quantile of the device's latency over the space)")
    ax.set_ylabel("regret (points)")
    ax.set_ylim(bottom=0)
    ax.legend(ncol=len(methods), loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return save(fig, out_dir, "fig14_regret_by_budget",
                "Budget regret (CIFAR-10 test accuracy points below the best architecture within the budget) per "
                "budget quantile and method: one dot per device (first seed), black bar: median over the devices. "
                "fbnet searched one device only.", ["results/summary/method_answers.csv"])


def fig15_pred_vs_measured(answers: pd.DataFrame, out_dir) -> Path:
    """Fig. 15: predicted vs measured latency of every budget answer, both relative to its budget."""
    methods = _methods(answers)
    devices = sorted(answers["device"].unique())
    ncol = 3
    nrow = -(-(len(methods) + 1) // ncol)
    fig, axes = subplots(nrow, ncol, figsize=(TEXT_WIDTH_IN, 2.4 * nrow), sharex=True, sharey=True, squeeze=False,
                         layout="constrained")
    a = answers.assign(pred=answers["pred_latency_ms"] / answers["budget_ms"],
                       meas=answers["meas_latency_ms"] / answers["budget_ms"])
    top = 1.1 * float(np.nanmax(a[["pred", "meas"]].to_numpy()))
    low = min(0.0, 1.1 * float(np.nanmin(a[["pred", "meas"]].to_numpy())))  # a negative prediction stays visible
    for ax, method in zip(axes.flat, methods):
        m = a[a["method"] == method]
        ax.axhspan(1, top, color="red", alpha=0.08, lw=0)
        ax.plot([low, top], [low, top], color="gray", lw=0.8)
        ax.axhline(1, color="red", lw=0.6), ax.axvline(1, color="gray", lw=0.6, ls=":")
        for k, dev in enumerate(devices):
            g = m[m["device"] == dev]
            ax.scatter(g["pred"], g["meas"], s=14, marker=MARKERS[k % 8], color=f"C{k}", label=dev)
        n_over = int(m["violation"].astype(bool).sum())
        ax.set_title(f"{method}: {n_over} of {len(m)} over")
    for ax in list(axes.flat)[len(methods):]:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    list(axes.flat)[len(methods)].legend(handles, names, loc="center", title="device", frameon=False)
    axes.flat[0].set_xlim(low, top), axes.flat[0].set_ylim(low, top)
    fig.supxlabel("predicted latency / budget (the method's lookup table)")
    fig.supylabel("measured latency / budget")
    return save(fig, out_dir, "fig15_pred_vs_measured",
                "Predicted (lookup table) vs measured latency of every budget answer, both relative to its budget, "
                "first seed. Above the red line (shaded) an answer exceeds its budget on measured latency; right of "
                "the dotted line the method knew it did (no architecture met the budget, or it ignores budgets: "
                "darts). Points left of the dotted line in the shaded band are violations the lookup table did not "
                "predict; grey: y = x.", ["results/summary/method_answers.csv"])


def fig16_seed_variance(comparison: pd.DataFrame, runs: pd.DataFrame, out_dir) -> Path:
    """Fig. 16: mean budget regret per device and method, one dot per seed (mean and sd once there are seeds)."""
    c = comparison[(comparison["metric"] == "mean_regret") & (comparison["device_given_as"] == "name")
                   & comparison["device"].isin(comparison.loc[comparison["method"] == "darts", "device"].unique())]
    methods = _methods(c)
    devices = sorted(c["device"].unique())
    n_seeds = int(c.groupby("method")["seed"].nunique().max()) if len(c) else 0
    fig, ax = subplots(figsize=(TEXT_WIDTH_IN, 3.4))
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        m = c[(c["method"] == method) & ~c["run_id"].isin(held_out_runs(runs))]
        x0 = np.arange(len(devices)) + (i - (len(methods) - 1) / 2) * width
        for k, dev in enumerate(devices):
            v = m.loc[m["device"] == dev, "value"].to_numpy(float)
            ax.scatter(np.full(v.size, x0[k]), v, s=14, color=f"C{i}", marker=MARKERS[i % 8],
                       label=method if k == 0 else None)
            if v.size > 1:  # sd over seeds, cut at zero (regret is never negative)
                sd = v.std(ddof=1)
                ax.errorbar(x0[k], v.mean(), [[min(sd, v.mean())], [sd]], color="black", capsize=2)
    ax.grid(axis="x", visible=False)
    for k in range(len(devices) - 1):  # one column per device, its methods side by side
        ax.axvline(k + 0.5, color="0.85", lw=0.8, zorder=0)
    ax.set_xlim(-0.5, len(devices) - 0.5)
    ax.set_xticks(range(len(devices)), devices, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylabel("mean budget regret (points)")
    ax.set_ylim(bottom=0)
    ax.legend(ncol=len(methods), loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    seeds = ("One seed per method so far: each dot is that seed, and there is no seed variance to show."
             if n_seeds <= 1 else f"Dots: the {n_seeds} seeds; black: mean and sd over seeds.")
    return save(fig, out_dir, "fig16_seed_variance",
                "Seed variance of the mean budget regret per device and method (runs trained on every device, "
                f"device given by name). {seeds}", ["results/summary/comparison.csv", "results/summary/runs.csv"])
