"""Deployable models of derived architectures of any search space (ONNX or TorchScript), checked after writing."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from nas.results import atomic_writer
from nas.spaces import get_space
from nas.spaces.nb201.network import BENCHMARK_MACRO, MacroConfig

FORMATS = ("onnx", "torchscript")


def _model(arch: str, macro: MacroConfig, seed: int, space: str) -> torch.nn.Module:
    sp = get_space(space)
    genotype = sp.parse(arch)
    torch.manual_seed(seed)
    return sp.network(genotype, C=macro.C, N=macro.N, in_channels=macro.in_channels, n_classes=macro.n_classes).eval()


def _onnx_bytes(net: torch.nn.Module, example: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated but exact and fast
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (example,), buf, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    return buf.getvalue()


def _check_onnx(blob: bytes, example: torch.Tensor, expected: np.ndarray) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": example.numpy()})[0]
    return float(np.abs(got - expected).max())


def _check_torchscript(blob: bytes, example: torch.Tensor, expected: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(io.BytesIO(blob))
    with torch.no_grad():
        return float(np.abs(loaded(example).numpy() - expected).max())


def export_model(arch: str, fmt: str, out: str | Path, *, macro: MacroConfig = BENCHMARK_MACRO,
                 resolution: int = 32, seed: int = 0, atol: float = 1e-4, space: str = "nb201") -> float:
    """Write the network of ``arch`` (a genotype string of ``space``) as ``fmt`` to ``out``; returns the max
    |difference| to PyTorch. ``macro`` gives the network's C, N, input channels and classes.

    The exported model is run again (onnxruntime / torch.jit.load) on a random batch and compared
    with the eager output; a difference above ``atol`` raises RuntimeError and writes nothing.
    Weights are freshly initialised (seeded): the export is of the architecture, for latency
    measurement or for training elsewhere.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    net = _model(arch, macro, seed, space)
    example = torch.randn(2, macro.in_channels, resolution, resolution, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = net(example).numpy()
    if fmt == "onnx":
        blob = _onnx_bytes(net, example)
        err = _check_onnx(blob, example, expected)
    else:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(torch.jit.trace(net, example), buf)
        blob = buf.getvalue()
        err = _check_torchscript(blob, example, expected)
    if err > atol:
        raise RuntimeError(f"exported {fmt} model differs from PyTorch by {err:.3g} > {atol}; nothing written")
    with atomic_writer(out, "wb") as handle:
        handle.write(blob)
    return err
