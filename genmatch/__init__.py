"""genmatch: generator matching with arbitrary Markov processes on arbitrary state spaces.

The objects follow the generator-matching chapter (GM §9): a :mod:`state space <genmatch.spaces>`,
a :mod:`conditional path <genmatch.paths>` ``p_{t|Z}``, a :mod:`generator <genmatch.generators>`
with its linear parametrization ``F_t`` and :mod:`Bregman divergence <genmatch.divergences>`,
the conditional generator-matching :class:`loss <GeneratorMatchingLoss>`, the
:class:`exact marginal <ExactMarginal>` of a finite data set, and :func:`simulate`.
"""

from genmatch._checks import set_value_checks, value_checks
from genmatch.compose import ConstantWeights, Langevin, Superposition
from genmatch.couplings import (
    AbstractCoupling,
    CoupledBatch,
    ExactOTCoupling,
    IndependentCoupling,
    SinkhornOTCoupling,
)
from genmatch.divergences import (
    AbstractBregmanDivergence,
    GeneralizedKL,
    KLDivergence,
    SquaredEuclidean,
    bregman_from_potential,
)
from genmatch.gaussian import GaussianMarginal
from genmatch.generators import (
    DDIM,
    AbstractGenerator,
    AbstractJumpGenerator,
    AbstractLinearParametrization,
    BinnedJumpGenerator,
    Bins,
    DiffusionGenerator,
    DiffusionStructure,
    FlowGenerator,
    JumpGenerator,
    UnsupportedPathError,
    VelocityParametrization,
)
from genmatch.loss import GeneratorMatchingLoss, LossTerms
from genmatch.marginal import ExactMarginal
from genmatch.nn import MLP, SinusoidalTimeEmbedding
from genmatch.paths import (
    VE,
    VESDE,
    VPSDE,
    AbstractConditionalPath,
    AbstractDensityPath,
    AbstractInterpolantPath,
    AbstractKappaSchedule,
    AbstractSchedule,
    AffineGaussianPath,
    CondOT,
    Cosine,
    CosineKappa,
    ForwardSDESchedule,
    LinearKappa,
    LinearTimeMap,
    MixturePath,
    PathSample,
    Polynomial,
    PolynomialKappa,
    ScheduleOutput,
    VPLinear,
)
from genmatch.paths.retime import RetimedVelocity
from genmatch.predictions import Prediction, PredictionModel, VelocityFromPrediction
from genmatch.simulate import SimulationResult, simulate
from genmatch.solvers import RK4, AbstractODESolver, Euler, Heun, Midpoint
from genmatch.sources import AbstractSource, GaussianSource
from genmatch.spaces import AbstractStateSpace, EuclideanSpace
from genmatch.time import AbstractTimeSampler, LogitNormalTime, TimeGrid, UniformTime
from genmatch.train import TrainResult, save_checkpoint, train

__version__ = "0.1.0"

__all__ = [
    "DDIM",
    "DiffusionGenerator",
    "DiffusionStructure",
    "Langevin",
    "GaussianMarginal",
    "ForwardSDESchedule",
    "LinearTimeMap",
    "VESDE",
    "VPSDE",
    "RetimedVelocity",
    "Prediction",
    "PredictionModel",
    "VelocityFromPrediction",
    "MLP",
    "RK4",
    "VE",
    "AbstractBregmanDivergence",
    "AbstractConditionalPath",
    "AbstractCoupling",
    "AbstractDensityPath",
    "AbstractGenerator",
    "AbstractInterpolantPath",
    "AbstractJumpGenerator",
    "AbstractKappaSchedule",
    "AbstractLinearParametrization",
    "AbstractODESolver",
    "AbstractSchedule",
    "AbstractSource",
    "AbstractStateSpace",
    "AbstractTimeSampler",
    "AffineGaussianPath",
    "BinnedJumpGenerator",
    "Bins",
    "CondOT",
    "ConstantWeights",
    "Cosine",
    "CosineKappa",
    "CoupledBatch",
    "Euler",
    "EuclideanSpace",
    "ExactMarginal",
    "ExactOTCoupling",
    "FlowGenerator",
    "GaussianSource",
    "GeneralizedKL",
    "GeneratorMatchingLoss",
    "Heun",
    "IndependentCoupling",
    "JumpGenerator",
    "KLDivergence",
    "LinearKappa",
    "LogitNormalTime",
    "LossTerms",
    "Midpoint",
    "MixturePath",
    "PathSample",
    "Polynomial",
    "PolynomialKappa",
    "ScheduleOutput",
    "SimulationResult",
    "SinkhornOTCoupling",
    "SinusoidalTimeEmbedding",
    "SquaredEuclidean",
    "Superposition",
    "TimeGrid",
    "TrainResult",
    "UniformTime",
    "UnsupportedPathError",
    "VPLinear",
    "VelocityParametrization",
    "bregman_from_potential",
    "save_checkpoint",
    "set_value_checks",
    "simulate",
    "train",
    "value_checks",
]
