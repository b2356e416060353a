"""Composition of generators: Markov superposition (GM Prop. 3, §9.7)."""

from genmatch.compose.superposition import (
    ConstantWeights,
    SumDivergence,
    SuperposedValue,
    Superposition,
    SuperpositionParametrization,
)

__all__ = [
    "ConstantWeights",
    "SumDivergence",
    "SuperposedValue",
    "Superposition",
    "SuperpositionParametrization",
]
