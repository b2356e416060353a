"""Affine schedules are interchangeable by a time change and scaling (seed 003 §5.3.3)."""

import math

import pytest
import torch

from genmatch import RK4, FlowGenerator, TimeGrid, simulate
from genmatch.diffusion import RetimedVelocity, time_change
from genmatch.marginal import GaussianMarginal
from genmatch.paths import VE, CondOT, Cosine, Polynomial, VPLinear

MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)
COV = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
FULL_RANGE = [CondOT(), Cosine(), Polynomial(2.0), Polynomial(0.7)]
PAIRS = [(a, b) for a in FULL_RANGE for b in FULL_RANGE if a != b]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=repr)
def test_time_change_matches_snr_and_scale(source, target):
    t = torch.linspace(0.0, 1.0, 21, dtype=torch.float64)
    c = time_change(source, target, t)
    torch.testing.assert_close(c.scale * source.alpha(c.t), target.alpha(t), atol=1e-12, rtol=0)
    torch.testing.assert_close(c.scale * source.sigma(c.t), target.sigma(t), atol=1e-12, rtol=0)


def test_time_change_closed_form_cosine_to_condot():
    t = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    c = time_change(CondOT(), Cosine(), t)
    sin, cos = torch.sin(math.pi * t / 2), torch.cos(math.pi * t / 2)
    torch.testing.assert_close(c.t, sin / (sin + cos), atol=1e-14, rtol=0)
    shared = time_change(CondOT(), Cosine(), torch.tensor(0.3, dtype=torch.float64).expand(5))
    assert shared.t.shape == (5,) and shared.t.stride(0) == 0


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=repr)
def test_retimed_exact_velocity_is_the_targets_exact_velocity(source, target):
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(50, 2, generator=rng, dtype=torch.float64)
    t = torch.rand(50, generator=rng, dtype=torch.float64)
    retimed = RetimedVelocity(GaussianMarginal(MEAN, COV, source).velocity, source, target)
    expected = GaussianMarginal(MEAN, COV, target).velocity(x, t)
    torch.testing.assert_close(retimed(x, t), expected, atol=1e-10, rtol=1e-10)


def test_retimed_vp_velocity_on_the_interior():
    """VP reaches neither SNR 0 nor a shared source, but on the interior the identity holds."""
    source, target = VPLinear(), CondOT()
    rng = torch.Generator().manual_seed(1)
    x = torch.randn(30, 2, generator=rng, dtype=torch.float64)
    t = 0.2 + 0.6 * torch.rand(30, generator=rng, dtype=torch.float64)
    retimed = RetimedVelocity(GaussianMarginal(MEAN, COV, source).velocity, source, target)
    expected = GaussianMarginal(MEAN, COV, target).velocity(x, t)
    torch.testing.assert_close(retimed(x, t), expected, atol=1e-10, rtol=1e-10)


def test_retimed_model_transports_the_same_points():
    """The re-timed ODE ends where the original does (the paths are one path, re-clocked)."""
    source, target = CondOT(), Cosine()
    x_0 = torch.randn(200, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    flow = FlowGenerator(solver=RK4())
    velocity = GaussianMarginal(MEAN, COV, source).velocity
    a = simulate(flow, velocity, x_0, TimeGrid.uniform(64)).x
    b = simulate(flow, RetimedVelocity(velocity, source, target), x_0, TimeGrid.uniform(64)).x
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_out_of_range_snr_raises():
    with pytest.raises(ValueError, match="outside the range"):
        time_change(VE(0.01, 50.0), CondOT(), torch.tensor([0.001, 0.5], dtype=torch.float64))
