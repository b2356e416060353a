"""The rate head of the factorized CTMC: non-negative rates off the current token (GM eq. 9.8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from torch import Tensor
from torch.nn import functional as F

from genmatch.generators.base import AbstractLinearParametrization, TestFunction
from genmatch.generators.ctmc_values import likelihood_ratio, neighbour_differences, off_current
from genmatch.guidance.base import (
    AbstractGuidableParametrization,
    AbstractTiltableParametrization,
    geometric,
)
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import AbstractConditionalPath
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.types import HeadShapes, RawHeads


@final
@dataclass(frozen=True)
class RateParametrization(
    AbstractLinearParametrization, AbstractGuidableParametrization, AbstractTiltableParametrization
):
    """``Ω_x``: non-negative rates off the current token (eq. 9.8); head ``"rate"`` ``(L, S)``."""

    space: DiscreteSpace

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        return {"rate": (self.space.length, self.space.num_states)}

    def constrain(self, raw: RawHeads, x_t: Tensor, t: Tensor) -> Tensor:
        return F.softplus(raw["rate"]) * off_current(x_t, self.space.num_states, raw["rate"])

    def test_operator(self, f: TestFunction, x_t: Tensor) -> Tensor:
        return neighbour_differences(f, x_t, self.space.num_states)

    def inner(self, a: Tensor, b: Tensor, x_t: Tensor) -> Tensor:
        return (a * b).sum((1, 2))

    def guide(
        self, conditional: Tensor, unconditional: Tensor, weight: Tensor, x_t: Tensor
    ) -> Tensor:
        """``u_c^{1+w} u^{−w}`` off the current tokens (0 on them)."""
        return geometric(conditional, unconditional, weight)

    def tilt(
        self,
        value: Tensor,
        x_t: Tensor,
        t: Tensor,
        log_likelihood: BoundLikelihood,
        weight: Tensor,
        path: AbstractConditionalPath,
    ) -> Tensor:
        """``u^i(y|x) (p_t(c|x^{i→y}) / p_t(c|x))^w`` on all ``L·S`` neighbours: exact (``w = 1``,
        exact parts) on the masked path only (an unmasked token is clean data), otherwise the
        approximation of Nisonoff et al. (``docs/guidance.md``)."""
        return value * likelihood_ratio(log_likelihood, x_t, self.space.num_states, weight)
