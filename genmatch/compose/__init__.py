"""Composition of generators: Markov superposition, Langevin and corrector additions (GM Prop. 3,
§9.7), and products of generators on product spaces (§9.8)."""

from genmatch.compose.corrector import Corrected, MixtureCorrector
from genmatch.compose.langevin import Langevin, constant_beta
from genmatch.compose.metropolis import MetropolisHastings, constant_rate
from genmatch.compose.product import (
    ProductDivergence,
    ProductGenerator,
    ProductParametrization,
    ProductValue,
)
from genmatch.compose.superposition import (
    SumDivergence,
    SuperposedValue,
    Superposition,
    SuperpositionParametrization,
)
from genmatch.compose.weights import ConstantWeights, LinearWeights, SwitchWeights

__all__ = [
    "Corrected",
    "MetropolisHastings",
    "MixtureCorrector",
    "constant_rate",
    "ProductDivergence",
    "ProductGenerator",
    "ProductParametrization",
    "ProductValue",
    "ConstantWeights",
    "LinearWeights",
    "SwitchWeights",
    "Langevin",
    "SumDivergence",
    "SuperposedValue",
    "Superposition",
    "SuperpositionParametrization",
    "constant_beta",
]
