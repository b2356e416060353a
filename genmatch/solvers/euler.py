"""Explicit Euler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from torch import Tensor

from genmatch.solvers.base import AbstractODESolver, VelocityFn


@final
@dataclass(frozen=True)
class Euler(AbstractODESolver):
    """``x_{t+h} = x_t + h u_t(x_t)``. Order 1, 1 evaluation per step."""

    order: ClassVar[int] = 1
    stages: ClassVar[int] = 1

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        return x + h * velocity(x, t)
