"""Source distributions ``p`` from which ``X_0`` is drawn (GM §9.1)."""

from genmatch.sources.base import AbstractSource, CategoricalSource, GaussianSource
from genmatch.sources.finite import UniformFiniteSource
from genmatch.sources.manifold import ProductSource, UniformSource, WrappedNormalSource
from genmatch.sources.product_space import ProductSpaceSource

__all__ = [
    "AbstractSource",
    "CategoricalSource",
    "GaussianSource",
    "ProductSource",
    "ProductSpaceSource",
    "UniformFiniteSource",
    "UniformSource",
    "WrappedNormalSource",
]
