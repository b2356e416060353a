"""Whole-state jumps on any space, for the mixture path (GM eq. 9.25)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.generators.base import AbstractLinearParametrization
from genmatch.generators.jump_base import (
    AbstractJumpGenerator,
    JumpProposal,
    check_intensity,
    jump_probability,
)
from genmatch.generators.jump_measures import (
    AtomicJumpMeasure,
    AtomicJumpParametrization,
    JumpKL,
    StateJumpParametrization,
    _atom_index,
)
from genmatch.paths.base import AbstractConditionalPath, AbstractMixturePath, PathSample
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.types import ParamValue, State


class JumpHead(enum.Enum):
    """What a :class:`JumpGenerator`'s value is made of.

    - ``ATOMS``: jumps to data atoms (conditional targets and the exact marginal only; no
      network head), on any space.
    - ``STATES``: a jump distribution over every state of a finite space with the mixture
      path's intensity (:class:`~genmatch.generators.jump_measures.StateJumpParametrization`):
      trainable, with the network head ``"jump_logits"``.
    """

    ATOMS = "atoms"
    STATES = "states"


@final
@dataclass(frozen=True, eq=False)
class JumpGenerator(AbstractJumpGenerator):
    """Jumps of the whole state on any space (GM eq. 9.7), targets for the mixture path.

    For ``p_{t|Z} = κ_t δ_z + (1 − κ_t) p`` the conditional jump measure is
    ``λ_t = κ̇_t/(1 − κ_t)``, ``J_t = δ_z`` (GM eq. 9.25–9.26), and its posterior average, the
    marginal, is ``λ_t`` times the posterior of ``z`` given ``x``. On a finite space
    (:class:`~genmatch.spaces.AbstractFiniteSpace`: permutations, small graphs, ...)
    ``head=JumpHead.STATES`` makes that posterior a network output over all states, trained
    with :class:`~genmatch.generators.jump_measures.JumpKL`; a factorised space of token
    sequences is better served by the per-position :class:`~genmatch.generators.CTMCGenerator`.

    Simulation: when ``kappa`` is given, intensities are read as ``λ_t(x) = c(x) κ̇_t/(1 − κ_t)``
    with ``c`` frozen over a step, and the jump probability over ``[t, t + h]`` is exact in the
    time factor: ``1 − ((1 − κ_{t+h})/(1 − κ_t))^c`` — finite up to ``t + h = 1``, where it is
    1 for ``c > 0``. Otherwise the first-order ``1 − exp(−h λ)`` is used. Jumps replace whole
    points through the space's ``where``, so any state container works.

    Args:
        space: the state space.
        kappa: the known time factor of the intensity (required by ``JumpHead.STATES``).
        head: :class:`JumpHead`.
        divergence: Bregman divergence on jump measures with common atoms; generalized KL
            (``ATOMS``) or :class:`~genmatch.generators.jump_measures.JumpKL` (``STATES``) by
            default.

    Example:
        >>> import torch
        >>> from genmatch.paths import LinearKappa
        >>> from genmatch.spaces import DiscreteSpace
        >>> space = DiscreteSpace(1, 3)
        >>> gen = JumpGenerator(space, LinearKappa(), head=JumpHead.STATES)
        >>> gen.head_shapes(space)
        {'jump_logits': (3,)}
    """

    space: AbstractStateSpace
    kappa: AbstractKappaSchedule | None = None
    head: JumpHead = JumpHead.ATOMS
    divergence: AbstractBregmanDivergence = field(default=None)  # type: ignore[assignment]
    parametrization: AbstractLinearParametrization = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.space, AbstractStateSpace):
            raise TypeError(f"space must be an AbstractStateSpace instance, got {self.space!r}")
        if not isinstance(self.head, JumpHead):
            raise TypeError(f"head must be a JumpHead, got {self.head!r}")
        if self.head is JumpHead.STATES:
            if not isinstance(self.space, AbstractFiniteSpace):
                raise TypeError(
                    "JumpHead.STATES needs a finite space (AbstractFiniteSpace), got "
                    f"{type(self.space).__name__}"
                )
            if self.kappa is None:
                raise ValueError("JumpHead.STATES needs the mixture path's kappa schedule")
            param: AbstractLinearParametrization = StateJumpParametrization(self.space, self.kappa)
            default: AbstractBregmanDivergence = JumpKL()
        else:
            param, default = AtomicJumpParametrization(self.space), GeneralizedKL()
        object.__setattr__(self, "parametrization", param)
        if self.divergence is None:
            object.__setattr__(self, "divergence", default)

    def _mixture(self, path: AbstractConditionalPath) -> AbstractMixturePath:
        if not isinstance(path, AbstractMixturePath):
            raise self.unsupported(
                path, "AbstractMixturePath (use BinnedJumpGenerator for density paths on R^d)"
            )
        if self.kappa is not None and path.kappa != self.kappa:
            raise ValueError(f"the path's kappa {path.kappa} differs from {self.kappa}")
        return path

    def conditional_target(
        self, path: AbstractConditionalPath, sample: PathSample
    ) -> AtomicJumpMeasure:
        intensity = self._mixture(path).kappa.intensity(sample.t)
        if isinstance(self.parametrization, StateJumpParametrization):
            weights = self.parametrization.space.one_hot(sample.z, sample.t.dtype)
            return self.parametrization.measure(weights, sample.t)
        n = self.space.batch_size(sample.z)
        ones = torch.ones(n, 1, dtype=sample.t.dtype, device=sample.t.device)
        return AtomicJumpMeasure(intensity=intensity, atoms=sample.z, weights=ones)

    def marginal_target(
        self, path: AbstractConditionalPath, x: State, t: Tensor, data: State, posterior: Tensor
    ) -> ParamValue:
        """With the states head: ``λ_t`` and the posterior pushed to the states,
        ``J(y|x) = Σ_n p(z_n|x) δ_{z_n}(y)``, by one product with the data's one-hot rows."""
        if not isinstance(self.parametrization, StateJumpParametrization):
            return super().marginal_target(path, x, t, data, posterior)
        self._mixture(path)
        one_hot = self.parametrization.space.one_hot(data, posterior.dtype)
        return self.parametrization.measure(posterior @ one_hot, t)

    def propose(
        self,
        value: AtomicJumpMeasure,
        x: State,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> JumpProposal:
        p_jump = self._jump_probability(value.intensity, t, h)
        u = torch.rand(p_jump.shape, generator=generator, dtype=p_jump.dtype, device=p_jump.device)
        j = torch.multinomial(value.weights, 1, generator=generator).squeeze(1)
        index = _atom_index(j.shape[0], value.weights.shape[1], j)
        destination = self.space.take(value.atoms, index)
        return JumpProposal(mask=u < p_jump, destination=destination, space=self.space)

    def _jump_probability(self, intensity: Tensor, t: Tensor, h: float) -> Tensor:
        check_intensity(intensity)
        if self.kappa is None:
            return jump_probability(intensity, h)
        k = self.kappa
        rate = k.d_kappa(t)
        known = rate > 0
        c = intensity * (1 - k.kappa(t)) / torch.where(known, rate, torch.ones_like(rate))
        s = (t + h).clamp(max=1.0)
        exact = 1 - torch.pow(k.survival(t, s), c)
        return torch.where(known, exact, jump_probability(intensity, h))
