"""In-memory search data: the training set split into a weight half and a hypernetwork half.

Images stay uint8 (N, C, H, W) in memory and are normalised per batch, so a CIFAR-10 search
holds ~150 MB and a step never waits for a loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

SPLIT_SEED = 0  # the train/val split is part of the protocol, not of the search seed
SYNTHETIC_SHAPE = (16, 16, 3)

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class SearchData:
    """Weight half (x_train, y_train) and hypernetwork half (x_val, y_val), uint8 NCHW."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    mean: torch.Tensor  # (C,) on the 0-1 scale
    std: torch.Tensor  # (C,)
    n_classes: int
    device: torch.device = torch.device("cpu")

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    def steps_per_epoch(self, batch_size: int) -> int:
        return min(len(self.y_train), len(self.y_val)) // batch_size

    def val_steps_per_epoch(self, batch_size: int) -> int:
        return len(self.y_val) // batch_size

    def val_batches(self, epoch: int, batch_size: int, seed: int) -> Iterator[Batch]:
        """Yield batches of the hypernetwork half alone (the generator phase), in an order fixed by (seed, epoch)."""
        g = torch.Generator().manual_seed(1_000_003 * seed + epoch + 500_009)
        pv = torch.randperm(len(self.y_val), generator=g)
        for i in range(self.val_steps_per_epoch(batch_size)):
            iv = pv[i * batch_size:(i + 1) * batch_size]
            yield self._normalise(self.x_val[iv]), self.y_val[iv].to(self.device)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float().div_(255.0)
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    def epoch_batches(self, epoch: int, batch_size: int, seed: int) -> Iterator[tuple[Batch, Batch]]:
        """Yield (train batch, val batch) pairs in an order fixed by (seed, epoch): resumable."""
        g = torch.Generator().manual_seed(1_000_003 * seed + epoch)
        pt, pv = torch.randperm(len(self.y_train), generator=g), torch.randperm(len(self.y_val), generator=g)
        for i in range(self.steps_per_epoch(batch_size)):
            it, iv = pt[i * batch_size:(i + 1) * batch_size], pv[i * batch_size:(i + 1) * batch_size]
            yield ((self._normalise(self.x_train[it]), self.y_train[it].to(self.device)),
                   (self._normalise(self.x_val[iv]), self.y_val[iv].to(self.device)))


def _take(n: int, idx: np.ndarray) -> np.ndarray:
    return idx if n <= 0 else idx[:n]


def resize_images(x: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) area-resized to (N, C, side, side), rounded back to uint8 (in chunks)."""
    if side == x.shape[-1] and side == x.shape[-2]:
        return x
    out = torch.empty(*x.shape[:2], side, side, dtype=torch.uint8)
    for i in range(0, len(x), 4096):
        chunk = torch.nn.functional.interpolate(x[i:i + 4096].float(), size=(side, side), mode="area")
        out[i:i + 4096] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def from_arrays(x: np.ndarray, y: np.ndarray, n_train: int, n_val: int, n_classes: int,
                device: str = "cpu", resolution: int = 0) -> SearchData:
    """Split uint8 images x (N, H, W, C) with labels y into halves (seeded), keep n_train / n_val;
    ``resolution`` > 0 area-resizes every image to that side first."""
    from nas.data.datasets import split_train_val

    idx_t, idx_v = split_train_val(len(y), fraction=0.5, seed=SPLIT_SEED)
    idx_t, idx_v = _take(n_train, idx_t), _take(n_val, idx_v)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    if resolution:
        xt = resize_images(xt, resolution)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    train_float = xt[torch.as_tensor(idx_t)].float().div(255.0)
    mean, std = train_float.mean(dim=(0, 2, 3)), train_float.std(dim=(0, 2, 3)).clamp(min=1e-3)
    dev = torch.device(device)
    return SearchData(xt[torch.as_tensor(idx_t)], yt[torch.as_tensor(idx_t)], xt[torch.as_tensor(idx_v)],
                      yt[torch.as_tensor(idx_v)], mean.to(dev), std.to(dev), n_classes, dev)


def load_search_data(cfg) -> SearchData:
    """SearchData for a SearchConfig (``dataset``: cifar10, fashion-mnist or synthetic)."""
    from nas.data import datasets as data

    if cfg.dataset == "synthetic":
        n = max(cfg.n_train, 1) + max(cfg.n_val, 1)
        arrays = data.synthetic_arrays(n, 0, shape=SYNTHETIC_SHAPE, n_classes=10, seed=cfg.seed)
    else:
        arrays = data.load_arrays(cfg.dataset, cfg.data_root)
    return from_arrays(arrays.x_train, arrays.y_train, cfg.n_train, cfg.n_val, len(arrays.classes),
                       cfg.torch_device, cfg.resolution)
