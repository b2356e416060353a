"""Gaussian data ``N(μ, Σ)``: the marginal path of an affine schedule in closed form.

For data ``Z ~ N(μ, Σ)`` and ``X_t = α_t Z + σ_t ε`` (GM eq. 9.1) the marginal is Gaussian,
``p_t = N(α_t μ, C_t)`` with ``C_t = α_t² Σ + σ_t² I``, and

- score ``∇ log p_t(x) = −C_t⁻¹ (x − α_t μ)``;
- velocity ``u_t(x) = α̇_t μ + (α_t α̇_t Σ + σ_t σ̇_t I) C_t⁻¹ (x − α_t μ)``
  (the flow of ``X_t`` conditioned on its value, GM eq. 9.14).

Both are exact for every ``t`` where ``C_t`` is invertible (all of ``[0, 1]`` when ``Σ`` is
positive definite), so they serve as oracle fields for solver, sampler and conversion tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.paths.schedules import AbstractSchedule


@final
@dataclass(frozen=True)
class GaussianMarginal:
    """The exact marginal path of ``N(mean, cov)`` data under ``schedule`` (flat ``(batch, d)``).

    Args:
        mean: ``μ``, ``(d,)``.
        cov: ``Σ``, ``(d, d)``, symmetric positive semi-definite.
        schedule: the affine schedule ``(α_t, σ_t)``.

    Example:
        >>> import torch
        >>> from genmatch.paths import CondOT
        >>> g = GaussianMarginal(torch.zeros(2), torch.eye(2), CondOT())
        >>> g.velocity(torch.ones(1, 2), torch.tensor([0.0]))  # N(0, I) → N(0, I): u_0 = −x
        tensor([[-1., -1.]])
    """

    mean: Tensor
    cov: Tensor
    schedule: AbstractSchedule

    def __post_init__(self) -> None:
        d = self.mean.shape[-1]
        if self.mean.dim() != 1 or self.cov.shape != (d, d):
            raise ValueError(
                f"mean must be (d,) and cov (d, d), got {tuple(self.mean.shape)} and "
                f"{tuple(self.cov.shape)}"
            )
        if not torch.allclose(self.cov, self.cov.T) or bool(
            (torch.linalg.eigvalsh(self.cov) < -1e-10).any()
        ):
            raise ValueError("cov must be symmetric positive semi-definite")

    def _parts(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = self.schedule(t)
        eye = torch.eye(self.mean.shape[0], dtype=x.dtype, device=x.device)
        cov = self.cov.to(x)
        c_t = s.alpha_t[:, None, None] ** 2 * cov + s.sigma_t[:, None, None] ** 2 * eye
        centred = x - s.alpha_t[:, None] * self.mean.to(x)
        solved = torch.linalg.solve(c_t, centred.unsqueeze(-1)).squeeze(-1)
        return solved, centred, c_t

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        """``∇ log p_t(x)``. Shapes: x ``(batch, d)``, t ``(batch,)`` → ``(batch, d)``."""
        return -self._parts(x, t)[0]

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        """The marginal velocity ``u_t(x)``. Shapes: as :meth:`score`."""
        solved = self._parts(x, t)[0]
        s = self.schedule(t)
        a, da = s.alpha_t[:, None], s.d_alpha_t[:, None]
        cov = self.cov.to(x)
        return (
            da * self.mean.to(x)
            + (a * da) * (solved @ cov.T)
            + (s.sigma_t * s.d_sigma_t)[:, None] * solved
        )

    def log_prob(self, x: Tensor, t: Tensor) -> Tensor:
        """``log p_t(x)``, ``(batch,)``."""
        solved, centred, c_t = self._parts(x, t)
        d = x.shape[1]
        return -0.5 * ((solved * centred).sum(1) + torch.logdet(c_t) + d * math.log(2 * math.pi))

    def sample(self, n: int, t: float = 1.0, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws of ``p_t`` (``t = 1``: the data), in the dtype of ``mean``."""
        tt = torch.full((1,), float(t), dtype=self.mean.dtype)
        s = self.schedule(tt)
        d = self.mean.shape[0]
        eye = torch.eye(d, dtype=self.mean.dtype)
        c_t = s.alpha_t**2 * self.cov + s.sigma_t**2 * eye
        root = torch.linalg.cholesky(c_t)
        noise = torch.randn(n, d, generator=generator, dtype=self.mean.dtype)
        return s.alpha_t * self.mean + noise @ root.T
