"""The midpoint method on a manifold, in normal coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from torch import Tensor

from genmatch.solvers.base import VelocityFn, shift_time
from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True, eq=False)
class RiemannianMidpoint(AbstractRiemannianSolver):
    """Midpoint in normal coordinates at ``x``: ``k₁ = P_x u_t(x)``,
    ``k₂ = (d log_x)[u_{t+h/2}(exp_x(h k₁/2))]``, ``x_{t+h} = exp_x(h k₂)``. Order 2, 2
    evaluations per step."""

    space: ManifoldSpace
    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        k1 = self.tangent(velocity, x, t)
        k2 = self.stage(velocity, x, (0.5 * h) * k1, shift_time(t, 0.5 * h))
        return self.space.expmap(x, h * k2)
