"""The isotropic Gaussian source on ``R^d`` (GM §9.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch

from genmatch.sources.base import AbstractSource
from genmatch.spaces.euclidean import EuclideanSpace


@final
@dataclass(frozen=True)
class GaussianSource(AbstractSource):
    """Isotropic Gaussian ``N(0, std² I)`` on a Euclidean space.

    ``std = 1`` matches :class:`~genmatch.paths.AffineGaussianPath` with a schedule with
    ``σ_0 = 1``; use ``std = σ_max`` with :class:`~genmatch.paths.VE`.

    Example:
        >>> import torch
        >>> from genmatch.spaces import EuclideanSpace
        >>> rng = torch.Generator().manual_seed(0)
        >>> GaussianSource(EuclideanSpace(2)).sample(3, generator=rng).shape
        torch.Size([3, 2])
    """

    space: EuclideanSpace
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std}")

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        x = torch.randn(
            (n, *self.space.event_shape), generator=generator, dtype=dtype, device=device
        )
        return x if self.std == 1.0 else self.std * x

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log N(x; 0, std² I)``: ``(batch, *event) → (batch,)``."""
        d = self.space.dim
        sq = (x.reshape(x.shape[0], -1) ** 2).sum(1)
        return -0.5 * sq / self.std**2 - d * math.log(self.std) - 0.5 * d * math.log(2 * math.pi)
