"""What a parametrization offers guidance: a rule that combines or tilts values inside ``Ω_x``.

Two capabilities, each a small abstract class a parametrization mixes in:

- :class:`AbstractGuidableParametrization` — classifier-free guidance, combining a conditional
  value ``F_t(x|c)`` and an unconditional one ``F_t(x)`` with a weight ``w``:
  linearly where ``Ω_x`` is a vector space (velocities, scores, tangent vectors, drifts),
  :func:`extrapolate`; geometrically where ``Ω_x`` is a cone of measures (rates, jump
  measures), :func:`geometric`, which keeps rates non-negative.
- :class:`AbstractTiltableParametrization` — predictor (classifier) guidance, the Doob
  transform of the generator by a likelihood ``p_t(c | x)``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import torch
from torch import Tensor

from genmatch._checks import value_checks_enabled
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
)
from genmatch.generators.jump_base import JumpProposal
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.types import Field, ParamValue, State, Times

#: A guidance weight: a constant ``w``, a function ``t (batch,) ↦ w_t (batch,)``, or, on a
#: product, one of these per factor (``{name: weight}``).
GuidanceWeight: TypeAlias = "float | Callable[[Tensor], Tensor] | Mapping[str, Any]"

#: Resolved weights: ``(batch,)``, or one per factor on a product.
Weights: TypeAlias = Any


class AbstractGuidableParametrization(abc.ABC):
    """Capability: values that classifier-free guidance can combine without leaving ``Ω_x``."""

    @abc.abstractmethod
    def guide(
        self, conditional: ParamValue, unconditional: ParamValue, weight: Weights, x_t: State
    ) -> ParamValue:
        """The guided value for ``F_t(x|c)``, ``F_t(x)`` and ``w``.

        It must equal ``conditional`` exactly where ``w = 0`` and ``unconditional`` where
        ``w = −1``.

        Shapes:
            weight: ``(batch,)`` (per factor on a product), ``w ≥ −1``.
        """


class AbstractTiltableParametrization(abc.ABC):
    """Capability: values that predictor guidance can tilt by a likelihood ``p_t(c | x)``."""

    @abc.abstractmethod
    def tilt(
        self,
        value: ParamValue,
        x_t: State,
        t: Times,
        log_likelihood: BoundLikelihood,
        weight: Weights,
        path: AbstractConditionalPath,
    ) -> ParamValue:
        """The generator of ``p_t(x) p_t(c|x)^w`` built from the generator ``value`` of ``p_t``.

        Args:
            value: ``F_t(x)`` at ``x_t``.
            x_t: the points.
            t: their times.
            log_likelihood: ``y ↦ log p_t(c | y)`` for a batch like ``x_t`` or of its
                neighbours (the condition and the time are bound; ``.at_data(y)`` reads ``y``
                at ``t = 1``), ``(batch,)``; differentiable for continuous spaces.
            weight: ``w``, ``(batch,)``.
            path: the conditional path the model was trained on (continuous tilts scale the
                likelihood's gradient by the path's coefficients).
        """


class AbstractGuidedGenerator(AbstractGenerator):
    """A generator that samples ``generator`` with a guided field and trains exactly as it.

    Every guidance composition object (:class:`~genmatch.guidance.ClassifierFreeGuidance`,
    :class:`~genmatch.guidance.PredictorGuidance`) holds the generator it guides as
    ``generator``; its parametrization, divergence, targets and steps are that generator's, and
    only the field differs (built by the subclass's ``field``).
    """

    generator: AbstractGenerator

    @property
    def parametrization(self) -> AbstractLinearParametrization:  # type: ignore[override]
        return self.generator.parametrization

    @property
    def divergence(self) -> AbstractBregmanDivergence:  # type: ignore[override]
        return self.generator.divergence

    @property
    def nfe_per_step(self) -> int:  # type: ignore[override]
        return self.generator.nfe_per_step

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ParamValue:
        """The guided generator's target: a guided model is trained as its base."""
        return self.generator.conditional_target(path, sample)

    def step(
        self,
        field: Field,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        return self.generator.step(field, x, t, h, generator=generator)

    def move(
        self,
        field: Field,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        return self.generator.move(field, x, t, h, generator=generator)

    def propose(
        self,
        value: ParamValue,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> JumpProposal | None:
        return self.generator.propose(value, x, t, h, generator=generator)


def per_point(w: Tensor, like: Tensor) -> Tensor:
    """``w`` ``(batch,)`` shaped to broadcast against ``like`` ``(batch, ...)``."""
    return w.reshape(w.shape + (1,) * (like.dim() - 1)).to(like.dtype)


def extrapolate(conditional: Tensor, unconditional: Tensor, weight: Tensor) -> Tensor:
    """``(1 + w) a − w b`` on a vector space, computed as ``a + w (a − b)`` (exact at ``w = 0``).

    Example:
        >>> import torch
        >>> extrapolate(torch.tensor([[1.0]]), torch.tensor([[3.0]]), torch.tensor([2.0]))
        tensor([[-3.]])
    """
    w = per_point(weight, conditional)
    return torch.where(w == 0, conditional, conditional + w * (conditional - unconditional))


def geometric(conditional: Tensor, unconditional: Tensor, weight: Tensor) -> Tensor:
    """``a^{1+w} b^{−w}`` for non-negative rates or measures ``a``, ``b`` (Nisonoff et al.).

    Non-negative for every ``w ≥ −1``; ``a`` exactly at ``w = 0``, ``b`` at ``w = −1``; 0 where
    ``a = 0``. Where ``b = 0 < a`` (impossible for exact models, whose unconditional rates
    average the conditional ones) ``b`` is taken as the smallest positive float.

    Example:
        >>> import torch
        >>> a, b = torch.tensor([[4.0, 0.0]]), torch.tensor([[1.0, 2.0]])
        >>> geometric(a, b, torch.tensor([1.0]))
        tensor([[16.,  0.]])
    """
    w = per_point(weight, conditional)
    tiny = torch.finfo(conditional.dtype).tiny
    log_a = torch.log(conditional.clamp_min(tiny))
    log_b = torch.log(unconditional.clamp_min(tiny))
    mixed = torch.where(conditional > 0, torch.exp(log_a + w * (log_a - log_b)), 0.0)
    return torch.where(w == 0, conditional, torch.where(w == -1, unconditional, mixed))


def resolve_weight(weight: GuidanceWeight, t: Times) -> Weights:
    """The weights at times ``t``: ``(batch,)``, or per factor when ``t`` is (a product's dict).

    Raises:
        ValueError: for a weight below ``−1`` (checked for constants; for functions when value
            checks are on).
    """
    if isinstance(t, Mapping):
        if isinstance(weight, Mapping):
            missing = set(t) - set(weight)
            extra = set(weight) - set(t)
            if missing or extra:
                raise ValueError(
                    f"guidance weights name factors {sorted(weight)}, the product has {sorted(t)}"
                )
            return {k: resolve_weight(weight[k], t[k]) for k in t}
        return {k: resolve_weight(weight, t[k]) for k in t}
    if isinstance(weight, Mapping):
        raise ValueError("per-factor guidance weights need a product (per-factor times)")
    if callable(weight):
        w = weight(t)
        if not isinstance(w, Tensor) or w.shape != t.shape:
            raise ValueError(f"a guidance weight function must return {tuple(t.shape)} tensors")

        if value_checks_enabled() and bool((w < -1).any()):
            raise ValueError(f"guidance weights must be >= -1, got {float(w.min()):.3g}")
        return w
    check_weight(weight)
    return torch.full_like(t, float(weight))


def check_weight(weight: object) -> None:
    """Raise unless ``weight`` is a valid guidance weight (constants ``≥ −1``, functions, or a
    mapping of them)."""
    if isinstance(weight, Mapping):
        for w in weight.values():
            check_weight(w)
        return
    if callable(weight):
        return
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise TypeError(
            f"a guidance weight must be a float, a function of t or a mapping, got {weight!r}"
        )
    if not weight >= -1:
        raise ValueError(f"a guidance weight must be >= -1 (-1 is unconditional), got {weight}")
