"""KL divergence between probability vectors (cross-entropy up to the target's entropy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence, _sum_event


@final
@dataclass(frozen=True)
class KLDivergence(AbstractBregmanDivergence):
    """``D(a, b) = Σ_k a_k log(a_k / b_k)`` for probability vectors along the last axis.

    The Bregman divergence of ``Φ(a) = Σ a log a`` restricted to the simplex (where the linear
    terms of the generalized KL cancel). Minimising it in ``b`` is minimising the
    cross-entropy ``−Σ a log b``; the two differ by the entropy of ``a``, constant in ``b``.
    Jump distributions and posterior (``x_1``-prediction) probabilities use it.

    Shapes:
        a, b: ``(batch, *event, K)`` with each last-axis slice on the simplex;
        returns ``(batch,)``.

    Example:
        >>> import torch
        >>> a = torch.tensor([[0.5, 0.5]])
        >>> KLDivergence()(a, a)
        tensor([0.])
    """

    def phi(self, a: Tensor) -> Tensor:
        return _sum_event(torch.xlogy(a, a))

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        # b is replaced where a = 0 so that a zero probability (e.g. a masked-out class) gets
        # the gradient 0 of the vanishing term instead of 0/0
        safe_b = torch.where(a > 0, b, torch.ones_like(b))
        return _sum_event(torch.xlogy(a, a) - torch.xlogy(a, safe_b))
