"""Independent sources on the factors of a product space (GM §9.8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

import torch

from genmatch._checks import check_positive_int
from genmatch.sources.base import AbstractSource
from genmatch.spaces.product import ProductSpace, per_factor
from genmatch.types import State


@final
@dataclass(frozen=True, eq=False, init=False)
class ProductSpaceSource(AbstractSource):
    """``p = ⊗_k p_k``: one source per factor of a :class:`~genmatch.spaces.ProductSpace`,
    drawn independently; a sample is a dict of factor batches.

    Args:
        space: the product space.
        sources: one source per factor (e.g. :class:`GaussianSource` for ``R^d``,
            :meth:`CategoricalSource.masked` for tokens, :class:`UniformSource` for a compact
            manifold).

    Example:
        >>> import torch
        >>> from genmatch.sources import CategoricalSource, GaussianSource
        >>> from genmatch.spaces import DiscreteSpace, EuclideanSpace, ProductSpace
        >>> tokens = DiscreteSpace(2, 5, mask=True)
        >>> space = ProductSpace({"x": EuclideanSpace(3), "seq": tokens})
        >>> source = ProductSpaceSource(
        ...     space,
        ...     {"x": GaussianSource(EuclideanSpace(3)), "seq": CategoricalSource.masked(tokens)},
        ... )
        >>> x_0 = source.sample(4, generator=torch.Generator().manual_seed(0))
        >>> x_0["x"].shape, x_0["seq"][0]
        (torch.Size([4, 3]), tensor([5, 5]))
    """

    space: ProductSpace
    sources: dict[str, AbstractSource]

    def __init__(self, space: ProductSpace, sources: Mapping[str, AbstractSource]) -> None:
        sources = per_factor(space, sources, AbstractSource, "sources")
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "sources", sources)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> State:
        n = check_positive_int(n, "n")
        return {
            k: src.sample(n, generator=generator, dtype=dtype, device=device)
            for k, src in self.sources.items()
        }
