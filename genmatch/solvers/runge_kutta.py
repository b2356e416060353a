"""Explicit Runge–Kutta methods in ``R^d``, each given by its Butcher tableau."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from genmatch.solvers.base import AbstractODESolver, VelocityFn
from genmatch.solvers.tableau import ButcherTableau


class AbstractRungeKutta(AbstractODESolver):
    """An explicit Runge–Kutta method on ``R^d``: a step is its ``tableau``'s increment,
    ``x_{t+h} = x + h Σ_i b_i k_i`` with ``k_i = u_{t + c_i h}(x + h Σ_j a_ij k_j)``.

    A new method is one class with a :class:`~genmatch.solvers.tableau.ButcherTableau`; its
    Riemannian twin (an :class:`~genmatch.solvers.AbstractRiemannianSolver`) takes the same
    tableau. The first evaluation is ``velocity(x, t)`` with the very ``x`` and ``t`` passed in.
    """

    tableau: ClassVar[ButcherTableau]

    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        def stage(w: Tensor | None, s: Tensor) -> Tensor:
            return velocity(x if w is None else x + w, s)

        return x + self.tableau.increment(stage, t, h)
