"""How every paper figure looks and is written: the paper style, the file backend, and ``save``
(PDF with no timestamp, PNG and a caption file, each written to a temporary file beside the
target and renamed). The Agg backend is selected when the first figure is made, not on import.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from nas.results import atomic_write_text, atomic_writer

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_state = {"backend": False}


def use_file_backend() -> None:
    """Select the Agg backend once (figures are files; no display, no notebook inline backend)."""
    if not _state["backend"]:
        plt.switch_backend("Agg")
        _state["backend"] = True


def apply_style() -> None:
    """Seaborn paper style, grayscale-safe palette (colour plus marker/hatch where it matters)."""
    use_file_backend()
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 120, "savefig.dpi": 200, "savefig.bbox": "tight"})


def subplots(*args, **kwargs):
    """``plt.subplots`` on the file backend."""
    use_file_backend()
    return plt.subplots(*args, **kwargs)


def save(fig, out_dir: str | Path, name: str, caption: str, sources: list[str]) -> Path:
    """Write the figure as ``<name>.pdf`` and ``<name>.png`` plus ``<name>.txt``: its caption with
    the source files. Returns the PNG's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / f"{name}.pdf", "wb") as handle:
        fig.savefig(handle, format="pdf", metadata={"CreationDate": None})  # reproducible bytes: no timestamp
    with atomic_writer(out / f"{name}.png", "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
    atomic_write_text(out / f"{name}.txt", f"{caption}\nSource: {', '.join(sources)}\n")
    return out / f"{name}.png"
