"""The classical fourth-order Runge–Kutta method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from torch import Tensor

from genmatch.solvers.base import AbstractODESolver, VelocityFn, shift_time


@final
@dataclass(frozen=True)
class RK4(AbstractODESolver):
    """Classical RK4. Order 4, 4 evaluations per step (the last at ``t + h``)."""

    order: ClassVar[int] = 4
    stages: ClassVar[int] = 4

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        half = 0.5 * h
        k1 = velocity(x, t)
        t_half = shift_time(t, half)
        k2 = velocity(x + half * k1, t_half)
        k3 = velocity(x + half * k2, t_half)
        k4 = velocity(x + h * k3, shift_time(t, h))
        return x + (h / 6.0) * (k1 + 2 * (k2 + k3) + k4)
