"""Flow log-likelihoods that the fixed-step solve computes exactly, to rounding.

Along ``u_t(x) = a + b(t) (x − X(t))`` with ``X(t) = x_1 − a (T − t)`` the backward flow from
``x_1`` at ``t = T`` is the straight line ``X`` and every Runge–Kutta stage stays on it, while
``div u_t = d · b(t)``: with a cubic ``b``, RK4 (Simpson's rule on the time integral) gives
``log p_T(x_1) = log p_0(x_1 − a (T − t_0)) − d ∫_{t_0}^{T} b dt`` exactly on any grid, so the
result's ``x_0``, the direction of time, the grid and the dtypes are pinned to ``1e-13``.
"""

import math

import pytest
import torch

from genmatch import EuclideanSpace, GaussianSource, TimeGrid
from genmatch.likelihood import ExactDivergence, HutchinsonDivergence, Probe, log_likelihood
from genmatch.solvers import RK4, Euler, Midpoint

F64 = torch.float64
A = torch.tensor([0.7, -1.3, 0.4], dtype=F64)
SOURCE = GaussianSource(EuclideanSpace(3))


def b(t):
    return 0.3 - 1.1 * t + 2.0 * t**2 + 1.5 * t**3


def int_b(t0, t1):
    def antiderivative(t):
        return 0.3 * t - 0.55 * t**2 + 2.0 * t**3 / 3 + 0.375 * t**4

    return antiderivative(t1) - antiderivative(t0)


def straight_line_flow(x_1, t_end, seen=None):
    """The velocity above for the points ``x_1`` at ``t_end`` (it records the times' dtypes)."""

    def velocity(x, t):
        if seen is not None:
            seen.add(t.dtype)
        t = t[:, None]
        line = x_1 - A.to(x_1.dtype) * (t_end - t)
        return A.to(x.dtype) + b(t) * (x - line)

    return velocity


def _points(n=4, seed=0, dtype=F64):
    return torch.randn(n, 3, dtype=F64, generator=torch.Generator().manual_seed(seed)).to(dtype)


@pytest.mark.parametrize(
    "grid,t0,t1",
    [(3, 0.0, 1.0), (TimeGrid([0.1, 0.25, 0.6, 0.9]), 0.1, 0.9)],
    ids=["uniform_3", "explicit"],
)
def test_straight_line_flow_is_exact_and_returns_the_source_points(grid, t0, t1):
    x_1 = _points()
    seen = set()
    out = log_likelihood(straight_line_flow(x_1, t1, seen), x_1, SOURCE.log_prob, grid)
    x_0 = x_1 - A * (t1 - t0)
    torch.testing.assert_close(out.x_0, x_0, atol=1e-13, rtol=0)
    expected = SOURCE.log_prob(x_0) - 3 * int_b(t0, t1)
    torch.testing.assert_close(out.log_prob, expected, atol=1e-13, rtol=0)
    assert seen == {F64}
    assert out.nfe == 4 * 3


def test_times_are_in_the_dtype_of_the_points_under_a_float32_default():
    """Backward times built in float32 would shift ``t = 1/3`` by ``~1e-8``."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        x_1 = _points(seed=1)
        seen = set()
        out = log_likelihood(straight_line_flow(x_1, 1.0, seen), x_1, SOURCE.log_prob, 3)
    finally:
        torch.set_default_dtype(previous)
    assert seen == {F64} and out.log_prob.dtype == F64
    torch.testing.assert_close(out.x_0, x_1 - A, atol=1e-13, rtol=0)
    expected = SOURCE.log_prob(x_1 - A) - 3 * int_b(0.0, 1.0)
    torch.testing.assert_close(out.log_prob, expected, atol=1e-13, rtol=0)


@pytest.mark.parametrize("divergence", [None, ExactDivergence(), HutchinsonDivergence()])
def test_float32_points_stay_float32_under_a_float64_default(divergence):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        x_1 = _points(seed=2, dtype=torch.float32)
        seen = set()
        out = log_likelihood(
            straight_line_flow(x_1, 1.0, seen),
            x_1,
            SOURCE.log_prob,
            4,
            divergence=divergence,
            generator=torch.Generator().manual_seed(0),
        )
    finally:
        torch.set_default_dtype(previous)
    assert seen == {torch.float32}
    assert out.log_prob.dtype == torch.float32 and out.x_0.dtype == torch.float32
    expected = SOURCE.log_prob(x_1.double() - A) - 3 * int_b(0.0, 1.0)
    torch.testing.assert_close(out.log_prob.double(), expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("probe", list(Probe), ids=lambda p: p.value)
def test_hutchinson_along_the_straight_line_is_b_times_the_squared_probe(probe):
    """``εᵀ (b I) ε = b |ε|²`` with the probe ``prepare`` draws from the generator: Rademacher
    probes give the exact divergence, Gaussian ones ``|ε|² ∫ b``."""
    x_1 = _points(5, seed=3)
    est = HutchinsonDivergence(probe)
    out = log_likelihood(
        straight_line_flow(x_1, 1.0),
        x_1,
        SOURCE.log_prob,
        4,
        divergence=est,
        generator=torch.Generator().manual_seed(7),
    )
    eps = est.prepare(x_1, torch.Generator().manual_seed(7))
    expected = SOURCE.log_prob(x_1 - A) - (eps * eps).sum(1) * int_b(0.0, 1.0)
    torch.testing.assert_close(out.log_prob, expected, atol=1e-13, rtol=0)
    if probe is Probe.RADEMACHER:
        assert torch.equal(eps.abs(), torch.ones_like(eps))
    else:
        assert float(((eps * eps).sum(1) - 3).abs().min()) > 1e-3


def test_exact_divergence_sums_every_diagonal_entry():
    """``u = M x`` with an upper-triangular ``M``: the exact divergence is ``tr M`` at every
    point (off-diagonal entries do not count)."""
    m = torch.tensor([[0.2, 0.5, 0.0], [0.0, -0.3, 0.1], [0.0, 0.0, 0.4]], dtype=F64)
    x = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(4))
    x.requires_grad_(True)
    div = ExactDivergence()(x @ m.T, x, None, create_graph=False)
    torch.testing.assert_close(div, torch.full((6,), 0.3, dtype=F64), atol=1e-15, rtol=0)
    assert ExactDivergence().prepare(x, None) is None


@pytest.mark.parametrize(("solver", "stages"), [(Euler(), 1), (Midpoint(), 2), (RK4(), 4)])
def test_evaluations_are_steps_times_stages(solver, stages):
    x_1 = _points(2)
    calls = []

    def velocity(x, t):
        calls.append(1)
        return -x

    out = log_likelihood(velocity, x_1, SOURCE.log_prob, 5, solver=solver)
    assert out.nfe == 5 * stages == len(calls)


def test_linear_flow_gradients_through_the_trajectory():
    """``u = log(s) x`` gives ``x_0 = x_1 / s`` and ``log p_1 = log p_0(x_1/s) − d log s``:
    with ``grad=True`` both the trajectory and the divergence carry the parameter."""
    s = torch.tensor(1.7, dtype=F64, requires_grad=True)
    x = torch.tensor([[0.3, -0.2, 1.1]], dtype=F64)
    out = log_likelihood(lambda y, t: torch.log(s) * y, x, SOURCE.log_prob, 48, grad=True)
    (g_x0,) = torch.autograd.grad(out.x_0.sum(), s, retain_graph=True)
    torch.testing.assert_close(g_x0, -x.sum() / s.detach() ** 2, atol=1e-8, rtol=0)
    (g,) = torch.autograd.grad(out.log_prob.sum(), s)
    # d/ds [−|x|²/(2s²) − 3 log s] = |x|²/s³ − 3/s
    expected = (x * x).sum() / s.detach() ** 3 - 3 / s.detach()
    torch.testing.assert_close(g, expected, atol=1e-8, rtol=0)
    assert math.isfinite(float(g))
