"""One-shot scores: a cell's cross-entropy along its single path through trained supernet weights.

Used by the ranking diagnostics (``nas.evaluation.ranking``) and, at derivation time, to re-rank the
most probable proposals within a budget (``nas.methods.budget``). Images come from the hypernetwork
half of the search data, which the weights never trained on; no benchmark is involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SCORE_IMAGES, SCORE_BATCH = 512, 256  # held-out images per score; BatchNorm statistics come from each batch


def held_out_images(data, n: int, part: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised images and labels ``part * n .. (part + 1) * n`` of the hypernetwork half of ``SearchData``
    (never trained on by the weights)."""
    sl = slice(part * n, (part + 1) * n)
    return data._normalise(data.x_val[sl]), data.y_val[sl].to(data.device)


@torch.no_grad()
def one_shot_scores(supernet: torch.nn.Module, cells: np.ndarray, images: torch.Tensor, labels: torch.Tensor,
                    batch_size: int) -> np.ndarray:
    """Mean cross-entropy (n_cells,) of each cell (op indices (n_cells, n_edges)) on (images, labels); lower is
    better."""
    supernet.eval()
    out = np.empty(len(cells))
    for i, cell in enumerate(cells):
        index = torch.as_tensor(cell, dtype=torch.long)
        losses = [F.cross_entropy(supernet(images[j:j + batch_size], None, index), labels[j:j + batch_size],
                                  reduction="sum") for j in range(0, len(labels), batch_size)]
        out[i] = float(sum(losses)) / len(labels)
    return out


class SupernetScorer:
    """Scores cells with the supernet weights of a run (its own or its shared phase-1 run's) on the first
    ``n_images`` images of the hypernetwork half; each cell is scored once (cached)."""

    def __init__(self, run_dir: str | Path, n_images: int = SCORE_IMAGES, batch_size: int = SCORE_BATCH):
        from nas.search import run_io
        from nas.search.config import SearchConfig
        from nas.search.data import load_search_data
        from nas.search.few_shot import build_supernet

        cfg = SearchConfig.from_dict(run_io.load_config(run_dir))
        torch.set_flush_denormal(True)
        data = load_search_data(cfg)
        self.images, self.labels = held_out_images(data, min(n_images, len(data.y_val)))
        self.supernet = build_supernet(cfg, data.in_channels, data.n_classes)
        self.supernet.load_state_dict(run_io.load_supernet_state(run_dir))
        self.batch_size = batch_size
        self._cache: dict[tuple, float] = {}

    def __call__(self, cells: np.ndarray) -> np.ndarray:
        """One-shot cross-entropy (k,) of cells (k, n_edges); lower is better."""
        keys = [tuple(int(v) for v in c) for c in np.atleast_2d(cells)]
        todo = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if todo:
            for k, s in zip(todo, one_shot_scores(self.supernet, np.array(todo), self.images, self.labels,
                                                  self.batch_size)):
                self._cache[k] = float(s)
        return np.array([self._cache[k] for k in keys])


_SCORERS: dict[tuple[Path, int], SupernetScorer] = {}


def scorer_for(run_dir: str | Path, n_images: int = SCORE_IMAGES) -> SupernetScorer:
    """The (process-wide cached) scorer of a run's supernet weights on ``n_images`` held-out images; runs sharing
    a phase-1 supernet share it."""
    from nas.search import run_io

    key = ((run_io.supernet_folder(run_dir) / run_io.SUPERNET).resolve(), n_images)
    if key not in _SCORERS:
        _SCORERS[key] = SupernetScorer(run_dir, n_images)
    return _SCORERS[key]
