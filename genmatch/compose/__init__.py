"""Composition of generators: Markov superposition and Langevin additions (GM Prop. 3, §9.7)."""

from genmatch.compose.corrector import Corrected, MixtureCorrector
from genmatch.compose.langevin import Langevin, constant_beta
from genmatch.compose.metropolis import MetropolisHastings, constant_rate
from genmatch.compose.superposition import (
    ConstantWeights,
    SumDivergence,
    SuperposedValue,
    Superposition,
    SuperpositionParametrization,
)

__all__ = [
    "Corrected",
    "MetropolisHastings",
    "MixtureCorrector",
    "constant_rate",
    "ConstantWeights",
    "Langevin",
    "SumDivergence",
    "SuperposedValue",
    "Superposition",
    "SuperpositionParametrization",
    "constant_beta",
]
