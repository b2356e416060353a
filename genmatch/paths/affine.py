"""Affine Gaussian conditional paths (GM eq. 9.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_instance, check_path_inputs
from genmatch.paths.base import AbstractGaussianPath, PathSample, _bcast
from genmatch.paths.schedules import AbstractSchedule, ScheduleOutput


@final
@dataclass(frozen=True)
class AffineGaussianPath(AbstractGaussianPath):
    """``X_t = α_t z + σ_t X_0`` with ``X_0 ~ N(0, I)`` and ``(α_t, σ_t)`` from a schedule
    (GM eq. 9.1).

    The conditional path is ``p_{t|Z}(x|z) = N(x; α_t z, σ_t² I)`` and its conditional
    velocity is

    ``u_t(x|z) = α̇_t z + (σ̇_t/σ_t)(x − α_t z)``, which equals ``α̇_t z + σ̇_t x_0`` on a sample.

    The second form is used whenever ``x_0`` is known: it has no ``1/σ_t`` and is exact up
    to ``t = 1``. The first form (for arbitrary ``x``) is singular at ``σ_t = 0`` (``t = 1``
    for CondOT), where the path is a Dirac. Density and velocity are those of
    :class:`~genmatch.paths.AbstractGaussianPath`.

    Args:
        schedule: the ``(α_t, σ_t)`` schedule, e.g. :class:`~genmatch.paths.CondOT`.

    Example:
        >>> import torch
        >>> from genmatch.paths import AffineGaussianPath, CondOT
        >>> path = AffineGaussianPath(CondOT())
        >>> z, x_0 = torch.ones(3, 2), torch.zeros(3, 2)
        >>> s = path.sample(z, torch.full((3,), 0.5), x_0=x_0)
        >>> s.x_t[0], path.conditional_velocity(s)[0]
        (tensor([0.5000, 0.5000]), tensor([1., 1.]))
    """

    schedule: AbstractSchedule

    def __post_init__(self) -> None:
        check_instance(self.schedule, AbstractSchedule, "schedule")

    def sample(
        self,
        z: Tensor,
        t: Tensor,
        *,
        x_0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PathSample:
        t = check_path_inputs(z, t, x_0)
        if x_0 is None:
            x_0 = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        alpha_t, sigma_t = self.schedule.alpha(t), self.schedule.sigma(t)
        x_t = _bcast(alpha_t, z) * z + _bcast(sigma_t, z) * x_0
        return PathSample(x_t=x_t, t=t, z=z, x_0=x_0)

    def coefficients(self, t: Tensor) -> ScheduleOutput:
        """The schedule at ``t``: ``α_t, σ_t, α̇_t, σ̇_t``, each ``(batch,)``."""
        return self.schedule(t)

    def conditional_velocity(self, sample: PathSample) -> Tensor:
        constant = self.schedule.constant_derivatives
        if sample.x_0 is not None and constant is not None:
            # e.g. CondOT: z − x_0, no time-dependent coefficients
            d_alpha, d_sigma = constant
            z = sample.z
            return torch.add(z if d_alpha == 1.0 else d_alpha * z, sample.x_0, alpha=d_sigma)
        return super().conditional_velocity(sample)
