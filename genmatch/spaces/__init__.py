"""State spaces: what a batch of points is."""

from genmatch.spaces._graph_parts import DenseGraphs, GraphVariables
from genmatch.spaces.base import TENSORS, AbstractStateSpace, TensorSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.spaces.graph import GraphSpace
from genmatch.spaces.manifold import ManifoldSpace, TangentVector
from genmatch.spaces.product import ProductSpace

__all__ = [
    "AbstractFiniteSpace",
    "AbstractStateSpace",
    "DenseGraphs",
    "DiscreteSpace",
    "EuclideanSpace",
    "GraphSpace",
    "GraphVariables",
    "ManifoldSpace",
    "ProductSpace",
    "TENSORS",
    "TensorSpace",
    "TangentVector",
]
