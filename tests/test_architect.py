"""The finite-difference Hessian-vector product and the unrolled gradient, against autograd (float64)."""

import torch

from nas.search.architect import hessian_vector_product, unrolled_grad



def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(7, generator=g, dtype=torch.float64, requires_grad=True)
    u = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    A = torch.randn(7, 3, generator=g, dtype=torch.float64)
    B = torch.randn(7, 3, generator=g, dtype=torch.float64)

    def loss(w_, u_, M):  # smooth, non-quadratic coupling of weights and architecture
        return torch.tanh(M @ u_).dot(w_) + 0.5 * (w_ ** 2).sum() * torch.sigmoid(u_).sum() + (u_ ** 3).sum() / 10

    return w, u, (lambda: loss(w, u, A)), (lambda: loss(w, u, B)), loss, A, B


def test_hvp_matches_autograd():
    w, u, train, _, loss, A, _ = _problem()
    v = torch.randn(7, dtype=torch.float64)
    g_w = torch.autograd.grad(loss(w, u, A), w, create_graph=True)[0]
    exact = torch.autograd.grad(g_w.dot(v), u)[0]
    approx = hessian_vector_product(train, [w], [u], [v], r=1e-4)[0]
    assert torch.allclose(approx, exact, rtol=1e-5, atol=1e-7)
    assert torch.equal(w, w)  # weights restored (no NaN, same object)


def test_unrolled_gradient_matches_autograd_through_virtual_step():
    w, u, train, val, loss, A, B = _problem(1)
    w0 = w.detach().clone()
    xi, wd = 0.05, 3e-4
    g_w = torch.autograd.grad(loss(w, u, A), w, create_graph=True)[0]
    w_virtual = w - xi * (g_w + wd * w)
    exact = torch.autograd.grad(loss(w_virtual, u, B), u)[0]
    approx = unrolled_grad(train, val, [w], [u], xi=xi, weight_decay=wd)[0]
    assert torch.allclose(approx, exact, rtol=1e-4, atol=1e-6)
    assert torch.allclose(w.detach(), w0, atol=1e-12)  # weights are left as they were
