"""Manifold log-likelihoods that the Riemannian solve computes exactly, to rounding.

On the flat torus ``T²``, ``u_t(x) = a + b(t) ⊙ sin(x − X(t))`` with ``X(t) = x_1 − a (T − t)``
carries ``x_1`` at ``t = T`` back along the geodesic ``X`` (every stage of the Riemannian
solver stays on it, since ``u = a`` there), and ``div_g u_t = b_1(t) + b_2(t)`` on it: with
cubic ``b_i``, Simpson's rule on each step (the state at the half step) is exact, so
``log p_T(x_1) = −log (2π)² − ∫_{t_0}^{T} (b_1 + b_2) dt`` and ``x_0 = wrap(x_1 − a (T − t_0))``
on any grid, which pins the time integral, the half steps, the direction of time and dtypes.
"""

import math

import pytest
import torch

from genmatch.likelihood import (
    ExactDivergence,
    HutchinsonDivergence,
    Probe,
    manifold_log_likelihood,
)
from genmatch.manifolds import FlatTorus
from genmatch.manifolds.torus import wrap
from genmatch.solvers import RiemannianMidpoint, RiemannianRK4
from genmatch.sources import UniformSource
from genmatch.spaces import ManifoldSpace, TangentVector
from genmatch.time import TimeGrid

F64 = torch.float64
SPACE = ManifoldSpace(FlatTorus(2), (2,))
LOG_P0 = -2 * math.log(2 * math.pi)
A = torch.tensor([1.9, -2.6], dtype=F64)  # long enough to wrap around ±π


def rates(t):
    """``(b_1(t), b_2(t))``, cubic in ``t``: ``(batch, 2)``."""
    return torch.stack([0.3 - 1.1 * t + 2.0 * t**3, -0.4 + 0.9 * t**2 - 1.2 * t**3], -1)


def int_rates(t0, t1):
    """``∫_{t0}^{t1} (b_1 + b_2) dt``."""

    def antiderivative(t):
        return (0.3 - 0.4) * t - 0.55 * t**2 + 0.3 * t**3 + (0.5 - 0.3) * t**4

    return antiderivative(t1) - antiderivative(t0)


def geodesic_flow(x_1, t_end, seen=None, tangent=False):
    def velocity(x, t):
        if seen is not None:
            seen.add(t.dtype)
        line = x_1 - A.to(x_1.dtype) * (t_end - t[:, None])
        v = A.to(x.dtype) + rates(t) * torch.sin(x - line)
        return TangentVector(x, v) if tangent else v

    return velocity


def _points(n=5, seed=0, dtype=F64):
    x = UniformSource(SPACE).sample(n, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return x.to(dtype)


@pytest.mark.parametrize(
    "grid,t0,t1",
    [(3, 0.0, 1.0), (TimeGrid([0.1, 0.25, 0.6, 0.9]), 0.1, 0.9)],
    ids=["uniform_3", "explicit"],
)
@pytest.mark.parametrize("tangent", [False, True], ids=["tensor", "tangent_vector"])
def test_geodesic_backward_flow_is_exact(grid, t0, t1, tangent):
    x_1 = _points()
    seen = set()
    out = manifold_log_likelihood(
        SPACE, geodesic_flow(x_1, t1, seen, tangent), x_1, UniformSource(SPACE).log_prob, grid
    )
    torch.testing.assert_close(out.x_0, wrap(x_1 - A * (t1 - t0)), atol=1e-12, rtol=0)
    expected = torch.full((5,), LOG_P0 - int_rates(t0, t1), dtype=F64)
    torch.testing.assert_close(out.log_prob, expected, atol=1e-13, rtol=0)
    assert seen == {F64}
    assert out.nfe == 2 * 3 * 4


def test_explicit_exact_divergence_is_the_default_and_midpoint_counts_its_stages():
    x_1 = _points(seed=1)
    flow = geodesic_flow(x_1, 1.0)
    default = manifold_log_likelihood(SPACE, flow, x_1, UniformSource(SPACE).log_prob, 4)
    exact = manifold_log_likelihood(
        SPACE, flow, x_1, UniformSource(SPACE).log_prob, 4, divergence=ExactDivergence()
    )
    assert torch.equal(default.log_prob, exact.log_prob)
    rk4 = manifold_log_likelihood(
        SPACE, flow, x_1, UniformSource(SPACE).log_prob, 4, solver=RiemannianRK4(SPACE)
    )
    assert torch.equal(default.log_prob, rk4.log_prob)
    mid = manifold_log_likelihood(
        SPACE, flow, x_1, UniformSource(SPACE).log_prob, 4, solver=RiemannianMidpoint(SPACE)
    )
    assert mid.nfe == 2 * 4 * 2
    # midpoint stages also stay on the geodesic: the same exact answer
    torch.testing.assert_close(mid.log_prob, default.log_prob, atol=1e-13, rtol=0)


@pytest.mark.parametrize("probe", list(Probe), ids=lambda p: p.value)
def test_hutchinson_along_the_geodesic_weights_each_rate_by_its_squared_probe(probe):
    x_1 = _points(seed=2)
    est = HutchinsonDivergence(probe)
    out = manifold_log_likelihood(
        SPACE,
        geodesic_flow(x_1, 1.0),
        x_1,
        UniformSource(SPACE).log_prob,
        3,
        divergence=est,
        generator=torch.Generator().manual_seed(9),
    )
    eps = est.prepare(x_1, torch.Generator().manual_seed(9))
    b1 = 0.3 - 0.55 + 0.5  # ∫_0^1 b_1
    b2 = -0.4 + 0.3 - 0.3  # ∫_0^1 b_2
    expected = LOG_P0 - (eps[:, 0] ** 2 * b1 + eps[:, 1] ** 2 * b2)
    torch.testing.assert_close(out.log_prob, expected, atol=1e-13, rtol=0)
    assert abs(b1 + b2 - int_rates(0.0, 1.0)) < 1e-15


def test_times_are_in_the_dtype_of_the_points_under_a_float32_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        x_1 = _points(seed=3)
        seen = set()
        out = manifold_log_likelihood(
            SPACE, geodesic_flow(x_1, 1.0, seen), x_1, UniformSource(SPACE).log_prob, 3
        )
    finally:
        torch.set_default_dtype(previous)
    assert seen == {F64} and out.log_prob.dtype == F64
    expected = torch.full((5,), LOG_P0 - int_rates(0.0, 1.0), dtype=F64)
    torch.testing.assert_close(out.log_prob, expected, atol=1e-13, rtol=0)


def test_float32_points_stay_float32_under_a_float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        x_1 = _points(seed=4, dtype=torch.float32)
        seen = set()
        out = manifold_log_likelihood(
            SPACE, geodesic_flow(x_1, 1.0, seen), x_1, UniformSource(SPACE).log_prob, 3
        )
    finally:
        torch.set_default_dtype(previous)
    assert seen == {torch.float32}
    assert out.log_prob.dtype == torch.float32 and out.x_0.dtype == torch.float32
    expected = torch.full((5,), LOG_P0 - int_rates(0.0, 1.0), dtype=F64)
    torch.testing.assert_close(out.log_prob.double(), expected, atol=1e-5, rtol=0)


def test_bad_divergence_and_empty_batch():
    x_1 = _points()
    flow = geodesic_flow(x_1, 1.0)
    with pytest.raises(
        TypeError, match="^divergence must be ExactDivergence or HutchinsonDivergence, got str$"
    ):
        manifold_log_likelihood(
            SPACE, flow, x_1, UniformSource(SPACE).log_prob, 2, divergence="exact"
        )
    with pytest.raises(ValueError, match="^x_1 must be a non-empty batch"):
        manifold_log_likelihood(SPACE, flow, x_1[:0], UniformSource(SPACE).log_prob, 2)
    with pytest.raises(ValueError, match="^x_1 "):
        manifold_log_likelihood(SPACE, flow, x_1[:, :1], UniformSource(SPACE).log_prob, 2)


def test_no_graph_is_kept_unless_asked():
    x_1 = _points(2, seed=5)
    scale = torch.tensor(1.0, dtype=F64, requires_grad=True)
    flow = geodesic_flow(x_1, 1.0)

    def scaled(y, t):
        return scale * flow(y, t)

    log_p0 = UniformSource(SPACE).log_prob
    assert not manifold_log_likelihood(SPACE, scaled, x_1, log_p0, 2).log_prob.requires_grad
    kept = manifold_log_likelihood(SPACE, scaled, x_1, log_p0, 2, grad=True).log_prob
    assert kept.requires_grad
