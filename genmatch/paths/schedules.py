"""Schedules ``(α_t, σ_t)`` of affine Gaussian paths (GM eq. 9.1).

Time runs from ``t = 0`` (source, noise) to ``t = 1`` (data); a schedule satisfies
``α_0 = σ_1 = 0`` and ``α_1 = σ_0 = 1`` exactly (CondOT, polynomial, cosine) or approximately
(VP with linear β, VE), as each class documents. Each schedule gives ``α_t, σ_t`` and their
derivatives in closed form; :meth:`AbstractSchedule.autodiff` computes the derivatives by
forward-mode autodiff, and the tests check that the two agree.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import ClassVar, final

import torch
from torch import Tensor


@final
@dataclass(frozen=True)
class ScheduleOutput:
    """``α_t, σ_t`` and their time derivatives, each shaped like ``t``."""

    alpha_t: Tensor
    sigma_t: Tensor
    d_alpha_t: Tensor
    d_sigma_t: Tensor


class AbstractSchedule(abc.ABC):
    """A differentiable pair ``t ↦ (α_t, σ_t)`` of non-negative functions on ``[0, 1]``.

    Subclasses implement :meth:`alpha` and :meth:`sigma`; the derivatives default to
    forward-mode autodiff and should be overridden by closed forms.
    """

    #: ``(α̇, σ̇)`` when both derivatives are constants (affine schedules), else ``None``;
    #: lets paths skip per-sample coefficient tensors.
    constant_derivatives: ClassVar[tuple[float, float] | None] = None

    @abc.abstractmethod
    def alpha(self, t: Tensor) -> Tensor:
        """Signal coefficient ``α_t``, elementwise."""

    @abc.abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """Noise coefficient ``σ_t``, elementwise."""

    def d_alpha(self, t: Tensor) -> Tensor:
        """``dα_t/dt``, elementwise (autodiff default)."""
        return _derivative(self.alpha, t)

    def d_sigma(self, t: Tensor) -> Tensor:
        """``dσ_t/dt``, elementwise (autodiff default)."""
        return _derivative(self.sigma, t)

    def __call__(self, t: Tensor) -> ScheduleOutput:
        """All four quantities at ``t`` (any shape)."""
        return ScheduleOutput(self.alpha(t), self.sigma(t), self.d_alpha(t), self.d_sigma(t))

    def autodiff(self, t: Tensor) -> ScheduleOutput:
        """Like ``__call__`` but with derivatives from autodiff, ignoring closed forms."""
        return ScheduleOutput(
            self.alpha(t), self.sigma(t), _derivative(self.alpha, t), _derivative(self.sigma, t)
        )


def _derivative(fn: object, t: Tensor) -> Tensor:
    out = torch.func.jvp(fn, (t,), (torch.ones_like(t),))  # type: ignore[arg-type]
    return out[1]


@final
@dataclass(frozen=True)
class CondOT(AbstractSchedule):
    """Conditional optimal transport: ``α_t = t``, ``σ_t = 1 − t``.

    Example:
        >>> import torch
        >>> CondOT()(torch.tensor([0.25])).sigma_t
        tensor([0.7500])
    """

    constant_derivatives: ClassVar[tuple[float, float] | None] = (1.0, -1.0)

    def alpha(self, t: Tensor) -> Tensor:
        return t

    def sigma(self, t: Tensor) -> Tensor:
        return 1 - t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)


@final
@dataclass(frozen=True)
class Polynomial(AbstractSchedule):
    """Polynomial convex schedule ``α_t = t^n``, ``σ_t = 1 − t^n`` (``n > 0``)."""

    n: float = 2.0

    def __post_init__(self) -> None:
        if not self.n > 0:
            raise ValueError(f"Polynomial exponent n must be > 0, got {self.n}")

    def alpha(self, t: Tensor) -> Tensor:
        return t**self.n

    def sigma(self, t: Tensor) -> Tensor:
        return 1 - t**self.n

    def d_alpha(self, t: Tensor) -> Tensor:
        return self.n * t ** (self.n - 1)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -self.n * t ** (self.n - 1)


@final
@dataclass(frozen=True)
class Cosine(AbstractSchedule):
    """Cosine (variance-preserving) schedule ``α_t = sin(πt/2)``, ``σ_t = cos(πt/2)``.

    ``α_t² + σ_t² = 1`` for all ``t``; boundary values are exact.
    """

    def alpha(self, t: Tensor) -> Tensor:
        return torch.sin(0.5 * math.pi * t)

    def sigma(self, t: Tensor) -> Tensor:
        # sin(π(1 − t)/2) rather than cos(πt/2): exactly 0 at t = 1 in floating point.
        return torch.sin(0.5 * math.pi * (1 - t))

    def d_alpha(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -0.5 * math.pi * torch.cos(0.5 * math.pi * (1 - t))


def check_vp_betas(beta_min: float, beta_max: float) -> None:
    """Raise unless ``0 ≤ β_min ≤ β_max`` and ``β_max > 0``."""
    if not 0 <= beta_min <= beta_max or beta_max <= 0:
        raise ValueError(
            f"need 0 <= beta_min <= beta_max, beta_max > 0; got {beta_min}, {beta_max}"
        )


def vp_beta(beta_min: float, beta_max: float, r: Tensor) -> Tensor:
    """``β(r) = β_min + (β_max − β_min) r``: the VP noise rate in diffusion time."""
    return beta_min + (beta_max - beta_min) * r


def vp_integral(beta_min: float, beta_max: float, r: Tensor) -> Tensor:
    """``B(r) = ∫_0^r β = β_min r + ½ (β_max − β_min) r²``."""
    return beta_min * r + 0.5 * (beta_max - beta_min) * r**2


@final
@dataclass(frozen=True)
class VPLinear(AbstractSchedule):
    """Variance preserving with linear ``β`` (the DDPM / score-SDE VP path).

    With ``T(s) = β_min s + ½ (β_max − β_min) s²`` and ``s = 1 − t`` (diffusion time run
    backwards): ``α_t = exp(−½ T(1 − t))``, ``σ_t = sqrt(1 − α_t²)``.

    Boundary values: ``α_1 = 1, σ_1 = 0`` exactly; ``α_0 = exp(−½ T(1))`` is only close to 0
    (``≈ 6.6e-3`` for the defaults), so the source is ``N(0, I)`` up to that error.
    ``dσ_t/dt`` diverges like ``(1 − t)^{-1/2}`` as ``t → 1`` (inherent to VP).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self) -> None:
        check_vp_betas(self.beta_min, self.beta_max)

    def _big_t(self, s: Tensor) -> Tensor:
        return vp_integral(self.beta_min, self.beta_max, s)

    def _beta(self, s: Tensor) -> Tensor:
        return vp_beta(self.beta_min, self.beta_max, s)

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(-0.5 * self._big_t(1 - t))

    def sigma(self, t: Tensor) -> Tensor:
        # sqrt(1 - exp(-T)) computed without cancellation near t = 1.
        return torch.sqrt(-torch.expm1(-self._big_t(1 - t)))

    def d_alpha(self, t: Tensor) -> Tensor:
        return 0.5 * self._beta(1 - t) * self.alpha(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        alpha_t = self.alpha(t)
        return -alpha_t * self.d_alpha(t) / self.sigma(t)

    def __call__(self, t: Tensor) -> ScheduleOutput:
        # one pass sharing T(1 − t) and α_t among the four quantities
        s = 1 - t
        big_t = self._big_t(s)
        alpha_t = torch.exp(-0.5 * big_t)
        sigma_t = torch.sqrt(-torch.expm1(-big_t))
        d_alpha_t = 0.5 * self._beta(s) * alpha_t
        return ScheduleOutput(alpha_t, sigma_t, d_alpha_t, -alpha_t * d_alpha_t / sigma_t)


@final
@dataclass(frozen=True)
class VE(AbstractSchedule):
    """Variance exploding: ``α_t = 1``, ``σ_t = σ_min (σ_max/σ_min)^{1 − t}``.

    Boundary values are not the GM ones: ``α_0 = 1`` and ``σ_0 = σ_max``, ``σ_1 = σ_min``.
    The path starts at ``N(z, σ_max² I)`` ≈ ``N(0, σ_max² I)`` for ``σ_max`` much larger than
    the data, so pair it with a source of standard deviation ``σ_max``.
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"need 0 < sigma_min < sigma_max; got {self.sigma_min}, {self.sigma_max}"
            )

    def alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** (1 - t)

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -math.log(self.sigma_max / self.sigma_min) * self.sigma(t)
