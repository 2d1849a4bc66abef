"""How well a search's supernet ranks cells (evaluation only): Kendall tau between the one-shot score
(cross-entropy of a cell's single path through the final supernet weights, on held-out images) and
the benchmark's CIFAR-10 accuracy, on a fixed seeded probe set of valid cells.

Rows of ``ranking.csv`` (``method, seed, run_id, metric, device, band, n, value``):
``tau_all`` over the probe set; ``tau_top`` over the cells in the benchmark's top ``top_fraction``;
``tau_band`` within each tercile of a device's measured latency (band 1 = fastest); ``noise_floor``:
tau between the scores on two disjoint image sets (how much of the ranking is evaluation noise);
``n_images``: the images of each evaluation; ``tau_epoch`` (band = epoch): tau_all of the supernet
snapshots a run kept (``snapshot_every``); ``tau_generator``: tau between the generator's log-probability of each probe cell at lam_norm = 0 on
a device and the negated one-shot score (no benchmark involved: has the generator learnt what its
supernet knows?). The weights come from ``supernet.pt``: the run's own, or (two-phase schedule) that of
the shared phase-1 run it names, whose probe scores are computed once and cached beside it.
"""

from __future__ import annotations

import json
import hashlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from nas.methods.derive import SearchRun, log_probs
from nas.results import write_rows
from nas.search import run_io
from nas.search.config import SearchConfig
from nas.search.data import SearchData, load_search_data
from nas.search.few_shot import build_supernet
from nas.search.one_shot import held_out_images as _held_out, one_shot_scores
from nas.spaces import get_space
from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.stats import kendall_tau


@dataclass(frozen=True)
class RankingConfig:
    """The probe set and how each cell is scored."""

    n_probe: int = 200  # valid cells, drawn once with probe_seed (the same for every run)
    probe_seed: int = 0
    n_images: int = 512  # held-out images per evaluation, at most (two disjoint sets: score and noise floor)
    batch_size: int = 256  # batch statistics of the supernet's BatchNorm come from these batches
    top_fraction: float = 0.2
    n_bands: int = 3


def probe_cells(space, cfg: RankingConfig) -> np.ndarray:
    """``n_probe`` distinct valid cells, op indices (n_probe, n_edges), the same for every run."""
    rng = np.random.default_rng(cfg.probe_seed)
    cells = np.unique(space.sample(rng, 4 * cfg.n_probe), axis=0)
    return cells[rng.permutation(len(cells))[:cfg.n_probe]]


def probe_cache_name(cfg: RankingConfig) -> str:
    """File of a supernet folder caching its probe scores: ``probe_scores.csv`` for the default RankingConfig,
    ``probe_scores_<images>img.csv`` for another image count (other fields: a short hash as well)."""
    if cfg == RankingConfig():
        return "probe_scores.csv"
    if replace(cfg, n_images=RankingConfig.n_images) == RankingConfig():
        return f"probe_scores_{cfg.n_images}img.csv"
    return f"probe_scores_{hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:8]}.csv"


def _supernet_config(folder: Path) -> SearchConfig:
    return SearchConfig.from_dict(run_io.load_config(folder))


def probe_scores(folder, cfg: RankingConfig = RankingConfig(), *, data: SearchData | None = None,
                 weights: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(cells (n, n_edges), score (n,), score on a second disjoint image set (n,; None for a snapshot), images
    per set) of the supernet weights in ``folder`` (``supernet.pt``, or the snapshot file ``weights``). The final weights'
    scores are cached in the folder (``probe_scores.csv``, for this RankingConfig) and reused."""
    folder = Path(folder)
    scfg = _supernet_config(folder)
    space = get_space(scfg.space)
    cells = probe_cells(space, cfg)
    key = json.dumps(asdict(cfg), sort_keys=True)
    cache = folder / probe_cache_name(cfg)
    if weights is None and cache.exists():
        df = pd.read_csv(cache)
        if len(df) == len(cells) and (df["ranking_config"] == key).all():
            return cells, df["score"].to_numpy(), df["again"].to_numpy(), int(df["n_images"].iloc[0])
    torch.set_flush_denormal(True)
    data = data if data is not None else load_search_data(scfg)
    n_images = min(cfg.n_images, len(data.y_val) // 2)  # a small (smoke) run has fewer; recorded in the rows
    supernet = build_supernet(scfg, data.in_channels, data.n_classes)
    supernet.load_state_dict(run_io.load_supernet_state(folder, weights))
    score = one_shot_scores(supernet, cells, *_held_out(data, n_images, 0), cfg.batch_size)
    if weights is not None:  # a snapshot: its tau alone (the noise floor is the final weights')
        return cells, score, None, n_images
    again = one_shot_scores(supernet, cells, *_held_out(data, n_images, 1), cfg.batch_size)
    archs = [space.format(space.from_indices(c)) for c in cells]
    write_rows(cache, [{"arch": a, "score": x, "again": y, "n_images": n_images, "ranking_config": key}
                       for a, x, y in zip(archs, score, again)], ["arch", "score", "again", "n_images",
                                                                 "ranking_config"])
    return cells, score, again, n_images


def supernet_rows(folder, cfg: RankingConfig = RankingConfig(), *, bench: NB201Benchmark | None = None,
                  data: SearchData | None = None, devices=None, run_id: str | None = None,
                  method: str | None = None, with_snapshots: bool = False, scores=None) -> list[dict]:
    """The benchmark-based ``ranking.csv`` rows of the supernet weights in ``folder`` (a run or a shared
    phase-1 run): n_images, tau_all, noise_floor, tau_top, tau_band per device of ``devices`` (default:
    the benchmark's), and ``tau_epoch`` (band = epoch) for every snapshot the folder kept. ``scores``:
    the folder's ``probe_scores`` when the caller has them already."""
    folder = Path(folder)
    bench = bench or NB201Benchmark.load()
    scfg = _supernet_config(folder)
    space = get_space(scfg.space)
    cells, score, again, n_images = scores if scores is not None else probe_scores(folder, cfg, data=data)
    archs = [space.format(space.from_indices(c)) for c in cells]
    acc = np.array([bench.accuracy(a) for a in archs])
    base = {"method": method or "supernet", "seed": scfg.seed, "run_id": run_id or folder.name}
    rows = [{**base, "metric": "n_images", "device": "", "band": 0, "n": len(cells), "value": float(n_images)},
            {**base, "metric": "tau_all", "device": "", "band": 0, "n": len(cells), "value": kendall_tau(-score, acc)},
            {**base, "metric": "noise_floor", "device": "", "band": 0, "n": len(cells),
             "value": kendall_tau(score, again)}]
    top = acc >= np.quantile(acc, 1 - cfg.top_fraction)
    rows.append({**base, "metric": "tau_top", "device": "", "band": 0, "n": int(top.sum()),
                 "value": kendall_tau(-score[top], acc[top])})
    for device in (devices if devices is not None else bench.devices):
        if device not in bench.devices:
            continue
        lat = np.array([bench.measured_latency(a, device) for a in archs])
        edges = np.quantile(lat, np.linspace(0, 1, cfg.n_bands + 1))
        band = np.clip(np.searchsorted(edges, lat, side="right") - 1, 0, cfg.n_bands - 1)
        for b in range(cfg.n_bands):
            m = band == b
            rows.append({**base, "metric": "tau_band", "device": device, "band": b + 1, "n": int(m.sum()),
                         "value": kendall_tau(-score[m], acc[m])})
    if with_snapshots:
        for epoch, path in run_io.snapshots(folder).items():
            s_epoch = score if epoch == scfg.epochs else probe_scores(folder, cfg, data=data, weights=path)[1]
            rows.append({**base, "metric": "tau_epoch", "device": "", "band": epoch, "n": len(cells),
                         "value": kendall_tau(-s_epoch, acc)})
    return rows


def ranking_rows(run_dir, cfg: RankingConfig = RankingConfig(), *, bench: NB201Benchmark | None = None,
                 data: SearchData | None = None, with_snapshots: bool = False) -> list[dict]:
    """The ``ranking.csv`` rows of one finished run with supernet weights (its own or its shared phase-1
    run's): the supernet's rows (``supernet_rows``, under the run's id, its training devices) and
    ``tau_generator`` per training device."""
    run = SearchRun.load(run_dir)
    space = run.space
    folder = run_io.supernet_folder(run_dir)
    scores = probe_scores(folder, cfg, data=data)
    rows = supernet_rows(folder, cfg, bench=bench, data=data, devices=list(run.tables), run_id=run.run_dir.name,
                         method=run.config.method, with_snapshots=with_snapshots, scores=scores)
    cells, score = scores[:2]
    for device in run.tables:
        logp = log_probs(run.probs(run.tables[device], [0.0]))[0]  # (n_edges, n_ops)
        cell_logp = logp[np.arange(space.n_edges), cells].sum(axis=-1)
        rows.append({"method": run.config.method, "seed": run.config.seed, "run_id": run.run_dir.name,
                     "metric": "tau_generator", "device": device, "band": 0,
                     "n": len(cells), "value": kendall_tau(cell_logp, -score)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m nas.evaluation.ranking RUN_DIR [--out CSV]``: the rows of one run, printed (and written)."""
    import argparse

    import pandas as pd

    from nas.results import SUMMARY_COLUMNS, write_rows

    p = argparse.ArgumentParser(prog="python -m nas.evaluation.ranking", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", nargs="+", help="finished runs with supernet weights, or shared phase-1 folders "
                   "(results/runs/supernets/supernet_*)")
    p.add_argument("--out", help="CSV to write (columns of results/summary/ranking.csv)")
    p.add_argument("--snapshots", action="store_true", help="also score every supernet snapshot (tau_epoch rows)")
    p.add_argument("--n-images", type=int, default=RankingConfig.n_images,
                   help=f"held-out images per evaluation (default {RankingConfig.n_images}; two disjoint sets)")
    args = p.parse_args(argv)
    if args.n_images < 1:
        p.error("--n-images must be >= 1")
    cfg = RankingConfig(n_images=args.n_images)
    rows = [row for d in args.run_dir
            for row in (ranking_rows(d, cfg, with_snapshots=args.snapshots) if (Path(d) / run_io.HYPERNET).exists()
                        else supernet_rows(d, cfg, with_snapshots=args.snapshots))]
    if args.out:
        write_rows(args.out, rows, SUMMARY_COLUMNS["ranking.csv"])
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
