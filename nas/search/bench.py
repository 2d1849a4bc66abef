"""Speed of a search step against its floor: ``python -m nas.search.bench search-step``.

The floor of a bilevel search is the discrete *child* network it searches for: a weight step is
one forward/backward of (roughly) a child, and the architecture step needs about one more, so a
search step costs about 2x a child SGD step. For every configuration (space x mode x threads)
this prints one JSON line with the medians of

* ``search_step_ms``: a full step of ``nas.search.step.Stepper`` (architecture step + weight step), on the
  profile's configuration (single-path: the REINFORCE estimator with its K forward-only paths;
  mixed: the relaxed first-order estimator, every op weighted);
* ``child_step_ms``: one SGD step (forward, backward, clip, momentum) of a ``DiscreteNet`` of the
  same macro-architecture and batch, over a pool of uniformly drawn live cells;
* ``hypernet_ms``: the hypernetwork's own work in a step (generator forward, its backward, Adam);

timed alternately (configurations and the two networks in a shuffled order every repeat), so a
ratio holds on a noisy machine. Peak memory is the RSS of a fresh process running the
configuration (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA). Batches are pre-built tensors
of the dataset's shape: data handling is timed apart (``data_ms``, a batch pair from
``SearchData``) and is not part of the step.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from nas.results import SUMMARY_COLUMNS, atomic_writer
from nas.search.bench_cases import BenchCase, data_batch_ms, peak_memory_mb, timed

SPACES = ("nb201",)  # every search space the project has
MODES = ("single-path", "mixed")
PERFORMANCE_CSV = Path("results/summary/performance.csv")
PERFORMANCE_KEY = ("space", "mode", "torch_device", "device_name", "threads")


@dataclass(frozen=True)
class BenchConfig:
    """What ``search-step`` measures (one configuration per (mode, threads))."""

    space: str = "nb201"
    modes: tuple[str, ...] = MODES
    threads: tuple[int, ...] = (0,)  # torch intra-op threads per configuration (0: torch's default)
    profile: str = "default"  # nas.search.config profile whose macro, batch and estimator are timed
    repeats: int = 40  # timed steps per configuration (medians are quoted)
    warmup: int = 3  # untimed steps per configuration first
    torch_device: str = "cpu"
    memory: bool = True  # peak memory per configuration (a fresh process each on CPU)
    seed: int = 0

    def validate(self) -> "BenchConfig":
        if self.space not in SPACES:
            raise ValueError(f"unknown space {self.space!r}; the project has {', '.join(SPACES)}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"modes must be among {', '.join(MODES)}; got {list(self.modes)}")
        if self.repeats < 3 or self.warmup < 0 or any(t < 0 for t in self.threads):
            raise ValueError("need repeats >= 3, warmup >= 0 and threads >= 0")
        return self


QUICK = dict(repeats=12, warmup=2)  # --quick: under 60 s on 2 cores


def _device_name(torch_device: str) -> str:
    import torch

    from nas.provenance import cpu_model

    if torch_device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(torch_device))
    return cpu_model()


def bench_search_step(cfg: BenchConfig, progress: bool = True) -> list[dict]:
    """Time every configuration of ``cfg`` (interleaved) and return one record per configuration."""
    import torch
    from tqdm.std import tqdm

    cfg.validate()
    torch.set_flush_denormal(True)
    default_threads = torch.get_num_threads()
    cases = [BenchCase(cfg.profile, m, t, cfg.torch_device, cfg.seed) for m in cfg.modes for t in cfg.threads]
    for case in cases:
        for _ in range(cfg.warmup):
            for fn in (case.search_step, case.child_step, case.hypernet_step):
                timed(case, fn)
    rng = random.Random(cfg.seed)
    times = {(c.label, part): [] for c in cases for part in ("search", "child", "hypernet")}
    for _ in tqdm(range(cfg.repeats), desc="search-step", disable=not progress):
        jobs = [(c, part) for c in cases for part in ("search", "child", "hypernet")]
        rng.shuffle(jobs)
        for case, part in jobs:
            fn = {"search": case.search_step, "child": case.child_step, "hypernet": case.hypernet_step}[part]
            times[(case.label, part)].append(timed(case, fn))
    torch.set_num_threads(default_threads)
    data_ms = data_batch_ms(cases[0].cfg.batch_size)
    records = []
    for case in cases:
        med = {part: 1e3 * statistics.median(times[(case.label, part)]) for part in ("search", "child", "hypernet")}
        records.append(_record(cfg, case, med, data_ms, peak_memory_mb(case, cfg) if cfg.memory else float("nan"),
                               case.threads or default_threads))
    return records


def _record(cfg: BenchConfig, case: BenchCase, med: dict, data_ms: float, memory_mb: float, threads: int) -> dict:
    import torch

    sc = case.cfg
    n_ops = case.stepper.penalty.op_cost.shape[-1]
    return {
        "space": cfg.space, "mode": case.mode, "estimator": sc.estimator,
        "reinforce_samples": sc.reinforce_samples if sc.estimator == "reinforce" else 0,
        "C": sc.C, "N": sc.N, "batch_size": sc.batch_size, "threads": threads,
        "torch_device": cfg.torch_device, "device_name": _device_name(cfg.torch_device),
        "search_step_ms": round(med["search"], 3), "child_step_ms": round(med["child"], 3),
        "search_over_child": round(med["search"] / med["child"], 3),
        "target_over_child": 2.5 if case.mode == "single-path" else round(1.2 * n_ops, 2),
        "hypernet_ms": round(med["hypernet"], 3), "hypernet_share": round(med["hypernet"] / med["search"], 4),
        "data_ms": round(data_ms, 3), "peak_memory_mb": round(memory_mb, 1),
        "memory_kind": "max_allocated" if cfg.torch_device.startswith("cuda") else "rss",
        "images_per_s": round(1e3 * sc.batch_size / med["search"], 1),
        "child_images_per_s": round(1e3 * sc.batch_size / med["child"], 1),
        "repeats": cfg.repeats, "profile": cfg.profile, "torch": torch.__version__,
        "python": platform.python_version(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


PERFORMANCE_COLUMNS = SUMMARY_COLUMNS["performance.csv"]


def write_performance(records: Sequence[dict], path: str | Path = PERFORMANCE_CSV) -> Path:
    """Merge ``records`` into ``path`` (a row per ``PERFORMANCE_KEY``; new rows replace old ones)."""
    import pandas as pd

    path = Path(path)
    new = pd.DataFrame(list(records), columns=list(PERFORMANCE_COLUMNS))
    if path.exists():
        old = pd.read_csv(path)
        keys = {tuple(str(r[k]) for k in PERFORMANCE_KEY) for r in records}
        rows = old[list(PERFORMANCE_KEY)].itertuples(index=False)
        old = old[[tuple(str(v) for v in row) not in keys for row in rows]]
        new = pd.concat([old.reindex(columns=list(PERFORMANCE_COLUMNS)), new], ignore_index=True)
    new = new.sort_values(["torch_device", "space", "mode", "threads"], kind="stable")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as handle:
        new.to_csv(handle, index=False, lineterminator="\n")
    return path


def _int_list(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nas.search.bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("search-step", help="search step vs child SGD step, per configuration (JSON lines)")
    p.add_argument("--space", default="nb201", choices=SPACES)
    p.add_argument("--mode", choices=(*MODES, "both"), default="both")
    p.add_argument("--threads", type=_int_list, default=(0,), help="comma list, 0 = torch default (e.g. 1,2)")
    p.add_argument("--profile", default="default", help="nas.search.config profile to time (default: default)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--quick", action="store_true",
                   help=f"fewer repeats ({QUICK['repeats']}); under a minute on 2 cores")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probe")
    p.add_argument("--out", default=None, help=f"merge the records into this CSV (e.g. {PERFORMANCE_CSV})")
    args = parser.parse_args(argv)

    import torch

    dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = BenchConfig(space=args.space, modes=MODES if args.mode == "both" else (args.mode,), threads=args.threads,
                      profile=args.profile, torch_device=dev, memory=not args.no_memory)
    cfg = replace(cfg, **(QUICK if args.quick else {}))
    if args.repeats:
        cfg = replace(cfg, repeats=args.repeats)
    try:
        cfg.validate()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    records = bench_search_step(cfg, progress=sys.stderr.isatty())
    for rec in records:
        print(json.dumps(rec))
    if args.out:
        print(f"wrote {write_performance(records, args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
