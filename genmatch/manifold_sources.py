"""Source distributions on manifolds: uniform where the manifold is compact, wrapped normal
otherwise (GM §9.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_positive_int
from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.sources import AbstractSource
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True)
class UniformSource(AbstractSource):
    """The normalised Riemannian volume of a compact manifold (sphere, torus, ``SO(3)``).

    Its density with respect to the Riemannian volume is ``1 / vol(M)``.

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
        return self.manifold.random_uniform_points(
            n, generator=generator, dtype=dtype, device=device
        )

    def log_prob(self, x: Tensor) -> Tensor:
        """``−log vol(M)`` for each point: ``(batch, *event) → (batch,)``."""
        return torch.full(
            (x.shape[0],), -math.log(self.manifold.volume()), dtype=x.dtype, device=x.device
        )


@final
@dataclass(frozen=True, eq=False)
class WrappedNormalSource(AbstractSource):
    """``X = exp_μ(σ P_μ ε)``, ``ε ~ N(0, I)`` in ambient coordinates, ``P_μ`` the projection
    onto ``T_μM``: a normal distribution wrapped by the exponential map at ``μ``.

    For manifolds without a uniform distribution (hyperbolic space, SPD matrices). The
    tangent noise is isotropic for the ambient inner product; for ``σ`` small it is close to
    isotropic for the metric at ``μ`` only when the two agree up to a scale at ``μ`` (true at
    the origin of the Poincaré ball and of the Lorentz model, and at the identity of SPD).

    Args:
        space: the manifold space.
        mean: the centre ``μ``, one point ``(*event_shape)``.
        std: ``σ > 0``.

    Example:
        >>> import geoopt, torch
        >>> space = ManifoldSpace(geoopt.PoincareBall(), (2,))
        >>> src = WrappedNormalSource(space, torch.zeros(2), 0.5)
        >>> space.check(src.sample(5, generator=torch.Generator().manual_seed(0)))
    """

    space: ManifoldSpace
    mean: Tensor
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std}")
        if tuple(self.mean.shape) != self.space.event_shape:
            raise ValueError(
                f"mean must have shape {self.space.event_shape}, got {tuple(self.mean.shape)}"
            )
        self.space.check(self.mean[None], "mean")

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        n = check_positive_int(n, "n")
        mu = self.mean.to(dtype=dtype, device=device).expand(n, *self.space.event_shape)
        eps = torch.randn(mu.shape, generator=generator, dtype=dtype, device=device)
        return self.space.expmap(mu, self.std * self.space.proju(mu, eps))
