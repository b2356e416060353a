"""Explicit midpoint method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from genmatch.solvers.runge_kutta import AbstractRungeKutta
from genmatch.solvers.tableau import MIDPOINT_TABLEAU, ButcherTableau


@final
@dataclass(frozen=True)
class Midpoint(AbstractRungeKutta):
    """``x_{t+h} = x_t + h u_{t+h/2}(x_t + (h/2) u_t(x_t))``. Order 2, 2 evaluations per step."""

    tableau: ClassVar[ButcherTableau] = MIDPOINT_TABLEAU
    order: ClassVar[int] = MIDPOINT_TABLEAU.order
    stages: ClassVar[int] = MIDPOINT_TABLEAU.stages
