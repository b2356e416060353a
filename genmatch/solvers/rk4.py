"""The classical fourth-order Runge–Kutta method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from genmatch.solvers.runge_kutta import AbstractRungeKutta
from genmatch.solvers.tableau import RK4_TABLEAU, ButcherTableau


@final
@dataclass(frozen=True)
class RK4(AbstractRungeKutta):
    """Classical RK4: ``x_{t+h} = x + (h/6)(k₁ + 2k₂ + 2k₃ + k₄)``. Order 4, 4 evaluations per
    step (the last at ``t + h``)."""

    tableau: ClassVar[ButcherTableau] = RK4_TABLEAU
    order: ClassVar[int] = RK4_TABLEAU.order
    stages: ClassVar[int] = RK4_TABLEAU.stages
