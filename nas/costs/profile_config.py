"""A latency profile's settings and naming: :class:`ProfileConfig` (what is measured, how often,
on which runtime, in which space), the folder's file columns, the local LUT names and the seeded
choice of the fit and test architectures (NB201 and DARTS).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.costs.latency import TimingPlan
from nas.costs.runtimes import Runtime, get_runtime
from nas.costs.table import CostTable, fitted_ops
from nas.spaces import get_space
from nas.spaces.darts.network import DartsMacro
from nas.spaces.nb201.genotype import all_op_indices, dead_mask, genotype_from_indices
from nas.spaces.nb201.network import MacroConfig

PROFILE_SPACES = ("nb201", "darts")  # spaces whose networks can be profiled
DEFAULT_N = {"nb201": 5, "darts": 3}  # NB201: cells per stage (benchmark network); DARTS: cells in all (mini network)
LUT_KINDS = ("isolated", "regression")
MEASUREMENT_COLUMNS = ("arch_str", "latency_ms", "iqr_ms", "runs", "split")
ISOLATED_COLUMNS = ("component", "stage", "channels", "resolution", "latency_ms", "iqr_ms", "runs")
# DARTS: one row per part and cell; channels and resolution (px) are the part's input, cell -1 is the stem
# and cell N the head; group is the cost group of an op, or "base" for the parts outside the searchable edges.
DARTS_ISOLATED_COLUMNS = ("component", "cell", "group", "channels_in", "channels_out", "resolution", "stride",
                          "latency_ms", "iqr_ms", "runs")
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
    """One profile of one runtime on the NB201 or the DARTS space.

    Attributes:
        runtime: one of ``nas.costs.runtimes.RUNTIME_NAMES``.
        space: search space, one of ``PROFILE_SPACES``: ``nb201`` (the benchmark network) or
            ``darts`` (``space.network(g, C, N)``, default the mini network C=16, N=3).
        n_fit: random valid architectures measured end to end to fit the regression LUT (at
            least the table's parameters: NB201 5, DARTS 22).
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
        C: channels of the first stage (NB201) or of the first cells (DARTS).
        N: NB201: cells per stage (default 5); DARTS: cells in all, reductions at N // 3 and
            2N // 3 (default 3: normal, reduce, reduce). None: the space's default.
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
    N: int | None = None
    threads: int | None = None
    seed: int = 0
    noisy_threshold: float = 0.1
    dtype: str = "float32"
    quick: bool = False

    def __post_init__(self) -> None:
        get_runtime(self.runtime, self.threads)  # unknown runtime or bad threads -> ValueError
        if self.space not in PROFILE_SPACES:
            raise ProfileError(f"space {self.space!r} cannot be profiled; profiled spaces are "
                               f"{', '.join(PROFILE_SPACES)}")
        if self.N is None:
            object.__setattr__(self, "N", DEFAULT_N[self.space])
        if self.dtype != "float32":
            raise ProfileError(f"dtype {self.dtype!r} is not supported; use float32")
        for name in ("n_fit", "n_test", "runs", "rounds", "chunk", "passes", "batch", "C", "N"):
            if getattr(self, name) < 1:
                raise ProfileError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.warmup < 0 or not self.noisy_threshold > 0:
            raise ProfileError(f"need warmup >= 0 and noisy_threshold > 0; got {self.warmup}, {self.noisy_threshold}")
        if self.space == "darts":
            self._check_darts()
            return
        if self.resolution < 4 or self.resolution % 4:
            raise ProfileError(f"resolution must be a multiple of 4 (two stride-2 reductions), got {self.resolution}")
        n_live = int((~dead_mask()).sum())
        if self.n_fit + self.n_test > n_live:
            raise ProfileError(f"n_fit + n_test = {self.n_fit + self.n_test} exceeds the {n_live} live architectures")

    def _check_darts(self) -> None:
        k = len(DartsMacro(C=self.C, N=self.N).reductions())
        if self.resolution < max(4, 2**k) or self.resolution % 2**k:
            raise ProfileError(f"resolution must be a multiple of {2**k} and at least 4 ({k} stride-2 reduction cells "
                               f"in N={self.N} cells), got {self.resolution}")
        n_params = 1 + len(fitted_ops("darts"))
        if self.n_fit < n_params:
            raise ProfileError(f"n_fit must be at least {n_params} on darts (base + {n_params - 1} op costs of "
                               f"the regression LUT), got {self.n_fit}")

    @classmethod
    def quick_config(cls, **overrides) -> "ProfileConfig":
        """A small profile (NB201: 30 architectures, DARTS: 40; 20 runs) for smoke runs and CI."""
        n_fit = max(20, 1 + len(fitted_ops(overrides.get("space", "nb201"))) + 8)  # DARTS: 22 parameters + 8
        base = {"n_fit": n_fit, "n_test": 10, "runs": 20, "warmup": 3, "rounds": 4, "passes": 1, "quick": True}
        return cls(**{**base, **overrides})

    @property
    def macro(self) -> MacroConfig | DartsMacro:
        """The skeleton that is measured (3 input channels, 10 classes)."""
        return DartsMacro(C=self.C, N=self.N) if self.space == "darts" else MacroConfig(C=self.C, N=self.N)

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


def isolated_columns(space: str = "nb201") -> tuple[str, ...]:
    """Columns of ``isolated_ops.csv`` in a profile of ``space``."""
    return DARTS_ISOLATED_COLUMNS if space == "darts" else ISOLATED_COLUMNS


def sample_architectures(n_fit: int, n_test: int, seed: int = 0, space: str = "nb201") -> tuple[list[str], list[str]]:
    """Seeded disjoint random valid architectures of ``space``: ``n_fit`` for fitting and ``n_test`` held out.

    NB201: fit cells are the head of one seeded permutation of the live cells and test cells its
    tail. DARTS: fit and test architectures are two seeded streams of ``space.sample``. Either way
    each architecture's split never depends on ``n_fit`` or ``n_test``, and a larger count keeps
    the architectures of a smaller one as its prefix.
    """
    if space == "darts":
        test = _darts_stream(seed, 1, n_test)
        return _darts_stream(seed, 0, n_fit, exclude=set(test)), test
    if space != "nb201":
        raise ProfileError(f"space {space!r} cannot be profiled; profiled spaces are {', '.join(PROFILE_SPACES)}")
    live = np.flatnonzero(~dead_mask())
    if n_fit + n_test > len(live):
        raise ProfileError(f"n_fit + n_test = {n_fit + n_test} exceeds the {len(live)} live architectures")
    perm = np.random.default_rng(seed).permutation(live)
    return _arch_strings(perm[:n_fit]), _arch_strings(perm[len(perm) - n_test:][::-1])


def _arch_strings(indices: np.ndarray) -> list[str]:
    """Canonical strings of NB201 cells given by index into ``all_op_indices()``."""
    return [genotype_from_indices(all_op_indices()[i]).to_str() for i in indices]


_DARTS_BLOCK = 64  # architectures per seeded draw of a DARTS stream


def _darts_stream(seed: int, stream: int, n: int, exclude: set[str] = frozenset()) -> list[str]:
    """The first ``n`` distinct DARTS architectures (canonical strings) of stream ``stream``, skipping
    ``exclude``; block b is ``space.sample`` with the generator seeded by (seed, stream, b), so the
    stream does not depend on ``n``."""
    sp, out, block = get_space("darts"), {}, 0
    while len(out) < n:
        for idx in sp.sample(np.random.default_rng([seed, stream, block]), _DARTS_BLOCK):
            arch = sp.format(sp.from_indices(idx))
            if arch not in exclude:
                out.setdefault(arch, None)
        block += 1
    return list(out)[:n]
