"""Empirical convergence orders of the ODE methods against exact solutions (float64)."""

import math

import pytest
import torch

from genmatch import RK4, Euler, Heun, Midpoint
from genmatch.testing import empirical_order


def rotation(x, t):
    """dx/dt = (1 + t) J x: the solution rotates by θ(t) = t + t²/2 (time-dependent field)."""
    w = (1 + t)[:, None]
    return w * torch.stack([-x[:, 1], x[:, 0]], 1)


def rotation_exact(t):
    a = t + t**2 / 2
    return torch.tensor([[math.cos(a), math.sin(a)]], dtype=torch.float64)


def logistic(x, t):
    return x * (1 - x)


def logistic_exact(t):
    x0 = 0.2
    return torch.tensor([[x0 * math.exp(t) / (1 - x0 + x0 * math.exp(t))]], dtype=torch.float64)


@pytest.mark.parametrize(
    ("solver", "order"), [(Euler(), 1), (Midpoint(), 2), (Heun(), 2), (RK4(), 4)], ids=repr
)
@pytest.mark.parametrize(
    ("velocity", "x_0", "exact"),
    [
        (rotation, torch.tensor([[1.0, 0.0]], dtype=torch.float64), rotation_exact),
        (logistic, torch.tensor([[0.2]], dtype=torch.float64), logistic_exact),
    ],
    ids=["rotation", "logistic"],
)
def test_empirical_order(solver, order, velocity, x_0, exact):
    orders = empirical_order(solver, velocity, x_0, exact, [8, 16, 32, 64])
    assert solver.order == order
    assert abs(orders[-1] - order) < 0.15, orders


@pytest.mark.parametrize(
    ("solver", "stages"), [(Euler(), 1), (Midpoint(), 2), (Heun(), 2), (RK4(), 4)], ids=repr
)
def test_stages_count_field_evaluations(solver, stages):
    calls = []

    def v(x, t):
        calls.append(1)
        return -x

    solver.step(v, torch.ones(3, 2), torch.zeros(3), 0.1)
    assert len(calls) == solver.stages == stages
