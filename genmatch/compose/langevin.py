"""The Langevin divergence-free addition (GM Prop. 3.2, eq. 9.38, §10.4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.generators.base import AbstractGenerator, reuse_first
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.paths.schedules import AbstractSchedule
from genmatch.types import Field, ParamValue

#: ``β_t``: ``t (batch,) ↦ (batch,)``, non-negative.
BetaFn = Callable[[Tensor], Tensor]
#: ``∇ log p_t(x)`` from the base generator's value: ``(x, t, value) ↦ (batch, *event)``.
ScoreFn = Callable[[Tensor, Tensor, ParamValue], Tensor]


def constant_beta(beta: float) -> BetaFn:
    """``β_t = beta`` for all ``t`` (``beta ≥ 0``)."""
    if beta < 0:
        raise ValueError(f"β must be >= 0, got {beta}")
    return lambda t: torch.full_like(t, beta)


def reverse_sde_beta(schedule: AbstractSchedule) -> BetaFn:
    """``β_t = sqrt(2 σ_t² α̇_t/α_t − 2 σ_t σ̇_t)``: the noise level of the reverse-time SDE.

    Every affine schedule is the flow-time form of a forward SDE ``dX = a X dr + g dW``
    (:mod:`genmatch.diffusion.forward_sde`) with ``k̇ a = α̇/α`` and ``k̇ g² = d(σ²)/dt − 2 σ² α̇/α``;
    ``β_t² = −k̇ g²`` makes eq. 10.15 the time reversal of that forward process — the SDE
    that DDPM discretizes. Singular where ``α_t = 0`` (``t = 0`` for CondOT, Cosine).
    """

    def beta(t: Tensor) -> Tensor:
        s = schedule(t)
        return torch.sqrt(
            (2 * s.sigma_t**2 * s.d_alpha_t / s.alpha_t - 2 * s.sigma_t * s.d_sigma_t).clamp_min(0)
        )

    return beta


def score_from_velocity(schedule: AbstractSchedule) -> ScoreFn:
    """The marginal score of an affine Gaussian path from its marginal velocity.

    Uses the exact velocity → score conversion of :mod:`genmatch.diffusion.predictions`;
    singular where ``α_t = 0`` (``t = 0`` for CondOT).
    """
    from genmatch.diffusion.predictions import Prediction, convert

    def score(x: Tensor, t: Tensor, velocity: ParamValue) -> Tensor:
        return convert(velocity, Prediction.VELOCITY, Prediction.SCORE, x, t, schedule)

    return score


@final
@dataclass(frozen=True)
class Langevin(AbstractGenerator):
    """``L_t + L^div_t``: a generator of ``p_t`` plus Langevin dynamics leaving ``p_t`` invariant.

    ``L^div_t`` is the SDE ``dX = ½ β_t² ∇ log p_t(X) dt + β_t dW`` (eq. 9.38); its adjoint
    annihilates ``p_t`` for every ``β_t ≥ 0`` (eq. 9.37), so the sum generates the same
    marginals as the base. For a flow base this is the SDE family
    ``dX = [u_t + ½ β_t² ∇ log p_t] dt + β_t dW`` of eq. 10.15; ``β = 0`` is the
    probability-flow ODE.

    Training is the base's (the Langevin part has no parameters of its own: the score is
    derived from the base's value by ``score``). Sampling: the base's step, then an
    Euler–Maruyama step of the Langevin part using the score at the step's start; with an
    Euler flow base this is exactly Euler–Maruyama for eq. 10.15.

    Args:
        base: the generator of ``p_t`` (e.g. a flow).
        beta: ``t ↦ β_t ≥ 0``.
        score: ``(x, t, base value) ↦ ∇ log p_t(x)``, e.g. :func:`score_from_velocity`.
    """

    base: AbstractGenerator
    beta: BetaFn
    score: ScoreFn

    def __post_init__(self) -> None:
        # β may be singular at the ends (the reverse-SDE β at α_t = 0): check the interior.
        b = self.beta(torch.linspace(0, 1, 21, dtype=torch.float64)[1:-1])
        if bool((b < 0).any()) or not bool(torch.isfinite(b).all()):
            raise ValueError("β_t must be finite and >= 0 on (0, 1)")
        object.__setattr__(self, "parametrization", self.base.parametrization)
        object.__setattr__(self, "divergence", self.base.divergence)

    @property
    def nfe_per_step(self) -> int:  # type: ignore[override]
        return self.base.nfe_per_step

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ParamValue:
        return self.base.conditional_target(path, sample)

    def step(
        self,
        field: Field,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        first = field(x, t)
        x_base = self.base.step(reuse_first(field, x, t, first), x, t, h, generator=generator)
        beta = self.beta(t).reshape(-1, *([1] * (x.dim() - 1)))
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x_base + (0.5 * h) * beta**2 * self.score(x, t, first) + (h**0.5) * beta * noise
