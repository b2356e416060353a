"""DDIM / DDPM are the stated discretizations of the flow's ODE and the reverse-time SDE."""

import math

import pytest
import torch

from genmatch import RK4, FlowGenerator, simulate
from genmatch.diffusion import (
    DDIM,
    Prediction,
    posterior_std,
    reverse_sde_beta,
    to_data_and_epsilon,
)
from genmatch.marginal import GaussianMarginal
from genmatch.paths import CondOT, Cosine, VPLinear

MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)
COV = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)


def _setup(schedule, t0, n=16, seed=0):
    oracle = GaussianMarginal(MEAN, COV, schedule)
    x = oracle.sample(n, t0, generator=torch.Generator().manual_seed(seed))
    t = torch.full((n,), t0, dtype=torch.float64)
    data, eps = to_data_and_epsilon(oracle.velocity(x, t), Prediction.VELOCITY, x, t, schedule)
    return oracle, x, t, data, eps


def _draw(n, seed):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("eta", [1.0, 0.5, 0.0])
def test_step_is_the_textbook_ddpm_ddim_update(eta):
    """Ho et al. (η = 1) and Song et al. eq. 12 (any η) with ᾱ = α² of a VP schedule."""
    schedule, t0, h = VPLinear(), 0.3, 0.01
    oracle, x, t, data, eps = _setup(schedule, t0)
    out = DDIM(schedule, eta).step(
        oracle.velocity, x, t, h, generator=torch.Generator().manual_seed(7)
    )
    xi = _draw(16, 7)
    abar_t = schedule.alpha(torch.tensor(t0, dtype=torch.float64)) ** 2
    abar_s = schedule.alpha(torch.tensor(t0 + h, dtype=torch.float64)) ** 2
    c = eta * torch.sqrt((1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s))
    song = abar_s.sqrt() * data + torch.sqrt(1 - abar_s - c**2) * eps + c * xi
    torch.testing.assert_close(out, song, atol=1e-12, rtol=0)
    if eta == 1.0:
        beta = 1 - abar_t / abar_s
        beta_tilde = (1 - abar_s) / (1 - abar_t) * beta
        ho = (x - beta / torch.sqrt(1 - abar_t) * eps) / torch.sqrt(
            1 - beta
        ) + beta_tilde.sqrt() * xi
        torch.testing.assert_close(out, ho, atol=1e-12, rtol=0)


@pytest.mark.parametrize("schedule", [CondOT(), Cosine(), VPLinear()], ids=repr)
def test_ddim_is_euler_in_snr_coordinates(schedule):
    """``y = x/σ``, ``τ = α/σ``: DDIM is ``y_s = y_t + (τ_s − τ_t) x̂``."""
    t0, h = 0.4, 0.05
    oracle, x, t, data, _ = _setup(schedule, t0)
    out = DDIM(schedule).step(oracle.velocity, x, t, h)
    tt, ss = torch.tensor(t0, dtype=torch.float64), torch.tensor(t0 + h, dtype=torch.float64)
    tau_t, tau_s = schedule.alpha(tt) / schedule.sigma(tt), schedule.alpha(ss) / schedule.sigma(ss)
    euler = schedule.sigma(ss) * (x / schedule.sigma(tt) + (tau_s - tau_t) * data)
    torch.testing.assert_close(out, euler, atol=1e-12, rtol=0)


def test_ddim_converges_to_the_probability_flow_ode_at_first_order():
    schedule = CondOT()
    oracle = GaussianMarginal(MEAN, COV, schedule)
    x_0 = _draw(64, 3)
    exact = simulate(FlowGenerator(solver=RK4()), oracle.velocity, x_0, 400).x
    errors = [
        float((simulate(DDIM(schedule), oracle.velocity, x_0, n).x - exact).abs().max())
        for n in (16, 32, 64, 128)
    ]
    orders = [math.log2(a / b) for a, b in zip(errors, errors[1:], strict=False)]
    assert all(0.8 < p < 1.3 for p in orders), orders
    assert errors[-1] < 0.03, errors


def test_ddpm_is_a_first_order_discretization_of_the_reverse_sde():
    """One DDPM step and one Euler–Maruyama step of flow + Langevin(reverse β) differ by O(h²)."""
    schedule, t0 = VPLinear(), 0.4
    oracle, x, t, data, eps = _setup(schedule, t0)
    beta = reverse_sde_beta(schedule)
    errors = []
    for h in (0.02, 0.01, 0.005, 0.0025):
        s = t + h
        sigma_s, alpha_s = schedule.sigma(s)[:, None], schedule.alpha(s)[:, None]
        std = posterior_std(schedule, t, s)[:, None]
        mean_ddpm = alpha_s * data + torch.sqrt(sigma_s**2 - std**2) * eps
        b2 = beta(t)[:, None] ** 2
        mean_em = x + h * (oracle.velocity(x, t) + 0.5 * b2 * oracle.score(x, t))
        errors.append(float((mean_ddpm - mean_em).abs().max() + (std**2 - h * b2).abs().max()))
    orders = [math.log2(a / b) for a, b in zip(errors, errors[1:], strict=False)]
    assert all(p > 1.8 for p in orders), orders


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("schedule", [CondOT(), VPLinear()], ids=repr)
def test_ddpm_and_ddim_reproduce_gaussian_data(schedule, eta):
    oracle = GaussianMarginal(MEAN, COV, schedule)
    n = 20_000
    x_0 = oracle.sample(n, 0.0, generator=torch.Generator().manual_seed(4))
    out = simulate(
        DDIM(schedule, eta), oracle.velocity, x_0, 200, rng=torch.Generator().manual_seed(5)
    )
    mc = 4 * (float(COV.diagonal().max()) / n) ** 0.5
    torch.testing.assert_close(out.x.mean(0), MEAN, atol=mc + 0.01, rtol=0)
    torch.testing.assert_close(torch.cov(out.x.T), COV, atol=0.03, rtol=0)


def test_eta_outside_the_unit_interval_raises():
    with pytest.raises(ValueError, match="eta"):
        DDIM(CondOT(), eta=1.5)


def test_ddim_on_condot_is_plain_euler():
    """For ``α = t, σ = 1 − t`` the DDIM step is exactly the Euler step of the flow."""
    oracle, x, t, _, _ = _setup(CondOT(), 0.25)
    ddim = DDIM(CondOT()).step(oracle.velocity, x, t, 0.1)
    euler = FlowGenerator().step(oracle.velocity, x, t, 0.1)
    torch.testing.assert_close(ddim, euler, atol=1e-13, rtol=0)
