"""Mixing schedules ``κ_t`` of mixture paths (GM eq. 9.2, 9.25).

``κ_0 = 0``, ``κ_1 = 1``, ``0 ≤ κ_t ≤ 1`` and non-decreasing. The jump intensity of the
mixture path, ``κ̇_t / (1 − κ_t)``, diverges at ``t = 1``; its integral is known in closed
form, so the survival probability over a step is exact:
``exp(−∫_t^s κ̇/(1 − κ)) = (1 − κ_s)/(1 − κ_t)`` (:meth:`AbstractKappaSchedule.survival`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor


class AbstractKappaSchedule(abc.ABC):
    """A differentiable, non-decreasing ``t ↦ κ_t`` from ``κ_0 = 0`` to ``κ_1 = 1``."""

    @abc.abstractmethod
    def kappa(self, t: Tensor) -> Tensor:
        """``κ_t``, elementwise."""

    def d_kappa(self, t: Tensor) -> Tensor:
        """``dκ_t/dt`` (autodiff default; override with a closed form)."""
        out = torch.func.jvp(self.kappa, (t,), (torch.ones_like(t),))
        return out[1]

    def autodiff_d_kappa(self, t: Tensor) -> Tensor:
        """``dκ_t/dt`` by autodiff, ignoring any closed form."""
        out = torch.func.jvp(self.kappa, (t,), (torch.ones_like(t),))
        return out[1]

    def intensity(self, t: Tensor) -> Tensor:
        """The mixture path's jump intensity ``κ̇_t/(1 − κ_t)`` (``+inf`` at ``t = 1``)."""
        return self.d_kappa(t) / (1 - self.kappa(t))

    def survival(self, t: Tensor, s: Tensor) -> Tensor:
        """``exp(−∫_t^s κ̇/(1 − κ)) = (1 − κ_s)/(1 − κ_t)`` for ``t ≤ s``; exact, 0 at ``s = 1``."""
        return (1 - self.kappa(s)) / (1 - self.kappa(t))


@final
@dataclass(frozen=True)
class LinearKappa(AbstractKappaSchedule):
    """``κ_t = t``."""

    def kappa(self, t: Tensor) -> Tensor:
        return t

    def d_kappa(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)


@final
@dataclass(frozen=True)
class PolynomialKappa(AbstractKappaSchedule):
    """``κ_t = t^n`` (``n > 0``)."""

    n: float = 2.0

    def __post_init__(self) -> None:
        if not self.n > 0:
            raise ValueError(f"PolynomialKappa exponent n must be > 0, got {self.n}")

    def kappa(self, t: Tensor) -> Tensor:
        return t**self.n

    def d_kappa(self, t: Tensor) -> Tensor:
        return self.n * t ** (self.n - 1)


@final
@dataclass(frozen=True)
class CosineKappa(AbstractKappaSchedule):
    """``κ_t = 1 − cos²(πt/2) = sin²(πt/2)``."""

    def kappa(self, t: Tensor) -> Tensor:
        return torch.sin(0.5 * math.pi * t) ** 2

    def d_kappa(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * torch.sin(math.pi * t)
