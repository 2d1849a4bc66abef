"""How every paper figure looks and is written: the paper style, the file backend, and ``save``
(PDF with no timestamp, PNG and a caption file, each written to a temporary file beside the
target and renamed). The Agg backend is selected when the first figure is made, not on import.

Figures are drawn at the size they are printed: at most ``TEXT_WIDTH_IN`` inches wide (one text
width), every text at least ``MIN_FONT_PT`` points.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from nas.results import atomic_write_text, atomic_writer

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
TEXT_WIDTH_IN = 7.0  # printed width of a full-width figure (inches)
MIN_FONT_PT = 8.0  # smallest text at the printed size (points)
_state = {"backend": False}


def use_file_backend() -> None:
    """Select the Agg backend once (figures are files; no display, no notebook inline backend)."""
    if not _state["backend"]:
        plt.switch_backend("Agg")
        _state["backend"] = True


def apply_style() -> None:
    """Seaborn paper style, grayscale-safe palette (colour plus marker/hatch where it matters), 8-pt text."""
    use_file_backend()
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.0)
    size = MIN_FONT_PT
    plt.rcParams.update({
        "figure.dpi": 120, "savefig.dpi": 200, "savefig.bbox": "tight",
        "font.size": size, "axes.titlesize": size + 1, "axes.labelsize": size, "xtick.labelsize": size,
        "ytick.labelsize": size, "legend.fontsize": size, "legend.title_fontsize": size,
        "figure.titlesize": size + 1, "figure.labelsize": size,
    })


def subplots(*args, **kwargs):
    """``plt.subplots`` on the file backend."""
    use_file_backend()
    return plt.subplots(*args, **kwargs)


def small_texts(fig, min_pt: float = MIN_FONT_PT) -> list[str]:
    """The visible, non-empty texts of ``fig`` smaller than ``min_pt`` points (``'text (size pt)'``)."""
    from matplotlib.text import Text

    return [f"{t.get_text()!r} ({t.get_fontsize():g} pt)" for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.get_fontsize() < min_pt - 1e-9]


def save(fig, out_dir: str | Path, name: str, caption: str, sources: list[str]) -> Path:
    """Write the figure as ``<name>.pdf`` and ``<name>.png`` plus ``<name>.txt``: its caption with
    the source files. Returns the PNG's path.

    Raises:
        ValueError: a text of the figure is smaller than ``MIN_FONT_PT`` (it would not be legible in print).
    """
    small = small_texts(fig)
    if small:
        plt.close(fig)
        raise ValueError(f"{name}: text below {MIN_FONT_PT:g} pt: {', '.join(small[:5])}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / f"{name}.pdf", "wb") as handle:
        fig.savefig(handle, format="pdf", metadata={"CreationDate": None})  # reproducible bytes: no timestamp
    with atomic_writer(out / f"{name}.png", "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
    atomic_write_text(out / f"{name}.txt", f"{caption}\nSource: {', '.join(sources)}\n")
    return out / f"{name}.png"
