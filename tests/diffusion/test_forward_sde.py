"""Forward SDEs (GM §10.2): transitions solve their Fokker–Planck equation; schedules agree."""

import pytest
import torch

from genmatch.diffusion import (
    VESDE,
    VPSDE,
    ForwardSDESchedule,
    LinearTimeMap,
    Prediction,
    convert,
)
from genmatch.paths import VE, VPLinear
from genmatch.testing import check_schedule

SDES = [VPSDE(), VPSDE(0.5, 5.0), VESDE(), VESDE(0.1, 5.0)]


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_transition_solves_the_fokker_planck_equation(sde):
    """``∂_r p = −∇·(a x p) + ½ g² Δp`` for ``p = N(α̃_r z, σ̃_r² I)``, in log form, float64."""
    rng = torch.Generator().manual_seed(0)
    n, d = 64, 3
    r = (0.05 + 0.9 * torch.rand(n, generator=rng, dtype=torch.float64)).requires_grad_(True)
    z = torch.randn(n, d, generator=rng, dtype=torch.float64)
    x = torch.randn(n, d, generator=rng, dtype=torch.float64).requires_grad_(True)

    def log_p(x, r):
        alpha, sigma = sde.alpha(r)[:, None], sde.sigma(r)[:, None]
        return (-0.5 * ((x - alpha * z) / sigma) ** 2 - torch.log(sigma)).sum(1)

    lp = log_p(x, r)
    (dr,) = torch.autograd.grad(lp.sum(), r, create_graph=True)
    (grad,) = torch.autograd.grad(lp.sum(), x, create_graph=True)
    lap = sum(
        torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(d)
    )
    a, g2 = sde.drift_rate(r), sde.diffusion(r) ** 2
    # (−∇·(a x p) + ½ g² Δp) / p = −d a − a x·∇log p + ½ g² (Δ log p + |∇ log p|²)
    rhs = -d * a - a * (x * grad).sum(1) + 0.5 * g2 * (lap + (grad**2).sum(1))
    torch.testing.assert_close(dr, rhs, rtol=1e-10, atol=1e-10)
    # a wrong diffusion coefficient breaks it
    assert float((dr - (rhs + 0.1 * g2 * (grad**2).sum(1))).detach().abs().max()) > 1e-3


@pytest.mark.parametrize("sde", SDES, ids=repr)
@pytest.mark.parametrize("r_max", [1.0, 0.7])
def test_schedule_derivatives_match_autodiff(sde, r_max):
    schedule = ForwardSDESchedule(sde, LinearTimeMap(r_max))
    t = torch.linspace(0.01, 0.98, 33, dtype=torch.float64)
    check_schedule(schedule, t, exact_boundary=False, rtol=1e-9, atol=1e-12)


def test_vp_sde_gives_the_vp_schedule_and_ve_sde_the_ve_one():
    t = torch.linspace(0, 0.99, 50, dtype=torch.float64)
    vp, ref = ForwardSDESchedule(VPSDE(0.1, 20.0)), VPLinear(0.1, 20.0)
    for name in ("alpha_t", "sigma_t", "d_alpha_t", "d_sigma_t"):
        torch.testing.assert_close(getattr(vp(t), name), getattr(ref(t), name))
    ve, ref_ve = ForwardSDESchedule(VESDE(0.01, 50.0)), VE(0.01, 50.0)
    torch.testing.assert_close(ve.alpha(t), ref_ve.alpha(t))
    torch.testing.assert_close(ve.sigma(t) ** 2, ref_ve.sigma(t) ** 2 - 0.01**2)


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_probability_flow_velocity_is_the_converted_score(sde):
    """Eq. 10.12 equals the score → velocity conversion of eq. 10.11."""
    schedule = ForwardSDESchedule(sde, LinearTimeMap(0.8))
    rng = torch.Generator().manual_seed(1)
    x = torch.randn(20, 2, generator=rng, dtype=torch.float64)
    score = torch.randn(20, 2, generator=rng, dtype=torch.float64)
    t = 0.05 + 0.9 * torch.rand(20, generator=rng, dtype=torch.float64)
    expected = convert(score, Prediction.SCORE, Prediction.VELOCITY, x, t, schedule)
    torch.testing.assert_close(schedule.probability_flow_velocity(x, t, score), expected)


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_reverse_beta_matches_the_general_formula(sde):
    from genmatch.diffusion import reverse_sde_beta

    schedule = ForwardSDESchedule(sde)
    t = torch.linspace(0.02, 0.98, 25, dtype=torch.float64)
    torch.testing.assert_close(reverse_sde_beta(schedule)(t), schedule.reverse_beta(t))


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="beta_min"):
        VPSDE(-1.0, 2.0)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        VESDE(1.0, 0.5)
    with pytest.raises(ValueError, match="r_max"):
        LinearTimeMap(0.0)
