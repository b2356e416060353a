"""Fixed-step ODE methods for flows ``dx/dt = u_t(x)``."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

from torch import Tensor

#: A velocity field ``(x, t) ↦ u_t(x)``; ``x: (batch, *event)``, ``t: (batch,)``.
VelocityFn = Callable[[Tensor, Tensor], Tensor]


class AbstractODESolver(abc.ABC):
    """A one-step explicit method of a given ``order`` making ``stages`` evaluations a step.

    ``NFE = stages × steps`` for a simulation over a grid of ``steps`` intervals.
    """

    order: ClassVar[int]
    stages: ClassVar[int]

    @abc.abstractmethod
    def step(self, velocity: VelocityFn, x: Tensor, t: Tensor, h: float) -> Tensor:
        """Advance ``x`` from ``t`` to ``t + h``.

        Shapes:
            x: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch, *event)``.
        """
