"""The configuration of a search run and the named profiles (smoke, default, full).

``SearchConfig`` is everything that defines a run; it is saved as ``config.json`` in the run
folder, and ``config_for_profile`` gives a profile's config with field overrides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from nas.costs.devices import SHARED_DEVICES
from nas.search.penalties import PENALTIES
from nas.spaces import space_names

LOSSES = tuple(PENALTIES)


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
    epochs: int = 20
    warmup_epochs: int = 4  # weight-only epochs on uniformly sampled paths before arch updates
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

    def validate(self) -> "SearchConfig":
        """Raise ValueError naming the first inconsistent field."""
        from nas.methods.registry import SEARCHED_METHODS as METHODS  # deferred: the registry builds configs
        checks = [
            (self.method in METHODS, f"method must be one of {METHODS}"),
            (self.space in space_names(), f"space must be one of {space_names()}"),
            (self.mode in ("single-path", "mixed"), "mode must be single-path or mixed"),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}"),
            (self.loss != "fbnet-fixed" or len(self.devices) == 1, "loss fbnet-fixed needs exactly one device"),
            (self.fbnet_a > 0 and self.fbnet_beta > 0, "need fbnet_a > 0 and fbnet_beta > 0"),
            (self.order in ("first", "second"), "order must be first or second"),
            (self.estimator in ("reinforce", "relaxed"), "estimator must be reinforce or relaxed"),
            (self.estimator == "relaxed" or self.order == "first", "second order needs estimator=relaxed"),
            (self.reinforce_samples >= 2, "reinforce_samples must be >= 2 (leave-one-out baseline)"),
            (self.weight_paths in ("uniform", "hypernet"), "weight_paths must be uniform or hypernet"),
            (0 < self.lam_min < self.lam_max, "need 0 < lam_min < lam_max"),
            (0 <= self.warmup_epochs < self.epochs, "need 0 <= warmup_epochs < epochs"),
            (len(self.devices) > 0, "at least one training device is needed"),
        ]
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
        d["devices"] = tuple(d.get("devices", SHARED_DEVICES))
        return cls(**d)


PROFILES: dict[str, dict] = {
    "smoke": dict(dataset="synthetic", n_train=128, n_val=128, C=4, N=1, batch_size=32, epochs=2, warmup_epochs=1),
    "default": dict(n_train=0, n_val=0, C=8, N=2, lam_max=2.0, epochs=20, warmup_epochs=4),
    "full": dict(C=16, N=5, epochs=100, warmup_epochs=20, torch_device="cuda"),
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
