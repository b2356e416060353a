"""Markov superposition ``Σ_i α^i_t L^i_t`` (GM Prop. 3.1, §9.7)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.compose.weights import ConstantWeights
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    reuse_first,
)
from genmatch.guidance.base import AbstractGuidableParametrization
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import Field, HeadShapes, ParamValue, RawHeads, State

__all__ = [
    "ConstantWeights",
    "SuperposedValue",
    "Superposition",
    "SuperpositionParametrization",
    "SumDivergence",
    "WeightFn",
]

#: ``t (batch,) ↦ α_t (batch, n)``: non-negative rows summing to 1.
WeightFn = Callable[[Tensor], Tensor]


@final
@dataclass(frozen=True)
class SuperposedValue:
    """The parametrization of a superposition: each part's own value and the weights ``α_t``.

    Attributes:
        parts: the values ``F^i_t(x)`` of the parts, unscaled (each generates ``p_t`` alone).
        weights: ``α_t``, ``(batch, n)``.
        loss_weights: per-part loss weights ``w^i(t) > 0``, ``(batch, n)``, on targets only
            (``None`` means 1): the parts' losses can live on very different scales.
    """

    parts: tuple[ParamValue, ...]
    weights: Tensor
    loss_weights: Tensor | None = None


@final
@dataclass(frozen=True)
class SuperpositionParametrization(AbstractLinearParametrization, AbstractGuidableParametrization):
    """``L_t f = Σ_i α^i_t ⟨K^i f, F^i_t⟩``: the parts' parametrizations side by side."""

    parts: tuple[AbstractLinearParametrization, ...]
    weights: WeightFn

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        heads: dict[str, tuple[int, ...]] = {}
        for part in self.parts:
            for name, shape in part.head_shapes(space).items():
                if name in heads:
                    raise ValueError(
                        f"two parts of the superposition both need a head named {name!r}"
                    )
                heads[name] = shape
        return heads

    def constrain(self, raw: RawHeads, x_t: State, t: Tensor) -> SuperposedValue:
        return SuperposedValue(tuple(p.constrain(raw, x_t, t) for p in self.parts), self.weights(t))

    def test_operator(self, f: TestFunction, x_t: State) -> tuple[object, ...]:  # type: ignore[override]
        return tuple(p.test_operator(f, x_t) for p in self.parts)

    def inner(self, a: tuple[object, ...], b: SuperposedValue, x_t: State) -> Tensor:  # type: ignore[override]
        return sum(
            (
                b.weights[:, i] * p.inner(a[i], b.parts[i], x_t)  # type: ignore[arg-type]
                for i, p in enumerate(self.parts)
            ),
            start=torch.zeros_like(b.weights[:, 0]),
        )

    def scale(self, value: SuperposedValue, factor: Tensor) -> SuperposedValue:
        return SuperposedValue(value.parts, value.weights * factor[:, None])

    def guide(
        self,
        conditional: SuperposedValue,
        unconditional: SuperposedValue,
        weight: Tensor,
        x_t: State,
    ) -> SuperposedValue:
        """Part by part, each by its own rule (weights ``α_t`` unchanged): ``Σ_i α^i L^i_guided``.

        Raises:
            TypeError: if a part has no guidance rule.
        """
        parts = []
        for p, a, b in zip(self.parts, conditional.parts, unconditional.parts, strict=True):
            if not isinstance(p, AbstractGuidableParametrization):
                raise TypeError(f"{type(p).__name__} (a superposed part) has no guidance rule")
            parts.append(p.guide(a, b, weight, x_t))
        return SuperposedValue(tuple(parts), conditional.weights)

    def posterior_mean(self, values: SuperposedValue, weights: Tensor) -> SuperposedValue:
        b, n = weights.shape
        parts = tuple(
            p.posterior_mean(v, weights) for p, v in zip(self.parts, values.parts, strict=True)
        )
        return SuperposedValue(parts, values.weights.reshape(b, n, -1)[:, 0])


@final
@dataclass(frozen=True)
class SumDivergence(AbstractBregmanDivergence):
    """``D(a, b) = Σ_i w^i(t) D^i(a^i, b^i)`` on superposed values: the parts' losses summed.

    A positively weighted sum of Bregman divergences on a product of convex sets is the
    Bregman divergence of the summed potential, so Thm. 20 holds for the joint training of
    all parts.
    """

    parts: tuple[AbstractBregmanDivergence, ...]

    def phi(self, a: SuperposedValue) -> Tensor:  # type: ignore[override]
        return sum(
            (d.phi(v) for d, v in zip(self.parts, a.parts, strict=True)), start=torch.tensor(0.0)
        )

    def __call__(self, a: SuperposedValue, b: SuperposedValue) -> Tensor:  # type: ignore[override]
        """``Σ_i w^i D^i(a^i, b^i)`` with the per-part loss weights carried by the target ``a``."""
        terms = torch.stack(
            [d(u, v) for d, u, v in zip(self.parts, a.parts, b.parts, strict=True)], 1
        )
        if a.loss_weights is not None:
            terms = terms * a.loss_weights
        return terms.sum(1)

    def generic(self, a: SuperposedValue, b: SuperposedValue) -> Tensor:  # type: ignore[override]
        terms = [d.generic(u, v) for d, u, v in zip(self.parts, a.parts, b.parts, strict=True)]
        return torch.stack(terms).sum(0)


@final
@dataclass(frozen=True, init=False)
class Superposition(AbstractGenerator):
    """The Markov superposition ``L_t = Σ_i α^i_t L^i_t`` of generators that each generate
    ``p_t`` (GM Prop. 3.1); ``α^i_t ≥ 0``, ``Σ_i α^i_t = 1``.

    Training: one network with every part's heads; the conditional target is every part's own
    target and the loss is the sum of the parts' Bregman divergences (:class:`SumDivergence`).

    Sampling (GM §9.7, piecewise-deterministic for jumps + flow): at ``(x_t, t)`` the field is
    evaluated once; every part moves in turn
    (:meth:`~genmatch.generators.AbstractGenerator.move`: its own step, Euler, midpoint, RK4,
    ... for flows; jump processes do not move) on its scaled field, re-using that first
    evaluation; then every part proposes its jumps from ``x_t``
    (:meth:`~genmatch.generators.AbstractGenerator.propose`, none for continuous parts) with its
    value scaled by ``α^i_t``; the coordinates (or points) that jump take their jump
    destinations, the others the continuous update. With a second-order flow solver this is the
    "second-order flow part, Euler jump part" scheme. ``nfe_per_step`` is the largest
    ``nfe_per_step`` of the parts (a jump part makes one evaluation, the shared first one).

    Args:
        generators: the parts.
        weights: ``t ↦ α_t (batch, n)``: :class:`~genmatch.compose.ConstantWeights`,
            :class:`~genmatch.compose.LinearWeights`, :class:`~genmatch.compose.SwitchWeights`
            or any callable returning non-negative rows that sum to 1 (checked on a grid of
            times at construction). Time-dependent weights are allowed: at each ``t`` the
            superposition is a convex combination of generators of ``p_t``, so it still
            solves the forward equation of ``p_t``.
        loss_weights: optional ``t ↦ (batch,)`` weight per part for the training loss
            (``None`` entries mean 1), e.g. ``(1 − t)³`` for CondOT jump measures, whose
            targets grow like ``(1 − t)^{-3}``. Weights depending on ``t`` alone do not change
            the minimiser of any part (Thm. 20 holds at each ``t``).

    Example:
        >>> from genmatch import FlowGenerator, EuclideanSpace
        >>> from genmatch.generators import BinnedJumpGenerator
        >>> parts = [FlowGenerator(), BinnedJumpGenerator()]
        >>> model = Superposition(parts, ConstantWeights((0.5, 0.5)))
        >>> sorted(model.head_shapes(EuclideanSpace(2)))
        ['jump_intensity', 'jump_logits', 'velocity']
    """

    generators: tuple[AbstractGenerator, ...]
    weights: WeightFn
    loss_weights: tuple[Callable[[Tensor], Tensor] | None, ...] | None
    divergence: SumDivergence
    parametrization: SuperpositionParametrization

    def __init__(
        self,
        generators: Sequence[AbstractGenerator],
        weights: WeightFn,
        loss_weights: Sequence[Callable[[Tensor], Tensor] | None] | None = None,
    ) -> None:
        gens = tuple(generators)
        if len(gens) < 2:
            raise ValueError("a superposition needs at least two generators")
        grid = torch.linspace(0, 1, 11, dtype=torch.float64)
        w = weights(grid)
        if tuple(w.shape) != (11, len(gens)):
            raise ValueError(
                f"weights(t) must have shape (batch, {len(gens)}), got {tuple(w.shape)}"
            )
        if bool((w < 0).any()) or not torch.allclose(
            w.sum(1), torch.ones(11, dtype=w.dtype), atol=1e-6
        ):
            raise ValueError("superposition weights must be >= 0 and sum to 1 at every t")
        if loss_weights is not None and len(loss_weights) != len(gens):
            raise ValueError(f"loss_weights needs one entry per generator ({len(gens)})")
        object.__setattr__(self, "generators", gens)
        object.__setattr__(
            self, "loss_weights", None if loss_weights is None else tuple(loss_weights)
        )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "divergence", SumDivergence(tuple(g.divergence for g in gens)))
        object.__setattr__(
            self,
            "parametrization",
            SuperpositionParametrization(tuple(g.parametrization for g in gens), weights),
        )

    @property
    def nfe_per_step(self) -> int:  # type: ignore[override]
        return max(g.nfe_per_step for g in self.generators)

    def conditional_target(
        self, path: AbstractConditionalPath, sample: PathSample
    ) -> SuperposedValue:
        parts = tuple(g.conditional_target(path, sample) for g in self.generators)
        return SuperposedValue(parts, self.weights(sample.t), self._loss_weights(sample.t))

    def _loss_weights(self, t: Tensor) -> Tensor | None:
        if self.loss_weights is None:
            return None
        ones = torch.ones_like(t)
        return torch.stack([ones if w is None else w(t) for w in self.loss_weights], 1)

    def marginal_target(
        self, path: AbstractConditionalPath, x: Tensor, t: Tensor, data: Tensor, posterior: Tensor
    ) -> SuperposedValue:
        parts = tuple(g.marginal_target(path, x, t, data, posterior) for g in self.generators)
        return SuperposedValue(parts, self.weights(t))

    def step(
        self,
        field: Field,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> State:
        first = field(x, t)
        x_next = x
        for i, part in enumerate(self.generators):
            x_next = part.move(
                self._part_field(field, i, x, t, first), x_next, t, h, generator=generator
            )
        for i, part in enumerate(self.generators):
            value = part.parametrization.scale(first.parts[i], first.weights[:, i])
            proposal = part.propose(value, x, t, h, generator=generator)
            if proposal is not None:
                x_next = proposal.apply(x_next)
        return x_next

    def _part_field(
        self, field: Field, i: int, x0: State, t0: Tensor, first: SuperposedValue
    ) -> Field:
        scale = self.generators[i].parametrization.scale
        cached = reuse_first(field, x0, t0, first)

        def part_field(y: State, s: Tensor) -> ParamValue:
            value = cached(y, s)
            return scale(value.parts[i], value.weights[:, i])

        return part_field
