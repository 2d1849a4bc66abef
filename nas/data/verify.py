"""Verification of prepared arrays: measured figures (shapes, pixel statistics, distinct images)
against the dataset's expected ones; a mismatch is a :class:`DataError`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.std import tqdm  # text bars: no ipywidgets needed in notebooks

from nas.data.common import SPLIT_KEYS, DataError, redo_hint
from nas.data.formats import idx_bytes

if TYPE_CHECKING:
    from nas.data.specs import DatasetSpec


BAR_MIN = 10_000  # progress bars only for arrays with at least this many images


@dataclass(frozen=True)
class Figures:
    """Verification figures of a dataset; a ``None`` field is not checked.

    Pixel statistics are on the 0-1 scale, one value per channel (population std).
    ``idx_md5`` pairs each decompressed IDX file name with its md5; ``array_sha256`` each array key
    with the sha256 of its bytes (the content pin: one changed pixel or label fails it).
    """

    train_counts: tuple[int, ...] | None = None
    test_counts: tuple[int, ...] | None = None
    first_train_labels: tuple[int, ...] | None = None
    first_test_labels: tuple[int, ...] | None = None
    train_mean: tuple[float, ...] | None = None
    train_std: tuple[float, ...] | None = None
    test_mean: tuple[float, ...] | None = None
    test_std: tuple[float, ...] | None = None
    idx_md5: tuple[tuple[str, str], ...] | None = None
    all_distinct: bool | None = None
    array_sha256: tuple[tuple[str, str], ...] | None = None


def array_sha256(arrays: dict[str, np.ndarray]) -> tuple[tuple[str, str], ...]:
    """``(key, sha256 hex)`` of each of the four arrays' C-ordered bytes, in ``SPLIT_KEYS`` order."""
    return tuple((key, hashlib.sha256(np.ascontiguousarray(arrays[key])).hexdigest()) for key in SPLIT_KEYS)


def pixel_stats(x: np.ndarray, label: str = "") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std of uint8 images ``(N,H,W,C)`` on the 0-1 scale.

    Counts a 256-bin histogram per channel in chunks, so no float copy of the array is made.
    """
    channels = x.shape[-1]
    offsets = (np.arange(channels) * 256).astype(np.uint16)  # channel c counts into bins 256c..256c+255
    hist = np.zeros(256 * channels, dtype=np.int64)
    for i in tqdm(range(0, len(x), 2048), desc=f"{label} pixel stats", disable=len(x) < BAR_MIN):
        hist += np.bincount((x[i : i + 2048].reshape(-1, channels) + offsets).ravel(), minlength=256 * channels)
    hist = hist.reshape(channels, 256).astype(np.float64)
    values = np.arange(256) / 255.0
    n = hist.sum(axis=1)
    mean = hist @ values / n
    std = np.sqrt(np.maximum(hist @ values**2 / n - mean**2, 0.0))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def all_distinct(images: list[np.ndarray]) -> bool:
    """True when no two images ``(H,W,C)`` across the given arrays are byte-identical."""
    total = sum(len(x) for x in images)
    seen: set[bytes] = set()
    with tqdm(total=total, desc="distinct images", unit="img", disable=total < BAR_MIN) as bar:
        for x in images:
            for i in range(0, len(x), 4096):
                seen.update(hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x[i : i + 4096])
                bar.update(len(x[i : i + 4096]))
    return len(seen) == total


def measure(arrays: dict[str, np.ndarray], spec: DatasetSpec) -> Figures:
    """Measure the verification figures of ``arrays`` (``x_* (N,H,W,C) uint8``, ``y_* (N,) int64``).

    IDX md5s are measured only for IDX datasets (``spec.idx_files``).
    """
    n_classes = len(spec.classes)
    train_mean, train_std = pixel_stats(arrays["x_train"], "train")
    test_mean, test_std = pixel_stats(arrays["x_test"], "test")
    md5 = None
    if spec.idx_files:
        md5 = tuple(
            (f, hashlib.md5(idx_bytes(arrays[k]), usedforsecurity=False).hexdigest())
            for f, k in zip(spec.idx_files, SPLIT_KEYS, strict=True)
        )
    return Figures(
        train_counts=tuple(int(c) for c in np.bincount(arrays["y_train"], minlength=n_classes)),
        test_counts=tuple(int(c) for c in np.bincount(arrays["y_test"], minlength=n_classes)),
        first_train_labels=tuple(int(v) for v in arrays["y_train"][:10]),
        first_test_labels=tuple(int(v) for v in arrays["y_test"][:10]),
        train_mean=train_mean, train_std=train_std, test_mean=test_mean, test_std=test_std,
        idx_md5=md5, all_distinct=all_distinct([arrays["x_train"], arrays["x_test"]]),
        array_sha256=array_sha256(arrays),
    )  # fmt: skip


def verify(arrays: dict[str, np.ndarray], spec: DatasetSpec, where: Path | str) -> Figures:
    """Check arrays against ``spec`` (a mismatch is an error) and return the measured figures.

    Args:
        arrays: the four arrays, see :func:`measure`.
        spec: expected image shape, classes and figures.
        where: the file or source the arrays came from, named in the error.

    Raises:
        DataError: wrong shape/dtype/labels, or a figure differs (pixel statistics by more than
            ``spec.stat_tol``); the message names ``where`` and the fix.
    """
    problems = shape_problems(arrays, spec)
    measured = Figures() if problems else measure(arrays, spec)
    for item in fields(Figures):
        want, got = getattr(spec.expected, item.name), getattr(measured, item.name)
        if want is None or got is None:
            continue
        if item.name.endswith(("_mean", "_std")):
            bad = len(got) != len(want) or max(abs(g - w) for g, w in zip(got, want, strict=True)) > spec.stat_tol
        else:
            bad = got != want
        if bad:
            problems.append(f"{item.name} is {got}, expected {want}")
    if problems:
        raise DataError(f"{where} fails verification ({'; '.join(problems)}); {redo_hint(where, spec.name)}")
    return measured


def shape_problems(arrays: dict[str, np.ndarray], spec: DatasetSpec) -> list[str]:
    """List shape, dtype and label-range mismatches of ``arrays`` against ``spec`` (empty if fine)."""
    problems = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != tuple(spec.image_shape):
            problems.append(f"x_{split} is {x.dtype} {x.shape}, expected uint8 (N, *{tuple(spec.image_shape)})")
        elif y.dtype != np.int64 or y.shape != (len(x),):
            problems.append(f"y_{split} is {y.dtype} {y.shape}, expected int64 ({len(x)},)")
        elif len(y) and not 0 <= y.min() <= y.max() < len(spec.classes):
            problems.append(f"y_{split} has labels outside [0, {len(spec.classes)})")
    return problems
