"""The reverse-time SDE of an affine schedule as a Langevin flow (GM eq. 10.15, §10.4).

For an affine Gaussian path, :class:`~genmatch.compose.Langevin` with the score derived from
the flow's velocity (:func:`score_from_velocity`) and any ``β_t ≥ 0`` is the SDE family of
eq. 10.15; :func:`reverse_sde_beta` is the ``β_t`` for which it is the time reversal of the
schedule's forward SDE (the SDE that DDPM discretizes).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genmatch.compose.langevin import BetaFn, ScoreFn
from genmatch.diffusion.predictions import Prediction, convert
from genmatch.paths.schedules import AbstractSchedule
from genmatch.types import ParamValue


def reverse_sde_beta(schedule: AbstractSchedule) -> BetaFn:
    """``β_t = sqrt(2 σ_t² α̇_t/α_t − 2 σ_t σ̇_t)``: the noise level of the reverse-time SDE.

    Every affine schedule is the flow-time form of a forward SDE ``dX = a X dr + g dW``
    (:mod:`~genmatch.diffusion.forward_sde`) with ``k̇ a = α̇/α`` and
    ``k̇ g² = d(σ²)/dt − 2 σ² α̇/α``; ``β_t² = −k̇ g²`` makes eq. 10.15 the time reversal of
    that forward process — the SDE that DDPM discretizes. Singular where ``α_t = 0``
    (``t = 0`` for CondOT, Cosine).
    """

    def beta(t: Tensor) -> Tensor:
        s = schedule(t)
        return torch.sqrt(
            (2 * s.sigma_t**2 * s.d_alpha_t / s.alpha_t - 2 * s.sigma_t * s.d_sigma_t).clamp_min(0)
        )

    return beta


def score_from_velocity(schedule: AbstractSchedule) -> ScoreFn:
    """The marginal score of an affine Gaussian path from its marginal velocity.

    Uses the exact velocity → score conversion of :mod:`~genmatch.diffusion.predictions`;
    singular where ``α_t = 0`` (``t = 0`` for CondOT).
    """

    def score(x: Tensor, t: Tensor, velocity: ParamValue) -> Tensor:
        return convert(velocity, Prediction.VELOCITY, Prediction.SCORE, x, t, schedule)

    return score
