"""Predictor (classifier) guidance: the Doob transform of a generator by ``p_t(c | x)^w``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch.generators.base import AbstractGenerator
from genmatch.guidance.base import (
    AbstractGuidedGenerator,
    AbstractTiltableParametrization,
    GuidanceWeight,
    check_weight,
    resolve_weight,
)
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import AbstractConditionalPath
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.types import Field, Network, ParamValue, State, Times

#: ``(x_t, t, c) ↦ log p_t(c | x_t)``, ``(batch,)``: a time-dependent predictor of the condition
#: (differentiable in ``x_t`` on continuous spaces).
LogLikelihood = Callable[[State, Times, State], Tensor]


@final
@dataclass(frozen=True, eq=False)
class PredictorGuidance(AbstractGuidedGenerator):
    """Predictor guidance: the generator of ``p_t(x | c) ∝ p_t(x) p_t(c | x)`` from a generator of
    ``p_t`` and a predictor ``log p_t(c | x)`` (weight ``w``: ``p_t(x) p_t(c | x)^w``).

    - Flows on an affine Gaussian path: ``u_t(x|c) = u_t(x) + w b_t ∇_x log p_t(c|x)`` with
      ``b_t = σ_t (α̇_t σ_t/α_t − σ̇_t)``, the factor that turns a score into a velocity
      (``u = (α̇/α) x + b_t ∇ log p_t``).
    - CTMCs: rates tilted by the likelihood ratio,
      ``R_t(x → y | c) = R_t(x → y) (p_t(c|y)/p_t(c|x))^w`` (Nisonoff et al. 2024), evaluated
      exactly on every neighbour ``y`` (``L·S`` predictor calls per point for a sequence).
    - Whole-state jumps of the mixture path (:class:`~genmatch.generators.JumpGenerator`): the
      jump masses tilted by ``(p(c | z = y)/p_t(c|x))^w``, the destination read as clean data
      (the predictor at ``t = 1``), since the mixture path's jumps land on data points.
    - Products: factor by factor, each factor's generator tilted by the same joint likelihood
      as a function of its own coordinates.

    Exactness: with ``w = 1``, the exact generator of ``p_t`` and the exact ``p_t(c|x)`` (for a
    finite data set both come from :class:`~genmatch.ExactMarginal`), the tilted generator is
    the exact generator of ``p_t(x|c)`` — equal to the oracle restricted to ``c`` — so it
    generates ``p(x | c)``: for flows on affine Gaussian paths, whole-state jumps, and CTMCs on
    the masked path (on other CTMC sources the neighbour ratio is an approximation, see
    :meth:`~genmatch.generators.ctmc.RateParametrization.tilt`). Riemannian flows have no
    tilt: no identity turns ``∇ log p_t(c|x)`` into a velocity on a geodesic path (use
    classifier-free guidance there). With a trained generator or predictor it is as good as
    they are; ``w ≠ 1`` generates a heuristic sharpening, not ``p(x) p(c|x)^w`` exactly (the
    tilt of a marginal by a power is not the power of the tilted path).

    Args:
        generator: the unconditional generator; its parametrization must be an
            :class:`~genmatch.guidance.AbstractTiltableParametrization`.
        path: the conditional path it was trained on.
        log_likelihood: the predictor ``(x_t, t, c) ↦ log p_t(c | x_t)``.
        weight: ``w ≥ 0`` (constant, ``t ↦ w_t`` or per factor).
        space: the state space (for structured batches, e.g. products).
    """

    generator: AbstractGenerator
    path: AbstractConditionalPath
    log_likelihood: LogLikelihood
    weight: GuidanceWeight = 1.0
    space: AbstractStateSpace | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.generator, AbstractGenerator):
            raise TypeError(
                f"generator must be an AbstractGenerator instance, got {self.generator!r}"
            )
        if not isinstance(self.generator.parametrization, AbstractTiltableParametrization):
            raise TypeError(
                f"{type(self.generator.parametrization).__name__} has no predictor tilt (it is "
                "not an AbstractTiltableParametrization)"
            )
        if not callable(self.log_likelihood):
            raise TypeError("log_likelihood must be a function (x_t, t, c) -> log p_t(c | x_t)")
        check_weight(self.weight)

    def tilted(self, field: Field, condition: State) -> Field:
        """The guided field from the unconditional field ``(x, t) ↦ F_t(x)`` and conditions ``c``
        (a batch of the points' size)."""
        param = self.generator.parametrization
        assert isinstance(param, AbstractTiltableParametrization)
        states = TENSORS if self.space is None else self.space

        def guided(x: State, t: Times) -> ParamValue:
            batch = states.batch_size(x)
            log_p = _bound(self.log_likelihood, t, condition, batch, states)
            w = resolve_weight(self.weight, t)
            return param.tilt(field(x, t), x, t, log_p, w, self.path)

        return guided

    def field(self, net: Network, condition: object = None) -> Field:
        """The tilted field of an unconditional network (``net(x, t)``)."""
        if condition is None:
            raise ValueError("predictor guidance needs a condition c")
        return self.tilted(self.generator.field(net), condition)


def _bound(
    log_likelihood: LogLikelihood, t: Times, c: State, batch: int, states: AbstractStateSpace
) -> BoundLikelihood:
    """``(y, s) ↦ log p_s(c | y)`` for a batch ``y`` of ``m · batch`` points, point-major (the
    ``m`` neighbours of point ``i`` are contiguous): times and conditions are repeated to match."""

    def evaluate(y: State, s: Times) -> Tensor:
        m = states.batch_size(y) // batch
        if m == 1:
            return log_likelihood(y, s, c)
        s_rep = pytree.tree_map(lambda a: a.repeat_interleave(m, 0), s)
        c_rep = pytree.tree_map(lambda a: a.repeat_interleave(m, 0), c)
        return log_likelihood(y, s_rep, c_rep)

    return BoundLikelihood(evaluate, t)
