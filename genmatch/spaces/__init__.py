"""State spaces: what a batch of points is."""

from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.euclidean import EuclideanSpace

__all__ = ["AbstractStateSpace", "EuclideanSpace"]
