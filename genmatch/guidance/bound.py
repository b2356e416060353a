"""A predictor bound to the guided points: ``y ↦ log p_s(c | y)`` for their neighbours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch.types import State, Times


@final
@dataclass(frozen=True, eq=False)
class BoundLikelihood:
    """``y ↦ log p_t(c | y)`` with the guided points' condition and time bound, for a batch
    ``y`` of ``m · batch`` points (the ``m`` neighbours or atoms of point ``i`` contiguous).

    A tilt calls it at the points' own time (``bound(y)``) — the ratio ``p_t(c|y)/p_t(c|x)`` of
    a CTMC step between neighbours — or with the moving coordinates at ``t = 1``
    (:meth:`at_data`) when the destination of a jump is a data point rather than a state of
    the path at time ``t`` (the mixture path's jumps land on ``z``).

    Attributes:
        evaluate: ``(y, s) ↦ log p_s(c | y)`` for times ``s`` of the guided points (repeated
            inside to match ``y``), ``(m · batch,)``.
        t: the guided points' times ``(batch,)`` (a dict per factor on a product).
        factor: on a product, the factor whose coordinates ``y`` moves (its time is the one
            :meth:`at_data` sets to 1); ``None`` elsewhere.
    """

    evaluate: Callable[[State, Times], Tensor]
    t: Times
    factor: str | None = None

    def __call__(self, y: State) -> Tensor:
        """``log p_t(c | y)``, ``(m · batch,)``."""
        return self.evaluate(y, self.t)

    def at_data(self, y: State) -> Tensor:
        """``log p(c | y)`` with ``y``'s (factor's) time set to 1: ``y`` read as clean data."""
        if self.factor is None:
            return self.evaluate(y, pytree.tree_map(torch.ones_like, self.t))
        if not isinstance(self.t, dict) or self.factor not in self.t:
            raise ValueError(f"the times have no factor {self.factor!r}")
        return self.evaluate(y, {**self.t, self.factor: torch.ones_like(self.t[self.factor])})

    def within(self, embed: Callable[[State], State], factor: str) -> BoundLikelihood:
        """The same predictor as a function of one factor: ``y ↦ log p(c | embed(y))`` where
        ``embed`` puts the factor's coordinates ``y`` back into whole (product) states."""
        return BoundLikelihood(lambda y, s: self.evaluate(embed(y), s), self.t, factor)
