"""Relaxed architecture samples: softmax, Gumbel-softmax and straight-through single paths."""

from __future__ import annotations

import torch

MODES = ("mixed", "single-path")


def gumbel_noise(shape: torch.Size, generator: torch.Generator | None, device=None) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise of ``shape`` drawn from ``generator``."""
    u = torch.rand(shape, generator=generator, device=device).clamp_(1e-10, 1.0 - 1e-10)
    return -torch.log(-torch.log(u))


def relaxed_weights(
    logits: torch.Tensor, noise: torch.Tensor, tau: float, mode: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Op weights (..., n_ops) from logits and fixed Gumbel noise.

    ``mixed``: the Gumbel-softmax sample softmax((logits + g) / tau), every op weighted.
    ``single-path``: the hard one-hot of the same sample with a straight-through gradient
    (forward value 1 on the sampled op, backward the Gumbel-softmax gradient), and the sampled
    index (...,) so that only that op is run.
    """
    if mode not in MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; choose from {', '.join(MODES)}")
    soft = torch.softmax((logits + noise) / tau, dim=-1)
    if mode == "mixed":
        return soft, None
    index = soft.argmax(dim=-1)
    hard = torch.nn.functional.one_hot(index, soft.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft, index


def temperature(epoch: int, epochs: int, tau_max: float, tau_min: float, schedule: str) -> float:
    """Gumbel temperature at ``epoch``: ``linear`` (DARTS-CC) or ``exp`` (FBNet/GDAS) decay."""
    frac = epoch / max(epochs - 1, 1)
    if schedule == "linear":
        return tau_max + (tau_min - tau_max) * frac
    if schedule == "exp":
        return tau_max * (tau_min / tau_max) ** frac
    raise ValueError(f"unknown temperature schedule {schedule!r}; choose linear or exp")
