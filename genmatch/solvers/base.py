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


def shift_time(t: Tensor, dt: float) -> Tensor:
    """``t + dt``, keeping a shared time (an expanded 0-d tensor, stride 0) expanded.

    :func:`genmatch.simulate` passes the times of a step as one expanded scalar; keeping stage
    times in that layout lets fields that depend on the time alone (oracles) compute per-time
    quantities once instead of once per point.
    """
    if t.dim() == 1 and t.shape[0] > 1 and t.stride(0) == 0:
        return (t[:1] + dt).expand(t.shape[0])
    return t + dt
