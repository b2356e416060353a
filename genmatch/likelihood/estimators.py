"""Estimators of ``div u = tr ∂u/∂x``: exact, or Hutchinson's unbiased trace estimate."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.likelihood.base import AbstractDivergenceEstimator


@final
@dataclass(frozen=True)
class ExactDivergence(AbstractDivergenceEstimator):
    """The exact trace of the Jacobian, one backward pass per dimension (small ``d``)."""

    def prepare(self, x: Tensor, generator: torch.Generator | None) -> None:
        return None

    def __call__(self, u: Tensor, x: Tensor, state: None | Tensor, create_graph: bool) -> Tensor:
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(x.shape[1]):
            (g,) = torch.autograd.grad(
                u[:, i].sum(), x, create_graph=create_graph, retain_graph=True
            )
            div = div + g[:, i]
        return div


class Probe(enum.Enum):
    """Distribution of Hutchinson probes: ``E[ε εᵀ] = I`` for both."""

    RADEMACHER = "rademacher"
    GAUSSIAN = "gaussian"


@final
@dataclass(frozen=True)
class HutchinsonDivergence(AbstractDivergenceEstimator):
    """``εᵀ (∂u/∂x) ε`` with one vector-Jacobian product; unbiased, variance from the probe."""

    probe: Probe = Probe.RADEMACHER

    def prepare(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return eps.sign() if self.probe is Probe.RADEMACHER else eps

    def __call__(self, u: Tensor, x: Tensor, state: None | Tensor, create_graph: bool) -> Tensor:
        assert state is not None
        (g,) = torch.autograd.grad(
            (u * state).sum(), x, create_graph=create_graph, retain_graph=True
        )
        return (g * state).sum(1)
