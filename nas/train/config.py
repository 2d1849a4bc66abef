"""The configuration of a retraining run and the named profiles (smoke, default, full).

``TrainConfig`` is everything that defines training one derived architecture from scratch; it is
saved as ``config.json`` in the run folder, and ``train_config_for_profile`` gives a profile's
config with field overrides (as ``nas.search.config.config_for_profile`` does for searches).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from nas.search.config import DATASETS, MAX_BATCH, _check_types, _cuda_available
from nas.spaces import get_space, space_names

# NB201's best CIFAR-10 cell (ResNet-like): the default, so that a bare config trains something sensible
DEFAULT_GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a retraining run (saved as ``config.json`` in the run folder).

    The field defaults are the ``default`` profile: a short CPU schedule (a few minutes per
    architecture on 2 cores on Fashion-MNIST), enough to rank architectures roughly, not to match
    published accuracies; ``full`` is the DARTS retraining recipe for a GPU.
    """

    space: str = "nb201"  # search space (``nas.spaces.space_names()``)
    genotype: str = DEFAULT_GENOTYPE  # canonical string of the space (``get_space(space).parse``)
    dataset: str = "fashion-mnist"  # cifar10 | fashion-mnist | synthetic
    data_root: str | None = None  # dataset root (None: NAS_DATA_DIR or <repo>/data)
    n_train: int = 10_000  # images of the official train split used, a fixed seeded subset (0: all)
    n_test: int = 0  # images of the official test split evaluated, a fixed seeded subset (0: all)
    C: int = 16  # channels of stage 1 (NB201 benchmark: 16)
    N: int = 1  # cells per stage (NB201 benchmark: 5); other spaces get it as ``network(N=...)``
    epochs: int = 8
    batch_size: int = 96
    lr: float = 0.025  # SGD, cosine annealed per epoch to lr_min over ``epochs``
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0  # max gradient norm (0: no clipping)
    cutout: int = 0  # side of the cutout square in pixels (0: off)
    drop_path: float = 0.0  # max drop-path probability, reached linearly at the last epoch (0: off)
    eval_every: int = 0  # evaluate on the test split every k epochs (0: only after the last one)
    seed: int = 0  # weights init, batch order and augmentation
    threads: int = 0  # torch intra-op threads (0: leave the default)
    device: str = "cpu"  # cpu | cuda (cuda:N)

    def validate(self, *, here: bool = False) -> "TrainConfig":
        """Check every field (type, range, allowed values); raise ValueError naming the first bad one.

        With ``here=True`` also check that the run can execute on this machine (CUDA present for
        ``device=cuda``).
        """
        _check_types(self)
        checks = [
            (self.space in space_names(), f"space must be one of {space_names()}"),
            (self.dataset in DATASETS, f"dataset must be one of {DATASETS}"),
            (self.n_train >= 0 and self.n_test >= 0, "need n_train >= 0 and n_test >= 0 (0: the whole split)"),
            (self.C >= 1 and self.N >= 1, "need C >= 1 and N >= 1"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (1 <= self.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}]"),
            (0 <= self.lr_min <= self.lr and self.lr > 0, "need 0 <= lr_min <= lr and lr > 0"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0 and self.grad_clip >= 0, "need weight_decay >= 0 and grad_clip >= 0 (0: off)"),
            (self.cutout >= 0, "cutout must be >= 0 pixels (0: off)"),
            (0 <= self.drop_path < 1, "drop_path must be in [0, 1) (0: off)"),
            (self.eval_every >= 0, "eval_every must be >= 0 (0: only after the last epoch)"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.threads >= 0, "threads must be >= 0 (0: the default)"),
            (self.device == "cpu" or self.device.split(":")[0] == "cuda", "device must be cpu or cuda (cuda:N)"),
        ]
        if here:
            checks.append((not self.device.startswith("cuda") or _cuda_available(),
                           f"device={self.device} but this machine has no CUDA device; use --set device=cpu"))
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"invalid TrainConfig: {msg}")
        self.parsed_genotype()
        return self

    def parsed_genotype(self):
        """The genotype value of ``space``; ValueError naming the space when the string does not parse."""
        space = get_space(self.space)
        try:
            genotype = space.parse(self.genotype)
        except ValueError as exc:
            raise ValueError(f"invalid TrainConfig: genotype {self.genotype!r} is not a {self.space} genotype "
                             f"({' '.join(str(exc).split())})") from None
        if not space.is_valid(genotype):
            raise ValueError(f"invalid TrainConfig: genotype {self.genotype!r} has no path from the cell input "
                             "to its output (its cells output zeros); choose another architecture")
        return genotype

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}")
        return cls(**d)


TRAIN_PROFILES: dict[str, dict] = {
    # seconds on a CPU: 256 synthetic 16x16 images, one epoch
    "smoke": dict(dataset="synthetic", n_train=256, n_test=128, C=4, N=1, epochs=1, batch_size=32),
    # ~4 min per architecture on 2 CPU cores (NB201 C=16 N=1: ~400 images/s): a short, ranking-grade schedule
    "default": dict(dataset="fashion-mnist", n_train=10_000, n_test=0, C=16, N=1, epochs=8, batch_size=96),
    # DARTS retraining recipe (SGD 0.025 cosine, batch 96, cutout 16, drop path 0.2) on the NB201 benchmark
    # skeleton, 300 epochs instead of DARTS's 600; drop path applies only to networks that have it
    "full": dict(dataset="cifar10", n_train=0, n_test=0, C=16, N=5, epochs=300, batch_size=96, cutout=16,
                 drop_path=0.2, eval_every=10, device="cuda"),
}


def train_config_for_profile(profile: str, **overrides) -> TrainConfig:
    """TrainConfig of a named profile (``TRAIN_PROFILES``) with field overrides, validated."""
    if profile not in TRAIN_PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(TRAIN_PROFILES)}")
    return replace(TrainConfig(**TRAIN_PROFILES[profile]), **overrides).validate()


def run_name(cfg: TrainConfig) -> str:
    """Run folder name: ``<space>_<genotype_id>_<dataset>_s<seed>``."""
    space = get_space(cfg.space)
    return f"{cfg.space}_{space.genotype_id(cfg.parsed_genotype())}_{cfg.dataset}_s{cfg.seed}"
