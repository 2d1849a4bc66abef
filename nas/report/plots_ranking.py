"""Figure of how well the supernet ranks cells, from ``results/summary/ranking.csv`` only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nas.report.style import TEXT_WIDTH_IN, save, subplots

FIGURES = ("fig17_ranking",)
SUMMARY = ("tau_all", "tau_top", "noise_floor")
LABELS = {"tau_all": "all probe cells", "tau_top": "top 20 % (benchmark)", "noise_floor": "noise floor"}


def fig17_ranking(ranking: pd.DataFrame, out_dir) -> Path | None:
    """Fig. 17: Kendall tau of the one-shot score vs benchmark accuracy (whole probe set, its top cells,
    the noise floor), within latency terciles per device, and the generator's agreement with its
    supernet. None when no run kept its supernet weights."""
    if ranking.empty:
        return None
    run = sorted(ranking["run_id"].unique())[0]
    r = ranking[ranking["run_id"] == run]
    fig, (a, b, c) = subplots(1, 3, figsize=(TEXT_WIDTH_IN, 2.9), layout="constrained",
                              gridspec_kw={"width_ratios": [1, 2.4, 1.6]})
    top = r[r["metric"].isin(SUMMARY)].set_index("metric").reindex(list(SUMMARY))
    a.bar(range(len(SUMMARY)), top["value"], color=["#0072B2", "#56B4E9", "#999999"])
    a.set_xticks(range(len(SUMMARY)), [LABELS[m] for m in SUMMARY], rotation=30, ha="right")
    a.set_ylabel("Kendall tau")
    bands = r[r["metric"] == "tau_band"].pivot_table(index="device", columns="band", values="value")
    x = np.arange(len(bands))
    for k, band in enumerate(bands.columns):
        b.bar(x + (k - 1) * 0.27, bands[band], width=0.27, label=f"latency tercile {band}")
    b.set_xticks(x, bands.index, rotation=30, ha="right")
    b.axhline(float(top.loc["tau_all", "value"]), color="black", lw=0.8, ls="--", label="all cells")
    b.legend(loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=2, fontsize=8, frameon=False)
    b.set_title("within latency bands")
    gen = r[r["metric"] == "tau_generator"].set_index("device")["value"]
    c.barh(range(len(gen)), gen.to_numpy(), color="#009E73")
    c.set_yticks(range(len(gen)), gen.index)
    c.set_title("generator at lam = 0\nvs supernet score")
    for ax in (a, b, c):
        ax.axhline(0, color="black", lw=0.5) if ax is not c else ax.axvline(0, color="black", lw=0.5)
    n = int(r.loc[r["metric"] == "tau_all", "n"].iloc[0])
    images = int(r.loc[r["metric"] == "n_images", "value"].iloc[0])
    caption = (f"Ranking of the supernet of {run}: Kendall tau between the one-shot score (cross-entropy of each "
               f"cell's single path through the final supernet weights on {images} held-out images) and the "
               f"NAS-Bench-201 CIFAR-10 accuracy over {n} seeded valid probe cells, over the top 20 % of them, and "
               "the noise floor (tau between scores on two disjoint image sets); middle: within terciles of each "
               "device's measured latency; right: tau between the generator's log-probability at lam = 0 and the "
               "supernet's score (no benchmark involved). One seed.")
    return save(fig, out_dir, "fig17_ranking", caption, ["results/summary/ranking.csv"])
