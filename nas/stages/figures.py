"""Stage ``06_figures``: Figures 1-16 and Tables 1-4 of the paper from ``results/summary/*.csv`` only.

Figures go to ``fig_dir`` (``fig<N>_<slug>.{pdf,png,txt}``), tables to ``table_dir`` (Markdown and
LaTeX with their captions). No metric is recomputed here. Paths are relative to the working
directory (the notebook runs in ``notebooks/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from nas.stages.environment import PROFILES

CAPTIONS = {
    "table1_regret": "Table 1. Mean budget regret (points), budget violations and Spearman rho of measured latency vs lam "
                     "per device; random-search references over 20 seeds. Source: results/summary/comparison.csv, "
                     "results/summary/random_reference.csv.",
    "table2_lut_fit": "Table 2. Lookup tables fitted on 300 measured architectures per device: held-out R^2 and Kendall "
                      "tau, per-edge op costs and base (ms). Source: results/summary/lut_fit.csv.",
    "table3_latency_validation": "Table 3. Lookup tables of this machine's runtimes (isolated-op and regression on 200 "
                                 "end-to-end measurements) against 100 held-out architectures measured end to end, with op "
                                 "cost ratios. Source: results/summary/latency_validation.csv, "
                                 "results/summary/op_cost_ratios.csv.",
}


@dataclass(frozen=True)
class FiguresConfig:
    """Config of stage 06 (the fields of the notebook's ``parameters`` cell)."""

    profile: str = "default"  # smoke | default | full
    summary_dir: str = "../results/summary"  # inputs: the tidy summary CSVs
    fig_dir: str = "../figures"  # output figures
    table_dir: str = "../results/tables"  # output tables (Markdown, LaTeX)
    main_run: str = "darts-cc-hw_nb201_cifar10_s0"  # run shown in the per-run figures
    detail_devices: tuple[str, ...] = ("titan_rtx_1", "raspi4", "eyeriss", "fpga")  # devices of Figs. 3 and 5

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")


class FiguresResult(NamedTuple):
    """What the stage shows: the summaries read, the figure files (PNG), Table 1 and Table 4."""

    summaries: list[str]
    figures: list[Path]
    table1: pd.DataFrame
    table4: pd.DataFrame


def read_summaries(summary_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Every declared summary (``nas.results.SUMMARY_COLUMNS``) present in ``summary_dir``, by file name."""
    from nas.results import SUMMARY_COLUMNS

    return {name: pd.read_csv(Path(summary_dir) / name) for name in SUMMARY_COLUMNS
            if (Path(summary_dir) / name).exists()}


def draw_figures(summary: dict[str, pd.DataFrame], cfg: FiguresConfig) -> list[Path]:
    """Figures 1-17, in order (17 only where a run kept its supernet weights); returns their PNG paths."""
    from nas.report import plots, plots_answers, plots_baselines, plots_performance, plots_ranking
    from nas.report import tables as paper_tables

    fig_dir, main_run, detail = cfg.fig_dir, cfg.main_run, list(cfg.detail_devices)
    main_rows = paper_tables.of_main_runs(summary["comparison.csv"], summary["runs.csv"])  # Table 1, Fig. 1
    paths = [
        plots.budget_regret(main_rows, summary["random_reference.csv"], summary["runs.csv"], fig_dir),
        plots.fronts(summary["derived.csv"], summary["oracle_front.csv"], fig_dir, main_run),
        plots.arch_probs(summary["arch_probs.csv"], fig_dir, main_run, detail),
        plots.control(summary["derived.csv"], summary["comparison.csv"], fig_dir, main_run),
        plots.cells(summary["derived.csv"], fig_dir, main_run, detail[:2]),
        plots.device_similarity(summary["device_similarity.csv"], fig_dir),
        plots.lut_scatter(summary["latency_points.csv"], fig_dir),
        plots.search_curves(summary["search_history.csv"], fig_dir, summary["runs.csv"]),
        plots_baselines.fig9_fronts_methods(summary["method_answers.csv"], summary["oracle_front.csv"], fig_dir),
        plots_baselines.fig10_search_cost(summary["comparison.csv"], fig_dir),
        plots_baselines.fig11_specialisation(summary["specialisation.csv"], fig_dir),
        plots_performance.fig12_performance(summary["performance.csv"], fig_dir),
        plots_answers.fig13_unseen_device(summary["derived.csv"], summary["oracle_front.csv"], main_rows,
                                          summary["runs.csv"], fig_dir),
        plots_answers.fig14_regret_by_budget(summary["method_answers.csv"], fig_dir),
        plots_answers.fig15_pred_vs_measured(summary["method_answers.csv"], fig_dir),
        plots_answers.fig16_seed_variance(summary["comparison.csv"], summary["runs.csv"], fig_dir),
        plots_ranking.fig17_ranking(summary.get("ranking.csv", pd.DataFrame()), fig_dir),
    ]
    return [p for p in paths if p is not None]


def write_tables(summary: dict[str, pd.DataFrame], cfg: FiguresConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 1-4 (Markdown and LaTeX, with captions); returns Table 1 and Table 4."""
    from nas.evaluation.comparison_table import comparison_table, write_comparison_table
    from nas.report import tables as paper_tables

    main_rows = paper_tables.of_main_runs(summary["comparison.csv"], summary["runs.csv"])
    table1 = paper_tables.regret_table(main_rows, summary["random_reference.csv"])
    paper_tables.write_table(table1, cfg.table_dir, "table1_regret", CAPTIONS["table1_regret"])
    table2 = paper_tables.lut_table(summary["lut_fit.csv"])
    paper_tables.write_table(table2, cfg.table_dir, "table2_lut_fit", CAPTIONS["table2_lut_fit"])
    table3 = paper_tables.latency_validation_table(summary["latency_validation.csv"], summary["op_cost_ratios.csv"])
    paper_tables.write_table(table3, cfg.table_dir, "table3_latency_validation", CAPTIONS["table3_latency_validation"])
    write_comparison_table(summary["comparison.csv"], cfg.table_dir, cfg.profile)
    return table1, comparison_table(summary["comparison.csv"])


def run(cfg: FiguresConfig) -> FiguresResult:
    """Draw every figure and write every table from the summaries of ``cfg.summary_dir``."""
    from nas.report import plots

    summary = read_summaries(cfg.summary_dir)
    plots.apply_style()
    figures = draw_figures(summary, cfg)
    table1, table4 = write_tables(summary, cfg)
    return FiguresResult(sorted(summary), figures, table1, table4)
