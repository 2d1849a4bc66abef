"""Stage ``00_environment``: the machine and software a result was produced with.

:func:`environment_report` extends :func:`nas.provenance.provenance` with the version of every
package pinned in ``requirements.txt`` and the torch/runtime configuration that changes speed
(threads, MKL/OpenMP, flush-denormal, CUDA, onnxruntime providers, graphviz). Nothing is changed
by asking: probes restore the state they touch.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from nas.provenance import provenance
from nas.results import repo_root, save_json

PROFILES = ("smoke", "default", "full")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;#]+))?")


@dataclass(frozen=True)
class EnvConfig:
    """Config of stage 00: where the environment record goes.

    Attributes:
        profile: ``smoke``, ``default`` or ``full``.
        out_dir: folder of ``<host>.json`` (relative paths are taken from the working directory).
    """

    profile: str = "default"
    out_dir: str = "../results/env"

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")

    def report_path(self) -> Path:
        """Return ``out_dir/<host>.json`` (host name made file-name safe)."""
        host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
        return Path(self.out_dir) / f"{host}.json"


def normalise_name(name: str) -> str:
    """Normalise a distribution name as pip does (PEP 503): lower case, runs of ``-_.`` → ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: str | Path | None = None) -> dict[str, str | None]:
    """Parse a requirements file into ``{normalised name: pinned version or None}``.

    Comments, blank lines and option lines (``-e``, ``--index-url``) are skipped.
    """
    path = Path(path) if path is not None else repo_root() / "requirements.txt"
    pins: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        match = _REQUIREMENT.match(line.split("#", 1)[0])
        if match and not line.lstrip().startswith("-"):
            pins[normalise_name(match.group(1))] = match.group(2)
    return pins


def package_versions(requirements: str | Path | None = None) -> dict[str, str | None]:
    """Return the installed version of every package named in ``requirements.txt`` (None if absent)."""
    path = Path(requirements) if requirements is not None else repo_root() / "requirements.txt"
    if not path.exists():
        return {}
    versions = {}
    for name in read_requirements(path):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def denormals_flushed() -> bool:
    """Return True if float32 denormals are currently flushed to zero (``set_flush_denormal``)."""
    import torch

    tiny = torch.tensor([1e-40], dtype=torch.float32)  # below float32's smallest normal, 1.18e-38
    return bool((tiny * 2.0).item() == 0.0)


def flush_denormal_supported() -> bool:
    """Return True if this CPU can flush denormals; the current setting is restored."""
    import torch

    before = denormals_flushed()
    supported = torch.set_flush_denormal(True)
    torch.set_flush_denormal(before)
    return bool(supported)


def torch_config() -> dict:
    """Return the torch settings that change speed: threads, backends, denormals, CUDA."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "openmp": torch.backends.openmp.is_available(),
        "flush_denormal_supported": flush_denormal_supported(),
        "denormals_flushed": denormals_flushed(),
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
    }


def onnxruntime_providers() -> list[str] | None:
    """Return onnxruntime's execution providers, or None if onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return list(onnxruntime.get_available_providers())


def graphviz_dot() -> dict:
    """Return where graphviz's ``dot`` binary is and its version (cell diagrams need it)."""
    dot = shutil.which("dot")
    version = None
    if dot:
        proc = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=20, check=False)
        version = (proc.stderr or proc.stdout).strip() or None
    return {"dot": dot, "version": version}


def environment_report(config: EnvConfig | None = None) -> dict:
    """Describe this machine and environment.

    Args:
        config: stored in the provenance block.

    Returns:
        ``{"provenance": ..., "packages": {name: version}, "torch": torch_config(),
        "onnxruntime_providers": [...], "graphviz": {...}}``.
    """
    return {
        "provenance": provenance(config),
        "packages": package_versions(),
        "torch": torch_config(),
        "onnxruntime_providers": onnxruntime_providers(),
        "graphviz": graphviz_dot(),
    }


def report_table(report: dict):
    """Flatten a report into a two-column ``pandas.DataFrame`` (``key``, ``value``) for display."""
    import pandas as pd

    rows = []
    for section, values in report.items():
        items = values.items() if isinstance(values, dict) else [("", values)]
        for key, value in items:
            rows.append({"key": f"{section}.{key}".rstrip("."), "value": "" if value is None else str(value)})
    return pd.DataFrame(rows)


def run(cfg: EnvConfig):
    """Write ``cfg.report_path()``; return it and the report as a ``key``/``value`` frame."""
    report = environment_report(cfg)
    path = save_json(cfg.report_path(), report)
    print(f"wrote {path}")
    return path, report_table(report)
