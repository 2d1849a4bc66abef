"""Stage ``04_derive``: derive and evaluate every finished run, rebuild ``results/summary``.

The work is ``nas.evaluation.summary.rebuild_summaries``; this module holds the stage's config
(the notebook's parameters; paths relative to the working directory, ``notebooks/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nas.stages.environment import PROFILES


@dataclass(frozen=True)
class DeriveConfig:
    """Config of stage 04 (the fields of the notebook's ``parameters`` cell)."""

    profile: str = "default"  # smoke | default | full
    runs_dir: str = "../results/runs"  # finished search runs to evaluate
    summary_dir: str = "../results/summary"  # derived.csv, regret.csv, comparison.csv, ...
    unseen_n: int = 300  # random measured architectures that describe a held-out device
    unseen_seed: int = 0  # seed of that random sample
    latency_dir: str = "../data/latency"  # profiles of this machine's runtimes, evaluated with measured latency

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {PROFILES}")


def run(cfg: DeriveConfig) -> dict[str, Path]:
    """Rewrite the summaries of stage 04; return {file name: path}."""
    from nas.evaluation.summary import SummaryConfig, rebuild_summaries

    return rebuild_summaries(SummaryConfig(runs_dir=cfg.runs_dir, summary_dir=cfg.summary_dir, unseen_n=cfg.unseen_n,
                                           unseen_seed=cfg.unseen_seed, latency_dir=cfg.latency_dir))
