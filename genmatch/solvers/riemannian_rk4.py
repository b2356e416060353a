"""Classical RK4 on a manifold, in normal coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from torch import Tensor

from genmatch.solvers.base import VelocityFn, shift_time
from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True, eq=False)
class RiemannianRK4(AbstractRiemannianSolver):
    """Classical RK4 in normal coordinates at ``x`` (stages at ``exp_x(·)``, velocities pulled
    back to ``T_xM``), ``x_{t+h} = exp_x(h (k₁ + 2k₂ + 2k₃ + k₄)/6)``. Order 4, 4 evaluations
    per step."""

    space: ManifoldSpace
    order: ClassVar[int] = 4
    stages: ClassVar[int] = 4

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        half = 0.5 * h
        t_half = shift_time(t, half)
        k1 = self.tangent(velocity, x, t)
        k2 = self.stage(velocity, x, half * k1, t_half)
        k3 = self.stage(velocity, x, half * k2, t_half)
        k4 = self.stage(velocity, x, h * k3, shift_time(t, h))
        return self.space.expmap(x, (h / 6.0) * (k1 + 2 * (k2 + k3) + k4))
