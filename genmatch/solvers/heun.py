"""Heun's method (explicit trapezoid)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from torch import Tensor

from genmatch.solvers.base import AbstractODESolver, VelocityFn, shift_time


@final
@dataclass(frozen=True)
class Heun(AbstractODESolver):
    """``k₁ = u_t(x)``, ``k₂ = u_{t+h}(x + h k₁)``, ``x_{t+h} = x + (h/2)(k₁ + k₂)``.

    Order 2, 2 evaluations per step (the second one at ``t + h``, so a grid ending at 1
    evaluates the field at ``t = 1``).
    """

    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        k1 = velocity(x, t)
        k2 = velocity(x + h * k1, shift_time(t, h))
        return x + (0.5 * h) * (k1 + k2)
