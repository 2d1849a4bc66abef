"""The pipeline's stages: one config dataclass and ``run(cfg)`` per numbered notebook (and ``plan(cfg)``
for the stages that search), registered by notebook stem.

The notebook ``notebooks/<stem>.ipynb`` builds the stage's config from its ``parameters`` cell and
calls ``run``; ``python -m nas plan`` builds the same config from the config's defaults and
``notebooks/params/<profile>/<stem>.yaml`` (``nas.stages.params``) and calls ``plan``. Modules are
imported only when a stage is asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Stage:
    """One stage: its notebook stem, the module holding ``run`` (and ``plan``) and its config class name."""

    stem: str
    module: str
    config: str

    def load(self) -> ModuleType:
        """Import the stage's module."""
        return importlib.import_module(self.module)

    @property
    def config_class(self) -> type:
        return getattr(self.load(), self.config)

    @property
    def plans(self) -> bool:
        """True if the stage searches: its module has ``plan(cfg)`` (run folder -> SearchConfig)."""
        return hasattr(self.load(), "plan")


STAGES: dict[str, Stage] = {s.stem: s for s in (
    Stage("00_environment", "nas.stages.environment", "EnvConfig"),
    Stage("01_data", "nas.stages.data", "DataConfig"),
    Stage("02_latency_profiles", "nas.stages.latency", "LatencyStageConfig"),
    Stage("03_search", "nas.stages.search", "SearchStageConfig"),
    Stage("04_derive", "nas.stages.derive", "DeriveConfig"),
    Stage("05_baselines", "nas.stages.baselines", "BaselinesConfig"),
    Stage("06_figures", "nas.stages.figures", "FiguresConfig"),
    Stage("07_darts_space", "nas.stages.darts_space", "DartsSpaceConfig"),
)}


def get_stage(stem: str) -> Stage:
    """The registered stage ``stem`` (ValueError naming the known ones)."""
    if stem not in STAGES:
        raise ValueError(f"unknown stage {stem!r}; registered: {', '.join(STAGES)}")
    return STAGES[stem]
