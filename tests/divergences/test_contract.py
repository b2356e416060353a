"""Every Bregman divergence: D >= 0, D(a, a) = 0, D(a, b) > 0 for a != b, closed form = generic."""

import pytest
import torch

from genmatch import GeneralizedKL, KLDivergence, SquaredEuclidean, bregman_from_potential
from genmatch.testing import check_bregman_divergence


def _pair(kind, dtype, rng, shape=(64, 5)):
    if kind == "real":
        return torch.randn(shape, dtype=dtype, generator=rng), torch.randn(
            shape, dtype=dtype, generator=rng
        )
    if kind == "positive":
        return (
            torch.rand(shape, dtype=dtype, generator=rng) * 3 + 0.01,
            torch.rand(shape, dtype=dtype, generator=rng) * 3 + 0.01,
        )
    a = torch.softmax(3 * torch.randn(shape, dtype=dtype, generator=rng), -1)
    b = torch.softmax(3 * torch.randn(shape, dtype=dtype, generator=rng), -1)
    return a, b


DIVERGENCES = [
    (SquaredEuclidean(), "real"),
    (GeneralizedKL(), "positive"),
    (KLDivergence(), "simplex"),
]


@pytest.mark.parametrize(("divergence", "kind"), DIVERGENCES, ids=lambda v: type(v).__name__)
def test_bregman_contract(divergence, kind, dtype, rng):
    a, b = _pair(kind, dtype, rng)
    tol = {torch.float32: 1e-4, torch.float64: 1e-10}[dtype]
    d = check_bregman_divergence(divergence, a, b, rtol=tol, atol=tol)
    assert d.dtype == dtype


@pytest.mark.parametrize(("divergence", "kind"), DIVERGENCES, ids=lambda v: type(v).__name__)
def test_multi_dimensional_events_sum_over_event(divergence, kind, rng):
    a, b = _pair(kind, torch.float64, rng, shape=(4, 3, 6))
    d = divergence(a, b)
    per_row = torch.stack([divergence(a[:, i], b[:, i]) for i in range(3)], 1).sum(1)
    torch.testing.assert_close(d, per_row)


def test_generalized_kl_handles_zero_targets():
    a = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([[0.5, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(GeneralizedKL()(a, b), torch.tensor([0.5], dtype=torch.float64))


@pytest.mark.parametrize(("divergence", "kind"), DIVERGENCES, ids=lambda v: type(v).__name__)
def test_bregman_gradcheck(divergence, kind, rng):
    """The losses are differentiable in the prediction, with correct gradients (float64)."""
    a, b = _pair(kind, torch.float64, rng, shape=(3, 4))
    b = b.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: divergence(a, x), (b,))
    assert torch.autograd.gradcheck(lambda x: bregman_from_potential(divergence.phi, a, x), (b,))


@pytest.mark.parametrize(("divergence", "kind"), DIVERGENCES, ids=lambda v: type(v).__name__)
def test_gradient_is_linear_in_target(divergence, kind, rng):
    """∇_b E_i D(a_i, b) = ∇_b D(E_i a_i, b): the identity behind GM Thm. 20."""
    a = torch.stack([_pair(kind, torch.float64, rng, shape=(1, 5))[0][0] for _ in range(7)])
    w = torch.softmax(torch.randn(7, dtype=torch.float64, generator=rng), 0)
    b = _pair(kind, torch.float64, rng, shape=(1, 5))[1].requires_grad_(True)
    (g_cond,) = torch.autograd.grad((w * divergence(a, b.expand(7, 5))).sum(), b)
    (g_marg,) = torch.autograd.grad(divergence((w[:, None] * a).sum(0, keepdim=True), b).sum(), b)
    torch.testing.assert_close(g_cond, g_marg, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("divergence", [GeneralizedKL(), KLDivergence()], ids=type)
def test_zero_target_and_zero_prediction_have_finite_gradients(divergence):
    """Where both the target and the prediction vanish (a rate to the current token) the term
    is 0 and its gradient in the prediction is that of ``+ b``: finite, not 0/0."""
    a = torch.tensor([[0.0, 0.3, 0.7]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.5, 0.5]], dtype=torch.float64, requires_grad=True)
    d = divergence(a, b)
    (grad,) = torch.autograd.grad(d.sum(), b)
    assert bool(torch.isfinite(grad).all()), grad
    expected = 1 - torch.tensor([0.0, 0.6, 1.4], dtype=torch.float64)  # 1 − a/b, 1 at a = 0
    if isinstance(divergence, GeneralizedKL):
        torch.testing.assert_close(grad[0], expected)
    else:
        torch.testing.assert_close(grad[0, 1:], -a[0, 1:] / b.detach()[0, 1:])
