"""Flow log-likelihoods against exact densities; Hutchinson is unbiased; gradients flow."""

import math

import pytest
import torch

from genmatch import EuclideanSpace, GaussianSource, TimeGrid
from genmatch.likelihood import HutchinsonDivergence, Probe, log_likelihood
from genmatch.solvers import RK4, Euler, Midpoint

M = torch.tensor([1.0, -0.5], dtype=torch.float64)
S = 0.5


def gaussian_flow(x, t):
    """Marginal CondOT velocity from N(0, I) to N(M, S² I): p_1 is exactly N(M, S² I)."""
    t2 = t[:, None]
    var = t2**2 * S**2 + (1 - t2) ** 2
    return M + (t2 * S**2 - (1 - t2)) / var * (x - t2 * M)


SIGMA = torch.tensor([[0.5, 0.3], [0.3, 0.4]], dtype=torch.float64)


def full_covariance_flow(x, t):
    """Marginal CondOT velocity from N(0, I) to N(M, Σ) with a non-diagonal Σ.

    Its Jacobian ``(tΣ − (1−t)I)(t²Σ + (1−t)²I)⁻¹`` has off-diagonal entries, so a Rademacher
    probe has non-zero variance (for a diagonal Jacobian it would be exact).
    """
    t3 = t[:, None, None]
    eye = torch.eye(2, dtype=x.dtype)
    cov = t3**2 * SIGMA + (1 - t3) ** 2 * eye
    gain = torch.linalg.solve(cov, t3 * SIGMA - (1 - t3) * eye)  # commuting, symmetric
    return M + ((x - t[:, None] * M)[:, None, :] @ gain).squeeze(1)


def exact_log_p1(x):
    return torch.distributions.Normal(M, S).log_prob(x).sum(1)


SOURCE = GaussianSource(EuclideanSpace(2))


def test_exact_divergence_matches_closed_form_density():
    x = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * S + M
    out = log_likelihood(gaussian_flow, x, SOURCE.log_prob, TimeGrid.uniform(64))
    torch.testing.assert_close(out.log_prob, exact_log_p1(x), atol=1e-6, rtol=0)
    assert out.nfe == 256


@pytest.mark.parametrize(("solver", "order"), [(Euler(), 1), (Midpoint(), 2), (RK4(), 4)], ids=repr)
def test_likelihood_error_decreases_with_solver_order(solver, order):
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * S + M
    errors = []
    for n in (16, 32):
        out = log_likelihood(gaussian_flow, x, SOURCE.log_prob, n, solver=solver)
        errors.append(float((out.log_prob - exact_log_p1(x)).abs().max()))
    assert math.log2(errors[0] / errors[1]) > order - 0.3


@pytest.mark.parametrize("probe", list(Probe), ids=lambda p: p.value)
def test_hutchinson_is_unbiased(probe):
    gen = torch.Generator().manual_seed(2)
    x = (torch.randn(1, 2, dtype=torch.float64, generator=gen) + M).expand(4000, 2)
    out = log_likelihood(
        full_covariance_flow,
        x,
        SOURCE.log_prob,
        16,
        divergence=HutchinsonDivergence(probe),
        generator=torch.Generator().manual_seed(0),
    )
    exact = log_likelihood(full_covariance_flow, x[:1], SOURCE.log_prob, 64).log_prob
    target = torch.distributions.MultivariateNormal(M, SIGMA).log_prob(x[:1])
    torch.testing.assert_close(exact, target, atol=1e-6, rtol=0)  # the flow is right
    stderr = float(out.log_prob.std()) / math.sqrt(4000)
    assert float(out.log_prob.std()) > 1e-3  # an estimate, not the exact trace
    # 16 RK4 steps are accurate to ~1e-5, far below the 4 s.e. band (~1e-2)
    assert abs(float(out.log_prob.mean() - exact[0])) < 4 * stderr + 1e-4


def test_gradients_for_maximum_likelihood():
    scale = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)

    def velocity(x, t):
        return torch.log(scale) * x  # x_1 = scale · x_0, p_1 = N(0, scale²)

    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    out = log_likelihood(velocity, x, SOURCE.log_prob, 32, grad=True)
    expected = torch.distributions.Normal(0.0, scale).log_prob(x).sum(1)
    torch.testing.assert_close(out.log_prob, expected, atol=1e-8, rtol=0)
    (g,) = torch.autograd.grad(out.log_prob.sum(), scale)
    (g_exact,) = torch.autograd.grad(expected.sum(), scale)
    torch.testing.assert_close(g, g_exact, atol=1e-7, rtol=0)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(batch, d\)"):
        log_likelihood(gaussian_flow, torch.zeros(3), SOURCE.log_prob, 4)
