"""The methods' answers of the comparison: finished runs grouped by (method, seed), each searched
method's answers to every device's five latency budgets, random search and the oracle."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence


from nas.methods.base import Answer
from nas.methods.derive import SearchRun
from nas.methods.random_search import random_answers
from nas.methods.registry import METHODS, OURS, budget_answers, get_method
from nas.search.run_io import finished_runs
from nas.spaces.nb201.benchmark import NB201Benchmark
from nas.evaluation.scores import MethodResult

if TYPE_CHECKING:
    from nas.evaluation.comparison import ComparisonConfig


def collect_runs(runs_dirs: Iterable[str | Path], dataset: str | None = None) -> dict[tuple[str, int], list[SearchRun]]:
    """Finished runs under ``runs_dirs`` (not recursive), grouped by (method, seed).

    A method whose one run covers every condition keeps one run per seed: the one with the most
    training devices (a run with a held-out device is not the method's front), then by name.
    """
    groups: dict[tuple[str, int], list[SearchRun]] = defaultdict(list)
    for folder in runs_dirs:
        if not Path(folder).is_dir():
            continue
        for run_dir in finished_runs(Path(folder)):
            run = SearchRun.load(run_dir)
            if dataset is None or run.config.dataset == dataset:
                groups[(run.config.method, run.config.seed)].append(run)
    out = {}
    for (method, seed), runs in sorted(groups.items()):
        runs = sorted(runs, key=lambda r: r.run_dir.name)
        one = method in METHODS and get_method(method).coverage == "all"
        out[(method, seed)] = [max(runs, key=lambda r: len(r.tables))] if one else runs
    return out


def group_id(method: str, runs: Sequence[SearchRun]) -> str:
    """The run_id written for a method's rows: its run, or ``<method>_<space>_<dataset>_s<seed>``."""
    if len(runs) == 1:
        return runs[0].run_dir.name
    cfg = runs[0].config
    return f"{method}_{cfg.space}_{cfg.dataset}_s{cfg.seed}"


def answer_searched(method: str, runs: list[SearchRun], bench: NB201Benchmark,
                    devices: Sequence[str]) -> MethodResult:
    """A searched method's answers to every device's budgets (devices it cannot answer are left out)."""
    res = MethodResult(method, runs[0].config.seed, group_id(method, runs), runs[0].config.dataset, runs)
    for device in devices:
        items = budget_answers(method, runs, device, list(bench.budgets(device).values()))
        if items:
            res.answers[device] = items
    return res


def answer_random(bench: NB201Benchmark, devices: Sequence[str], n_of: dict[str, int], seed: int,
                  dataset: str = "cifar10") -> MethodResult:
    """Random search with ``n_of[device]`` architectures per device."""
    res = MethodResult("random", seed, f"random_nb201_{dataset}_s{seed}", dataset)
    for device in devices:
        res.answers[device], archs = random_answers(bench, device, list(bench.budgets(device).values()),
                                                    n_of[device], seed)
        res.evaluated[device] = len(archs)
    return res


def answer_oracle(bench: NB201Benchmark, devices: Sequence[str], dataset: str = "cifar10") -> MethodResult:
    """The best architecture within each budget (the reference every regret is measured against)."""
    res = MethodResult("oracle", None, "oracle", dataset)
    for device in devices:
        res.answers[device] = []
        for b in bench.budgets(device).values():
            arch, _ = bench.oracle(device, b)
            res.answers[device].append(Answer(device, b, arch, bench.measured_latency(arch, device), None, ""))
    return res


def distinct_answers(result: MethodResult) -> dict[str, int]:
    """Number of distinct architectures a method returns per device."""
    return {d: len({a.arch for a in items}) for d, items in result.answers.items()}


def answer_all(cfg: ComparisonConfig, bench: NB201Benchmark) -> list[MethodResult]:
    """Every method's answers: searched methods from their runs, random search, the oracle."""
    groups = collect_runs(cfg.runs_dirs, cfg.dataset)
    results = [answer_searched(m, runs, bench, cfg.devices) for (m, _), runs in sorted(groups.items())
               if m in METHODS and get_method(m).answer is not None]
    ours = {r.seed: r for r in results if r.method == OURS}
    dataset = cfg.dataset or next((r.runs[0].config.dataset for r in results if r.runs), "cifar10")
    for seed in cfg.random_seeds or tuple(sorted(ours)) or (0,):
        if cfg.n_random:
            n_of = {d: cfg.n_random for d in cfg.devices}
        elif ours:  # as many as ours returns for that device (its own seed's run when there is one)
            n_of = distinct_answers(ours.get(seed, next(iter(ours.values()))))
        else:
            raise ValueError("random search needs n_random > 0 or a darts-cc-hw run whose answers it matches")
        results.append(answer_random(bench, cfg.devices, n_of, seed, dataset))
    results.append(answer_oracle(bench, cfg.devices, dataset))
    return results
