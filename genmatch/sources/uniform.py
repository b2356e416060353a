"""The uniform source of a compact manifold (GM §9.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_positive_int
from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.sources.base import AbstractSource
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True)
class UniformSource(AbstractSource):
    """The normalised Riemannian volume of a compact manifold (sphere, torus, ``SO(3)``).

    Its density with respect to the Riemannian volume is ``1 / vol(M)``; on a power
    ``M^N`` (leading event dimensions, see :attr:`ManifoldSpace.power`) the elements are
    independent and uniform.

    Example:
        >>> import torch
        >>> from genmatch.manifolds import Hypersphere
        >>> src = UniformSource(ManifoldSpace(Hypersphere(3), (3,)))
        >>> x = src.sample(4, generator=torch.Generator().manual_seed(0))
        >>> x.shape, bool(torch.allclose(x.norm(dim=1), torch.ones(4)))
        (torch.Size([4, 3]), True)
        >>> round(float(src.log_prob(x)[0]), 4)  # −log 4π
        -2.531
    """

    space: ManifoldSpace

    def __post_init__(self) -> None:
        if not isinstance(self.space.manifold, AbstractCompactManifold):
            raise TypeError(
                "UniformSource needs a compact manifold from genmatch.manifolds (Hypersphere, "
                f"FlatTorus, SO3), got {type(self.space.manifold).__name__}; "
                "use WrappedNormalSource"
            )

    @property
    def manifold(self) -> AbstractCompactManifold:
        """The compact manifold."""
        return self.space.manifold

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        n = check_positive_int(n, "n")
        x = self.manifold.random_uniform_points(
            n * self.space.power, generator=generator, dtype=dtype, device=device
        )
        return x.reshape(n, *self.space.event_shape)

    def log_prob(self, x: Tensor) -> Tensor:
        """``−N log vol(M)`` for each point of ``M^N`` (``N = 1`` usually):
        ``(batch, *event) → (batch,)``."""
        log_vol = self.space.power * math.log(self.manifold.volume())
        return torch.full((x.shape[0],), -log_vol, dtype=x.dtype, device=x.device)
