"""A latency profile's settings and naming: :class:`ProfileConfig` (what is measured, how often,
on which runtime), the folder's file columns, the local LUT names and the seeded choice of the fit
and test architectures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.costs.latency import TimingPlan
from nas.costs.runtimes import Runtime, get_runtime
from nas.costs.table import CostTable
from nas.spaces.nb201.genotype import all_op_indices, dead_mask, genotype_from_indices
from nas.spaces.nb201.network import MacroConfig

LUT_KINDS = ("isolated", "regression")
MEASUREMENT_COLUMNS = ("arch_str", "latency_ms", "iqr_ms", "runs", "split")
ISOLATED_COLUMNS = ("component", "stage", "channels", "resolution", "latency_ms", "iqr_ms", "runs")
VALIDATION_COLUMNS = ("arch_str", "measured_ms", "iqr_ms", "pred_isolated_ms", "pred_regression_ms")
BASE_COMPONENTS = ("stem", "reduction_1", "reduction_2", "head")
ISOLATED_ROUNDS = 2  # interleaved visits per isolated op (see ProfileConfig.isolated_plan)
# Fields of ProfileConfig that change what a measurement means; a resumed profile must match them.
_MEASUREMENT_FIELDS = ("runtime", "space", "runs", "warmup", "rounds", "batch", "resolution", "C", "N", "seed",
                       "dtype")


class ProfileError(ValueError):
    """A profile that cannot run as asked (bad config, a folder made under other conditions)."""


@dataclass(frozen=True)
class ProfileConfig:
    """One profile of one runtime on the NB201 space.

    Attributes:
        runtime: one of ``nas.costs.runtimes.RUNTIME_NAMES``.
        space: search space (only ``nb201``).
        n_fit: random live architectures measured end to end to fit the regression LUT.
        n_test: further held-out architectures measured end to end to validate both LUTs.
        runs: timed calls per model (the median and IQR are over these).
        warmup: untimed calls per model before timing.
        rounds: interleaved visits per model (each times ceil(runs / rounds) calls); many short
            visits spread a model's runs over the whole chunk, so a burst of load hits every
            model of the chunk alike.
        chunk: architectures measured together (interleaved); the CSV is saved after each chunk
            (about a minute of work for the default network on one CPU thread).
        passes: end-to-end passes over all architectures, each in a new random order; an
            architecture's latency is the mean of its pass medians, so drift between the times
            two architectures were measured averages out.
        batch: images per call.
        resolution: input height and width, px.
        C: channels of the first stage.
        N: cells per stage.
        threads: override of the runtime's thread count (None: the runtime's own).
        seed: seed of the architecture sample, weights, inputs and the interleaved order.
        noisy_threshold: a measurement with IQR / median above this is flagged as noisy.
        dtype: tensor dtype (only float32).
        quick: a reduced profile for smoke runs (recorded in the meta file).
    """

    runtime: str = "torch-cpu-1t"
    space: str = "nb201"
    n_fit: int = 200
    n_test: int = 100
    runs: int = 100
    warmup: int = 10
    rounds: int = 20
    chunk: int = 100
    passes: int = 2
    batch: int = 1
    resolution: int = 32
    C: int = 16
    N: int = 5
    threads: int | None = None
    seed: int = 0
    noisy_threshold: float = 0.1
    dtype: str = "float32"
    quick: bool = False

    def __post_init__(self) -> None:
        get_runtime(self.runtime, self.threads)  # unknown runtime or bad threads -> ValueError
        if self.space != "nb201":
            raise ProfileError(f"unknown space {self.space!r}; only 'nb201' can be profiled")
        if self.dtype != "float32":
            raise ProfileError(f"dtype {self.dtype!r} is not supported; use float32")
        for name in ("n_fit", "n_test", "runs", "rounds", "chunk", "passes", "batch", "C", "N"):
            if getattr(self, name) < 1:
                raise ProfileError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.warmup < 0 or not self.noisy_threshold > 0:
            raise ProfileError(f"need warmup >= 0 and noisy_threshold > 0; got {self.warmup}, {self.noisy_threshold}")
        if self.resolution < 4 or self.resolution % 4:
            raise ProfileError(f"resolution must be a multiple of 4 (two stride-2 reductions), got {self.resolution}")
        n_live = int((~dead_mask()).sum())
        if self.n_fit + self.n_test > n_live:
            raise ProfileError(f"n_fit + n_test = {self.n_fit + self.n_test} exceeds the {n_live} live architectures")

    @classmethod
    def quick_config(cls, **overrides) -> "ProfileConfig":
        """A small profile (30 architectures, 20 runs) for smoke runs and CI."""
        base = {"n_fit": 20, "n_test": 10, "runs": 20, "warmup": 3, "rounds": 4, "passes": 1, "quick": True}
        return cls(**{**base, **overrides})

    @property
    def macro(self) -> MacroConfig:
        """The skeleton that is measured."""
        return MacroConfig(C=self.C, N=self.N)

    @property
    def plan(self) -> TimingPlan:
        """Runs, warm-up, rounds and seed of the end-to-end timing."""
        return TimingPlan(runs=self.runs, warmup=self.warmup, rounds=self.rounds, seed=self.seed)

    @property
    def isolated_plan(self) -> TimingPlan:
        """Timing of the isolated ops: steady state, 2 interleaved visits of runs / 2 calls each.

        An op of a few microseconds timed right after another module would mostly measure cache
        refills; FBNet-style tables time each op in a loop.
        """
        return dataclasses.replace(self.plan, rounds=min(self.rounds, ISOLATED_ROUNDS))

    def resolved_runtime(self) -> Runtime:
        """The runtime with the thread override applied."""
        return get_runtime(self.runtime, self.threads)

    def measurement_key(self) -> dict:
        """The settings a resumed profile must share with the measurements already in its folder."""
        key = {f: getattr(self, f) for f in _MEASUREMENT_FIELDS}
        key["threads"] = self.resolved_runtime().thread_count()
        return key


@dataclass
class ProfileResult:
    """What :func:`run_profile` produced (``skipped`` is the message when the runtime is absent)."""

    out_dir: Path
    skipped: str | None = None
    isolated: CostTable | None = None
    regression: CostTable | None = None
    validation: dict | None = None
    seconds: float = 0.0


def table_name(runtime: str, kind: str = "regression") -> str:
    """Device name of a local LUT: ``local-<runtime>`` (regression) or ``local-<runtime>-isolated``."""
    return f"local-{runtime}" if kind == "regression" else f"local-{runtime}-{kind}"


def sample_architectures(n_fit: int, n_test: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded disjoint random live NB201 cells: ``n_fit`` for fitting and ``n_test`` held out.

    Fit cells are the head of one seeded permutation of the live cells and test cells its tail,
    so each cell's split never depends on ``n_fit`` or ``n_test``.
    """
    live = np.flatnonzero(~dead_mask())
    if n_fit + n_test > len(live):
        raise ProfileError(f"n_fit + n_test = {n_fit + n_test} exceeds the {len(live)} live architectures")
    perm = np.random.default_rng(seed).permutation(live)
    return _arch_strings(perm[:n_fit]), _arch_strings(perm[len(perm) - n_test:][::-1])


def _arch_strings(indices: np.ndarray) -> list[str]:
    """Canonical strings of NB201 cells given by index into ``all_op_indices()``."""
    return [genotype_from_indices(all_op_indices()[i]).to_str() for i in indices]
