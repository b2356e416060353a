"""Classifier-free guidance over any generator: ``F^w_t(x|c) = (1 + w) F_t(x|c) ⊖ w F_t(x)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from genmatch.generators.base import AbstractGenerator
from genmatch.guidance.base import (
    AbstractGuidableParametrization,
    AbstractGuidedGenerator,
    GuidanceWeight,
    check_weight,
    resolve_weight,
)
from genmatch.types import Field, Network, ParamValue, State, Times


@final
@dataclass(frozen=True, eq=False)
class ClassifierFreeGuidance(AbstractGuidedGenerator):
    """Classifier-free guidance: the generator ``generator`` driven by the guided value

    ``F^w = guide(F_t(x|c), F_t(x), w_t)``

    in the parametrization's own space, so the guided process stays a valid one
    (:mod:`genmatch.guidance.base`): velocities, scores, drifts and tangent vectors combine
    linearly, ``(1 + w) u(x|c) − w u(x)``; CTMC rates and jump measures geometrically,
    ``R_c^{1+w} R^{−w}`` off the diagonal (Nisonoff et al. 2024), which keeps them
    non-negative (the diagonal is minus the row sum); superpositions part by part; products
    factor by factor, with a weight per factor (``weight={"image": 3.0, "caption": 0.0}``).
    ``w = 0`` is the conditional model exactly, ``w = −1`` the unconditional one.

    What it generates: for ``w ≠ 0`` guidance is a heuristic; it sharpens ``p(x | c)`` towards
    regions where ``p(c | x)`` is large but does not generate the tilted distribution
    ``p(x|c)^{1+w} p(x)^{−w}`` exactly (use :class:`~genmatch.guidance.PredictorGuidance` for an
    exact tilt by a known likelihood).

    Training: exactly the base generator's (targets, divergence) with condition dropout in the
    loss (``GeneratorMatchingLoss(..., p_uncond=0.1)``), so one network gives ``F_t(x|c)`` and
    ``F_t(x) = F_t(x|∅)``. A guided step evaluates the network twice (two passes per field
    evaluation); ``nfe`` counts field evaluations.

    Args:
        generator: the generator that is guided; its parametrization must be an
            :class:`~genmatch.guidance.AbstractGuidableParametrization`.
        weight: ``w ≥ −1``: a constant, a function ``t ↦ w_t``, or per factor on a product.

    Example:
        >>> import torch
        >>> from genmatch import FlowGenerator, simulate
        >>> cfg = ClassifierFreeGuidance(FlowGenerator(), weight=2.0)
        >>> cond = lambda x, t: torch.ones_like(x)
        >>> uncond = lambda x, t: torch.zeros_like(x)
        >>> simulate(cfg, cfg.combine(cond, uncond), torch.zeros(1, 2), 4).x  # u = 3
        tensor([[3., 3.]])
    """

    generator: AbstractGenerator
    weight: GuidanceWeight = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.generator, AbstractGenerator):
            raise TypeError(
                f"generator must be an AbstractGenerator instance, got {self.generator!r}"
            )
        if not isinstance(self.generator.parametrization, AbstractGuidableParametrization):
            raise TypeError(
                f"{type(self.generator.parametrization).__name__} has no guidance rule (it is "
                "not an AbstractGuidableParametrization)"
            )
        check_weight(self.weight)

    def weights(self, t: Times) -> object:
        """``w_t`` for times ``t``: ``(batch,)``, or per factor on a product."""
        return resolve_weight(self.weight, t)

    def combine(self, conditional: Field, unconditional: Field) -> Field:
        """The guided field from a conditional field ``(x, t) ↦ F_t(x|c)`` (the condition bound,
        e.g. :meth:`ExactMarginal.given <genmatch.ExactMarginal.given>`) and an unconditional
        one."""
        param = self.generator.parametrization
        assert isinstance(param, AbstractGuidableParametrization)

        def guided(x: State, t: Times) -> ParamValue:
            return param.guide(conditional(x, t), unconditional(x, t), self.weights(t), x)

        return guided

    def field(self, net: Network, condition: object = None) -> Field:
        """The guided field of a network trained with condition dropout: ``net(x, t, c)`` and
        ``net(x, t)`` (the null condition) combined.

        Raises:
            ValueError: without a condition.
        """
        if condition is None:
            raise ValueError(
                "classifier-free guidance needs a condition; sample the unconditional model "
                "with the base generator"
            )
        return self.combine(self.generator.field(net, condition), self.generator.field(net, None))
