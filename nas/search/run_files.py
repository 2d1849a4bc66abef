"""Checked reading of run-folder files: one-line errors naming the file and the fix, JSON without
non-finite numbers, torch files that load, finite tensors, checksums, writable output paths.
``nas.search.run_io`` reads and writes run folders through these.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import torch

from nas.results import save_json

CHECKSUMS = "checksums.json"
CHECKSUMMED = ("config.json", "devices.json", "history.csv", "hypernet.pt", "run.json")
_TORCH_ERRORS = (RuntimeError, EOFError, ValueError, KeyError, TypeError, AttributeError, pickle.UnpicklingError,
                 zipfile.BadZipFile, OSError)


class RunError(ValueError):
    """A run folder that does not hold what is asked of it."""


def check_thread_count(path: Path, threads, fix: str) -> None:
    """RunError when the checkpoint ``path``, written with ``threads`` torch threads, is resumed with another
    count (CPU results depend on it); ``fix`` is the alternative to resuming with the recorded count."""
    if threads != torch.get_num_threads():
        raise RunError(f"{path} was written with {threads} torch threads, this run uses {torch.get_num_threads()}: "
                       f"CPU results depend on the thread count, so resume with --set threads={threads} (or {fix})")


def _bad(path: Path, problem: str, fix: str | None = None) -> RunError:
    fix = fix or f"restore {path.name} from git (`git checkout -- {path}`) or delete {path.parent} and search again"
    return RunError(f"{path}: {problem}; {fix}")


def _read_json(path: Path, kind: type = dict):
    """A JSON file of the run folder, or a RunError naming it (missing, unreadable, wrong top-level type)."""
    if not path.is_file():
        raise _bad(path, "missing")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(path, f"not valid JSON ({' '.join(str(exc).split())})") from None
    if not isinstance(obj, kind):
        raise _bad(path, f"expected a JSON {kind.__name__}, found {type(obj).__name__}")
    return obj


def _no_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _torch_load(path: Path, fix: str | None = None, weights_only: bool = True):
    if not path.is_file():
        raise _bad(path, "missing", fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except _TORCH_ERRORS as exc:
        raise _bad(path, f"cannot be loaded ({' '.join(str(exc).split())[:200]})", fix) from None


def _nonfinite_tensors(state: dict) -> list[str]:
    """Names of the tensors of a (nested) state dict that hold NaN or inf."""
    bad = []
    for key, value in state.items():
        if isinstance(value, dict):
            bad += [f"{key}.{k}" for k in _nonfinite_tensors(value)]
        elif isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad.append(str(key))
    return bad


def check_output_path(path: str | os.PathLike, *, folder: bool) -> None:
    """Raise RunError unless ``path`` can be written as a folder (``folder``) or a file: not the
    other kind, not under a file, its nearest existing folder writable."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise RunError(f"--out {path} is {'a file' if folder else 'a folder'}; give a path for the "
                       f"{'run folder' if folder else 'output file'} instead")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunError(f"--out {path} lies under {parent}, which is a file; choose another path")
    if not os.access(parent, os.W_OK):
        raise RunError(f"--out {path}: {parent} is not writable; choose a writable path")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checksums(out: Path) -> None:
    """Write ``checksums.json``: sha256 of each file of ``CHECKSUMMED`` (written last when a run finishes)."""
    save_json(out / CHECKSUMS, {name: file_sha256(out / name) for name in CHECKSUMMED if (out / name).is_file()})


def verify_checksums(run_dir: Path) -> None:
    """Compare the files with ``checksums.json``; a folder without it is not checked."""
    path = Path(run_dir) / CHECKSUMS
    if not path.exists():
        return
    sums = _read_json(path)
    for name, want in sums.items():
        target = Path(run_dir) / name
        if name not in CHECKSUMMED or not isinstance(want, str):
            raise _bad(path, f"unexpected entry {name!r}")
        if not target.is_file() or file_sha256(target) != want:
            raise _bad(target, f"changed since the run finished (sha256 differs from {CHECKSUMS})")
