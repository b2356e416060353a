"""Source distributions ``p`` from which ``X_0`` is drawn (GM §9.1)."""

from genmatch.sources.base import AbstractSource
from genmatch.sources.categorical import CategoricalSource
from genmatch.sources.gaussian import GaussianSource
from genmatch.sources.graph import GraphSource
from genmatch.sources.harmonic_chain import HarmonicChainSource
from genmatch.sources.manifold_product import ProductSource
from genmatch.sources.product_space import ProductSpaceSource
from genmatch.sources.uniform import UniformSource
from genmatch.sources.uniform_finite import UniformFiniteSource
from genmatch.sources.wrapped_normal import WrappedNormalSource

__all__ = [
    "AbstractSource",
    "CategoricalSource",
    "GaussianSource",
    "GraphSource",
    "HarmonicChainSource",
    "ProductSource",
    "ProductSpaceSource",
    "UniformFiniteSource",
    "UniformSource",
    "WrappedNormalSource",
]
