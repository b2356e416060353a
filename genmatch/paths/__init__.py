"""Conditional probability paths and their schedules."""

from genmatch.paths.affine import AffineGaussianPath
from genmatch.paths.base import (
    AbstractConditionalPath,
    AbstractDensityPath,
    AbstractFactorizedMixturePath,
    AbstractGaussianPath,
    AbstractInterpolantPath,
    AbstractMixturePath,
    PathSample,
)
from genmatch.paths.factorized_mixture import FactorizedMixturePath
from genmatch.paths.geodesic import GeodesicPath
from genmatch.paths.graph import GraphMixturePath
from genmatch.paths.kappa import AbstractKappaSchedule, CosineKappa, LinearKappa, PolynomialKappa
from genmatch.paths.mixture import MixturePath
from genmatch.paths.product import ProductPath
from genmatch.paths.schedules import (
    VE,
    AbstractSchedule,
    CondOT,
    Cosine,
    Polynomial,
    ScheduleOutput,
    VPLinear,
)

__all__ = [
    "FactorizedMixturePath",
    "VE",
    "AbstractConditionalPath",
    "AbstractDensityPath",
    "AbstractFactorizedMixturePath",
    "AbstractGaussianPath",
    "AbstractInterpolantPath",
    "AbstractMixturePath",
    "AbstractKappaSchedule",
    "CosineKappa",
    "GeodesicPath",
    "GraphMixturePath",
    "LinearKappa",
    "MixturePath",
    "PolynomialKappa",
    "ProductPath",
    "AbstractSchedule",
    "AffineGaussianPath",
    "CondOT",
    "Cosine",
    "PathSample",
    "Polynomial",
    "ScheduleOutput",
    "VPLinear",
]
