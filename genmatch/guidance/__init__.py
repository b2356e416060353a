"""Conditioning and guidance for every generator (conditions, classifier-free and predictor
guidance); see ``docs/guidance.md``."""

from genmatch.guidance.base import (
    AbstractGuidableParametrization,
    AbstractTiltableParametrization,
    GuidanceWeight,
    extrapolate,
    geometric,
    resolve_weight,
)
from genmatch.guidance.classifier_free import ClassifierFreeGuidance
from genmatch.guidance.condition import Condition, as_condition
from genmatch.guidance.predictor import LogLikelihood, PredictorGuidance

__all__ = [
    "AbstractGuidableParametrization",
    "AbstractTiltableParametrization",
    "ClassifierFreeGuidance",
    "Condition",
    "GuidanceWeight",
    "LogLikelihood",
    "PredictorGuidance",
    "as_condition",
    "extrapolate",
    "geometric",
    "resolve_weight",
]
