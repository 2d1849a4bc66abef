"""One search step: the architecture (generator) step and the weight step on the shared supernet.

``Stepper.arch_step`` updates the generator for one condition (lam_norm, device) on a validation
batch; ``Stepper.weight_step`` updates the supernet weights on a training batch, on a path drawn
independently of the generator (``path_sampling``: uniform i.i.d. ops, or fair -- every op of every
edge exactly once per round of n_ops steps, FairNAS's strict fairness; or no-none -- uniform over the
ops with weights) or on a path of the generator. ``Stepper.step`` is the joint step of
the search (``nas.search.loop``) and what ``nas.search.bench`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from nas.search.architect import first_order_grad, unrolled_grad
from nas.search.config import SearchConfig
from nas.search.few_shot import build_supernet
from nas.search.generators import build_generator
from nas.search.penalties import CostPenalty
from nas.search.sampling import gumbel_noise, relaxed_weights
from nas.spaces import get_space

PHASES = ("supernet", "joint", "generator")


@dataclass
class SearchState:
    """Mutable parts of a search (what a checkpoint holds)."""

    supernet: torch.nn.Module  # the space's supernet: forward(x, weights, index)
    hypernet: torch.nn.Module
    w_optim: torch.optim.Optimizer
    a_optim: torch.optim.Optimizer
    generator: torch.Generator
    epoch: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)
    started_commit: str | None = None  # the checkout's commit when epoch 1 began (kept across resumes)


def build_state(cfg: SearchConfig, in_channels: int, n_classes: int, phi_dim: int) -> SearchState:
    """Fresh supernet of ``cfg.space``, generator, optimizers and sampling generator of a run (weights seeded by
    ``cfg.seed``)."""
    torch.manual_seed(cfg.seed)  # weight initialisation only; sampling uses the state's generator
    dev = torch.device(cfg.torch_device)
    supernet = build_supernet(cfg, in_channels, n_classes).to(dev)
    hypernet = build_generator(cfg, phi_dim).to(dev)
    w_optim = torch.optim.SGD(supernet.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                              weight_decay=cfg.w_weight_decay)
    a_optim = torch.optim.Adam(hypernet.parameters(), lr=cfg.a_lr, betas=(cfg.a_beta1, 0.999),
                               weight_decay=cfg.a_weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    return SearchState(supernet, hypernet, w_optim, a_optim, gen)


class Stepper:
    """One search step: a hypernetwork step on a validation batch, then a weight step."""

    def __init__(self, cfg: SearchConfig, st: SearchState, penalty: CostPenalty):
        self.cfg, self.st, self.penalty = cfg, st, penalty
        self.weights = list(st.supernet.parameters())
        self.arch = list(st.hypernet.parameters())
        space = get_space(cfg.space)
        self.arch_shape = (space.n_edges, len(space.primitives))  # (n_edges, n_ops) of the logits
        self._fair_round: list[torch.Tensor] = []

    def _uniform_logits(self) -> torch.Tensor:
        """Logits (n_edges, n_ops) of the generator-independent paths: uniform, or without the zero op (``no-none``)."""
        logits = torch.zeros(self.arch_shape)
        if self.cfg.path_sampling == "no-none":
            logits[:, get_space(self.cfg.space).primitives.index("none")] = -math.inf
        return logits

    def start_epoch(self) -> None:
        """Begin a new round of fair paths (rounds restart each epoch, so a resumed run repeats them)."""
        self._fair_round = []

    def fair_path(self) -> torch.Tensor:
        """The next path (n_edges,) of the round: per edge, a random permutation of the ops spread over
        n_ops consecutive steps, so every op of every edge is trained once per round."""
        if not self._fair_round:
            n_edges, n_ops = self.arch_shape
            perms = torch.stack([torch.randperm(n_ops, generator=self.st.generator) for _ in range(n_edges)])
            self._fair_round = list(perms.T)  # n_ops paths of (n_edges,)
        return self._fair_round.pop()

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
        noise = gumbel_noise(self.arch_shape, self.st.generator).to(val[0].device)
        stats = {}

        def val_loss():
            logits = self._logits(u, h)
            ce, out = self._ce(logits, noise, tau, *val)
            probs = torch.softmax(logits, -1)
            if not stats:  # the first evaluation is at the current weights
                stats.update(val_loss=float(ce.detach()), val_acc=accuracy(out, val[1]),
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
        logp = torch.log_softmax(logits, -1)  # (n_edges, n_ops)
        k = self.cfg.reinforce_samples
        paths = torch.multinomial(logp.detach().exp(), k, replacement=True, generator=self.st.generator).T  # (K, E)
        with torch.no_grad():
            outs = [self.st.supernet(val[0], None, a) for a in paths]
            ce = torch.stack([F.cross_entropy(o, val[1]) for o in outs])  # (K,)
        baseline = (ce.sum() - ce) / (k - 1)
        path_logp = logp[torch.arange(self.arch_shape[0]), paths].sum(-1)  # (K,)
        score = ((ce - baseline) * path_logp).mean()
        probs = logp.exp()
        objective = self.penalty.objective(ce.mean() + score - score.detach(), probs, h, u)
        stats = {"val_loss": float(ce.mean()), "val_acc": sum(accuracy(o, val[1]) for o in outs) / k,
                 "rel_cost": float(self.penalty.relative_cost(probs.detach(), h))}
        return torch.autograd.grad(objective, self.arch, allow_unused=True), stats

    def step(self, n_devices: int, tau: float, trn, val, phase: str = "joint") -> tuple[torch.Tensor, int, dict]:
        """One step for a drawn condition (lam_norm u, device h < n_devices); returns (u, h, statistics).

        ``phase``: ``supernet`` -- the weight step only, on a uniformly sampled path (phase 1, the
        warm-up of the joint schedule); ``joint`` -- the generator step, then the weight step;
        ``generator`` -- the generator step only, against fixed supernet weights (phase 2).
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        u = torch.rand((), generator=self.st.generator)
        h = int(torch.randint(n_devices, (), generator=self.st.generator))
        stats = {} if phase == "supernet" else self.arch_step(u, h, tau, trn, val)
        if phase != "generator":
            uniform = phase == "supernet" or self.cfg.weight_paths == "uniform"
            stats.update(self.weight_step(u, h, tau, trn, uniform=uniform))
        return u, h, stats

    @torch.no_grad()
    def generator_entropy(self) -> dict:
        """The generator's normalised entropy (``normalised_entropy``) at lam_norm 0 and 1, mean over the training
        devices: how far it has moved from uniform (no benchmark involved; a stopping signal)."""
        n = len(self.penalty.phi)
        out = {}
        for name, u in (("entropy_lam0", 0.0), ("entropy_lam1", 1.0)):
            lam = torch.full((n,), u, device=self.penalty.phi.device)
            out[name] = float(normalised_entropy(self.st.hypernet(lam, self.penalty.phi)).mean())
        return out

    def weight_step(self, u, h, tau, trn, uniform: bool) -> dict:
        """One SGD step of the supernet weights on a path independent of the generator (``uniform``) or drawn
        from it."""
        if uniform and self.cfg.path_sampling == "fair":
            out = self.st.supernet(trn[0], None, self.fair_path())
            ce = F.cross_entropy(out, trn[1])
        else:
            with torch.no_grad():
                logits = self._uniform_logits() if uniform else self._logits(u, h)
            noise = gumbel_noise(logits.shape, self.st.generator).to(logits.device)
            ce, out = self._ce(logits, noise, tau, *trn)
        self.st.w_optim.zero_grad(set_to_none=True)
        ce.backward()
        torch.nn.utils.clip_grad_norm_(self.weights, self.cfg.grad_clip)
        self.st.w_optim.step()
        return {"train_loss": float(ce.detach()), "train_acc": accuracy(out, trn[1])}


def normalised_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean over edges of the entropy of each edge's op distribution, divided by log(n_ops): 1 = uniform,
    0 = one op. logits (..., n_edges, n_ops) -> (...)."""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1).mean(-1) / math.log(logits.shape[-1])


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of logits (B, classes) against labels (B,), in [0, 1]."""
    return float((logits.argmax(1) == y).float().mean())
