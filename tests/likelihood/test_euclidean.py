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


def test_bad_input_messages_state_what_was_given():
    cases = [
        (torch.zeros(3), r"x_1 must be a float tensor \(batch, d\), got \(3,\), torch.float32"),
        (
            torch.zeros(2, 2, dtype=torch.long),
            r"x_1 must be a float tensor \(batch, d\), got \(2, 2\), torch.int64",
        ),
        ([[0.0, 0.0]], r"x_1 must be a float tensor \(batch, d\), got list"),
        (torch.zeros(0, 2), r"x_1 must be a non-empty batch, got 0 points \(empty batch\)"),
        (torch.full((1, 2), math.nan), r"x_1 contains NaN or Inf values"),
    ]
    for x_1, message in cases:
        with pytest.raises(ValueError, match=f"^{message}$"):
            log_likelihood(gaussian_flow, x_1, SOURCE.log_prob, 4)


def test_defaults_rk4_and_no_graph():
    """Without ``solver`` the method is RK4; without ``grad=True`` no graph is kept."""
    x = M + S * torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    default = log_likelihood(gaussian_flow, x, SOURCE.log_prob, 6)
    rk4 = log_likelihood(gaussian_flow, x, SOURCE.log_prob, 6, solver=RK4())
    assert torch.equal(default.log_prob, rk4.log_prob) and default.nfe == 24
    euler = log_likelihood(gaussian_flow, x, SOURCE.log_prob, 6, solver=Euler())
    assert not torch.equal(default.log_prob, euler.log_prob)
    scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)

    def scaled(y, t):
        return scale * gaussian_flow(y, t)

    assert not log_likelihood(scaled, x, SOURCE.log_prob, 4).log_prob.requires_grad
    assert log_likelihood(scaled, x, SOURCE.log_prob, 4, grad=True).log_prob.requires_grad


def test_hutchinson_probes_follow_the_generator():
    x = M + S * torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    est = HutchinsonDivergence(Probe.GAUSSIAN)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return log_likelihood(
            full_covariance_flow, x, SOURCE.log_prob, 4, divergence=est, generator=g
        )

    assert torch.equal(run(1).log_prob, run(1).log_prob)
    assert not torch.equal(run(1).log_prob, run(2).log_prob)


@pytest.mark.parametrize("probe", list(Probe))
def test_one_hutchinson_probe_is_the_quadratic_form_of_the_jacobian(probe):
    """For ``u = A x``: ``εᵀ (∂u/∂x) ε = εᵀ A ε`` exactly, for the probe ``prepare`` drew;
    Rademacher probes are ±1, Gaussian ones are not."""
    a = torch.tensor([[0.5, -1.2, 0.3], [0.7, 0.1, -0.4], [2.0, 0.6, -0.9]], dtype=torch.float64)
    x = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    est = HutchinsonDivergence(probe)
    eps = est.prepare(x, torch.Generator().manual_seed(1))
    assert eps.dtype == torch.float64
    assert bool((eps.abs() == 1).all()) == (probe is Probe.RADEMACHER)
    div = est(x @ a.T, x, eps, create_graph=False)
    torch.testing.assert_close(div, ((eps @ a.T) * eps).sum(1), atol=1e-12, rtol=0)


def test_hutchinson_gradients_equal_exact_ones_for_a_diagonal_jacobian():
    """A diagonal Jacobian makes a Rademacher probe exact, so the maximum-likelihood gradient
    through it is the exact-divergence one."""
    x = M + S * torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grads = []
    for div in (None, HutchinsonDivergence(Probe.RADEMACHER)):
        scale = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)

        def scaled(y, t, scale=scale):
            return scale * gaussian_flow(y, t)

        out = log_likelihood(scaled, x, SOURCE.log_prob, 4, divergence=div, grad=True,
                             generator=torch.Generator().manual_seed(2))  # fmt: skip
        grads.append(torch.autograd.grad(out.log_prob.sum(), scale)[0])
    torch.testing.assert_close(grads[1], grads[0], atol=1e-12, rtol=0)
    assert abs(float(grads[0])) > 1e-3
