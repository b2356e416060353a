"""Bregman divergences ``D_x(a, b)`` (GM eq. 9.15)."""

from genmatch.divergences.base import AbstractBregmanDivergence, bregman_from_potential
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.divergences.kl import KLDivergence
from genmatch.divergences.squared_euclidean import SquaredEuclidean

__all__ = [
    "AbstractBregmanDivergence",
    "GeneralizedKL",
    "KLDivergence",
    "SquaredEuclidean",
    "bregman_from_potential",
]
