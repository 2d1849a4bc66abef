"""The configuration of a search run and the named profiles (smoke, default, full).

``SearchConfig`` is everything that defines a run; it is saved as ``config.json`` in the run
folder, and ``config_for_profile`` gives a profile's config with field overrides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from nas.costs.devices import SHARED_DEVICES
from nas.search.penalties import PENALTIES
from nas.spaces import get_space, space_names

LOSSES = tuple(PENALTIES)
DATASETS = ("cifar10", "fashion-mnist", "synthetic")
SCHEDULES = ("joint", "two-phase")
PATH_SAMPLINGS = ("uniform", "fair", "no-none")
MAX_BATCH = 4096  # images per step; a larger batch is a typo on the hardware this targets


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _check_types(cfg) -> None:
    """Raise ValueError for a field whose value is not of its declared type (or a non-finite float)."""
    from nas.search.serialise import field_types, unwrap_optional

    for name, tp in field_types(type(cfg)).items():
        value = getattr(cfg, name)
        inner, optional = unwrap_optional(tp)
        if optional and value is None:
            continue
        if inner is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif inner is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif inner is str:
            ok = isinstance(value, str)
        else:  # tuple[str, ...]
            ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        if not ok:
            raise ValueError(f"invalid {type(cfg).__name__}: {name}={value!r} is not of type {'finite ' if inner is float else ''}"
                             f"{getattr(inner, '__name__', inner)}; fix it in --set {name}=...")


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search run (saved as ``config.json`` in the run folder)."""

    method: str = "darts-cc-hw"  # method id written to results; darts-cc-hw = this paper
    space: str = "nb201"  # search space (``nas.spaces``: nb201)
    dataset: str = "cifar10"  # cifar10 | fashion-mnist | synthetic
    data_root: str | None = None  # dataset root (None: NAS_DATA_DIR or <repo>/data)
    n_train: int = 0  # images of the weight half used (0: all of it)
    n_val: int = 0  # images of the hypernetwork half used (0: all of it)
    C: int = 8  # channels of stage 1 in the search network (benchmark: 16)
    N: int = 1  # cells per stage in the search network (benchmark: 5)
    batch_size: int = 64
    epochs: int = 20  # joint: all epochs; two-phase: the generator's (phase 2) epochs
    warmup_epochs: int = 4  # joint: weight-only epochs on uniformly sampled paths before arch updates
    schedule: str = "joint"  # joint (DARTS-CC: warm-up, then both per batch) | two-phase (shared supernet, then G)
    supernet_epochs: int = 40  # two-phase: phase-1 epochs of the shared supernet (weights alone, single paths)
    path_sampling: str = "uniform"  # paths of weight-only steps: uniform (i.i.d.) | fair (each op once per
    # round) | no-none (uniform over every op but the zero op, which has no weights)
    resolution: int = 0  # side of the supernet's input images in pixels (0: the dataset's); area-resized once
    val_batch_size: int = 0  # two-phase: images per generator step (0: batch_size)
    split_edge: int = -1  # few-shot: the edge whose op picks one of n_ops sub-supernets (-1: one supernet)
    split_epoch: int = 0  # few-shot: the supernet epoch at which the sub-supernets are copied from the shared one
    snapshot_every: int = 0  # keep the supernet weights every k epochs under snapshots/ (never committed; 0: none)
    mode: str = "single-path"  # single-path (one sampled op per edge, straight-through) | mixed
    hypernet: str = "pwlinear"  # pwlinear (DARTS-CC) | mlp | alpha (plain DARTS, ignores the condition)
    n_knots: int = 5  # pwlinear anchors
    hidden: int = 64  # mlp width
    loss: str = "additive"  # additive: CE + lam * cost | fbnet: CE * (log cost)^beta | fbnet-fixed | none
    lam_min: float = 1e-3  # additive: smallest trade-off (lam_norm = 0, plain DARTS)
    lam_max: float = 10.0  # additive: largest trade-off (lam_norm = 1, cheapest architectures)
    beta_max: float = 2.0  # fbnet: exponent at lam_norm = 1
    fbnet_a: float = 0.2  # fbnet-fixed: FBNet's scale alpha of CE * alpha * log(LAT_ms)^beta
    fbnet_beta: float = 0.6  # fbnet-fixed: FBNet's exponent beta (the fixed trade-off of the run)
    devices: tuple[str, ...] = SHARED_DEVICES  # training devices: shared names, params, flops, CSV paths
    lut_n_fit: int = 300  # architectures measured per shared device to fit its lookup table
    lut_seed: int = 0
    w_lr: float = 0.025  # SGD, cosine to w_lr_min
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float = 5.0
    a_lr: float = 1e-3  # Adam on the hypernetwork (DARTS-CC)
    a_beta1: float = 0.5
    a_weight_decay: float = 1e-3
    tau_max: float = 1.0  # Gumbel temperature schedule
    tau_min: float = 0.2
    tau_schedule: str = "linear"  # linear (DARTS-CC) | exp (FBNet)
    estimator: str = "reinforce"  # hypernetwork gradient: reinforce (sampled paths, forward only) | relaxed
    reinforce_samples: int = 2  # paths per hypernetwork step (leave-one-out baseline; >= 2)
    weight_paths: str = "uniform"  # paths trained in the weight step: uniform (fair supernet) | hypernet
    order: str = "first"  # relaxed estimator: first | second (unrolled, finite-difference HVP)
    seed: int = 0
    torch_device: str = "cpu"  # cpu | cuda
    threads: int = 0  # torch intra-op threads (0: leave the default)

    def validate(self, *, here: bool = False) -> "SearchConfig":
        """Check every field (type, range, allowed values); raise ValueError naming the first bad one.

        With ``here=True`` also check that the run can execute on this machine (CUDA present for
        ``torch_device=cuda``); a search calls it so, before its run folder is created.
        """
        _check_types(self)
        from nas.methods.registry import SEARCHED_METHODS as METHODS  # deferred: the registry builds configs
        from nas.search.generators import HYPERNETS
        checks = [
            (self.method in METHODS, f"method must be one of {METHODS}"),
            (self.space in space_names(), f"space must be one of {space_names()}"),
            (self.dataset in DATASETS, f"dataset must be one of {DATASETS}"),
            (self.n_train >= 0 and self.n_val >= 0, "need n_train >= 0 and n_val >= 0 (0: all images)"),
            (self.C >= 1 and self.N >= 1, "need C >= 1 and N >= 1"),
            (1 <= self.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}]"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.mode in ("single-path", "mixed"), "mode must be single-path or mixed"),
            (self.hypernet in HYPERNETS, f"hypernet must be one of {tuple(HYPERNETS)}"),
            (self.n_knots >= 2 and self.hidden >= 1, "need n_knots >= 2 and hidden >= 1"),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}"),
            (self.loss != "fbnet-fixed" or len(self.devices) == 1, "loss fbnet-fixed needs exactly one device"),
            (self.fbnet_a > 0 and self.fbnet_beta > 0 and self.beta_max >= 0,
             "need fbnet_a > 0, fbnet_beta > 0 and beta_max >= 0"),
            (self.order in ("first", "second"), "order must be first or second"),
            (self.estimator in ("reinforce", "relaxed"), "estimator must be reinforce or relaxed"),
            (self.estimator == "relaxed" or self.order == "first", "second order needs estimator=relaxed"),
            (self.reinforce_samples >= 2, "reinforce_samples must be >= 2 (leave-one-out baseline)"),
            (self.weight_paths in ("uniform", "hypernet"), "weight_paths must be uniform or hypernet"),
            (0 < self.lam_min < self.lam_max, "need 0 < lam_min < lam_max"),
            (0 <= self.warmup_epochs < self.epochs, "need 0 <= warmup_epochs < epochs"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.supernet_epochs >= 1, "supernet_epochs must be >= 1"),
            (self.schedule == "joint" or self.order == "first",
             "schedule two-phase trains the generator against fixed weights: it needs order=first"),
            (self.path_sampling in PATH_SAMPLINGS, f"path_sampling must be one of {PATH_SAMPLINGS}"),
            (self.path_sampling == "uniform" or self.mode == "single-path", "path_sampling fair needs mode=single-path"),
            (self.resolution >= 0 and self.val_batch_size >= 0 and self.snapshot_every >= 0,
             "need resolution, val_batch_size and snapshot_every >= 0 (0: off / the default)"),
            (self.val_batch_size <= MAX_BATCH, f"val_batch_size must be at most {MAX_BATCH}"),
            (-1 <= self.split_edge < get_space(self.space).n_edges if self.space in space_names() else True,
             "split_edge must be -1 (one supernet) or an edge index of the space"),
            (self.split_edge < 0 or self.mode == "single-path", "a few-shot supernet (split_edge) needs mode=single-path"),
            (0 <= self.split_epoch < (self.supernet_epochs if self.schedule == "two-phase" else self.epochs),
             "split_epoch must lie in [0, the supernet's epochs)"),
            (len(self.devices) > 0, "at least one training device is needed"),
            (all(d.strip() for d in self.devices) and len(set(self.devices)) == len(self.devices),
             "devices must be distinct non-empty names or CSV paths"),
            (self.lut_n_fit >= 1 and self.lut_seed >= 0, "need lut_n_fit >= 1 and lut_seed >= 0"),
            (0 <= self.w_lr_min <= self.w_lr and self.w_lr > 0, "need 0 <= w_lr_min <= w_lr and w_lr > 0"),
            (0 <= self.w_momentum < 1 and 0 <= self.a_beta1 < 1, "need w_momentum and a_beta1 in [0, 1)"),
            (self.w_weight_decay >= 0 and self.a_weight_decay >= 0, "weight decays must be >= 0"),
            (self.grad_clip > 0 and self.a_lr > 0, "need grad_clip > 0 and a_lr > 0"),
            (0 < self.tau_min <= self.tau_max, "need 0 < tau_min <= tau_max"),
            (self.tau_schedule in ("linear", "exp"), "tau_schedule must be linear or exp"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.torch_device == "cpu" or self.torch_device.split(":")[0] == "cuda",
             "torch_device must be cpu or cuda (cuda:N)"),
            (self.threads >= 0, "threads must be >= 0 (0: the default)"),
        ]
        if here:
            checks.append((not self.torch_device.startswith("cuda") or _cuda_available(),
                           f"torch_device={self.torch_device} but this machine has no CUDA device; "
                           "use --set torch_device=cpu"))
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"invalid SearchConfig: {msg}")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["devices"] = list(self.devices)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SearchConfig":
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown SearchConfig field(s) {unknown}")
        devices = d.get("devices", SHARED_DEVICES)
        d["devices"] = tuple(devices) if isinstance(devices, (list, tuple)) else devices
        return cls(**d)


PROFILES: dict[str, dict] = {
    "smoke": dict(dataset="synthetic", n_train=128, n_val=128, C=4, N=1, batch_size=32, schedule="two-phase",
                  supernet_epochs=2, snapshot_every=1, epochs=2, warmup_epochs=0, val_batch_size=32,
                  reinforce_samples=4),
    # the weights' learning rate stays at w_lr (no cosine decay): the supernet ranks cells better (README)
    "default": dict(n_train=0, n_val=0, C=8, N=2, lam_max=2.0, epochs=20, warmup_epochs=4, w_lr_min=0.025),
    "full": dict(C=16, N=5, epochs=100, warmup_epochs=20, torch_device="cuda"),  # joint: DARTS-CC's own schedule
}


def config_for_profile(profile: str, **overrides) -> SearchConfig:
    """SearchConfig of a named profile (``PROFILES``) with field overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    return replace(SearchConfig(**PROFILES[profile]), **overrides).validate()


def search_plan(profile: str, *, method: str = "darts-cc-hw", dataset: str = "cifar10", seed: int = 0,
                holdouts: tuple[str, ...] = ("",), data_root: str | None = None,
                **overrides) -> dict[str, SearchConfig]:
    """The runs of stage ``03_search`` by run name: one per holdout ("" trains on every shared device)."""
    return {
        run_name(cfg, h): cfg
        for h in holdouts
        for cfg in [config_for_profile(profile, method=method, dataset=dataset, seed=seed, data_root=data_root,
                                       devices=devices_without(h), **overrides)]
    }


def run_name(cfg: SearchConfig, holdout: str = "") -> str:
    """Run folder name: ``<method>_<space>_<dataset>_s<seed>`` plus ``_without-<device>`` for a held-out device."""
    name = f"{cfg.method}_{cfg.space}_{cfg.dataset}_s{cfg.seed}"
    return f"{name}_without-{holdout}" if holdout else name


def devices_without(holdout: str, devices: tuple[str, ...] = SHARED_DEVICES) -> tuple[str, ...]:
    """The training devices with ``holdout`` left out (an unknown name raises ValueError)."""
    if holdout and holdout not in devices:
        raise ValueError(f"cannot hold out {holdout!r}: not among the training devices {', '.join(devices)}")
    return tuple(d for d in devices if d != holdout)
