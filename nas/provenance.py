"""Provenance of a result: git commit, package versions, machine, peak memory and the config.

Every run record and results file that needs to say how and where it was produced calls
:func:`provenance`. Importing this module touches nothing (torch is imported on call).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import subprocess
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from nas.results import repo_root


def _git(*args: str) -> str | None:
    """Run ``git args`` in the repository; return stripped stdout, or None if git fails."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_commit() -> str | None:
    """Return the short commit of the checkout, with ``-dirty`` if tracked files changed.

    Returns:
        e.g. ``"3f2a9c1"`` or ``"3f2a9c1-dirty"``; None outside a git checkout or before the
        first commit.
    """
    sha = _git("rev-parse", "--short", "HEAD")
    if not sha:
        return None
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{sha}-dirty" if dirty else sha


def _package_version(name: str) -> str | None:
    """Return the installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    """Return the CPU model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def config_dict(config: Any) -> dict | None:
    """Return ``config`` (a dataclass instance, a mapping or None) as a plain dict."""
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"config must be a dataclass instance, a mapping or None, not {type(config).__name__}")


def rss_peak_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM; ru_maxrss where /proc is absent).

    VmHWM belongs to the process's own address space, whereas ru_maxrss of a freshly spawned
    process may still report its parent's peak at the fork.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_rss_peak() -> bool:
    """Restart the peak-RSS count of this process (Linux ``clear_refs`` 5); returns whether it could."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def provenance(config: Any = None, started_commit: str | None = None) -> dict:
    """Describe how and where a result was produced.

    Args:
        config: the stage's frozen config dataclass (or a dict); stored under ``"config"``.
        started_commit: for a run that spans commits (a search or training resumed from its checkpoint), the
            commit its first epoch ran on; stored first, as ``git_commit_at_start``, when given.

    Returns:
        dict with (``git_commit_at_start``,) ``git_commit`` (the checkout's now), ``timestamp_utc``, ``python``, ``torch``, ``torchvision``,
        ``numpy``, ``host``, ``platform``, ``cpu_model``, ``cpu_count``, ``torch_threads``,
        ``cuda_device`` (None without CUDA) and ``config``.
    """
    import torch  # deferred: importing nas.results stays cheap

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        **({"git_commit_at_start": started_commit} if started_commit is not None else {}),
        "git_commit": git_commit(),
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _package_version("torchvision"),
        "numpy": _package_version("numpy"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": cuda,
        "config": config_dict(config),
    }
