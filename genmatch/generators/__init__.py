"""Generators (one kind of Markov process each) and their linear parametrizations."""

from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    UnsupportedPathError,
)
from genmatch.generators.flow import FlowGenerator, VelocityParametrization

__all__ = [
    "AbstractGenerator",
    "AbstractLinearParametrization",
    "FlowGenerator",
    "TestFunction",
    "UnsupportedPathError",
    "VelocityParametrization",
]
