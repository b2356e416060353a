"""Log-likelihoods of trained models: flows on ``R^d`` and on manifolds by the instantaneous
change of variables, CTMCs on token sequences by their ELBO or exactly on small spaces."""

from genmatch.likelihood.base import AbstractDivergenceEstimator, LikelihoodResult
from genmatch.likelihood.discrete import elbo, exact_log_prob
from genmatch.likelihood.estimators import ExactDivergence, HutchinsonDivergence, Probe
from genmatch.likelihood.euclidean import log_likelihood
from genmatch.likelihood.manifold import manifold_log_likelihood
from genmatch.likelihood.riemannian_divergence import riemannian_divergence

__all__ = [
    "AbstractDivergenceEstimator",
    "ExactDivergence",
    "HutchinsonDivergence",
    "LikelihoodResult",
    "Probe",
    "elbo",
    "exact_log_prob",
    "log_likelihood",
    "manifold_log_likelihood",
    "riemannian_divergence",
]
