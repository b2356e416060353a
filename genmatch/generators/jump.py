"""Whole-state jumps on any space, for the mixture path (GM eq. 9.25)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.generators.base import AbstractLinearParametrization, TestFunction
from genmatch.generators.jump_base import AbstractJumpGenerator, JumpProposal, jump_probability
from genmatch.paths.base import AbstractConditionalPath, AbstractMixturePath, PathSample
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import HeadShapes, RawHeads, State


@final
@dataclass(frozen=True)
class AtomicJumpMeasure:
    """``Q_t(dy, x) = λ_t(x) Σ_j w_j(x) δ_{a_j(x)}(dy)``: a jump measure with finitely many atoms.

    Attributes:
        intensity: ``λ_t(x) ≥ 0``, ``(batch,)``.
        atoms: the possible destinations ``a_j(x)``, ``(batch, n, *event)``.
        weights: the jump distribution over the atoms, ``(batch, n)``, rows summing to 1.
    """

    intensity: Tensor
    atoms: Tensor
    weights: Tensor


@final
@dataclass(frozen=True)
class AtomicJumpParametrization(AbstractLinearParametrization):
    """Jump measures with atoms (GM eq. 9.7): ``K f(x) = y ↦ f(y) − f(x)``,
    ``⟨K f(x), Q⟩ = λ Σ_j w_j (f(a_j) − f(x))``.

    The mixture path's conditional jump measure (a jump to ``z``) and the posterior average of
    such measures over a finite data set (the exact marginal) are atomic. On a continuous space
    a network cannot output an atomic measure on data-dependent atoms, so this
    parametrization has no network heads: train :class:`BinnedJumpGenerator` on ``R^d``, or a
    CTMC on a discrete space.
    """

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        raise TypeError(
            "whole-state jumps to atoms have no finite network head on a continuous space; "
            "use BinnedJumpGenerator on R^d"
        )

    def constrain(self, raw: RawHeads, x_t: State, t: Tensor) -> AtomicJumpMeasure:
        raise TypeError(
            "AtomicJumpParametrization values come from targets and oracles, not networks"
        )

    def test_operator(self, f: TestFunction, x_t: Tensor) -> Callable[[Tensor], Tensor]:  # type: ignore[override]
        f_x = f(x_t)

        def k_f(atoms: Tensor) -> Tensor:
            b, n = atoms.shape[:2]
            return f(atoms.reshape(b * n, *atoms.shape[2:])).reshape(b, n) - f_x[:, None]

        return k_f

    def inner(self, a: Callable[[Tensor], Tensor], b: AtomicJumpMeasure, x_t: Tensor) -> Tensor:  # type: ignore[override]
        return b.intensity * (b.weights * a(b.atoms)).sum(1)

    def scale(self, value: AtomicJumpMeasure, factor: Tensor) -> AtomicJumpMeasure:
        return AtomicJumpMeasure(value.intensity * factor, value.atoms, value.weights)

    def posterior_mean(self, values: AtomicJumpMeasure, weights: Tensor) -> AtomicJumpMeasure:
        """``Q(x) = Σ_i w_i Q_i``: intensity ``Σ w_i λ_i``; the atoms of every ``Q_i``, weighted
        by ``w_i λ_i``."""
        b, n = weights.shape
        lam = values.intensity.reshape(b, n)
        atoms = values.atoms.reshape(b, n * values.atoms.shape[1], *values.atoms.shape[2:])
        mass = (weights * lam)[:, :, None] * values.weights.reshape(b, n, -1)
        total = mass.sum((1, 2))
        uniform = torch.full_like(mass, 1.0 / mass[0].numel())
        safe = torch.where(
            total[:, None, None] > 0, mass / total.clamp_min(1e-300)[:, None, None], uniform
        )
        return AtomicJumpMeasure(intensity=total, atoms=atoms, weights=safe.reshape(b, -1))


@final
@dataclass(frozen=True)
class JumpGenerator(AbstractJumpGenerator):
    """Jumps of the whole state on any space (GM eq. 9.7), targets for the mixture path.

    For ``p_{t|Z} = κ_t δ_z + (1 − κ_t) p`` the conditional jump measure is
    ``λ_t = κ̇_t/(1 − κ_t)``, ``J_t = δ_z`` (GM eq. 9.25–9.26).

    Simulation: when ``kappa`` is given, intensities are read as ``λ_t(x) = c(x) κ̇_t/(1 − κ_t)``
    with ``c`` frozen over a step, and the jump probability over ``[t, t + h]`` is exact in the
    time factor: ``1 − ((1 − κ_{t+h})/(1 − κ_t))^c`` — finite up to ``t + h = 1``, where it is
    1 for ``c > 0``. Otherwise the first-order ``1 − exp(−h λ)`` is used.

    Args:
        space: the state space (for ``where``).
        kappa: the known time factor of the intensity, or ``None``.
        divergence: Bregman divergence on jump measures with common atoms.
    """

    space: AbstractStateSpace
    kappa: AbstractKappaSchedule | None = None
    divergence: AbstractBregmanDivergence = field(default_factory=GeneralizedKL)
    parametrization: AtomicJumpParametrization = field(
        default_factory=AtomicJumpParametrization, init=False
    )

    def conditional_target(
        self, path: AbstractConditionalPath, sample: PathSample
    ) -> AtomicJumpMeasure:
        if not isinstance(path, AbstractMixturePath):
            raise self.unsupported(
                path, "AbstractMixturePath (use BinnedJumpGenerator for density paths on R^d)"
            )
        z = sample.z
        return AtomicJumpMeasure(
            intensity=path.kappa.intensity(sample.t),
            atoms=z.unsqueeze(1),
            weights=torch.ones(z.shape[0], 1, dtype=sample.t.dtype, device=sample.t.device),
        )

    def propose(
        self,
        value: AtomicJumpMeasure,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> JumpProposal:
        p_jump = self._jump_probability(value.intensity, t, h)
        u = torch.rand(p_jump.shape, generator=generator, dtype=p_jump.dtype, device=p_jump.device)
        j = torch.multinomial(value.weights, 1, generator=generator).squeeze(1)
        destination = value.atoms[torch.arange(x.shape[0], device=j.device), j]
        mask = (u < p_jump).reshape((-1,) + (1,) * (x.dim() - 1))
        return JumpProposal(mask=mask, destination=destination)

    def _jump_probability(self, intensity: Tensor, t: Tensor, h: float) -> Tensor:
        if self.kappa is None:
            return jump_probability(intensity, h)
        k = self.kappa
        rate = k.d_kappa(t)
        known = rate > 0
        c = intensity * (1 - k.kappa(t)) / torch.where(known, rate, torch.ones_like(rate))
        s = (t + h).clamp(max=1.0)
        exact = 1 - torch.pow(k.survival(t, s), c)
        return torch.where(known, exact, jump_probability(intensity, h))
