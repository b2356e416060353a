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


@pytest.mark.parametrize("t", [0.3, 0.8])
def test_log_prob_is_the_gaussian_density_of_the_marginal(t):
    """``p_t = N(α_t μ, α_t² Σ + σ_t² I)``: against torch's multivariate normal."""
    schedule = Cosine()
    g = GaussianMarginal(MEAN, COV, schedule)
    tt = torch.full((5,), t, dtype=torch.float64)
    s = schedule(tt[:1])
    c_t = s.alpha_t**2 * COV + s.sigma_t**2 * torch.eye(3, dtype=torch.float64)
    normal = torch.distributions.MultivariateNormal(s.alpha_t * MEAN, c_t)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(g.log_prob(x, tt), normal.log_prob(x), atol=1e-12, rtol=0)


def test_samples_at_an_intermediate_time_have_the_marginal_moments():
    schedule = Cosine()
    g = GaussianMarginal(MEAN, COV, schedule)
    x = g.sample(200_000, 0.4, generator=torch.Generator().manual_seed(1))
    s = schedule(torch.tensor([0.4], dtype=torch.float64))
    c_t = s.alpha_t**2 * COV + s.sigma_t**2 * torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(x.mean(0), s.alpha_t * MEAN, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), c_t, atol=0.01, rtol=0)


def test_sampling_is_reproducible_and_defaults_to_the_data():
    g = GaussianMarginal(MEAN, COV, Cosine())
    a = g.sample(8, generator=torch.Generator().manual_seed(3))
    b = g.sample(8, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, g.sample(8, generator=torch.Generator().manual_seed(4)))


def test_float32_inputs_give_float32_values_whatever_the_default_dtype():
    """``mean`` and ``cov`` in float64, points in float32: the fields follow the points (and
    ``sample`` follows ``mean``), also under a float64 default dtype."""
    g32 = GaussianMarginal(MEAN.float(), COV.float(), CondOT())
    g = GaussianMarginal(MEAN, COV, CondOT())
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    t = torch.linspace(0.1, 0.9, 6, dtype=torch.float64)
    default = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        for field in ("velocity", "score", "log_prob"):
            out = getattr(g, field)(x.float(), t.float())
            assert out.dtype == torch.float32, field
            torch.testing.assert_close(out.double(), getattr(g, field)(x, t), atol=1e-4, rtol=1e-4)
        assert g32.sample(4, 0.5).dtype == torch.float32
    finally:
        torch.set_default_dtype(default)


def test_a_singular_covariance_is_accepted_and_an_indefinite_one_refused_exactly():
    g = GaussianMarginal(
        MEAN[:2], torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64)), CondOT()
    )
    t = torch.tensor([0.5], dtype=torch.float64)
    assert bool(torch.isfinite(g.velocity(torch.zeros(1, 2, dtype=torch.float64), t)).all())
    with pytest.raises(ValueError, match="^cov must be symmetric positive semi-definite$"):
        GaussianMarginal(
            MEAN[:2], torch.diag(torch.tensor([1.0, -1e-6], dtype=torch.float64)), CondOT()
        )
    with pytest.raises(ValueError, match="^cov must be symmetric positive semi-definite$"):
        GaussianMarginal(
            MEAN[:2], torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64), CondOT()
        )
