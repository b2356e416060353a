"""Explicit Euler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from genmatch.solvers.runge_kutta import AbstractRungeKutta
from genmatch.solvers.tableau import EULER_TABLEAU, ButcherTableau


@final
@dataclass(frozen=True)
class Euler(AbstractRungeKutta):
    """``x_{t+h} = x_t + h u_t(x_t)``. Order 1, 1 evaluation per step."""

    tableau: ClassVar[ButcherTableau] = EULER_TABLEAU
    order: ClassVar[int] = EULER_TABLEAU.order
    stages: ClassVar[int] = EULER_TABLEAU.stages
