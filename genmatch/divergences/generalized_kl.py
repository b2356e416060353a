"""Generalized KL divergence for non-negative quantities (rates, intensities)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence, _sum_event


@final
@dataclass(frozen=True)
class GeneralizedKL(AbstractBregmanDivergence):
    """``D(a, b) = Σ a log(a/b) − a + b`` for ``a ≥ 0, b > 0``; ``Φ(a) = Σ a log a − a``.

    The Bregman divergence of the (unnormalised) negative entropy. Used for CTMC rates and jump
    intensities. ``0 log 0 = 0``; ``a > 0`` with ``b = 0`` gives ``+inf``.

    Example:
        >>> import torch
        >>> GeneralizedKL()(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 2.0]]))
        tensor([2.])
    """

    def phi(self, a: Tensor) -> Tensor:
        return _sum_event(torch.xlogy(a, a) - a)

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        # where a = 0 the a log b term is 0; b is replaced there so that its gradient is 0
        # rather than 0/0 (rates constrained to exactly 0, e.g. a CTMC's current token)
        safe_b = torch.where(a > 0, b, torch.ones_like(b))
        return _sum_event(torch.xlogy(a, a) - torch.xlogy(a, safe_b) - a + b)
