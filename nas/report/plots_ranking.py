"""Figure of how well the supernet ranks cells, from ``results/summary/ranking.csv`` only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nas.report.style import TEXT_WIDTH_IN, save, subplots

FIGURES = ("fig17_ranking",)
SUMMARY = ("tau_all", "tau_top", "noise_floor")
LABELS = {"tau_all": "all probe cells", "tau_top": "top 20 % (benchmark)", "noise_floor": "noise floor"}
OURS = "darts-cc-hw"


def _supernet_rows(ranking: pd.DataFrame) -> pd.DataFrame:
    """One run per seed stands for its supernet: ours on every device (the supernet rows repeat per run)."""
    ours = ranking[(ranking["method"] == OURS) & ~ranking["run_id"].str.contains("_without-")]
    first = ours.groupby("seed")["run_id"].min()
    return ours[ours["run_id"].isin(first.values)]


def fig17_ranking(ranking: pd.DataFrame, out_dir) -> Path | None:
    """Fig. 17: Kendall tau of the one-shot score vs benchmark accuracy (whole probe set, its top cells,
    the noise floor; mean and sd over seeds), within latency terciles per device, and each method's
    generator agreement with its supernet. None when no run has supernet weights."""
    if ranking.empty:
        return None
    sup = _supernet_rows(ranking)
    if sup.empty:
        return None
    seeds = sorted(sup["seed"].unique())
    fig, (a, b, c) = subplots(1, 3, figsize=(TEXT_WIDTH_IN, 3.0), layout="constrained",
                              gridspec_kw={"width_ratios": [1, 2.4, 1.4]})
    top = sup[sup["metric"].isin(SUMMARY)].groupby("metric")["value"].agg(["mean", "std"]).reindex(list(SUMMARY))
    a.bar(range(len(SUMMARY)), top["mean"], yerr=top["std"].fillna(0), capsize=3,
          color=["#0072B2", "#56B4E9", "#999999"])
    a.set_xticks(range(len(SUMMARY)), [LABELS[m] for m in SUMMARY], rotation=30, ha="right")
    a.set_ylabel("Kendall tau")
    bands = sup[sup["metric"] == "tau_band"].pivot_table(index="device", columns="band", values="value",
                                                          aggfunc="mean")
    x = np.arange(len(bands))
    for k, band in enumerate(bands.columns):
        b.bar(x + (k - 1) * 0.27, bands[band], width=0.27, label=f"latency tercile {band}")
    b.set_xticks(x, bands.index, rotation=30, ha="right")
    b.axhline(float(top.loc["tau_all", "mean"]), color="black", lw=0.8, ls="--", label="all cells")
    b.legend(loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=2, fontsize=8, frameon=False)
    b.set_title("within latency bands")
    gen = ranking[ranking["metric"] == "tau_generator"]
    per_run = gen.groupby(["method", "seed", "run_id"])["value"].mean().reset_index()
    per_method = per_run.groupby("method", sort=False)["value"].agg(["mean", "std"])
    c.barh(range(len(per_method)), per_method["mean"], xerr=per_method["std"].fillna(0), capsize=3, color="#009E73")
    c.set_yticks(range(len(per_method)), per_method.index)
    c.invert_yaxis()
    c.set_title("generator at lam = 0\nvs its supernet")
    a.axhline(0, color="black", lw=0.5), b.axhline(0, color="black", lw=0.5), c.axvline(0, color="black", lw=0.5)
    n = int(sup.loc[sup["metric"] == "tau_all", "n"].iloc[0])
    images = int(sup.loc[sup["metric"] == "n_images", "value"].iloc[0])
    caption = (f"Ranking of the {OURS} supernets (seeds {', '.join(map(str, seeds))}; bars: mean, whiskers: sd over "
               f"seeds): Kendall tau between the one-shot score (cross-entropy of each cell's single path through "
               f"the final supernet weights on {images} held-out images) and the NAS-Bench-201 CIFAR-10 accuracy over "
               f"{n} seeded valid probe cells, over the top 20 % of them, and the noise floor (tau between scores on "
               "two disjoint image sets); middle: within terciles of each device's measured latency (mean over "
               "seeds); right: tau between each method's generator log-probability at lam = 0 and its supernet's "
               "score (no benchmark involved; mean over devices, sd over runs).")
    return save(fig, out_dir, "fig17_ranking", caption, ["results/summary/ranking.csv"])
