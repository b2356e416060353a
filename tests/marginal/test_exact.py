"""The exact marginal (oracle) of a finite data set, GM eq. 9.13-9.14."""

import math

import pytest
import torch

from genmatch import RK4, AffineGaussianPath, CondOT, Cosine, ExactMarginal, FlowGenerator, simulate
from genmatch.metrics import energy_distance


def test_single_datum_velocity_is_conditional_velocity():
    path = AffineGaussianPath(CondOT())
    z = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    oracle = ExactMarginal(path, FlowGenerator(), z)
    x = torch.randn(5, 2, dtype=torch.float64)
    t = torch.rand(5, dtype=torch.float64) * 0.9
    torch.testing.assert_close(oracle(x, t), (z - x) / (1 - t[:, None]))


def test_gaussian_data_limit_matches_closed_form_velocity():
    """Many data points from N(m, s²I): the oracle approaches the closed-form marginal velocity.

    For CondOT and q = N(m, s²), x_t ~ N(t m, t² s² + (1−t)²) and
    u_t(x) = m + (t s² − (1 − t)) / (t² s² + (1 − t)²) (x − t m).
    """
    rng = torch.Generator().manual_seed(0)
    m, s = torch.tensor([1.0, -0.5], dtype=torch.float64), 0.5
    data = m + s * torch.randn(20000, 2, dtype=torch.float64, generator=rng)
    oracle = ExactMarginal(AffineGaussianPath(CondOT()), FlowGenerator(), data)
    t = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    x = t[:, None] * m + 0.3
    var = t**2 * s**2 + (1 - t) ** 2
    exact = m + ((t * s**2 - (1 - t)) / var)[:, None] * (x - t[:, None] * m)
    torch.testing.assert_close(oracle(x, t), exact, atol=0.03, rtol=0)


def test_posterior_is_normalised_and_stable_at_tiny_sigma():
    path = AffineGaussianPath(CondOT())
    data = torch.randn(100, 2)
    oracle = ExactMarginal(path, FlowGenerator(), data)
    x = data[:4] + 1e-3
    w = oracle.posterior(x, torch.full((4,), 0.99))
    torch.testing.assert_close(w.sum(1), torch.ones(4))
    assert bool(torch.isfinite(oracle(x, torch.ones(4))).all())  # t = 1 is clipped, no NaN


def test_chunking_gives_same_answer():
    path = AffineGaussianPath(Cosine())
    data = torch.randn(40, 2, dtype=torch.float64)
    x, t = torch.randn(30, 2, dtype=torch.float64), torch.rand(30, dtype=torch.float64)
    whole = ExactMarginal(path, FlowGenerator(), data)(x, t)
    chunked = ExactMarginal(path, FlowGenerator(), data, max_pairs=100)(x, t)
    torch.testing.assert_close(whole, chunked)


def test_oracle_rk4_reaches_the_data_distribution():
    """Sampling the exact marginal flow with RK4 reproduces the data set: against fresh data its
    energy distance is within 0.01 of the floor (the training set itself against the same fresh
    data), while a one-step Euler sample is not."""
    from genmatch import Euler
    from genmatch.data import eight_gaussians

    rng = torch.Generator().manual_seed(0)
    data = eight_gaussians(400, generator=rng)
    fresh = eight_gaussians(2000, generator=rng)
    oracle = ExactMarginal(AffineGaussianPath(CondOT()), FlowGenerator(), data)
    x_0 = torch.randn(400, 2, generator=rng)
    out = simulate(FlowGenerator(solver=RK4()), oracle, x_0, 16)
    floor = float(energy_distance(data, fresh))
    ed = float(energy_distance(out.x, fresh))
    assert ed < floor + 0.01, (ed, floor)
    # lands on data points, up to the documented t_max residual of order σ_{t_max} |x_0 − z|
    nearest = torch.cdist(out.x, data).min(1).values
    assert float(nearest.median()) < 0.05 and float(nearest.max()) < 0.15
    crude = simulate(FlowGenerator(solver=Euler()), oracle, x_0, 1)
    assert float(energy_distance(crude.x, fresh)) > floor + 0.05


def test_bad_inputs():
    path = AffineGaussianPath(CondOT())
    with pytest.raises(ValueError, match=r"\(N, \*event\)"):
        ExactMarginal(path, FlowGenerator(), torch.zeros(0, 2))
    oracle = ExactMarginal(path, FlowGenerator(), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="event shape"):
        oracle(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(TypeError, match="dtype"):
        oracle(torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    assert math.isfinite(float(oracle(torch.zeros(2, 2), torch.zeros(2)).sum()))
