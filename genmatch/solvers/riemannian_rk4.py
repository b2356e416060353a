"""Classical RK4 on a manifold, in normal coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.solvers.tableau import RK4_TABLEAU, ButcherTableau
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True, eq=False)
class RiemannianRK4(AbstractRiemannianSolver):
    """Classical RK4 in normal coordinates at ``x`` (stages at ``exp_x(·)``, velocities pulled
    back to ``T_xM``), ``x_{t+h} = exp_x(h (k₁ + 2k₂ + 2k₃ + k₄)/6)``. Order 4, 4 evaluations
    per step."""

    space: ManifoldSpace
    tableau: ClassVar[ButcherTableau] = RK4_TABLEAU
    order: ClassVar[int] = RK4_TABLEAU.order
    stages: ClassVar[int] = RK4_TABLEAU.stages
