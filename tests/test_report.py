"""Paper figures from the committed summaries: every figure written with its caption, printable
(one text width, no text under 8 pt), labelled from the runs' own fields, captions true to the data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nas.report import plots, plots_answers, plots_baselines, plots_performance, style

REPO = Path(__file__).resolve().parents[1]
SUMMARY = REPO / "results/summary"
ALL_FIGURES = plots.FIGURES + plots_baselines.FIGURES + plots_performance.FIGURES + plots_answers.FIGURES


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> Path:
    from nas.stages.figures import FiguresConfig, draw_figures, read_summaries

    out = tmp_path_factory.mktemp("figures")
    plots.apply_style()
    draw_figures(read_summaries(SUMMARY), FiguresConfig(summary_dir=str(SUMMARY), fig_dir=str(out)))
    return out


def test_every_figure_has_pdf_png_and_a_caption_naming_its_sources(drawn):
    for name in ALL_FIGURES:
        assert (drawn / f"{name}.pdf").stat().st_size > 0
        caption = (drawn / f"{name}.txt").read_text()
        assert "Source: results/summary/" in caption, name


def test_figures_fit_one_text_width(drawn):
    from PIL import Image

    dpi = 200  # savefig.dpi of the paper style
    for name in ALL_FIGURES:
        width_px, _ = Image.open(drawn / f"{name}.png").size
        assert width_px / dpi <= style.TEXT_WIDTH_IN + 0.25, f"{name} is {width_px / dpi:.2f} in wide"


def test_save_refuses_text_below_8_pt(tmp_path):
    style.apply_style()
    fig, ax = style.subplots()
    ax.set_title("tiny", fontsize=5)
    with pytest.raises(ValueError, match="8 pt"):
        style.save(fig, tmp_path, "tiny", "caption", ["results/summary/x.csv"])
    assert not (tmp_path / "tiny.png").exists()


def test_run_labels_come_from_the_runs_fields_and_are_distinct():
    runs = pd.read_csv(SUMMARY / "runs.csv")
    labels = plots.run_labels(runs)
    assert len(set(labels.values())) == len(runs)  # run_id.split('_s')[0] mapped two runs to one label
    held = plots.held_out_runs(runs)
    assert all("without" in labels[r] for r in held) and not any("without" in labels[r] for r in set(labels) - held)


def test_one_seed_captions_say_so(drawn):
    comparison = pd.read_csv(SUMMARY / "comparison.csv")
    if comparison.groupby("method")["seed"].nunique().max() > 1:
        pytest.skip("the committed results have several seeds")
    for name in ("fig10_search_cost", "fig16_seed_variance"):
        text = (drawn / f"{name}.txt").read_text()
        assert "One seed" in text and "sd over seeds." not in text, name


def test_notebook_headings_and_captions_come_from_the_figure_files(drawn):
    from nas.report.show import caption_of, title_of

    assert title_of(drawn / "fig13_unseen_device.png") == "Figure 13: unseen device"
    assert caption_of(drawn / "fig13_unseen_device.png") == (drawn / "fig13_unseen_device.txt").read_text().strip()
    assert caption_of(drawn / "missing.png") == ""
