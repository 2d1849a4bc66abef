"""Latency of modules on the runtimes of the machine at hand, measured correctly.

A runtime (:data:`RUNTIMES`) turns an eval-mode module and an example input into a zero-argument
callable that runs one inference: PyTorch eager on the CPU with 1 thread (``torch-cpu-1t``) or with
every core the process may use (``torch-cpu``), ONNX Runtime on the CPU (``onnxruntime-cpu``: the
module exported by ``torch.onnx`` with the TorchScript exporter, one session per model, 1 intra-op
thread unless told otherwise) and PyTorch on a CUDA GPU (``cuda``: timed with CUDA events after a
``synchronize``, so the kernels' run time is measured, not how fast they are queued).

A runtime that cannot run here is not an exception but a ``"skipped: <why>"`` message
(:meth:`Runtime.unavailable`); a model that cannot be prepared for a runtime (a failed ONNX export)
raises :class:`ExportFailed`. Timing several models: ``nas.costs.latency``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

RUNTIME_NAMES: tuple[str, ...] = ("torch-cpu-1t", "torch-cpu", "onnxruntime-cpu", "cuda")
EXPORT_RTOL = 1e-3  # max |ONNX Runtime - PyTorch| / max(1, max |PyTorch|) accepted after export


class RuntimeUnavailable(RuntimeError):
    """A runtime that cannot run on this machine; the message starts with ``skipped:``."""


class ExportFailed(RuntimeError):
    """A model that cannot be prepared for a runtime (e.g. the ONNX export or its check fails)."""


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
