"""Many retraining runs, a few at a time: each in its own spawned process (1 torch thread each when
run in parallel, set in its TrainConfig), finished folders reused."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def _train_one(job) -> dict:
    from nas.train.loop import train_architecture

    folder, tc = job
    return train_architecture(tc, folder, progress=False)


def train_all(jobs: Sequence[tuple[Path, object]], n_parallel: int) -> list[dict]:
    """Train (or reuse) every (folder, TrainConfig) job, ``n_parallel`` at a time; ``result.json`` dicts in job order."""
    from tqdm.std import tqdm  # text bars: no widget warning in notebooks

    if n_parallel <= 1:
        return [_train_one(j) for j in tqdm(jobs, desc="retraining")]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(n_parallel, mp_context=mp.get_context("spawn")) as pool:
        return list(tqdm(pool.map(_train_one, jobs), total=len(jobs), desc="retraining"))
