"""The closed-form Gaussian marginal solves the continuity equation and matches sampling."""

import pytest
import torch

from genmatch.marginal import GaussianMarginal
from genmatch.paths import CondOT, Cosine, VPLinear

MEAN = torch.tensor([1.0, -0.5, 0.2], dtype=torch.float64)
COV = torch.tensor([[0.5, 0.2, 0.0], [0.2, 0.3, 0.1], [0.0, 0.1, 0.4]], dtype=torch.float64)


@pytest.mark.parametrize("schedule", [CondOT(), Cosine(), VPLinear()], ids=repr)
def test_velocity_and_score_solve_the_continuity_equation(schedule):
    g = GaussianMarginal(MEAN, COV, schedule)
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=rng, dtype=torch.float64).requires_grad_(True)
    t = (0.05 + 0.9 * torch.rand(40, generator=rng, dtype=torch.float64)).requires_grad_(True)
    lp = g.log_prob(x, t)
    grad_x, dt = torch.autograd.grad(lp.sum(), (x, t), create_graph=True)
    torch.testing.assert_close(grad_x, g.score(x, t))
    u = g.velocity(x, t)
    div = sum(torch.autograd.grad(u[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(3))
    residual = dt + div + (u * grad_x).sum(1)  # (∂_t p + ∇·(p u)) / p
    assert float(residual.detach().abs().max()) < 1e-10


def test_samples_have_the_stated_moments():
    g = GaussianMarginal(MEAN, COV, CondOT())
    x = g.sample(200_000, 1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x.mean(0), MEAN, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), COV, atol=0.01, rtol=0)


def test_bad_covariance_raises():
    with pytest.raises(ValueError, match="positive semi-definite"):
        GaussianMarginal(MEAN, -COV, CondOT())
    with pytest.raises(ValueError, match="mean must be"):
        GaussianMarginal(MEAN, COV[:2, :2], CondOT())
