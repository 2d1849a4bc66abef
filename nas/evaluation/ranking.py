"""How well a search's supernet ranks cells (evaluation only): Kendall tau between the one-shot score
(cross-entropy of a cell's single path through the final supernet weights, on held-out images) and
the benchmark's CIFAR-10 accuracy, on a fixed seeded probe set of valid cells.

Rows of ``ranking.csv`` (``run_id, metric, device, band, n, value``):
``tau_all`` over the probe set; ``tau_top`` over the cells in the benchmark's top ``top_fraction``;
``tau_band`` within each tercile of a device's measured latency (band 1 = fastest); ``noise_floor``:
tau between the scores on two disjoint image sets (how much of the ranking is evaluation noise);
``n_images``: the images of each evaluation; ``tau_generator``: tau between the generator's log-probability of each probe cell at lam_norm = 0 on
a device and the negated one-shot score (no benchmark involved: has the generator learnt what its
supernet knows?). The weights come from ``supernet.pt``, which runs keep since that file existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nas.methods.derive import SearchRun, log_probs
from nas.search import run_io
from nas.search.data import SearchData, load_search_data
from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.stats import kendall_tau


@dataclass(frozen=True)
class RankingConfig:
    """The probe set and how each cell is scored."""

    n_probe: int = 200  # valid cells, drawn once with probe_seed (the same for every run)
    probe_seed: int = 0
    n_images: int = 1024  # held-out images per evaluation, at most (two disjoint sets: score and noise floor)
    batch_size: int = 256  # batch statistics of the supernet's BatchNorm come from these batches
    top_fraction: float = 0.2
    n_bands: int = 3


def probe_cells(space, cfg: RankingConfig) -> np.ndarray:
    """``n_probe`` distinct valid cells, op indices (n_probe, n_edges), the same for every run."""
    rng = np.random.default_rng(cfg.probe_seed)
    cells = np.unique(space.sample(rng, 4 * cfg.n_probe), axis=0)
    return cells[rng.permutation(len(cells))[:cfg.n_probe]]


@torch.no_grad()
def one_shot_scores(supernet: torch.nn.Module, cells: np.ndarray, images: torch.Tensor, labels: torch.Tensor,
                    batch_size: int) -> np.ndarray:
    """Mean cross-entropy (n_cells,) of each cell's single path on (images, labels); lower is better."""
    supernet.eval()
    out = np.empty(len(cells))
    for i, cell in enumerate(cells):
        index = torch.as_tensor(cell, dtype=torch.long)
        losses = [F.cross_entropy(supernet(images[j:j + batch_size], None, index), labels[j:j + batch_size],
                                  reduction="sum") for j in range(0, len(labels), batch_size)]
        out[i] = float(sum(losses)) / len(labels)
    return out


def _held_out(data: SearchData, n: int, part: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``part * n .. (part + 1) * n`` of the hypernetwork half (never trained on by the weights)."""
    sl = slice(part * n, (part + 1) * n)
    return data._normalise(data.x_val[sl]), data.y_val[sl].to(data.device)


def ranking_rows(run_dir, cfg: RankingConfig = RankingConfig(), *, bench: NB201Benchmark | None = None,
                 data: SearchData | None = None) -> list[dict]:
    """The ``ranking.csv`` rows of one finished run that kept its supernet weights."""
    torch.set_flush_denormal(True)
    run, bench = SearchRun.load(run_dir), bench or NB201Benchmark.load()
    space, scfg = run.space, run.config
    data = data if data is not None else load_search_data(scfg)
    n_images = min(cfg.n_images, len(data.y_val) // 2)  # a small (smoke) run has fewer; recorded below
    supernet = space.supernet(scfg.C, scfg.N, data.in_channels, data.n_classes)
    supernet.load_state_dict(run_io.load_supernet_state(run_dir))
    cells = probe_cells(space, cfg)
    archs = [space.format(space.from_indices(c)) for c in cells]
    score = one_shot_scores(supernet, cells, *_held_out(data, n_images, 0), cfg.batch_size)
    again = one_shot_scores(supernet, cells, *_held_out(data, n_images, 1), cfg.batch_size)
    acc = np.array([bench.accuracy(a) for a in archs])
    base = {"run_id": run.run_dir.name}
    rows = [{**base, "metric": "n_images", "device": "", "band": 0, "n": len(cells), "value": float(n_images)},
            {**base, "metric": "tau_all", "device": "", "band": 0, "n": len(cells), "value": kendall_tau(-score, acc)},
            {**base, "metric": "noise_floor", "device": "", "band": 0, "n": len(cells),
             "value": kendall_tau(score, again)}]
    top = acc >= np.quantile(acc, 1 - cfg.top_fraction)
    rows.append({**base, "metric": "tau_top", "device": "", "band": 0, "n": int(top.sum()),
                 "value": kendall_tau(-score[top], acc[top])})
    for device in run.tables:
        if device in bench.devices:
            lat = np.array([bench.measured_latency(a, device) for a in archs])
            edges = np.quantile(lat, np.linspace(0, 1, cfg.n_bands + 1))
            band = np.clip(np.searchsorted(edges, lat, side="right") - 1, 0, cfg.n_bands - 1)
            for b in range(cfg.n_bands):
                m = band == b
                rows.append({**base, "metric": "tau_band", "device": device, "band": b + 1, "n": int(m.sum()),
                             "value": kendall_tau(-score[m], acc[m])})
        logp = log_probs(run.probs(run.tables[device], [0.0]))[0]  # (n_edges, n_ops)
        cell_logp = logp[np.arange(space.n_edges), cells].sum(axis=-1)
        rows.append({**base, "metric": "tau_generator", "device": device, "band": 0, "n": len(cells),
                     "value": kendall_tau(cell_logp, -score)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m nas.evaluation.ranking RUN_DIR [--out CSV]``: the rows of one run, printed (and written)."""
    import argparse

    import pandas as pd

    from nas.results import SUMMARY_COLUMNS, write_rows

    p = argparse.ArgumentParser(prog="python -m nas.evaluation.ranking", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="a finished run that kept supernet.pt")
    p.add_argument("--out", help="CSV to write (columns of results/summary/ranking.csv)")
    args = p.parse_args(argv)
    rows = ranking_rows(args.run_dir)
    if args.out:
        write_rows(args.out, rows, SUMMARY_COLUMNS["ranking.csv"])
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
