"""Forward (noising) SDEs of diffusion models and the affine schedules they define (GM §10.1–10.2).

Diffusion models run their own clock: *diffusion time* ``r ∈ [0, r_max]`` with data at
``r = 0`` and (approximately) noise at ``r = r_max`` (eq. 10.2), against genmatch's *flow time*
``t ∈ [0, 1]`` with noise at ``t = 0`` and data at ``t = 1`` (eq. 10.1). A strictly decreasing
map ``r = k(t)`` with ``k(1) = 0`` relates them (eq. 10.3).

A forward process with affine drift,

``dX_r = a_r X_r dr + g_r dW_r``,  ``X_0 = z``,

has the Gaussian transition ``N(α̃_r z, σ̃_r² I)`` with (eq. 10.7, solved)

``α̃_r = exp(∫_0^r a_w dw)``,  ``σ̃_r² = α̃_r² ∫_0^r g_w² / α̃_w² dw``,

equivalently ``dα̃/dr = a_r α̃_r`` and ``dσ̃²/dr = 2 a_r σ̃_r² + g_r²``. Its affine path in flow
time is ``α_t = α̃_{k(t)}``, ``σ_t = σ̃_{k(t)}`` (eq. 10.8): :class:`ForwardSDESchedule`, an
:class:`~genmatch.paths.AbstractSchedule` usable wherever the others are.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch.paths.schedules import AbstractSchedule, check_vp_betas, vp_beta, vp_integral


class AbstractForwardSDE(abc.ABC):
    """``dX_r = a_r X_r dr + g_r dW_r`` in diffusion time ``r ≥ 0`` (GM §10.2).

    Subclasses give the coefficients ``a_r``, ``g_r`` and the closed-form transition
    coefficients ``α̃_r``, ``σ̃_r`` of eq. 10.7; the tests check that the latter solve the
    Fokker–Planck equation of the former.
    """

    @abc.abstractmethod
    def drift_rate(self, r: Tensor) -> Tensor:
        """``a_r``: the drift is ``a_r x``. Elementwise in ``r``."""

    @abc.abstractmethod
    def diffusion(self, r: Tensor) -> Tensor:
        """``g_r ≥ 0``: the noise is ``g_r dW``. Elementwise in ``r``."""

    @abc.abstractmethod
    def alpha(self, r: Tensor) -> Tensor:
        """``α̃_r = exp(∫_0^r a)``. Elementwise in ``r``."""

    @abc.abstractmethod
    def sigma(self, r: Tensor) -> Tensor:
        """``σ̃_r``, the transition's standard deviation. Elementwise in ``r``."""


@final
@dataclass(frozen=True)
class VPSDE(AbstractForwardSDE):
    """Variance preserving: ``a_r = −½ β(r)``, ``g_r = sqrt(β(r))``.

    ``β(r) = β_min + (β_max − β_min) r``,
    ``α̃_r = exp(−½ B(r))``, ``σ̃_r² = 1 − exp(−B(r))`` with ``B(r) = ∫_0^r β``. With
    ``LinearTimeMap(1)`` its schedule is :class:`~genmatch.paths.VPLinear`.

    Example:
        >>> import torch
        >>> s = ForwardSDESchedule(VPSDE(), LinearTimeMap())
        >>> float(s.alpha(torch.tensor(1.0))), float(s.sigma(torch.tensor(1.0)))
        (1.0, 0.0)
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self) -> None:
        check_vp_betas(self.beta_min, self.beta_max)

    def drift_rate(self, r: Tensor) -> Tensor:
        return -0.5 * vp_beta(self.beta_min, self.beta_max, r)

    def diffusion(self, r: Tensor) -> Tensor:
        return torch.sqrt(vp_beta(self.beta_min, self.beta_max, r))

    def alpha(self, r: Tensor) -> Tensor:
        return torch.exp(-0.5 * vp_integral(self.beta_min, self.beta_max, r))

    def sigma(self, r: Tensor) -> Tensor:
        return torch.sqrt(-torch.expm1(-vp_integral(self.beta_min, self.beta_max, r)))


@final
@dataclass(frozen=True)
class VESDE(AbstractForwardSDE):
    """Variance exploding: ``a_r = 0``, ``g_r = s(r) sqrt(2 log(σ_max/σ_min))``.

    With ``s(r) = σ_min (σ_max/σ_min)^r``: ``α̃_r = 1`` and ``σ̃_r² = s(r)² − σ_min²``. The
    schedule of :class:`~genmatch.paths.VE` has ``σ_t = s(1 − t)`` instead (it includes the
    ``σ_min`` of the data end), so the two differ by ``σ_min²`` in variance.
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"need 0 < sigma_min < sigma_max; got {self.sigma_min}, {self.sigma_max}"
            )

    def _s(self, r: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** r

    def drift_rate(self, r: Tensor) -> Tensor:
        return torch.zeros_like(r)

    def diffusion(self, r: Tensor) -> Tensor:
        return self._s(r) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))

    def alpha(self, r: Tensor) -> Tensor:
        return torch.ones_like(r)

    def sigma(self, r: Tensor) -> Tensor:
        return torch.sqrt(self._s(r) ** 2 - self.sigma_min**2)


class AbstractTimeMap(abc.ABC):
    """``r = k(t)``: flow time → diffusion time, decreasing, ``k(1) = 0`` (eq. 10.3)."""

    @abc.abstractmethod
    def k(self, t: Tensor) -> Tensor:
        """``k(t)``, elementwise."""

    @abc.abstractmethod
    def d_k(self, t: Tensor) -> Tensor:
        """``k̇(t) < 0``, elementwise."""


@final
@dataclass(frozen=True)
class LinearTimeMap(AbstractTimeMap):
    """``k(t) = r_max (1 − t)``: the usual truncation of diffusion time to ``[0, r_max]``."""

    r_max: float = 1.0

    def __post_init__(self) -> None:
        if not self.r_max > 0:
            raise ValueError(f"r_max must be > 0, got {self.r_max}")

    def k(self, t: Tensor) -> Tensor:
        return self.r_max * (1 - t)

    def d_k(self, t: Tensor) -> Tensor:
        return torch.full_like(t, -self.r_max)


@final
@dataclass(frozen=True)
class ForwardSDESchedule(AbstractSchedule):
    """The affine schedule ``α_t = α̃_{k(t)}``, ``σ_t = σ̃_{k(t)}`` of a forward SDE (eq. 10.8).

    Derivatives in closed form from the moment equations: ``α̇_t = k̇ a α̃`` and
    ``σ̇_t = k̇ (2 a σ̃² + g²) / (2 σ̃)`` (singular where ``σ̃ = 0``, at ``t = 1``).

    Besides being a schedule, it gives the diffusion-model forms of the sampling dynamics:
    :meth:`probability_flow_velocity` (eq. 10.12) and :meth:`reverse_beta`, the noise level
    ``β_t`` for which the SDE family of eq. 10.15 is the time reversal of the forward SDE.

    Args:
        sde: the forward process.
        time_map: ``r = k(t)``; defaults to ``LinearTimeMap(1.0)``.
    """

    sde: AbstractForwardSDE
    time_map: AbstractTimeMap = field(default_factory=LinearTimeMap)

    def alpha(self, t: Tensor) -> Tensor:
        return self.sde.alpha(self.time_map.k(t))

    def sigma(self, t: Tensor) -> Tensor:
        return self.sde.sigma(self.time_map.k(t))

    def d_alpha(self, t: Tensor) -> Tensor:
        r = self.time_map.k(t)
        return self.time_map.d_k(t) * self.sde.drift_rate(r) * self.sde.alpha(r)

    def d_sigma(self, t: Tensor) -> Tensor:
        r = self.time_map.k(t)
        a, g, sigma = self.sde.drift_rate(r), self.sde.diffusion(r), self.sde.sigma(r)
        return self.time_map.d_k(t) * (2 * a * sigma**2 + g**2) / (2 * sigma)

    def probability_flow_velocity(self, x: Tensor, t: Tensor, score: Tensor) -> Tensor:
        """``u_t(x) = k̇(t) [a_{k(t)} x − ½ g²_{k(t)} ∇ log p_t(x)]`` (GM eq. 10.12).

        Equal to the velocity that :func:`genmatch.diffusion.convert` derives from the
        score for this schedule (eq. 10.11); the tests check it.

        Shapes:
            x, score: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch, *event)``.
        """
        r = self.time_map.k(t)
        shape = (-1,) + (1,) * (x.dim() - 1)
        k_dot = self.time_map.d_k(t).reshape(shape)
        a = self.sde.drift_rate(r).reshape(shape)
        g2 = (self.sde.diffusion(r) ** 2).reshape(shape)
        return k_dot * (a * x - 0.5 * g2 * score)

    def reverse_beta(self, t: Tensor) -> Tensor:
        """``β_t = sqrt(−k̇(t)) g_{k(t)}``: with it, eq. 10.15 is the reverse-time SDE.

        Then ``dX = k̇ [a X − g² ∇ log p_t] dt + β_t dW``, the time reversal of the forward
        process run in flow time (DDPM's sampler is its discretization).
        """
        return torch.sqrt(-self.time_map.d_k(t)) * self.sde.diffusion(self.time_map.k(t))
