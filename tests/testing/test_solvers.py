"""empirical_order recovers each method's order, and exposes a method of the wrong order."""

import math
from typing import ClassVar

import pytest
import torch

from genmatch import RK4, Euler, Heun, Midpoint
from genmatch.solvers.base import AbstractODESolver
from genmatch.testing import empirical_order

X0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
STEPS = [16, 32, 64, 128]


def _rotation(x, t):
    """``dx/dt = (1 + t) J x``: rotation by ``θ(t) = t + t²/2`` (depends on time)."""
    return (1 + t)[:, None] * torch.stack([-x[:, 1], x[:, 0]], 1)


def _exact(t):
    a = t + t**2 / 2
    return torch.tensor([[math.cos(a), math.sin(a)]], dtype=torch.float64)


class _StaleMidpoint(AbstractODESolver):
    """The midpoint method evaluating its second stage at ``t`` instead of ``t + h/2``."""

    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2

    def step(self, velocity, x, t, h):
        return x + h * velocity(x + 0.5 * h * velocity(x, t), t)


class _LopsidedHeun(AbstractODESolver):
    """Heun's method with weights (0.6, 0.4) instead of (1/2, 1/2)."""

    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2

    def step(self, velocity, x, t, h):
        k1 = velocity(x, t)
        k2 = velocity(x + h * k1, t + h)
        return x + h * (0.6 * k1 + 0.4 * k2)


@pytest.mark.parametrize("solver", [Euler(), Midpoint(), Heun(), RK4()], ids=repr)
def test_recovers_the_order_of_correct_methods(solver):
    orders = empirical_order(solver, _rotation, X0, _exact, STEPS)
    assert len(orders) == len(STEPS) - 1
    assert abs(orders[-1] - solver.order) < 0.1, orders


@pytest.mark.parametrize("solver", [_StaleMidpoint(), _LopsidedHeun()], ids=type)
def test_exposes_a_method_of_the_wrong_order(solver):
    """A claimed order-2 method with a first-order bug measures order 1, not 2."""
    orders = empirical_order(solver, _rotation, X0, _exact, STEPS)
    assert abs(orders[-1] - 1) < 0.1, orders
    assert orders[-1] < solver.order - 0.5
