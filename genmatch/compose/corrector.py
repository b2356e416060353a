"""Predictor–corrector and divergence-free additions on discrete spaces (GM Prop. 3, §9.7).

For a generator ``L_t`` of ``p_t`` (forward in time) and ``L*_t`` generating ``p_t`` backward in
time (``−L*_t`` has non-negative rates ``ř``), Prop. 3 item 3 says ``α¹ L_t − α² L*_t`` with
``α¹ − α² = 1``, ``α¹, α² ≥ 0`` also generates ``p_t``. With ``α² = β_t`` its rates are

``(1 + β_t) û + β_t ř``,

i.e. the forward model plus the *divergence-free* part ``β_t (û + ř)``, whose adjoint
annihilates ``p_t`` (item 2). For the factorized mixture path with posterior
``p^i_{1|t}(·|x)`` and source ``q``:

- forward ``û^i(y|x) = λ_t p^i(y|x)`` (``λ_t = κ̇/(1 − κ)``);
- backward ``ř^i(y|x) = κ̇_t q_i(y) p^i(x_i|x) / (κ_t + (1 − κ_t) q_i(x_i))`` for ``y ≠ x_i``
  — the conditional reverse rate ``κ̇ q(y)/p_{t|Z}(x_i|z)`` from ``x_i = z_i``, averaged over
  the posterior. It grows like ``κ̇/κ`` as ``t → 0`` for unmasked tokens: use a ``β_t`` that
  vanishes there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.generators.base import AbstractGenerator
from genmatch.generators.ctmc import (
    CTMCGenerator,
    CTMCHead,
    JumpMethod,
    jump_from_rates,
)
from genmatch.generators.ctmc_values import PosteriorValue, posterior_to_rates
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.sources.categorical import CategoricalSource
from genmatch.types import Field, ParamValue

#: ``t (batch,) ↦ β_t ≥ 0 (batch,)``.
BetaFn = Callable[[Tensor], Tensor]


@final
@dataclass(frozen=True, eq=False)
class MixtureCorrector(AbstractGenerator):
    """Predictor–corrector for a posterior-head CTMC on the mixture path (module docstring).

    Trains exactly as ``base`` (the corrector derives its rates from the same posterior).
    A step makes one field evaluation: corrector jumps with rates ``β_t (û + ř)`` over the
    step, and the base's exact forward step; where both move a position the forward draw
    wins (a first-order splitting).

    Args:
        base: a :class:`~genmatch.generators.CTMCGenerator` with the posterior head.
        source: the path's source ``q``.
        beta: ``t ↦ β_t ≥ 0``, the corrector strength.

    Example:
        >>> import torch
        >>> from genmatch.generators import CTMCGenerator, PosteriorValue
        >>> from genmatch.paths import LinearKappa
        >>> from genmatch.sources import CategoricalSource
        >>> from genmatch.spaces import DiscreteSpace
        >>> space = DiscreteSpace(1, 2)
        >>> pc = MixtureCorrector(
        ...     CTMCGenerator(space, LinearKappa()), CategoricalSource.uniform(space),
        ...     lambda t: 2 * t * (1 - t))
        >>> value = PosteriorValue(torch.tensor([[[0.9, 0.1]]]), torch.tensor([2.0]))
        >>> # β = 0.5, û(1) = λ p(1) = 0.2, ř(1) = κ̇ q(1) p(0)/(κ + (1 − κ) q(0)) = 0.6
        >>> pc.rates(value, torch.tensor([[0]]), torch.tensor([0.5]))  # 1.5 · 0.2 + 0.5 · 0.6
        tensor([[[0.0000, 0.6000]]])
    """

    base: CTMCGenerator
    source: CategoricalSource
    beta: BetaFn

    def __post_init__(self) -> None:
        if self.base.head is not CTMCHead.POSTERIOR or self.base.kappa is None:
            raise ValueError("MixtureCorrector needs a CTMCGenerator with the posterior head")
        b = self.beta(torch.linspace(0, 1, 21, dtype=torch.float64))
        if bool((b < 0).any()) or not bool(torch.isfinite(b).all()):
            raise ValueError("β_t must be finite and >= 0 on [0, 1]")
        object.__setattr__(self, "parametrization", self.base.parametrization)
        object.__setattr__(self, "divergence", self.base.divergence)

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ParamValue:
        return self.base.conditional_target(path, sample)

    def backward_rates(self, value: PosteriorValue, x: Tensor, t: Tensor) -> Tensor:
        """``ř^i(y|x)``, the rates of the time-reversed process, ``(batch, L, S)``."""
        assert self.base.kappa is not None
        probs = value.probs
        kappa = self.base.kappa.kappa(t)[:, None]
        d_kappa = self.base.kappa.d_kappa(t)[:, None]
        q = self.source.position_probs(probs.dtype, x.device)  # (L, S)
        q_here = q.gather(1, x.T).T  # (batch, L)
        p_here = probs.gather(2, x[..., None])[..., 0]
        scale = d_kappa * p_here / (kappa + (1 - kappa) * q_here)
        off = 1 - torch.nn.functional.one_hot(x, probs.shape[-1]).to(probs.dtype)
        return scale[..., None] * q * off

    def divergence_free_rates(self, value: PosteriorValue, x: Tensor, t: Tensor) -> Tensor:
        """``β_t (û + ř)``: rates whose generator leaves ``p_t`` invariant, ``(batch, L, S)``."""
        forward = posterior_to_rates(value, x)
        return self.beta(t)[:, None, None] * (forward + self.backward_rates(value, x, t))

    def rates(self, value: PosteriorValue, x: Tensor, t: Tensor) -> Tensor:
        """The predictor–corrector rates ``(1 + β_t) û + β_t ř``, ``(batch, L, S)``."""
        return posterior_to_rates(value, x) + self.divergence_free_rates(value, x, t)

    def step(
        self,
        field: Field,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        value = field(x, t)
        corrected = jump_from_rates(
            self.divergence_free_rates(value, x, t), x, h, JumpMethod.EXPONENTIAL, generator
        )
        moved = self.base.posterior_step(value, x, t, h, generator=generator)
        return torch.where(moved != x, moved, corrected)


@final
@dataclass(frozen=True, eq=False)
class Corrected(AbstractGenerator):
    """``L_t + L^div_t``: a base generator followed, each step, by a corrector's step.

    ``corrector`` is any generator leaving the marginals invariant, with its strength built in
    (e.g. :class:`~genmatch.compose.MetropolisHastings` targeting ``p_t`` with rate ``β_t``).
    After the base moves ``x_t → x_{t+h}``, the corrector runs over a step ``h`` at ``t + h``:
    the predictor–corrector scheme of GM §9.7 with a stand-alone corrector. Training is the
    base's.

    Args:
        base: the predictor.
        corrector: the divergence-free generator.
    """

    base: AbstractGenerator
    corrector: AbstractGenerator

    def __post_init__(self) -> None:
        object.__setattr__(self, "parametrization", self.base.parametrization)
        object.__setattr__(self, "divergence", self.base.divergence)

    @property
    def nfe_per_step(self) -> int:  # type: ignore[override]
        return self.base.nfe_per_step + self.corrector.nfe_per_step

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ParamValue:
        return self.base.conditional_target(path, sample)

    def step(
        self,
        field: Field,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        x = self.base.step(field, x, t, h, generator=generator)
        return self.corrector.step(field, x, (t + h).clamp(max=1.0), h, generator=generator)
