"""Generators (one kind of Markov process each) and their linear parametrizations."""

from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    UnsupportedPathError,
)
from genmatch.generators.binned_jump import BinnedJumpGenerator, BinnedJumpParametrization, Bins
from genmatch.generators.ctmc import (
    CTMCGenerator,
    CTMCHead,
    JumpMethod,
    PosteriorKL,
    PosteriorParametrization,
    RateParametrization,
)
from genmatch.generators.ctmc_values import PosteriorValue, posterior_to_rates, rates_to_posterior
from genmatch.generators.diffusion import (
    DiffusionGenerator,
    DiffusionStructure,
    DriftDiffusion,
    DriftDiffusionMSE,
    DriftDiffusionParametrization,
)
from genmatch.generators.flow import FlowGenerator, VelocityParametrization
from genmatch.generators.graph import (
    GraphDivergence,
    GraphGenerator,
    GraphParametrization,
    GraphValue,
)
from genmatch.generators.jump import JumpGenerator, JumpHead
from genmatch.generators.jump_base import AbstractJumpGenerator, JumpProposal, jump_probability
from genmatch.generators.jump_measures import (
    AtomicJumpMeasure,
    AtomicJumpParametrization,
    JumpKL,
    StateJumpParametrization,
)
from genmatch.generators.riemannian_flow import (
    RiemannianFlowGenerator,
    TangentVelocityParametrization,
)

__all__ = [
    "GraphDivergence",
    "GraphGenerator",
    "GraphParametrization",
    "GraphValue",
    "CTMCGenerator",
    "CTMCHead",
    "JumpMethod",
    "PosteriorKL",
    "PosteriorParametrization",
    "PosteriorValue",
    "RateParametrization",
    "posterior_to_rates",
    "rates_to_posterior",
    "AbstractGenerator",
    "AbstractJumpGenerator",
    "AtomicJumpMeasure",
    "AtomicJumpParametrization",
    "BinnedJumpGenerator",
    "BinnedJumpParametrization",
    "Bins",
    "DiffusionGenerator",
    "DiffusionStructure",
    "DriftDiffusion",
    "DriftDiffusionMSE",
    "DriftDiffusionParametrization",
    "JumpGenerator",
    "JumpHead",
    "JumpKL",
    "StateJumpParametrization",
    "JumpProposal",
    "jump_probability",
    "AbstractLinearParametrization",
    "FlowGenerator",
    "TestFunction",
    "UnsupportedPathError",
    "VelocityParametrization",
    "RiemannianFlowGenerator",
    "TangentVelocityParametrization",
]
