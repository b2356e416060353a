"""Atomic jump measures and their parametrizations (GM eq. 9.7)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.kl import KLDivergence
from genmatch.generators.base import AbstractLinearParametrization, TestFunction
from genmatch.generators.jump_base import normalize
from genmatch.guidance.base import (
    AbstractGuidableParametrization,
    AbstractTiltableParametrization,
    Weights,
    geometric,
)
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import AbstractConditionalPath
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.types import HeadShapes, RawHeads, State


@final
@dataclass(frozen=True)
class AtomicJumpMeasure:
    """``Q_t(dy, x) = λ_t(x) Σ_j w_j(x) δ_{a_j(x)}(dy)``: a jump measure with finitely many atoms.

    Attributes:
        intensity: ``λ_t(x) ≥ 0``, ``(batch,)``.
        atoms: the possible destinations, ``n`` per point, as one batch of ``batch · n``
            points of the space, point-major (point ``i``'s atoms are ``i·n … i·n + n − 1``);
            any state container the space supports.
        weights: the jump distribution over the atoms, ``(batch, n)``, rows summing to 1.
    """

    intensity: Tensor
    atoms: State
    weights: Tensor


def _atom_index(batch: int, n: int, j: Tensor) -> Tensor:
    """Flat positions ``i·n + j_i`` of one atom per point."""
    return torch.arange(batch, device=j.device) * n + j


@final
@dataclass(frozen=True, eq=False)
class AtomicJumpParametrization(AbstractLinearParametrization, AbstractTiltableParametrization):
    """Jump measures with atoms (GM eq. 9.7): ``K f(x) = y ↦ f(y) − f(x)``,
    ``⟨K f(x), Q⟩ = λ Σ_j w_j (f(a_j) − f(x))``.

    The mixture path's conditional jump measure (a jump to ``z``) and the posterior average of
    such measures over a finite data set (the exact marginal) are atomic. A network cannot
    output a measure on data-dependent atoms, so this parametrization has no network heads:
    train :class:`~genmatch.generators.JumpGenerator` with ``head=JumpHead.STATES`` on a
    finite space, :class:`~genmatch.generators.BinnedJumpGenerator` on ``R^d``, or a CTMC on
    token sequences.

    Args:
        space: the state space of the atoms.
    """

    space: AbstractStateSpace = TENSORS

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        hint = (
            "use JumpGenerator(space, kappa, head=JumpHead.STATES) on a finite space"
            if isinstance(space, AbstractFiniteSpace)
            else "use BinnedJumpGenerator on R^d, or a finite space with JumpHead.STATES"
        )
        raise TypeError(f"whole-state jumps to data atoms have no network head; {hint}")

    def constrain(self, raw: RawHeads, x_t: State, t: Tensor) -> AtomicJumpMeasure:
        raise TypeError(
            "AtomicJumpParametrization values come from targets and oracles, not networks"
        )

    def test_operator(self, f: TestFunction, x_t: State) -> Callable[[State, int], Tensor]:  # type: ignore[override]
        f_x = f(x_t)

        def k_f(atoms: State, n: int) -> Tensor:
            return f(atoms).reshape(-1, n) - f_x[:, None]

        return k_f

    def inner(self, a: Callable[[State, int], Tensor], b: AtomicJumpMeasure, x_t: State) -> Tensor:  # type: ignore[override]
        return b.intensity * (b.weights * a(b.atoms, b.weights.shape[1])).sum(1)

    def scale(self, value: AtomicJumpMeasure, factor: Tensor) -> AtomicJumpMeasure:
        return AtomicJumpMeasure(value.intensity * factor, value.atoms, value.weights)

    def posterior_mean(self, values: AtomicJumpMeasure, weights: Tensor) -> AtomicJumpMeasure:
        """``Q(x) = Σ_i w_i Q_i``: intensity ``Σ w_i λ_i``; the atoms of every ``Q_i``, weighted
        by ``w_i λ_i`` (the flat atoms of the ``N`` latents of a point are already contiguous)."""
        b, n = weights.shape
        lam = values.intensity.reshape(b, n)
        mass = (weights * lam)[:, :, None] * values.weights.reshape(b, n, -1)
        mass = mass.reshape(b, -1)
        return AtomicJumpMeasure(intensity=mass.sum(1), atoms=values.atoms, weights=normalize(mass))

    def tilt(
        self,
        value: AtomicJumpMeasure,
        x_t: State,
        t: Tensor,
        log_likelihood: BoundLikelihood,
        weight: Weights,
        path: AbstractConditionalPath,
    ) -> AtomicJumpMeasure:
        """``Q_t(dy, x | c) = Q_t(dy, x) (p(c | z = y) / p_t(c | x))^w`` on the atoms.

        A jump of the mixture path lands on a data point ``z`` (GM eq. 9.25), so the atom's
        likelihood is the clean one, ``p(c | z = y)`` (the predictor at ``t = 1``,
        :meth:`~genmatch.guidance.bound.BoundLikelihood.at_data`): by Bayes' rule
        ``p(z | x, c) = p(z | x) p(c | z) / p_t(c | x)``, so with ``w = 1``, the exact ``Q`` and
        the exact predictor this is the exact generator of ``p_t(x | c)`` (the oracle of the
        data of class ``c``). The masses ``λ w_j`` are multiplied by the ratio and renormalised
        (``λ`` becomes ``λ Σ_j w_j r_j``). An atom the predictor rules out gets 0; from a point it
        rules out, a possible atom gets ``e^{50}`` (leave at once)."""
        b, n = value.weights.shape
        diff = log_likelihood.at_data(value.atoms).reshape(b, n) - log_likelihood(x_t)[:, None]
        diff = torch.nan_to_num(diff, nan=0.0, posinf=50.0)
        return _reweighted(value, value.weights * torch.exp(weight.to(diff.dtype)[:, None] * diff))


@final
@dataclass(frozen=True, eq=False)
class StateJumpParametrization(
    AbstractLinearParametrization, AbstractGuidableParametrization, AbstractTiltableParametrization
):
    """Whole-state jumps on a finite space with the mixture path's intensity: the network
    outputs the jump distribution over all ``M`` states, ``J_t(y|x) = softmax(logits)_y``, and
    the intensity is the known ``λ_t = κ̇_t/(1 − κ_t)``, so ``Q_t(y, x) = λ_t J_t(y|x)``.

    This is the form of the exact marginal of the mixture path (GM eq. 9.25–9.26): the
    posterior average of ``λ_t δ_z`` is ``λ_t`` times the posterior of ``z`` given ``x``. A jump
    to the current state changes nothing. One raw head ``"jump_logits"`` of shape ``(M,)``;
    values are :class:`AtomicJumpMeasure` whose atoms are every state.

    Args:
        space: the finite space.
        kappa: the mixture path's schedule.
    """

    space: AbstractFiniteSpace
    kappa: AbstractKappaSchedule

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        return {"jump_logits": (self.space.num_points,)}

    def states(self, batch: int) -> State:
        """Every state for each of ``batch`` points: ``batch · M`` points, point-major."""
        states = self.space.enumerate()
        m = self.space.batch_size(states)
        device = self.space.reference(states).device
        return self.space.take(states, torch.arange(m, device=device).repeat(batch))

    def measure(self, probs: Tensor, t: Tensor) -> AtomicJumpMeasure:
        """The value for jump distributions ``probs`` ``(batch, M)`` at times ``t``."""
        return AtomicJumpMeasure(self.kappa.intensity(t), self.states(probs.shape[0]), probs)

    def constrain(self, raw: RawHeads, x_t: State, t: Tensor) -> AtomicJumpMeasure:
        return self.measure(raw["jump_logits"].softmax(-1), t)

    def test_operator(self, f: TestFunction, x_t: State) -> Callable[[State, int], Tensor]:  # type: ignore[override]
        return AtomicJumpParametrization(self.space).test_operator(f, x_t)

    def inner(self, a: Callable[[State, int], Tensor], b: AtomicJumpMeasure, x_t: State) -> Tensor:  # type: ignore[override]
        return AtomicJumpParametrization(self.space).inner(a, b, x_t)

    def scale(self, value: AtomicJumpMeasure, factor: Tensor) -> AtomicJumpMeasure:
        return AtomicJumpMeasure(value.intensity * factor, value.atoms, value.weights)

    def posterior_mean(self, values: AtomicJumpMeasure, weights: Tensor) -> AtomicJumpMeasure:
        """Every value has the same atoms (all states): the weights are averaged."""
        b, n = weights.shape
        probs = (weights[:, :, None] * values.weights.reshape(b, n, -1)).sum(1)
        return AtomicJumpMeasure(values.intensity.reshape(b, n)[:, 0], self.states(b), probs)

    def guide(
        self,
        conditional: AtomicJumpMeasure,
        unconditional: AtomicJumpMeasure,
        weight: Weights,
        x_t: State,
    ) -> AtomicJumpMeasure:
        """The off-diagonal rates ``Q_c(y,x)^{1+w} Q(y,x)^{−w}`` (:func:`geometric`), ``y ≠ x``,
        of the rates ``Q(y, x) = λ J(y|x)`` on every state; the jump to ``x`` itself (which
        changes nothing) is dropped, so the guided intensity is the guided rates' sum."""
        rates_c = conditional.intensity[:, None] * conditional.weights
        rates_u = unconditional.intensity[:, None] * unconditional.weights
        here = self.space.one_hot(x_t, rates_c.dtype) > 0
        guided = torch.where(here, 0.0, geometric(rates_c, rates_u, weight))
        w = weight.to(rates_c.dtype)[:, None]
        guided = torch.where(w == 0, rates_c, torch.where(w == -1, rates_u, guided))
        value = AtomicJumpMeasure(torch.ones_like(conditional.intensity), conditional.atoms, guided)
        return _reweighted(value, guided)

    def tilt(
        self,
        value: AtomicJumpMeasure,
        x_t: State,
        t: Tensor,
        log_likelihood: BoundLikelihood,
        weight: Weights,
        path: AbstractConditionalPath,
    ) -> AtomicJumpMeasure:
        """The Doob transform on every state (:meth:`AtomicJumpParametrization.tilt`)."""
        return AtomicJumpParametrization(self.space).tilt(
            value, x_t, t, log_likelihood, weight, path
        )


def _reweighted(value: AtomicJumpMeasure, mass: Tensor) -> AtomicJumpMeasure:
    """The measure ``λ Σ_j m_j δ_{a_j}`` for new unnormalised masses ``m`` ``(batch, n)`` on
    ``value``'s atoms: intensity ``λ Σ_j m_j``, weights ``m / Σ m`` (uniform where ``Σ m = 0``,
    with intensity 0)."""
    return AtomicJumpMeasure(value.intensity * mass.sum(1), value.atoms, normalize(mass))


@final
@dataclass(frozen=True)
class JumpKL(AbstractBregmanDivergence):
    """KL between the jump distributions of two jump measures on common atoms with the same
    known intensity: ``D(Q, Q') = KL(J ‖ J')``, the Bregman divergence of ``Σ J log J``.

    The generalized KL of the measures, ``λ_t KL(J ‖ J')``, differs by the time weight ``λ_t``
    alone, which leaves the minimiser at each ``t`` unchanged (GM Thm. 20) and avoids the
    ``1/(1 − κ_t)`` growth near ``t = 1``.
    """

    def phi(self, a: AtomicJumpMeasure) -> Tensor:  # type: ignore[override]
        return KLDivergence().phi(a.weights)

    def __call__(self, a: AtomicJumpMeasure, b: AtomicJumpMeasure) -> Tensor:  # type: ignore[override]
        return KLDivergence()(a.weights, b.weights)

    def generic(self, a: AtomicJumpMeasure, b: AtomicJumpMeasure) -> Tensor:  # type: ignore[override]
        return KLDivergence().generic(a.weights, b.weights)
