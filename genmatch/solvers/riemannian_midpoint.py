"""The midpoint method on a manifold, in normal coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.solvers.tableau import MIDPOINT_TABLEAU, ButcherTableau
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True, eq=False)
class RiemannianMidpoint(AbstractRiemannianSolver):
    """Midpoint in normal coordinates at ``x``: ``k₁ = P_x u_t(x)``,
    ``k₂ = (d log_x)[u_{t+h/2}(exp_x(h k₁/2))]``, ``x_{t+h} = exp_x(h k₂)``. Order 2, 2
    evaluations per step."""

    space: ManifoldSpace
    tableau: ClassVar[ButcherTableau] = MIDPOINT_TABLEAU
    order: ClassVar[int] = MIDPOINT_TABLEAU.order
    stages: ClassVar[int] = MIDPOINT_TABLEAU.stages
