"""The registered datasets: what a prepared copy of each must look like (shape, classes,
normalisation, and the figures verification checks: counts, first labels, pixel statistics,
IDX checksums, and the sha256 of each prepared array, produced by
``nas.data.verify.array_sha256`` from the verified copies).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nas.data.verify import Figures

FASHION_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class DatasetSpec:
    """What a prepared dataset must look like.

    Attributes:
        name: folder name under the data root, e.g. ``cifar10``.
        image_shape: ``(H, W, C)`` of one image.
        classes: class names in label order.
        mean: per-channel normalisation mean (training set, 0-1 scale).
        std: per-channel normalisation std (0-1 scale).
        expected: figures every prepared copy must match.
        stat_tol: absolute tolerance on the pixel statistics.
        idx_files: decompressed IDX names (x_train, y_train, x_test, y_test), for IDX datasets.
        torchvision_class: the ``torchvision.datasets`` class; also ``<root>/<class>/raw``.
    """

    name: str
    image_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    expected: Figures = field(default_factory=Figures)
    stat_tol: float = 1e-4
    idx_files: tuple[str, ...] | None = None
    torchvision_class: str = ""


_FASHION_MD5 = ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965")  # fmt: skip
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist", image_shape=(28, 28, 1),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    mean=(0.2860,), std=(0.3530,), stat_tol=1e-4, idx_files=FASHION_IDX, torchvision_class="FashionMNIST",
    expected=Figures(
        train_counts=(6000,) * 10, test_counts=(1000,) * 10,
        first_train_labels=(9, 0, 0, 3, 0, 2, 7, 2, 5, 5), first_test_labels=(9, 2, 1, 1, 6, 1, 4, 6, 5, 7),
        train_mean=(0.2860,), train_std=(0.3530,), idx_md5=tuple(zip(FASHION_IDX, _FASHION_MD5, strict=True)),
        array_sha256=(
            ("x_train", "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012"),
            ("y_train", "e3245b63f7c40d1c8b652835f19744d970c1613b40ddac6bcfc87b9c46e16a0b"),
            ("x_test", "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"),
            ("y_test", "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae"),
        ),
    ),
)  # fmt: skip
CIFAR10 = DatasetSpec(
    name="cifar10", image_shape=(32, 32, 3),
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    mean=(0.491400, 0.482158, 0.446531), std=(0.247032, 0.243485, 0.261588), stat_tol=1e-6,
    torchvision_class="CIFAR10",
    expected=Figures(
        train_counts=(5000,) * 10, test_counts=(1000,) * 10,
        first_train_labels=(6, 9, 9, 4, 1, 1, 2, 7, 8, 3), first_test_labels=(3, 8, 8, 0, 6, 6, 1, 6, 3, 1),
        train_mean=(0.491400, 0.482158, 0.446531), train_std=(0.247032, 0.243485, 0.261588),
        test_mean=(0.494214, 0.485131, 0.450409), test_std=(0.246653, 0.242892, 0.261592), all_distinct=True,
        array_sha256=(
            ("x_train", "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a"),
            ("y_train", "f5cfe00b0f00968c0cc5ff3b1d2de51b10e33efa277c2986f4e0fa63e58c9f4f"),
            ("x_test", "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04"),
            ("y_test", "cbb7365de8ed11f05cc4c3a1e7f78144127c5e851efd83762fb18202461230bb"),
        ),
    ),
)  # fmt: skip
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (FASHION_MNIST, CIFAR10)}
