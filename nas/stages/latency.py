"""Stage ``02_latency_profiles``: this machine's runtimes as devices, and how the devices differ.

Profiles are committed under ``data/latency/<runtime>/``; the stage re-profiles a runtime only when
asked (``reprofile``) or when its folder holds no complete profile, then rebuilds the summaries:
``latency_validation.csv`` (LUT vs end-to-end latency per runtime and LUT kind),
``latency_points.csv`` (the held-out points behind it), ``device_similarity.csv`` (Kendall tau of
whole-network latency between all devices) and ``op_cost_ratios.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nas.costs.profile_config import LUT_KINDS, ProfileConfig
from nas.costs.profiles import device_similarity_all, latency_validation_rows, op_cost_ratios, read_profile
from nas.costs.profiling import run_profile
from nas.results import SUMMARY_COLUMNS, write_rows
from nas.stages.environment import PROFILES


@dataclass(frozen=True)
class LatencyStageConfig:
    """Config of stage 02: which runtimes to profile, where profiles live, where summaries go.

    Paths are relative to the working directory (the notebook runs in ``notebooks/``).
    """

    profile: str = "default"  # smoke | default | full
    runtimes: tuple[str, ...] = ("torch-cpu-1t", "onnxruntime-cpu", "torch-cpu", "cuda")
    latency_dir: str = "../data/latency"  # one profile folder per runtime
    summary_dir: str = "../results/summary"
    reprofile: bool = False  # measure again even where a complete profile is committed
    quick: bool = False  # small profiles (smoke runs)

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")


def _complete(folder: Path) -> bool:
    try:
        read_profile(folder)
    except (FileNotFoundError, ValueError):
        return False
    return True


def ensure_profiles(cfg: LatencyStageConfig) -> tuple[list[Path], dict[str, str]]:
    """Complete profile folders of the runtimes, measuring where needed; and the skipped runtimes with why."""
    done, skipped = [], {}
    for runtime in cfg.runtimes:
        folder = Path(cfg.latency_dir) / runtime
        if cfg.reprofile or not _complete(folder):
            make = ProfileConfig.quick_config if cfg.quick else ProfileConfig
            result = run_profile(make(runtime=runtime), folder)
            if result.skipped:
                skipped[runtime] = result.skipped
                continue
        done.append(folder)
    return done, skipped


def latency_points(dirs: list[Path]) -> pd.DataFrame:
    """Held-out architectures: measured vs predicted latency per runtime and LUT kind (long format)."""
    frames = []
    for d in dirs:
        p = read_profile(d)
        val = p["validation"]
        for kind in LUT_KINDS:
            frames.append(pd.DataFrame({"runtime": p["runtime"], "lut_kind": kind, "arch": val["arch_str"],
                                        "measured_ms": val["measured_ms"], "pred_ms": val[f"pred_{kind}_ms"]}))
    return pd.concat(frames, ignore_index=True)


def write_latency_summaries(dirs: list[Path], summary_dir: str | Path) -> dict[str, Path]:
    """Rewrite the four latency summaries from the profile folders."""
    out = Path(summary_dir)
    frames = {"latency_validation.csv": pd.DataFrame(latency_validation_rows(dirs)),
              "latency_points.csv": latency_points(dirs),
              "device_similarity.csv": device_similarity_all(dirs),
              "op_cost_ratios.csv": op_cost_ratios(dirs)}
    return {name: write_rows(out / name, df.to_dict("records"), SUMMARY_COLUMNS[name]) for name, df in frames.items()}


def run(cfg: LatencyStageConfig) -> tuple[dict[str, Path], dict[str, str]]:
    """Complete the profiles, rewrite the summaries; return {summary name: path} and the skipped runtimes with why."""
    dirs, skipped = ensure_profiles(cfg)
    return write_latency_summaries(dirs, cfg.summary_dir), skipped
