"""In-memory retraining data: the official train split (or a fixed subset) and the official test split.

Images stay uint8 (N, C, H, W) in memory. Each training batch is augmented on the fly: a random
crop after zero-padding (``AUGMENT``), a horizontal flip where the dataset allows it, then
normalisation and cutout. Batch order and every augmentation draw come from one generator seeded
by (seed, epoch), so a resumed run sees exactly the batches an uninterrupted one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

SUBSET_SEED = 0  # which images n_train / n_test keep is part of the protocol, not of the run seed
SYNTHETIC_SIZES = (512, 256)  # synthetic train / test images when n_train / n_test are 0
EVAL_BATCH = 500
# dataset -> (crop padding in px, horizontal flip); synthetic class patterns are neither shift- nor mirror-invariant
AUGMENT = {"cifar10": (4, True), "fashion-mnist": (4, False), "synthetic": (0, False)}

Batch = tuple[torch.Tensor, torch.Tensor]


def random_crop(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Crop each image of x (B, C, H, W) back to (H, W) at a random offset after zero-padding by ``pad`` px."""
    if pad == 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy, ox = torch.randint(0, 2 * pad + 1, (2, b), generator=g)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
    return padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()  # (B,H,W,C)->NCHW


def random_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mirror each image of x (B, C, H, W) left-right with probability 1/2."""
    flip = torch.rand(len(x), generator=g) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def cutout(x: torch.Tensor, length: int, g: torch.Generator) -> torch.Tensor:
    """Zero a ``length`` x ``length`` square of each image of x (B, C, H, W) at a uniform centre, clipped
    at the borders (DARTS's Cutout, applied after normalisation: zero is the mean pixel)."""
    if length == 0:
        return x
    b, _, h, w = x.shape
    cy, cx = torch.randint(0, h, (b,), generator=g), torch.randint(0, w, (b,), generator=g)
    y0, x0 = cy - length // 2, cx - length // 2
    in_rows = (torch.arange(h) >= y0[:, None]) & (torch.arange(h) < (y0 + length)[:, None])  # (B, H)
    in_cols = (torch.arange(w) >= x0[:, None]) & (torch.arange(w) < (x0 + length)[:, None])  # (B, W)
    return x.masked_fill((in_rows[:, :, None] & in_cols[:, None, :])[:, None].to(x.device), 0.0)


@dataclass
class TrainData:
    """Train and test images uint8 (N, C, H, W) with int64 labels (N,), and the normalisation."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor  # (C,) on the 0-1 scale, of the training images used
    std: torch.Tensor  # (C,)
    n_classes: int
    pad: int = 0  # random-crop padding in px (0: no crop)
    flip: bool = False
    device: torch.device = torch.device("cpu")

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full batches per epoch (the last partial batch is dropped)."""
        return len(self.y_train) // batch_size

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float().div_(255.0)
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    def epoch_batches(self, epoch: int, batch_size: int, seed: int, cutout_px: int = 0) -> Iterator[Batch]:
        """Yield augmented, normalised training batches (x float (B, C, H, W), y (B,)) fixed by (seed, epoch)."""
        g = torch.Generator().manual_seed(1_000_003 * seed + epoch)
        perm = torch.randperm(len(self.y_train), generator=g)
        for i in range(self.steps_per_epoch(batch_size)):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            x = random_crop(self.x_train[idx], self.pad, g)
            x = random_flip(x, g) if self.flip else x
            x = cutout(self._normalise(x), cutout_px, g)
            yield x, self.y_train[idx].to(self.device)

    def test_batches(self) -> Iterator[Batch]:
        """Yield the normalised test split in order, ``EVAL_BATCH`` images at a time."""
        for i in range(0, len(self.y_test), EVAL_BATCH):
            yield self._normalise(self.x_test[i:i + EVAL_BATCH]), self.y_test[i:i + EVAL_BATCH].to(self.device)


def _subset(n: int, total: int) -> np.ndarray:
    """Sorted indices of a fixed seeded subset of ``n`` of ``total`` images (0 or n >= total: all)."""
    if n <= 0 or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(SUBSET_SEED).permutation(total)[:n])


def from_arrays(arrays, n_train: int = 0, n_test: int = 0, dataset: str | None = None,
                device: str = "cpu") -> TrainData:
    """TrainData of a ``nas.data.datasets.ImageArrays`` (uint8 NHWC), keeping n_train / n_test images
    (0: all) and the augmentation of ``dataset`` (default ``arrays.name``; see ``AUGMENT``)."""
    from nas.data.verify import pixel_stats

    it, iv = _subset(n_train, len(arrays.y_train)), _subset(n_test, len(arrays.y_test))
    x_train = np.ascontiguousarray(arrays.x_train[it])
    mean, std = pixel_stats(x_train, "train")
    nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # noqa: E731
    labels = lambda y: torch.from_numpy(np.asarray(y, dtype=np.int64))  # noqa: E731
    pad, flip = AUGMENT[dataset or arrays.name]
    dev = torch.device(device)
    return TrainData(nchw(x_train), labels(arrays.y_train[it]), nchw(arrays.x_test[iv]), labels(arrays.y_test[iv]),
                     torch.tensor(mean, device=dev), torch.tensor(std, device=dev).clamp(min=1e-3),
                     len(arrays.classes), pad, flip, dev)


def load_train_data(cfg) -> TrainData:
    """TrainData of a TrainConfig: the official splits of ``cfg.dataset`` (synthetic: seeded images)."""
    from nas.data import datasets as data
    from nas.search.data import SYNTHETIC_SHAPE

    if cfg.dataset == "synthetic":
        n_train, n_test = cfg.n_train or SYNTHETIC_SIZES[0], cfg.n_test or SYNTHETIC_SIZES[1]
        arrays = data.synthetic_arrays(n_train, n_test, shape=SYNTHETIC_SHAPE, n_classes=10, seed=cfg.seed)
    else:
        arrays = data.load_arrays(cfg.dataset, cfg.data_root)
    return from_arrays(arrays, cfg.n_train, cfg.n_test, cfg.dataset, cfg.device)
