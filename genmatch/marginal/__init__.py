"""Exact marginal generators, the oracles that tests, examples and benchmarks compare against:
of a finite data set (GM eq. 9.13–9.14) and of Gaussian data under an affine schedule."""

from genmatch.marginal.exact import ExactMarginal
from genmatch.marginal.gaussian import GaussianMarginal

__all__ = ["ExactMarginal", "GaussianMarginal"]
