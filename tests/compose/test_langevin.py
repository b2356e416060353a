"""Flow + Langevin(β): the SDE family of eq. 10.15 shares the flow's marginals."""

import pytest
import torch

from genmatch import CondOT, FlowGenerator, TimeGrid, simulate
from genmatch.compose.langevin import Langevin, constant_beta
from genmatch.diffusion import score_from_velocity

M = torch.tensor([1.0, -0.5], dtype=torch.float64)
S = 0.5


def velocity(x, t):
    """Exact marginal velocity CondOT N(0, I) → N(M, S² I)."""
    t2 = t[:, None]
    var = t2**2 * S**2 + (1 - t2) ** 2
    return M + (t2 * S**2 - (1 - t2)) / var * (x - t2 * M)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_sampling_with_any_beta_reproduces_the_gaussian(beta):
    model = Langevin(FlowGenerator(), constant_beta(beta), score_from_velocity(CondOT()))
    x_0 = torch.randn(20000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grid = TimeGrid.uniform(
        400, t_start=1e-3
    )  # the velocity → score conversion is singular at t = 0
    x_0 = (1 - 1e-3) * x_0 + 1e-3 * M  # a draw from p_{t_start}
    out = simulate(model, velocity, x_0, grid, rng=torch.Generator().manual_seed(1))
    mc = 4 * S / 20000**0.5
    torch.testing.assert_close(out.x.mean(0), M, atol=mc + 0.01, rtol=0)
    torch.testing.assert_close(
        out.x.std(0), torch.full((2,), S, dtype=torch.float64), atol=0.02, rtol=0
    )


def test_score_from_velocity_is_the_gaussian_score():
    x = torch.randn(10, 2, dtype=torch.float64)
    t = torch.rand(10, dtype=torch.float64) * 0.9 + 0.05
    var = (t**2 * S**2 + (1 - t) ** 2)[:, None]
    exact = -(x - t[:, None] * M) / var
    torch.testing.assert_close(score_from_velocity(CondOT())(x, t, velocity(x, t)), exact)


def test_langevin_part_is_divergence_free():
    """⟨p_t, L^div f⟩ = ∫ p (½β² ∇log p·∇f + ½β² Δf) = 0 (eq. 9.37), 2-D quadrature."""
    t, beta = 0.4, 0.8
    axis = torch.linspace(-6, 6, 241, dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    x = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).requires_grad_(True)
    tt = torch.full((x.shape[0],), t, dtype=torch.float64)
    var = t**2 * S**2 + (1 - t) ** 2
    p = torch.exp(-((x - t * M) ** 2).sum(1) / (2 * var)) / (2 * torch.pi * var)
    score = score_from_velocity(CondOT())(x, tt, velocity(x, tt))
    f = torch.sin(x[:, 0]) + torch.cos(x[:, 1]) * x[:, 0]
    (grad,) = torch.autograd.grad(f.sum(), x, create_graph=True)
    lap = sum(
        torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2)
    )
    drift_term = (0.5 * beta**2 * (score * grad).sum(1) * p).detach()
    diffusion_term = (0.5 * beta**2 * lap * p).detach()

    def integrate(v):
        v = v.reshape(241, 241)
        return torch.trapezoid(torch.trapezoid(v, axis, dim=0), axis, dim=0)

    total = integrate(drift_term + diffusion_term)
    assert abs(float(integrate(diffusion_term))) > 1e-2  # each part alone is not zero
    assert abs(float(total)) < 1e-8


def test_negative_beta_rejected():
    with pytest.raises(ValueError, match=">= 0"):
        constant_beta(-1.0)
    with pytest.raises(ValueError, match=">= 0"):
        Langevin(FlowGenerator(), lambda t: -t, score_from_velocity(CondOT()))


@pytest.mark.parametrize("beta_kind", ["zero", "constant", "reverse"])
def test_full_covariance_gaussian_is_reproduced_for_every_beta(beta_kind):
    """N(μ, Σ) data, exact marginal velocity/score: PF-ODE and flow + Langevin(β) all match."""
    from genmatch.diffusion import reverse_sde_beta
    from genmatch.marginal import GaussianMarginal
    from genmatch.paths import VPLinear

    mean = torch.tensor([1.0, -0.5], dtype=torch.float64)
    cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
    schedule = VPLinear()  # α_0 > 0: the score is regular on all of [0, 1)
    oracle = GaussianMarginal(mean, cov, schedule)
    beta = {
        "zero": constant_beta(0.0),
        "constant": constant_beta(1.0),
        "reverse": reverse_sde_beta(schedule),
    }[beta_kind]
    model = Langevin(FlowGenerator(), beta, lambda x, t, u: oracle.score(x, t))
    n = 20_000
    x_0 = oracle.sample(n, 0.0, generator=torch.Generator().manual_seed(0))
    out = simulate(model, oracle.velocity, x_0, 400, rng=torch.Generator().manual_seed(1))
    mc = 4 * (0.5 / n) ** 0.5
    torch.testing.assert_close(out.x.mean(0), mean, atol=mc + 0.01, rtol=0)
    torch.testing.assert_close(torch.cov(out.x.T), cov, atol=0.03, rtol=0)
