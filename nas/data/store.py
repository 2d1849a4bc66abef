"""Prepared copies on disk: ``arrays.npz`` and ``meta.json`` (source, figures, checksums, versions),
an existing verified copy reused, and the IDX layout torchvision reads; every file is written
atomically.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import zipfile
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nas.results import atomic_write_text, atomic_writer
from nas.data.common import SPLIT_KEYS, DataError, Fetched, copy_file, one_line, redo_hint
from nas.data.formats import write_idx_layout
from nas.data.verify import Figures, array_sha256, shape_problems, verify

if TYPE_CHECKING:
    from nas.data.specs import DatasetSpec

log = logging.getLogger("nas.data.datasets")


def write_meta(spec: DatasetSpec, folder: Path, figures: Figures, fetched: Fetched) -> None:
    """Write ``folder/meta.json``: source, measured figures, array checksums, date and versions."""
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "torch", "torchvision", "pillow", "tqdm"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    meta = {
        "dataset": spec.name, "source": fetched.source, "source_detail": fetched.detail,
        "verified_figures": asdict(figures), "expected_figures": asdict(spec.expected),
        "array_sha256": dict(array_sha256(fetched.arrays)),
        "stat_tolerance": spec.stat_tol, "classes": list(spec.classes),
        "prepared_at": datetime.now(UTC).isoformat(timespec="seconds"), "versions": versions,
    }  # fmt: skip
    atomic_write_text(folder / "meta.json", compact_json(meta) + "\n")


def compact_json(obj: object) -> str:
    """Indented JSON with each list of scalars on one line (``[1, 2, 3]``, not one item per line)."""
    rows: list[str] = []

    def mark(value: object) -> object:  # replace flat lists by placeholders, filled in below
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            if any(isinstance(item, dict | list | tuple) for item in value):
                return [mark(item) for item in value]
            rows.append(json.dumps(list(value)))
            return f"\0row{len(rows) - 1}\0"
        return value

    text = json.dumps(mark(obj), indent=2)
    return re.sub(r'"\\u0000row(\d+)\\u0000"', lambda m: rows[int(m[1])], text)


def meta_ok(path: Path) -> bool:
    """True when ``path`` is a readable JSON object (an intact ``meta.json``)."""
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (OSError, ValueError):
        return False


def existing_copy(spec: DatasetSpec, root: Path) -> Path | None:
    """Verify an ``arrays.npz`` already in ``root`` or ``$NAS_DATA_DIR`` and copy it into ``root``."""
    out = root / spec.name / "arrays.npz"
    env = os.environ.get("NAS_DATA_DIR")
    for path in dict.fromkeys([out, *([Path(env) / spec.name / "arrays.npz"] if env else [])]):
        if not path.is_file():
            continue
        log.info("%s: found %s, verifying it", spec.name, path)
        arrays = read_npz(path, spec)
        figures = verify(arrays, spec, path)
        for file_name in ("arrays.npz", "meta.json") if path != out else ():
            if (path.parent / file_name).is_file():
                copy_file(path.parent / file_name, out.parent / file_name)
        if not meta_ok(out.parent / "meta.json"):
            write_meta(spec, out.parent, figures, Fetched(arrays, "existing copy", {"path": str(path)}))
        write_layout(spec, root, arrays, None)
        return out
    return None


def store(spec: DatasetSpec, root: Path, fetched: Fetched) -> Path:
    """Verify freshly fetched arrays, then write ``arrays.npz``, ``meta.json`` and the IDX layout."""
    figures = verify(fetched.arrays, spec, fetched.detail.get("path", fetched.source))
    out = root / spec.name / "arrays.npz"
    with atomic_writer(out, "wb") as handle:
        np.savez(handle, **{key: fetched.arrays[key] for key in SPLIT_KEYS})
    write_meta(spec, out.parent, figures, fetched)
    originals = Path(fetched.detail["path"]) if fetched.source in ("debian", "idx") else None
    write_layout(spec, root, fetched.arrays, originals)
    log.info("%s: wrote %s (%.0f MB) from %s", spec.name, out, out.stat().st_size / 1e6, fetched.source)
    return out


def write_layout(spec: DatasetSpec, root: Path, arrays: dict, originals: Path | None) -> None:
    """For IDX datasets, complete ``<root>/<torchvision_class>/raw`` so torchvision reads it too."""
    if spec.idx_files and spec.torchvision_class:
        write_idx_layout(root / spec.torchvision_class / "raw", arrays, spec.idx_files, originals)


def read_npz(path: Path, spec: DatasetSpec) -> dict[str, np.ndarray]:
    """Load the four arrays of ``arrays.npz`` fully into memory, checking shapes and dtypes."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in SPLIT_KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot load {path} ({one_line(exc)}); {redo_hint(path, spec.name)}") from exc
    problems = shape_problems(arrays, spec)
    if problems:
        raise DataError(f"{path} is malformed ({'; '.join(problems)}); {redo_hint(path, spec.name)}")
    return arrays


def check_content(arrays: dict[str, np.ndarray], spec: DatasetSpec, path: Path) -> None:
    """Raise DataError when the arrays' sha256 differ from the spec's pinned ones (None: not pinned)."""
    want = spec.expected.array_sha256
    if want is None:
        return
    bad = [key for (key, got), (_, pin) in zip(array_sha256(arrays), want, strict=True) if got != pin]
    if bad:
        raise DataError(f"{path}: content of {', '.join(bad)} differs from the pinned sha256 of {spec.name} "
                        f"(a changed pixel or label); {redo_hint(path, spec.name)}")
