"""Table 4 of the paper, from ``comparison.csv`` only: per method and device, mean ± sd over seeds of
the regret, violations, hypervolume, trade-off rho and accuracy, and the search cost of the front."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nas.methods.registry import REPORT_ORDER
from nas.evaluation.scores import PUBLISHED_CITATION

METHOD_ORDER = REPORT_ORDER
TABLE3_METRICS = ("mean_regret", "violations", "hypervolume", "spearman", "mean_acc")


def _fmt(values: pd.Series, digits: int | None) -> str:
    """Mean ± sd (sd only with several values); ``digits=None``: 0 decimals from 100 on, else 1."""
    v = values.dropna().astype(float)
    if v.empty:
        return ""
    if digits is None:
        digits = 0 if abs(v.mean()) >= 100 else 1
    if len(v) == 1:
        return f"{v.iloc[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Table 4: per method and device, mean ± sd over seeds; per method the mean over its devices and
    the search cost of the whole front (``*``: extrapolated from the measured runs)."""
    c = comparison[comparison["device_given_as"] == "name"].copy()
    # rows of nas.evaluation.comparison only: the (method, run, device) it scored, plus those runs' cost rows
    # ("all"); not 04_derive's held-out runs or local runtimes
    scored = c[c["metric"] == "hypervolume"]  # every scored device has one (oracle-front included)
    runs = scored[["method", "run_id"]].drop_duplicates()
    per_device = c.merge(scored[["method", "run_id", "device"]].drop_duplicates(), on=["method", "run_id", "device"])
    c = pd.concat([per_device, c[c["device"] == "all"].merge(runs, on=["method", "run_id"])], ignore_index=True)
    c["metric"] = c["metric"].replace({"spearman_lam_latency": "spearman", "spearman_beta_latency": "spearman"})
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    rows = []
    for method in sorted(c["method"].unique(), key=lambda m: order.get(m, 99)):
        m = c[c["method"] == method]
        per_dev = m[m["device"] != "all"]
        for device, g in per_dev.groupby("device"):
            rows.append(_table_row(method, device, g))
        seed_means = per_dev.groupby(["metric", "seed"], dropna=False)["value"].mean().reset_index()
        row = _table_row(method, f"mean ({per_dev['device'].nunique()} devices)", seed_means)
        row["search s (full front)"] = _cost_cell(m[m["device"] == "all"])
        rows.append(row)
    for _, r in comparison[comparison["metric"] == "test_acc"].iterrows():
        rows.append({"method": r["method"], "device": "(no budget)", "mean acc (%)": f"{r['value']:.2f}"})
    cols = ["method", "device", "seeds", "mean regret (pts)", "violations (of 5)", "hypervolume",
            "rho(trade-off, latency)", "mean acc (%)", "search s (full front)"]
    return pd.DataFrame(rows).reindex(columns=cols)


def _table_row(method: str, device: str, g: pd.DataFrame) -> dict:
    val = lambda k: g.loc[g["metric"] == k, "value"]  # noqa: E731
    n = int(g.loc[g["metric"] == "mean_regret", "seed"].notna().sum())
    return {"method": method, "device": device, "seeds": str(n) if n else "",
            "mean regret (pts)": _fmt(val("mean_regret"), 2), "violations (of 5)": _fmt(val("violations"), 1),
            "hypervolume": _fmt(val("hypervolume"), 3), "rho(trade-off, latency)": _fmt(val("spearman"), 2),
            "mean acc (%)": _fmt(val("mean_acc"), 2)}


def _cost_cell(g: pd.DataFrame) -> str:
    exact = g.loc[g["metric"] == "search_seconds_total", "value"]
    if exact.size:
        return _fmt(exact, None)
    extra = g.loc[g["metric"] == "search_seconds_total_extrapolated", "value"]
    if extra.size:
        runs = g.loc[g["metric"] == "search_runs", "value"]
        full = g.loc[g["metric"] == "search_runs_full_front", "value"]
        return f"{_fmt(extra, None)}* ({int(runs.mean())} of {int(full.mean())} runs)"
    archs = g.loc[g["metric"] == "evaluated_archs", "value"]
    return f"{int(archs.mean())} archs trained" if archs.size else ""


def write_comparison_table(comparison: pd.DataFrame, table_dir: str | Path, profile: str) -> dict[str, Path]:
    """Write ``table4_comparison.{md,tex}`` from ``comparison.csv``."""
    from nas.report.tables import write_table

    caption = (f"Table 4. Methods compared on NAS-Bench-201 (profile {profile}): mean budget regret (accuracy "
               "points) and violations over the 10/25/50/75/100 % latency budgets of each device, hypervolume of "
               "the five answers (latency / max latency, accuracy; reference (1, 10 %)), Spearman rho of measured "
               "latency vs the trade-off (lam; beta for fbnet), mean accuracy of the answers, and wall-clock "
               "search cost of the whole front (8 devices x 5 budgets; * = extrapolated from the measured "
               "per-run cost). Published rows: " + PUBLISHED_CITATION + ". Source: results/summary/comparison.csv.")
    return write_table(comparison_table(comparison), table_dir, "table4_comparison", caption)
