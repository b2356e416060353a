"""Squared Euclidean distance, the Bregman divergence of ``Φ(a) = |a|²``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence, _sum_event


@final
@dataclass(frozen=True)
class SquaredEuclidean(AbstractBregmanDivergence):
    """``D(a, b) = |a − b|²`` summed over the event (the flow-matching MSE, up to a constant).

    Example:
        >>> import torch
        >>> SquaredEuclidean()(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
        tensor([5.])
    """

    def phi(self, a: Tensor) -> Tensor:
        return _sum_event(a**2)

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        return _sum_event((a - b) ** 2)
