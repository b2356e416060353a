"""What every likelihood computation shares: the divergence estimator and the result."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor


class AbstractDivergenceEstimator(abc.ABC):
    """``div u(x) = tr ∂u/∂x`` for a batch of flat points ``(batch, d)``."""

    @abc.abstractmethod
    def prepare(self, x: Tensor, generator: torch.Generator | None) -> None | Tensor:
        """Per-trajectory state (e.g. the probe), drawn once before integrating."""

    @abc.abstractmethod
    def __call__(self, u: Tensor, x: Tensor, state: None | Tensor, create_graph: bool) -> Tensor:
        """``(batch,)`` divergence of ``u`` (computed from ``x`` with a graph) at ``x``."""


@final
@dataclass(frozen=True)
class LikelihoodResult:
    """``log p_1(x_1)`` ``(batch,)``, the source points ``x_0`` ``(batch, d)`` and the NFE."""

    log_prob: Tensor
    x_0: Tensor
    nfe: int
