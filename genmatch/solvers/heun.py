"""Heun's method (explicit trapezoid)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from genmatch.solvers.runge_kutta import AbstractRungeKutta
from genmatch.solvers.tableau import HEUN_TABLEAU, ButcherTableau


@final
@dataclass(frozen=True)
class Heun(AbstractRungeKutta):
    """``k₁ = u_t(x)``, ``k₂ = u_{t+h}(x + h k₁)``, ``x_{t+h} = x + (h/2)(k₁ + k₂)``.

    Order 2, 2 evaluations per step (the second one at ``t + h``, so a grid ending at 1
    evaluates the field at ``t = 1``).
    """

    tableau: ClassVar[ButcherTableau] = HEUN_TABLEAU
    order: ClassVar[int] = HEUN_TABLEAU.order
    stages: ClassVar[int] = HEUN_TABLEAU.stages
