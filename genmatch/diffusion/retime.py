"""Converting between affine schedules by a time change and a scaling (seed 003 §5.3.3).

Two affine paths ``X_t = α_t Z + σ_t ε`` and ``X̄_t̄ = ᾱ_t̄ Z + σ̄_t̄ ε`` with the same data and
noise are the same path up to a change of clock and a rescaling of space: with ``ρ(t̄)`` the
source time of equal signal-to-noise ratio, ``α_ρ/σ_ρ = ᾱ_t̄/σ̄_t̄``, and
``s(t̄) = ᾱ_t̄/α_ρ = σ̄_t̄/σ_ρ``,

``X̄_t̄ = s(t̄) X_{ρ(t̄)}``.

Because the two agree on ``(Z, ε)``, the posterior predictions ``x̂ = E[Z|·]`` and
``ε̂ = E[ε|·]`` carry over unchanged, so a velocity model trained on one schedule gives the
other's velocity ``ū_t̄(x̄) = ᾱ̇_t̄ x̂ + σ̄̇_t̄ ε̂`` with ``(x̂, ε̂)`` read off the source model at
``(x̄/s, ρ)`` — :class:`RetimedVelocity`. This form has no ``ρ̇`` and stays finite where
``ρ`` hits 0 or 1 (the SNR is 0 or infinite there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import value_checks_enabled
from genmatch.diffusion.predictions import Prediction, to_data_and_epsilon
from genmatch.paths.schedules import AbstractSchedule

#: ``(x, t) ↦ u_t(x)``.
VelocityField = Callable[[Tensor, Tensor], Tensor]


@final
@dataclass(frozen=True)
class TimeChange:
    """``ρ(t̄)`` and ``s(t̄)`` with ``X̄_t̄ = s X_ρ``; each ``(batch,)``."""

    t: Tensor
    scale: Tensor


def time_change(
    source: AbstractSchedule, target: AbstractSchedule, t: Tensor, *, iterations: int = 60
) -> TimeChange:
    """The source time and scale matching ``target`` at its times ``t`` (same SNR).

    ``ρ`` solves ``α_ρ σ̄_t − ᾱ_t σ_ρ = 0`` by bisection on ``[0, 1]`` (vectorised, a fixed
    number of ``iterations``, no host synchronisation); this needs ``α`` non-decreasing and
    ``σ`` non-increasing in the source, true of every shipped schedule. Shared times (a
    stride-0 ``t``, as :func:`genmatch.simulate` passes) are solved once.

    Raises:
        ValueError: (value checks on) if the target's SNR at some ``t`` lies outside the
            source's range, e.g. a CondOT target near ``t = 0`` against a VE source, whose
            SNR never reaches 0.

    Shapes:
        t: ``(batch,)``; returns a :class:`TimeChange` of ``(batch,)`` tensors.

    Example:
        >>> import torch
        >>> from genmatch.paths import CondOT, Cosine
        >>> c = time_change(CondOT(), Cosine(), torch.tensor([0.5], dtype=torch.float64))
        >>> round(float(c.t), 6), round(float(c.scale), 6)  # equal SNR 1 at ρ = ½
        (0.5, 1.414214)
    """
    batch = t.shape[0]
    shared = t.dim() == 1 and batch > 1 and t.stride(0) == 0
    tt = t[:1] if shared else t
    a_bar, s_bar = target.alpha(tt), target.sigma(tt)

    def gap(rho: Tensor) -> Tensor:
        return source.alpha(rho) * s_bar - a_bar * source.sigma(rho)

    lo, hi = torch.zeros_like(tt), torch.ones_like(tt)
    if value_checks_enabled():
        tol = 1e-6 if tt.dtype == torch.float32 else 1e-12
        if bool((gap(lo) > tol).any()) or bool((gap(hi) < -tol).any()):
            raise ValueError(
                f"the SNR of {type(target).__name__} at some times lies outside the range of "
                f"{type(source).__name__}; the schedules are not interchangeable there"
            )
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = gap(mid) < 0
        lo = torch.where(below, mid, lo)
        hi = torch.where(below, hi, mid)
    rho = 0.5 * (lo + hi)
    alpha, sigma = source.alpha(rho), source.sigma(rho)
    scale = torch.where(alpha >= sigma, a_bar / alpha, s_bar / sigma)
    if shared:
        rho, scale = rho.expand(batch), scale.expand(batch)
    return TimeChange(t=rho, scale=scale)


@final
@dataclass(frozen=True)
class RetimedVelocity:
    """A velocity model of ``source``'s path, re-timed to ``target``'s path (seed 003 §5.3.3).

    Calling it at ``(x̄, t̄)`` gives ``ū_t̄(x̄)`` for the target schedule; use it as the field of
    a :class:`~genmatch.FlowGenerator` to sample a trained model on another schedule with no
    retraining. Both paths must share the source noise (``σ_0 = σ̄_0`` and ``α_0 = ᾱ_0``, e.g.
    CondOT, Cosine, Polynomial), and the target's SNR must stay within the source's range.

    Args:
        velocity: ``(x, t) ↦ u_t(x)`` of the source path (e.g. ``flow.field(net)``).
        source: the schedule ``velocity`` was trained with.
        target: the schedule to sample with.

    Shapes:
        x: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch, *event)``.
    """

    velocity: VelocityField
    source: AbstractSchedule
    target: AbstractSchedule

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        change = time_change(self.source, self.target, t)
        shape = (-1,) + (1,) * (x.dim() - 1)
        x_src = x / change.scale.reshape(shape)
        u = self.velocity(x_src, change.t)
        data, eps = to_data_and_epsilon(u, Prediction.VELOCITY, x_src, change.t, self.source)
        return (
            self.target.d_alpha(t).reshape(shape) * data
            + self.target.d_sigma(t).reshape(shape) * eps
        )
