"""State spaces: what a batch of points is."""

from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.spaces.manifold import ManifoldSpace, TangentVector

__all__ = [
    "AbstractStateSpace",
    "DiscreteSpace",
    "EuclideanSpace",
    "ManifoldSpace",
    "TangentVector",
]
