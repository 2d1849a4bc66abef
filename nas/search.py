"""One conditioned search: ``run_search(SearchConfig, out_dir)`` (method ``darts-cc-hw``).

Bilevel DARTS on the NB201 supernet whose architecture logits come from a generator
alpha = G(lam_norm, phi(h)) (``nas.hypernet``). Every step samples a trade-off lam log-uniformly
in [lam_min, lam_max] (lam_norm = its position in [0, 1]) and a training device h, then
  1. hypernetwork step on a validation batch: CE + penalty(lam, E[cost_h](softmax alpha));
  2. weight step on a training batch: CE, with the same condition.
Penalties (``loss``): ``additive`` (DARTS-CC formulation A) lam * c, with c the expected cost of
the searchable edges relative to uniform op probabilities; ``fbnet``: CE * (log(1000 r) /
log 1000) ** (beta_max * lam_norm), r the expected cost relative to uniform; the baselines of
``nas.baselines`` use ``none`` (plain DARTS: CE only) and ``fbnet-fixed`` (FBNet as published, one
fixed trade-off: CE * fbnet_a * log(LAT_ms) ** fbnet_beta, LAT the expected whole-network latency
of the run's single device in ms; the condition is ignored). The run folder is
checkpointed every epoch and a rerun of the same command resumes it (``nas.run_io``).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nas import run_io
from nas.architect import first_order_grad, unrolled_grad
from nas.costs import CostTable
from nas.devices import SHARED_DEVICES
from nas.genotype import N_EDGES
from nas.hypernet import build_hypernet
from nas.isolation import evaluation_modules_blocked
from nas.results import reset_rss_peak
from nas.ops import NB201_PRIMITIVES
from nas.sampling import gumbel_noise, relaxed_weights, temperature
from nas.search_data import SearchData, load_search_data
from nas.spaces.nb201 import MacroConfig, SuperNet
from nas.tables import build_tables

METHODS = ("darts-cc-hw", "darts-cc", "darts", "fbnet")
LOSSES = ("additive", "fbnet", "fbnet-fixed", "none")
_BAR_INTERVAL_S, _LOG_BAR_INTERVAL_S = 0.1, 5.0  # step-bar refresh: a terminal; a log or notebook (kept whole)
FBNET_MIN_LATENCY = 1.0 + 1e-3  # fbnet-fixed: log(LAT) must stay positive for a fractional exponent


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search run (saved as ``config.json`` in the run folder)."""

    method: str = "darts-cc-hw"  # method id written to results; darts-cc-hw = this paper
    space: str = "nb201"  # search space (nb201)
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
        checks = [
            (self.method in METHODS, f"method must be one of {METHODS}"),
            (self.space == "nb201", "space must be nb201 (the only space so far)"),
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


def lam_of(u: torch.Tensor, cfg: SearchConfig) -> torch.Tensor:
    """Trade-off lam for normalised lam_norm = u in [0, 1] (log-uniform between lam_min and lam_max)."""
    return cfg.lam_min * (cfg.lam_max / cfg.lam_min) ** u


@dataclass
class _State:
    """Mutable parts of a search (what a checkpoint holds)."""

    supernet: SuperNet
    hypernet: torch.nn.Module
    w_optim: torch.optim.Optimizer
    a_optim: torch.optim.Optimizer
    generator: torch.Generator
    epoch: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)


class CostPenalty:
    """Normalised expected costs of the training devices and the penalty of the chosen loss."""

    def __init__(self, tables: list[CostTable], cfg: SearchConfig, device: torch.device):
        self.cfg = cfg
        self.op_cost = torch.tensor([t.op_cost for t in tables], dtype=torch.float32, device=device)  # (H, 5)
        self.base = torch.tensor([t.base for t in tables], device=device)  # (H,)
        self.edge_ref = torch.tensor([t.reference_cost() - t.base for t in tables], device=device)  # (H,)
        self.phi = torch.tensor(np.stack([t.descriptor() for t in tables]), dtype=torch.float32, device=device)

    def relative_cost(self, probs: torch.Tensor, h: int) -> torch.Tensor:
        """Expected cost of the searchable edges on device h relative to uniform probs (1 = uniform)."""
        return (probs * self.op_cost[h]).sum(dim=(-2, -1)) / self.edge_ref[h]

    def objective(self, ce: torch.Tensor, probs: torch.Tensor, h: int, u: torch.Tensor) -> torch.Tensor:
        """Validation objective for condition (u = lam_norm, device h)."""
        if self.cfg.loss == "none":
            return ce
        rel = self.relative_cost(probs, h)
        if self.cfg.loss == "additive":
            return ce + lam_of(u, self.cfg) * rel
        if self.cfg.loss == "fbnet-fixed":  # FBNet as published: the device's unit (ms) enters the log
            lat = self.base[h] + rel * self.edge_ref[h]
            return ce * self.cfg.fbnet_a * torch.log(torch.clamp(lat, min=FBNET_MIN_LATENCY)) ** self.cfg.fbnet_beta
        # fbnet: whole-network cost relative to uniform, inside FBNet's log; scale-free in the unit
        total = (self.base[h] + rel * self.edge_ref[h]) / (self.base[h] + self.edge_ref[h])
        factor = torch.log(1000.0 * torch.clamp(total, min=1e-2)) / math.log(1000.0)
        return ce * factor ** (self.cfg.beta_max * u)


def build_generator(cfg: SearchConfig, phi_dim: int) -> torch.nn.Module:
    """The architecture generator G of a config (``hypernet`` kind and its size) for descriptors of ``phi_dim``."""
    kwargs = {"pwlinear": {"n_knots": cfg.n_knots}, "mlp": {"hidden": cfg.hidden}}.get(cfg.hypernet, {})
    return build_hypernet(cfg.hypernet, N_EDGES, len(NB201_PRIMITIVES), phi_dim, **kwargs)


def _build_state(cfg: SearchConfig, data: SearchData, phi_dim: int) -> _State:
    torch.manual_seed(cfg.seed)  # weight initialisation only; sampling uses the state's generator
    dev = torch.device(cfg.torch_device)
    macro = MacroConfig(C=cfg.C, N=cfg.N, in_channels=data.in_channels, n_classes=data.n_classes)
    supernet = SuperNet(macro).to(dev)
    hypernet = build_generator(cfg, phi_dim).to(dev)
    w_optim = torch.optim.SGD(supernet.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                              weight_decay=cfg.w_weight_decay)
    a_optim = torch.optim.Adam(hypernet.parameters(), lr=cfg.a_lr, betas=(cfg.a_beta1, 0.999),
                               weight_decay=cfg.a_weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    return _State(supernet, hypernet, w_optim, a_optim, gen)


def _cosine_lr(cfg: SearchConfig, epoch: int) -> float:
    return cfg.w_lr_min + 0.5 * (cfg.w_lr - cfg.w_lr_min) * (1 + math.cos(math.pi * epoch / cfg.epochs))


class _Stepper:
    """One search step: a hypernetwork step on a validation batch, then a weight step."""

    def __init__(self, cfg: SearchConfig, st: _State, penalty: CostPenalty):
        self.cfg, self.st, self.penalty = cfg, st, penalty
        self.weights = list(st.supernet.parameters())
        self.arch = list(st.hypernet.parameters())

    def _logits(self, u: torch.Tensor, h: int) -> torch.Tensor:
        return self.st.hypernet(u, self.penalty.phi[h])

    def _ce(self, logits, noise, tau, x, y):
        w, index = relaxed_weights(logits, noise, tau, self.cfg.mode)
        if index is not None and not logits.requires_grad:
            w = None  # no architecture gradient wanted: run the sampled ops unscaled
        out = self.st.supernet(x, w, index)
        return F.cross_entropy(out, y), out

    def arch_step(self, u, h, tau, trn, val) -> dict:
        """One hypernetwork update for condition (u = lam_norm, device h); returns val statistics."""
        if self.cfg.estimator == "reinforce":
            grads, stats = self._reinforce_grads(u, h, val)
        else:
            grads, stats = self._relaxed_grads(u, h, tau, trn, val)
        self.st.a_optim.zero_grad(set_to_none=True)
        for p, g in zip(self.arch, grads):
            p.grad = g
        self.st.a_optim.step()
        return stats

    def _relaxed_grads(self, u, h, tau, trn, val):
        """Gradient through the relaxed sample (Gumbel-softmax / straight-through), first or second order."""
        noise = gumbel_noise((N_EDGES, len(NB201_PRIMITIVES)), self.st.generator).to(val[0].device)
        stats = {}

        def val_loss():
            logits = self._logits(u, h)
            ce, out = self._ce(logits, noise, tau, *val)
            probs = torch.softmax(logits, -1)
            if not stats:  # the first evaluation is at the current weights
                stats.update(val_loss=float(ce.detach()), val_acc=_accuracy(out, val[1]),
                             rel_cost=float(self.penalty.relative_cost(probs.detach(), h)))
            return self.penalty.objective(ce, probs, h, u)

        if self.cfg.order == "first":
            return first_order_grad(val_loss, self.arch), stats
        train_loss = lambda: self._ce(self._logits(u, h), noise, tau, *trn)[0]  # noqa: E731
        grads = unrolled_grad(train_loss, val_loss, self.weights, self.arch,
                              xi=self.st.w_optim.param_groups[0]["lr"], weight_decay=self.cfg.w_weight_decay)
        return grads, stats

    def _reinforce_grads(self, u, h, val):
        """Score-function gradient of E_a[CE(a)] over K sampled paths (leave-one-out baseline).

        The paths run forward only (no backward through the supernet). ``ce_value + score -
        score.detach()`` has the value of the mean CE and the REINFORCE gradient, so the same
        penalty objective (additive or FBNet's multiplicative form) applies.
        """
        logits = self._logits(u, h)
        logp = torch.log_softmax(logits, -1)  # (6, 5)
        k = self.cfg.reinforce_samples
        paths = torch.multinomial(logp.detach().exp(), k, replacement=True, generator=self.st.generator).T  # (K, 6)
        with torch.no_grad():
            outs = [self.st.supernet(val[0], None, a) for a in paths]
            ce = torch.stack([F.cross_entropy(o, val[1]) for o in outs])  # (K,)
        baseline = (ce.sum() - ce) / (k - 1)
        path_logp = logp[torch.arange(N_EDGES), paths].sum(-1)  # (K,)
        score = ((ce - baseline) * path_logp).mean()
        probs = logp.exp()
        objective = self.penalty.objective(ce.mean() + score - score.detach(), probs, h, u)
        stats = {"val_loss": float(ce.mean()), "val_acc": sum(_accuracy(o, val[1]) for o in outs) / k,
                 "rel_cost": float(self.penalty.relative_cost(probs.detach(), h))}
        return torch.autograd.grad(objective, self.arch, allow_unused=True), stats

    def step(self, n_devices: int, tau: float, trn, val, warm: bool) -> tuple[torch.Tensor, int, dict]:
        """One search step: draw a condition (lam_norm u, device h < n_devices), then the hypernetwork
        step (skipped in warm-up) and the weight step; returns (u, h, statistics)."""
        u = torch.rand((), generator=self.st.generator)
        h = int(torch.randint(n_devices, (), generator=self.st.generator))
        stats = {} if warm else self.arch_step(u, h, tau, trn, val)
        stats.update(self.weight_step(u, h, tau, trn, uniform=warm or self.cfg.weight_paths == "uniform"))
        return u, h, stats

    def weight_step(self, u, h, tau, trn, uniform: bool) -> dict:
        with torch.no_grad():
            logits = torch.zeros(N_EDGES, len(NB201_PRIMITIVES)) if uniform else self._logits(u, h)
        noise = gumbel_noise(logits.shape, self.st.generator).to(logits.device)
        ce, out = self._ce(logits, noise, tau, *trn)
        self.st.w_optim.zero_grad(set_to_none=True)
        ce.backward()
        torch.nn.utils.clip_grad_norm_(self.weights, self.cfg.grad_clip)
        self.st.w_optim.step()
        return {"train_loss": float(ce.detach()), "train_acc": _accuracy(out, trn[1])}


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


def _run_epoch(cfg: SearchConfig, st: _State, data: SearchData, stepper: _Stepper, device_names,
               progress: bool = True) -> dict:
    epoch = st.epoch
    tau = temperature(epoch, cfg.epochs, cfg.tau_max, cfg.tau_min, cfg.tau_schedule)
    for group in st.w_optim.param_groups:
        group["lr"] = _cosine_lr(cfg, epoch)
    warm = epoch < cfg.warmup_epochs
    sums: dict[str, float] = {}
    batches = data.epoch_batches(epoch, cfg.batch_size, cfg.seed)
    bar = tqdm(batches, total=data.steps_per_epoch(cfg.batch_size), leave=False, disable=not progress,
               mininterval=_BAR_INTERVAL_S if sys.stderr.isatty() else _LOG_BAR_INTERVAL_S,
               desc=f"epoch {epoch + 1}/{cfg.epochs}" + (" (warm-up)" if warm else ""))
    for step, (trn, val) in enumerate(bar, start=1):
        u, h, stats = stepper.step(len(device_names), tau, trn, val, warm)
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
        if not warm:
            bar.set_postfix(loss=f"{stats['val_loss']:.3f}", lam=f"{float(lam_of(u, cfg)):.3g}",
                            dev=device_names[h], cost=f"{stats['rel_cost']:.2f}", refresh=False)
    row = {k: v / step for k, v in sums.items()}
    row.update(epoch=epoch + 1, tau=tau, lr=st.w_optim.param_groups[0]["lr"], warmup=int(warm))
    return row


def run_search(cfg: SearchConfig, out_dir: str | Path, *, data: SearchData | None = None,
               progress: bool = True) -> Path:
    """Run (or resume) a search in ``out_dir`` without access to benchmark ground truth; see ``_search``."""
    with evaluation_modules_blocked():
        return _search(cfg, out_dir, data, progress)


def _search(cfg: SearchConfig, out_dir: str | Path, data: SearchData | None, progress: bool) -> Path:
    """Run (or resume) a search and write its run folder; returns the folder.

    The folder holds ``config.json``, ``devices.json`` (the cost tables trained on),
    ``history.csv`` (per-epoch metrics), ``checkpoint.ckpt`` (full state; never committed),
    and when finished ``hypernet.pt`` (the small generator state) and ``run.json``.
    """
    cfg.validate()
    reset_rss_peak()  # run.json reports the peak memory of this search, not of earlier work in the process
    torch.set_flush_denormal(True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out_dir)
    run_io.prepare_run_dir(out, cfg.to_dict())
    tables = build_tables(cfg.devices, n_fit=cfg.lut_n_fit, seed=cfg.lut_seed)
    data = data if data is not None else load_search_data(cfg)
    st = _build_state(cfg, data, tables[0].descriptor().size)
    run_io.load_checkpoint(out, st)
    if st.epoch >= cfg.epochs and run_io.is_finished(out):
        return out
    run_io.save_tables(out, tables)
    stepper = _Stepper(cfg, st, CostPenalty(tables, cfg, torch.device(cfg.torch_device)))
    names = [t.name for t in tables]
    with tqdm(total=cfg.epochs, initial=st.epoch, desc=f"search {cfg.method}", disable=not progress) as bar:
        while st.epoch < cfg.epochs:
            t0 = time.perf_counter()
            row = _run_epoch(cfg, st, data, stepper, names, progress)
            st.seconds += time.perf_counter() - t0
            row["seconds"] = st.seconds
            st.history.append(row)
            st.epoch += 1
            run_io.save_checkpoint(out, st)
            bar.update(1)
            bar.set_postfix(val_acc=f"{row.get('val_acc', float('nan')):.3f}", tau=f"{row['tau']:.2f}")
    run_io.finish_run(out, cfg.to_dict(), st)
    return out


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
