"""Explicit midpoint method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from torch import Tensor

from genmatch.solvers.base import AbstractODESolver, VelocityFn, shift_time


@final
@dataclass(frozen=True)
class Midpoint(AbstractODESolver):
    """``x_{t+h} = x_t + h u_{t+h/2}(x_t + (h/2) u_t(x_t))``. Order 2, 2 evaluations per step."""

    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        x_mid = x + (0.5 * h) * velocity(x, t)
        return x + h * velocity(x_mid, shift_time(t, 0.5 * h))
