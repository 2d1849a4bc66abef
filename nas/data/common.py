"""Shared pieces of dataset preparation: the split keys, the errors (each says its fix), the
arrays one source fetched, and the standard fix hints.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nas.results import atomic_writer


if TYPE_CHECKING:
    from nas.data.specs import DatasetSpec


SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataError(RuntimeError):
    """A dataset that is missing, unreadable or fails verification; the message says the fix."""


class SourceUnavailable(DataError):
    """A source that cannot be used here (no apt, no network, ...); try the next one."""


@dataclass
class Fetched:
    """Arrays produced by one source, before verification.

    Attributes:
        arrays: ``x_train (N,H,W,C) uint8``, ``y_train (N,) int64``, ``x_test``, ``y_test``.
        source: short source name for ``meta.json`` (``debian``, ``npm``, ``torchvision``, ...).
        detail: provenance for ``meta.json``; ``detail["path"]`` is named in errors.
    """

    arrays: dict[str, np.ndarray]
    source: str
    detail: dict = field(default_factory=dict)


Source = Callable[["DatasetSpec", Path], Fetched]


def prepare_command(name: str) -> str:
    """Return the shell command that (re)creates dataset ``name``."""
    return f"`python -m nas.data prepare {name}`"


def redo_hint(path: Path | str, name: str) -> str:
    """Return the standard fix for a bad file: delete it and prepare again."""
    return f"delete {path} and run {prepare_command(name)} again"


def one_line(exc: BaseException) -> str:
    """Return an exception message squeezed onto one line."""
    return " ".join(str(exc).split())


def copy_file(source: Path, final: Path) -> None:
    """Copy ``source`` onto ``final`` atomically (``nas.results.atomic_writer``)."""
    with open(source, "rb") as src, atomic_writer(final, "wb") as handle:
        shutil.copyfileobj(src, handle)
