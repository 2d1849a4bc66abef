"""Latency of modules on a runtime (``nas.costs.runtimes``), measured correctly.

:func:`measure_many` times several models together: each is warmed up, then every model is visited
``rounds`` times in a seeded random order (:func:`interleaved_schedule`), each visit timing a block
of calls, so slow drift of the machine (frequency, a neighbour's load) does not correlate with the
model. A :class:`Measurement` holds the median of all timed calls (at least ``runs``), the
interquartile range and the count. A runtime that cannot run here is not an exception but a
``"skipped: <why>"`` message (:meth:`Runtime.unavailable`); a model that cannot be prepared for a
runtime (a failed ONNX export) is reported and skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from nas.costs.runtimes import ExportFailed, Runtime, RuntimeUnavailable, get_runtime


@dataclass(frozen=True)
class Measurement:
    """Timing of one model on one runtime.

    Attributes:
        median_ms: median of the timed calls, ms.
        iqr_ms: interquartile range (75th - 25th percentile) of the timed calls, ms.
        n: number of timed calls (>= the requested runs).
        mean_ms: mean of the timed calls, ms.
    """

    median_ms: float
    iqr_ms: float
    n: int
    mean_ms: float

    @property
    def rel_iqr(self) -> float:
        """IQR / median, the noise figure compared with a profile's ``noisy_threshold``."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else math.inf

    @classmethod
    def from_times(cls, times_ms: Sequence[float]) -> "Measurement":
        """Summarise raw per-call times (ms)."""
        t = np.asarray(times_ms, dtype=np.float64)
        q25, q50, q75 = np.percentile(t, [25, 50, 75])
        return cls(float(q50), float(q75 - q25), int(t.size), float(t.mean()))


def interleaved_schedule(keys: Sequence[str], repeats: int, seed: int = 0) -> list[tuple[str, int]]:
    """Seeded random order of every (key, repeat) pair, so drift is not tied to a key.

    Returns:
        ``len(keys) * repeats`` pairs, a permutation of ``product(keys, range(repeats))``.
    """
    pairs = [(k, r) for r in range(repeats) for k in keys]
    order = np.random.default_rng(seed).permutation(len(pairs))
    return [pairs[i] for i in order]


@dataclass(frozen=True)
class TimingPlan:
    """How many calls to time and in what order.

    Attributes:
        runs: minimum number of timed calls per model.
        warmup: untimed calls per model before the first timed one.
        rounds: visits per model in the interleaved order; each times ``ceil(runs / rounds)`` calls
            after one untimed call (the model's data is brought back into cache).
        seed: seed of the interleaved order.
    """

    runs: int = 100
    warmup: int = 10
    rounds: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.runs < 1 or self.rounds < 1 or self.warmup < 0:
            raise ValueError(f"need runs >= 1, rounds >= 1, warmup >= 0; got {self}")

    @property
    def per_visit(self) -> int:
        """Timed calls per visit."""
        return math.ceil(self.runs / min(self.rounds, self.runs))

    @property
    def visits(self) -> int:
        """Visits per model (never more than ``runs``)."""
        return min(self.rounds, self.runs)


@dataclass
class Batch:
    """Result of :func:`measure_many`: measurements and the models that could not be prepared."""

    measured: dict[str, Measurement]
    failed: dict[str, str]


def measure_many(models: Mapping[str, nn.Module], runtime: str | Runtime = "torch-cpu-1t", *,
                 input_shape: tuple[int, ...] | Mapping[str, tuple[int, ...]] = (1, 3, 32, 32),
                 plan: TimingPlan = TimingPlan(),
                 on_visit: Callable[[], None] | None = None,
                 on_fail: Callable[[str, str], None] | None = None) -> Batch:
    """Time several models on one runtime with interleaved repeats.

    Args:
        models: key -> module (put in eval mode here).
        runtime: a name of ``nas.costs.runtimes.RUNTIMES`` or a :class:`Runtime`; must be available
            (check :meth:`Runtime.unavailable` first).
        input_shape: shape of the random float32 input, batch first; or key -> shape.
        plan: runs, warm-up, rounds and the seed of the order.
        on_visit: called after every visit (progress bars).
        on_fail: called with (key, message) for a model that cannot be prepared; it is skipped.

    Returns:
        A :class:`Batch`: ``measured[key]`` for every prepared model, ``failed[key]`` = message.

    Raises:
        RuntimeUnavailable: the runtime cannot run here.
    """
    rt = runtime if isinstance(runtime, Runtime) else get_runtime(runtime)
    reason = rt.unavailable()
    if reason:
        raise RuntimeUnavailable(reason)
    times: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    with rt.session():
        calls = {}
        for key, net in models.items():
            shape = input_shape[key] if isinstance(input_shape, Mapping) else input_shape
            example = torch.randn(*shape, generator=torch.Generator().manual_seed(plan.seed))
            try:
                calls[key] = rt.prepare(net, example)
            except ExportFailed as exc:
                failed[key] = str(exc)
                if on_fail is not None:
                    on_fail(key, str(exc))
                continue
            for _ in range(plan.warmup):
                calls[key]()
            times[key] = []
        for key, _ in interleaved_schedule(list(calls), plan.visits, plan.seed):
            calls[key]()  # untimed: refill caches after the previous model
            times[key].extend(rt.time_call(calls[key]) for _ in range(plan.per_visit))
            if on_visit is not None:
                on_visit()
    return Batch({k: Measurement.from_times(v) for k, v in times.items()}, failed)


def measure_latency(model: nn.Module, runtime: str | Runtime = "torch-cpu-1t", *,
                    input_shape: tuple[int, ...] = (1, 3, 32, 32), runs: int = 100, warmup: int = 10,
                    rounds: int = 10, seed: int = 0) -> Measurement:
    """Latency of one module: median and IQR of at least ``runs`` timed calls after ``warmup``.

    Raises:
        RuntimeUnavailable: the runtime cannot run here (the message starts with ``skipped:``).
        ExportFailed: the model cannot be prepared for the runtime.
        ValueError: unknown runtime or bad counts.
    """
    rt = runtime if isinstance(runtime, Runtime) else get_runtime(runtime)
    batch = measure_many({"model": model}, rt, input_shape=input_shape,
                         plan=TimingPlan(runs=runs, warmup=warmup, rounds=rounds, seed=seed))
    if batch.failed:
        raise ExportFailed(batch.failed["model"])
    return batch.measured["model"]
