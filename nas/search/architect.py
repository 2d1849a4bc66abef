"""Gradients of the architecture (hypernetwork) parameters: first order and DARTS's unrolled step.

The unrolled (second-order) gradient of L_val(w - xi * grad_w L_train(w, U), U) w.r.t. U is
    grad_U L_val(w', U) - xi * H,   H = grad^2_{U,w} L_train(w, U) . grad_{w'} L_val(w', U),
with the Hessian-vector product H taken by central finite differences (Liu et al., 2019):
    H ~ [grad_U L_train(w+, U) - grad_U L_train(w-, U)] / (2 eps),  w+- = w +- eps * grad_{w'} L_val,
    eps = 0.01 / ||grad_{w'} L_val||.
Loss callables close over fixed data and fixed Gumbel noise, so repeated calls are deterministic.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

LossFn = Callable[[], torch.Tensor]


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def first_order_grad(val_loss: LossFn, arch_params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """grad_U L_val(w, U): DARTS first order (xi = 0)."""
    return _grads(val_loss(), arch_params)


@torch.no_grad()
def _add_(params: Sequence[torch.Tensor], deltas: Sequence[torch.Tensor], scale: float) -> None:
    for p, d in zip(params, deltas):
        p.add_(d, alpha=scale)


def hessian_vector_product(
    train_loss: LossFn, weights: Sequence[torch.Tensor], arch_params: Sequence[torch.Tensor],
    vector: Sequence[torch.Tensor], r: float = 1e-2,
) -> list[torch.Tensor]:
    """Finite-difference grad^2_{U,w} L_train . vector; leaves the weights as they were."""
    norm = torch.sqrt(sum((v * v).sum() for v in vector))
    eps = r / (float(norm) + 1e-12)
    _add_(weights, vector, eps)
    g_plus = _grads(train_loss(), arch_params)
    _add_(weights, vector, -2.0 * eps)
    g_minus = _grads(train_loss(), arch_params)
    _add_(weights, vector, eps)
    return [(gp - gm) / (2.0 * eps) for gp, gm in zip(g_plus, g_minus)]


def unrolled_grad(
    train_loss: LossFn, val_loss: LossFn, weights: Sequence[torch.Tensor],
    arch_params: Sequence[torch.Tensor], xi: float, weight_decay: float = 0.0,
) -> list[torch.Tensor]:
    """DARTS second-order gradient of the validation loss w.r.t. the architecture parameters.

    Takes a virtual SGD step w' = w - xi * (grad_w L_train + weight_decay * w), evaluates the
    validation gradients at w', restores w and subtracts xi times the finite-difference HVP.
    """
    backup = [w.detach().clone() for w in weights]
    g_w = _grads(train_loss(), weights)
    with torch.no_grad():
        for w, g in zip(weights, g_w):
            w.sub_(xi * (g + weight_decay * w))
    val = val_loss()
    grads = _grads(val, list(arch_params) + list(weights))
    d_arch, d_w = grads[: len(arch_params)], grads[len(arch_params):]
    with torch.no_grad():
        for w, b in zip(weights, backup):
            w.copy_(b)
    hvp = hessian_vector_product(train_loss, weights, arch_params, d_w)
    return [da - xi * h for da, h in zip(d_arch, hvp)]
