"""Paper tables as Markdown and LaTeX, built from ``results/summary`` files only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nas.results import atomic_write_text

# every table the figure stage writes (checked by the smoke test)
TABLES = ("table1_regret", "table2_lut_fit", "table3_latency_validation", "table4_comparison")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir: str | Path, name: str, caption: str) -> dict[str, Path]:
    """Write ``name.md`` (caption + table) and ``name.tex`` (tabular with caption)."""
    out = Path(out_dir)
    md = atomic_write_text(out / f"{name}.md", f"{caption}\n\n{to_markdown(df)}")
    tex = atomic_write_text(out / f"{name}.tex", df.to_latex(index=False, caption=caption, label=f"tab:{name}",
                                                             na_rep="--", escape=True))
    return {"md": md, "tex": tex}


def of_main_runs(comparison: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The ``comparison.csv`` rows of the runs of ``03_search`` (listed in ``runs.csv``), without the
    rows ``05_baselines`` adds for the compared methods (Table 4)."""
    return comparison[comparison["run_id"].isin(set(runs["run_id"]))]


def regret_table(comparison: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Table 1: per run, device and how the device was given: regret, violations, rho; random-search references."""
    per_device = comparison[comparison["device"] != "all"]  # "all": search-cost rows of the comparison
    wide = per_device.pivot_table(index=["run_id", "device", "device_given_as"], columns="metric",
                                  values="value").reset_index()
    ref = reference.groupby(["device", "n"])["mean_regret"].agg(["mean", "std"])
    for n in sorted(reference["n"].unique()):
        text = {d: f"{r['mean']:.2f} ± {r['std']:.2f}" for (d, k), r in ref.iterrows() if k == n}
        wide[f"random{n} regret"] = wide["device"].map(text)
    wide["violations"] = wide["violations"].astype(int).astype(str) + "/5"
    cols = ["run_id", "device", "device_given_as", "mean_regret", "mean_regret_vs_lut_oracle", "violations",
            "spearman_lam_latency"]
    cols = [c for c in cols if c in wide.columns]
    return wide[cols + [c for c in wide.columns if c.startswith("random")]].round(2)


def lut_table(lut: pd.DataFrame) -> pd.DataFrame:
    """Table 2: held-out quality and per-op costs of each device's lookup table."""
    t = lut[["device", "origin", "n_fit", "n_test", "r2", "kendall_tau", "cost_skip_connect_ms",
             "cost_nor_conv_1x1_ms", "cost_nor_conv_3x3_ms", "cost_avg_pool_3x3_ms", "base"]].copy()
    t[["n_fit", "n_test"]] = t[["n_fit", "n_test"]].astype(int)
    return t.round(3)


def latency_validation_table(validation: pd.DataFrame, ratios: pd.DataFrame) -> pd.DataFrame:
    """Table 3: lookup tables of this machine's runtimes vs end-to-end latency, with op cost ratios."""
    t = validation.merge(ratios.assign(runtime=ratios["device"].str.removeprefix("local-")),
                         on=["runtime", "lut_kind"], how="left")
    cols = ["runtime", "lut_kind", "n_fit", "n_test", "kendall_tau", "spearman", "r2", "mape_pct", "within10_pct",
            "slope", "intercept", "conv3x3_to_conv1x1", "pool_to_conv1x1"]
    return t[cols].round(3)
