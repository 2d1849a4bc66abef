"""Latency of modules on the runtimes of the machine at hand, measured correctly.

A runtime (:data:`RUNTIMES`) turns an eval-mode module and an example input into a zero-argument
callable that runs one inference: PyTorch eager on the CPU with 1 thread (``torch-cpu-1t``) or with
every core the process may use (``torch-cpu``), ONNX Runtime on the CPU (``onnxruntime-cpu``: the
module exported by ``torch.onnx`` with the TorchScript exporter, one session per model, 1 intra-op
thread unless told otherwise) and PyTorch on a CUDA GPU (``cuda``: timed with CUDA events after a
``synchronize``, so the kernels' run time is measured, not how fast they are queued).

:func:`measure_many` times several models together: each is warmed up, then every model is visited
``rounds`` times in a seeded random order (:func:`interleaved_schedule`), each visit timing a block
of calls, so slow drift of the machine (frequency, a neighbour's load) does not correlate with the
model. A :class:`Measurement` holds the median of all timed calls (at least ``runs``), the
interquartile range and the count. A runtime that cannot run here is not an exception but a
``"skipped: <why>"`` message (:meth:`Runtime.unavailable`); a model that cannot be prepared for a
runtime (a failed ONNX export) is reported and skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

RUNTIME_NAMES: tuple[str, ...] = ("torch-cpu-1t", "torch-cpu", "onnxruntime-cpu", "cuda")
EXPORT_RTOL = 1e-3  # max |ONNX Runtime - PyTorch| / max(1, max |PyTorch|) accepted after export


class RuntimeUnavailable(RuntimeError):
    """A runtime that cannot run on this machine; the message starts with ``skipped:``."""


class ExportFailed(RuntimeError):
    """A model that cannot be prepared for a runtime (e.g. the ONNX export or its check fails)."""


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


def available_cores() -> int:
    """Number of cores this process may run on (its affinity mask), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Runtime:
    """One way of running a model.

    Attributes:
        name: registry key, one of ``RUNTIME_NAMES``.
        engine: ``"torch"`` or ``"onnxruntime"``.
        device: ``"cpu"`` or ``"cuda"``.
        threads: intra-op threads; None means every core the process may use.
        description: one line for READMEs and logs.
    """

    name: str
    engine: str
    device: str
    threads: int | None
    description: str

    def thread_count(self) -> int:
        """Threads actually used (``threads``, or the cores available to the process)."""
        return self.threads if self.threads is not None else available_cores()

    def unavailable(self) -> str | None:
        """None when the runtime can run here, else a ``"skipped: <why>"`` message."""
        if self.engine == "onnxruntime" and _version("onnxruntime") is None:
            return f"skipped: runtime {self.name!r} needs onnxruntime, which is not installed (pip install onnxruntime)"
        if self.device == "cuda" and not torch.cuda.is_available():
            return (f"skipped: runtime {self.name!r} needs a CUDA GPU, and torch.cuda.is_available() is False "
                    f"on this machine (torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        return None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Context in which models are prepared and timed (sets and restores torch's threads)."""
        n = self.thread_count() if self.engine == "torch" and self.device == "cpu" else torch.get_num_threads()
        with torch_threads(n):
            yield

    def prepare(self, net: nn.Module, example: torch.Tensor) -> Callable[[], object]:
        """A zero-argument callable running one inference of ``net`` on ``example``.

        Raises:
            ExportFailed: the model cannot be exported or its export disagrees with PyTorch.
        """
        net = net.eval()
        if self.engine == "onnxruntime":
            return _prepare_onnxruntime(net, example, self.thread_count())
        if self.device == "cuda":
            net, example = net.to("cuda"), example.to("cuda")

        def run() -> torch.Tensor:
            with torch.inference_mode():
                return net(example)

        return run

    def time_call(self, fn: Callable[[], object]) -> float:
        """Run ``fn`` once and return its latency in ms (CUDA: events, synchronised)."""
        if self.device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        t0 = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - t0) / 1e6

    def info(self) -> dict:
        """Machine-readable description for a profile's meta JSON."""
        out = {"name": self.name, "engine": self.engine, "device": self.device, "threads": self.thread_count(),
               "description": self.description, "torch": torch.__version__}
        if self.engine == "onnxruntime":
            out.update(onnxruntime=_version("onnxruntime"), onnx=_version("onnx"),
                       exporter="torch.onnx.export(dynamo=False), static shapes", inter_op_threads=1)
        if self.device == "cuda" and torch.cuda.is_available():
            out.update(cuda=torch.version.cuda, gpu=torch.cuda.get_device_name(0),
                       cudnn=torch.backends.cudnn.version(), cudnn_benchmark=torch.backends.cudnn.benchmark,
                       timer="torch.cuda.Event after torch.cuda.synchronize()")
        else:
            out["timer"] = "time.perf_counter_ns"
        return out


RUNTIMES: dict[str, Runtime] = {
    "torch-cpu-1t": Runtime("torch-cpu-1t", "torch", "cpu", 1, "PyTorch eager, CPU, 1 intra-op thread"),
    "torch-cpu": Runtime("torch-cpu", "torch", "cpu", None, "PyTorch eager, CPU, every available core"),
    "onnxruntime-cpu": Runtime("onnxruntime-cpu", "onnxruntime", "cpu", 1,
                               "ONNX Runtime CPUExecutionProvider, 1 intra-op thread, one session per model"),
    "cuda": Runtime("cuda", "torch", "cuda", None, "PyTorch eager on CUDA GPU 0, timed with CUDA events"),
}


def get_runtime(name: str, threads: int | None = None) -> Runtime:
    """The runtime ``name``, optionally with another thread count (CPU runtimes only).

    Raises:
        ValueError: unknown name, or a thread count that is not positive or given for ``cuda``.
    """
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIME_NAMES)}")
    rt = RUNTIMES[name]
    if threads is None:
        return rt
    if threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads}")
    if rt.device != "cpu":
        raise ValueError(f"runtime {name!r} takes no thread count")
    return dataclasses.replace(rt, threads=int(threads))


def _onnx_blob(net: nn.Module, example: torch.Tensor) -> bytes:
    """ONNX bytes of ``net`` at the static shape of ``example`` (TorchScript exporter)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), buf, input_names=["x"], output_names=["y"], dynamo=False)
    return buf.getvalue()


def _prepare_onnxruntime(net: nn.Module, example: torch.Tensor, threads: int) -> Callable[[], object]:
    """Export ``net``, open one ONNX Runtime session for it and check it against PyTorch once."""
    import onnxruntime as ort

    try:
        blob = _onnx_blob(net, example)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: example.numpy()}
        got = session.run(None, feed)[0]
    except Exception as exc:  # the exporter and onnxruntime raise many unrelated types
        raise ExportFailed(f"ONNX export/session of {type(net).__name__} failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    with torch.inference_mode():
        want = net(example).numpy()
    # relative to the output scale: untrained cells of pools and skips sum paths and grow activations a lot
    err = float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max()))
    if not err <= EXPORT_RTOL:
        raise ExportFailed(f"ONNX model of {type(net).__name__} differs from PyTorch by {err:.3g} (relative to the "
                           f"largest output) > {EXPORT_RTOL}")
    return lambda: session.run(None, feed)


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
        runtime: a name of ``RUNTIMES`` or a :class:`Runtime`; must be available
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
