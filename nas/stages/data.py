"""Stage ``01_data``: prepare and verify the datasets (or a synthetic stand-in), summarise them, draw samples.

Writes ``<out_dir>/data_verification.csv`` (count, shape, class balance, first labels, per-channel
pixel mean/std per split), ``<out_dir>/provenance.json`` and ``<fig_dir>/data_samples.{png,pdf,txt}``.
Paths are relative to the working directory (the notebook runs in ``notebooks/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nas.provenance import provenance
from nas.results import atomic_writer, save_json, write_rows
from nas.stages.environment import PROFILES


@dataclass(frozen=True)
class DataConfig:
    """Config of stage 01: which datasets to prepare and verify, or a synthetic stand-in.

    Attributes:
        profile: ``smoke``, ``default`` or ``full``.
        datasets: names understood by ``nas.data.datasets.prepare``.
        data_root: dataset root.
        out_dir: folder of ``data_verification.csv`` and ``provenance.json``.
        fig_dir: folder of ``data_samples.png``.
        synthetic: use ``nas.data.datasets.synthetic_arrays`` instead of the real datasets (smoke).
        n_train, n_test, image_shape, n_classes, seed: the synthetic set's size, (H, W, C) and seed.
    """

    profile: str = "default"
    datasets: tuple[str, ...] = ("fashion-mnist", "cifar10")
    data_root: str = "../data"
    out_dir: str = "../results/data"
    fig_dir: str = "../figures"
    synthetic: bool = False
    n_train: int = 512
    n_test: int = 128
    image_shape: tuple[int, ...] = (32, 32, 3)
    n_classes: int = 10
    seed: int = 0

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")
        if not self.synthetic and not self.datasets:
            raise ValueError("datasets is empty: name at least one dataset or set synthetic=True")


def load_stage_arrays(cfg: DataConfig) -> dict:
    """Return ``{dataset name: nas.data.datasets.ImageArrays}``: prepared and verified datasets, or one synthetic set."""
    from nas.data import datasets as data

    if cfg.synthetic:
        synthetic = data.synthetic_arrays(cfg.n_train, cfg.n_test, tuple(cfg.image_shape), cfg.n_classes, cfg.seed)
        return {"synthetic": synthetic}
    for name in cfg.datasets:
        data.prepare(name, root=cfg.data_root)  # verifies, or raises DataError naming the file and the fix
    return {name: data.load_arrays(name, cfg.data_root) for name in cfg.datasets}


def _joined(values) -> str:
    """Format per-channel values as space-separated decimals."""
    return " ".join(f"{v:.6f}" for v in values)


def verification_rows(arrays_by_name: Mapping) -> list[dict]:
    """Summarise each dataset split: count, shape, class balance, first labels, per-channel mean/std."""
    import numpy as np

    from nas.data.verify import pixel_stats

    rows = []
    for name, arrays in arrays_by_name.items():
        for split in ("train", "test"):
            x, y = getattr(arrays, f"x_{split}"), np.asarray(getattr(arrays, f"y_{split}"))
            counts = np.bincount(y)
            mean, std = pixel_stats(x, f"{name} {split}")
            rows.append({
                "dataset": name, "split": split, "n": len(y), "image_shape": "x".join(map(str, x.shape[1:])),
                "dtype": str(x.dtype), "n_classes": len(counts), "min_per_class": int(counts.min()),
                "max_per_class": int(counts.max()), "first_labels": " ".join(map(str, y[:10])),
                "pixel_mean": _joined(mean), "pixel_std": _joined(std),
            })
    return rows


def save_sample_grid(arrays_by_name: Mapping, path: str | Path, per_dataset: int = 8) -> Path:
    """Draw the first ``per_dataset`` training images of each dataset (one row each, titled with their
    class names) to ``path`` (PNG), with a PDF and a caption file (``.txt``) beside it. Text is 8 pt at
    the printed width (7 in)."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    from nas.results import atomic_write_text

    names = list(arrays_by_name)
    fig = Figure(figsize=(7.0, len(names) * 1.25), layout="constrained")
    axes = fig.subplots(len(names), per_dataset, squeeze=False)
    for row, name in zip(axes, names):
        arrays = arrays_by_name[name]
        x, y, classes = arrays.x_train, arrays.y_train, tuple(getattr(arrays, "classes", ()))
        for i, ax in enumerate(row):
            image = x[i].squeeze()
            label = int(y[i])
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_title(classes[label] if label < len(classes) else str(label), fontsize=8)
            ax.axis("off")
        row[0].text(-0.15, 0.5, name, transform=row[0].transAxes, rotation=90, ha="right", va="center", fontsize=8)
    path = Path(path)
    for suffix, extra in ((".png", {"dpi": 200}), (".pdf", {"metadata": {"CreationDate": None}})):
        with atomic_writer(path.with_suffix(suffix), "wb") as handle:
            fig.savefig(handle, format=suffix.lstrip("."), **extra)
    atomic_write_text(path.with_suffix(".txt"), f"The first {per_dataset} training images of each dataset "
                      f"({', '.join(names)}), titled with their class names.\nSource: the prepared datasets "
                      "(stage 01_data; results/data/data_verification.csv).\n")
    return path


def run(cfg: DataConfig) -> tuple[Path, Path]:
    """Load (and verify) the arrays, write the verification table, provenance and sample grid.

    Returns:
        (path of ``data_verification.csv``, path of ``data_samples.png``).
    """
    arrays = load_stage_arrays(cfg)
    table_path = write_rows(Path(cfg.out_dir) / "data_verification.csv", verification_rows(arrays))
    save_json(Path(cfg.out_dir) / "provenance.json", provenance(cfg))
    figure_path = save_sample_grid(arrays, Path(cfg.fig_dir) / "data_samples.png")
    return table_path, figure_path
