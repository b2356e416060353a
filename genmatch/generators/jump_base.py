"""Jump processes: ``L_t f(x) = ∫ [f(y) − f(x)] Q_t(dy, x)`` (GM eq. 9.7)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import value_checks_enabled
from genmatch.generators.base import AbstractGenerator, check_step
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import Field, ParamValue, State


@final
@dataclass(frozen=True)
class JumpProposal:
    """Which parts of each point jump over a step, and where to.

    Attributes:
        mask: bool; ``(batch,)`` for whole-state jumps (with ``space``), or broadcastable
            against tensor points (``(batch, *event)`` for per-coordinate jumps).
        destination: the points after a jump, a batch of the space.
        space: for whole-state jumps, the space whose ``where`` replaces the jumping points
            (any state container); ``None`` for tensor masks.
    """

    mask: Tensor
    destination: State
    space: AbstractStateSpace | None = None

    def apply(self, x: State) -> State:
        """``destination`` where ``mask``, else ``x``."""
        if self.space is not None:
            return self.space.where(self.mask, self.destination, x)
        return torch.where(self.mask, self.destination, x)


class AbstractJumpGenerator(AbstractGenerator):
    """A jump process. Its :meth:`propose` decides jumps from the state at the start of a step.

    It does not :meth:`move`, and its :meth:`step` applies the proposal (one field evaluation).
    A superposition with a flow (:class:`~genmatch.compose.Superposition`) asks every part for
    its proposal at ``x_t`` and overrides the flow's result where a jump happens — the
    piecewise-deterministic scheme of GM §9.7.
    """

    @abc.abstractmethod
    def propose(
        self,
        value: ParamValue,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> JumpProposal:
        """Draw the jumps over ``[t, t + h]`` from the jump measure ``value`` at ``x``."""

    def step(
        self,
        field: Field,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        check_step(x, t, h)
        return self.propose(field(x, t), x, t, h, generator=generator).apply(x)

    def move(
        self,
        field: Field,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        """A pure jump process does not move between jumps: ``x``."""
        return x


def check_intensity(intensity: Tensor) -> None:
    """Raise (value checks on) unless every jump intensity is ``>= 0`` (``inf`` allowed)."""
    if value_checks_enabled() and not bool((intensity >= 0).all()):
        raise ValueError(
            f"jump intensities must be >= 0, got {intensity[~(intensity >= 0)][:3].tolist()}"
        )


def jump_probability(intensity: Tensor, h: float) -> Tensor:
    """``1 − exp(−h λ)``: the probability of at least one jump over a step at intensity ``λ``.

    Exact for an intensity constant over the step; saturates to 1 (never NaN) for ``λ = inf``.
    With value checks on, a negative or NaN intensity raises ``ValueError``.
    """
    check_intensity(intensity)
    return -torch.expm1(-h * intensity)


def normalize(mass: Tensor) -> Tensor:
    """``mass / Σ mass`` along the last dimension; uniform rows where the masses are all 0.

    The masses are divided by their largest entry first, so rows sum to 1 even where the
    total underflows to a subnormal number. Shapes: ``(..., n)`` in and out.
    """
    peak = mass.amax(-1, keepdim=True)
    scaled = mass / torch.where(peak > 0, peak, torch.ones_like(peak))
    uniform = torch.full_like(mass, 1.0 / mass.shape[-1])
    return torch.where(peak > 0, scaled / scaled.sum(-1, keepdim=True).clamp_min(1.0), uniform)
