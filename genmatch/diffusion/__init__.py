"""The diffusion bridge (GM §10, seed 003): the four predictions of affine Gaussian paths and
their exact conversions, forward SDEs and their schedules, re-timing between schedules, and
the DDIM/DDPM samplers."""

from genmatch.diffusion.ddim import DDIM, posterior_std
from genmatch.diffusion.forward_sde import (
    VESDE,
    VPSDE,
    AbstractForwardSDE,
    AbstractTimeMap,
    ForwardSDESchedule,
    LinearTimeMap,
)
from genmatch.diffusion.predictions import (
    Prediction,
    PredictionModel,
    VelocityFromPrediction,
    convert,
    mse_weight,
    slope,
    to_data_and_epsilon,
)
from genmatch.diffusion.retime import RetimedVelocity, TimeChange, time_change
from genmatch.diffusion.reverse_sde import reverse_sde_beta, score_from_velocity

__all__ = [
    "DDIM",
    "VESDE",
    "VPSDE",
    "AbstractForwardSDE",
    "AbstractTimeMap",
    "ForwardSDESchedule",
    "LinearTimeMap",
    "Prediction",
    "PredictionModel",
    "RetimedVelocity",
    "TimeChange",
    "VelocityFromPrediction",
    "convert",
    "mse_weight",
    "posterior_std",
    "reverse_sde_beta",
    "score_from_velocity",
    "slope",
    "time_change",
    "to_data_and_epsilon",
]
