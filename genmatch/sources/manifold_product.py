"""Independent sources on the factors of a geoopt ``ProductManifold`` (GM §9.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import geoopt
import torch
from torch import Tensor

from genmatch._checks import check_positive_int
from genmatch.sources.base import AbstractSource
from genmatch.sources.uniform import UniformSource
from genmatch.spaces.manifold import ManifoldSpace


@final
@dataclass(frozen=True, eq=False)
class ProductSource(AbstractSource):
    """Independent sources on the factors of a geoopt ``ProductManifold``: ``p = ⊗_i p_i``.

    Samples are packed as the product manifold packs points (factor components flattened and
    concatenated); ``log p(x) = Σ_i log p_i(x_i)`` (w.r.t. the product Riemannian volume)
    when every factor source has a ``log_prob``.

    Args:
        space: a :class:`ManifoldSpace` over a ``geoopt.ProductManifold``.
        sources: one source per factor, each on that factor's space (``space.factors[i]``);
            ``None`` (default) for the uniform source on every factor (compact factors, or
            products of them, only).

    Example:
        >>> import geoopt, torch
        >>> from genmatch.manifolds import FlatTorus, Hypersphere
        >>> product = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2))
        >>> src = ProductSource(ManifoldSpace(product, (5,)))
        >>> x = src.sample(4, generator=torch.Generator().manual_seed(0))
        >>> x.shape, round(float(src.log_prob(x)[0]), 4)  # −log(4π · 4π²)
        (torch.Size([4, 5]), -6.2068)
    """

    space: ManifoldSpace
    sources: tuple[AbstractSource, ...] | None = None

    def __post_init__(self) -> None:
        factors = self.space.factors  # raises unless the space is a product
        if self.sources is None:
            defaults = tuple(
                ProductSource(f)
                if isinstance(f.manifold, geoopt.ProductManifold)
                else UniformSource(f)
                for f in factors
            )
            object.__setattr__(self, "sources", defaults)
        sources = tuple(self.sources)  # type: ignore[arg-type]
        if len(sources) != len(factors):
            raise ValueError(f"ProductSource needs {len(factors)} sources, got {len(sources)}")
        for i, (src, factor) in enumerate(zip(sources, factors, strict=True)):
            src_space = getattr(src, "space", None)
            if not isinstance(src_space, ManifoldSpace) or (
                src_space.manifold is not factor.manifold
                or src_space.event_shape != factor.event_shape
            ):
                raise ValueError(
                    f"sources[{i}] must live on the product's factor {i} "
                    f"({type(factor.manifold).__name__}, shape {factor.event_shape})"
                )
        object.__setattr__(self, "sources", sources)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        n = check_positive_int(n, "n")
        assert self.sources is not None
        parts = [
            src.sample(n, generator=generator, dtype=dtype, device=device) for src in self.sources
        ]
        return self.space.join(parts)

    def log_prob(self, x: Tensor) -> Tensor:
        """``Σ_i log p_i(x_i)``: ``(batch, total) → (batch,)``."""
        assert self.sources is not None
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for src, part in zip(self.sources, self.space.split(x), strict=True):
            log_prob = getattr(src, "log_prob", None)
            if log_prob is None:
                raise TypeError(f"{type(src).__name__} has no log_prob")
            total = total + log_prob(part)
        return total
