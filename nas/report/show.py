"""Figures and tables shown inline in the notebooks: a heading, the caption file and the image per
figure; tables with every row and column. IPython is imported when a function is called."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


def caption_of(png: str | Path) -> str:
    """The caption written beside ``png`` by :func:`nas.report.style.save` (``""`` when absent)."""
    txt = Path(png).with_suffix(".txt")
    return txt.read_text(encoding="utf-8").strip() if txt.exists() else ""


def title_of(png: str | Path) -> str:
    """A heading from a figure's file name: ``fig9_fronts_methods`` -> ``Figure 9: fronts methods``."""
    stem = Path(png).stem
    number, _, slug = stem.partition("_")
    if number.startswith("fig") and number[3:].isdigit():
        return f"Figure {number[3:]}: {slug.replace('_', ' ')}"
    return stem.replace("_", " ")


def show_figures(pngs: Iterable[str | Path], width: int = 800) -> None:
    """Display each figure under a heading, with its caption (a figure file that is missing is named)."""
    from IPython.display import Image, Markdown, display

    for png in pngs:
        png = Path(png)
        display(Markdown(f"### {title_of(png)}"))
        if not png.exists():
            display(Markdown(f"*{png.name} not drawn yet: run 06_figures.*"))
            continue
        display(Image(filename=str(png), width=width))
        display(Markdown(caption_of(png).replace("\n", "  \n")))


def show_table(df, caption: str = "") -> None:
    """Display a table whole (no column or row elided), under its caption."""
    import pandas as pd
    from IPython.display import Markdown, display

    if caption:
        display(Markdown(caption))
    with pd.option_context("display.max_columns", None, "display.max_rows", None, "display.width", None,
                           "display.max_colwidth", None):
        display(df)
