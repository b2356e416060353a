"""Continuous-time Markov chains on token sequences (GM eq. 9.8–9.9), factorized by position.

A CTMC on ``S = {0..S−1}^L`` whose jumps change one position at a time has generator

``L_t f(x) = Σ_i Σ_{y ≠ x_i} u_t^i(y|x) [f(x^{i→y}) − f(x)]``,

with non-negative rates ``u_t^i(y|x)`` (the diagonal is ``−Σ_{y≠x_i} u^i(y|x)``, so rows of
the generator matrix sum to 0, eq. 9.8). Its linear parametrization is
``K f(x) = [f(x^{i→y}) − f(x)]_{i,y}`` with the Euclidean inner product (eq. 9.9).

Two heads parametrize the rates:

- ``CTMCHead.RATE``: the rates themselves, ``(batch, L, S)``, through softplus; trained with
  the generalized KL (the Bregman divergence of ``Σ u log u − u``).
- ``CTMCHead.POSTERIOR``: logits of ``p_{1|t}(·|x)`` per position (x₁-prediction); for the
  mixture path the rates are ``u^i(y|x) = λ_t p^i_{1|t}(y|x)`` (``y ≠ x_i``) with
  ``λ_t = κ̇_t/(1 − κ_t)``; trained with the KL / cross-entropy of the probabilities;
  :func:`posterior_to_rates` and :func:`rates_to_posterior` convert between the two.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor
from torch.nn import functional as F

from genmatch._checks import check_enum, check_instance, value_checks_enabled
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    TestFunction,
    check_step,
)
from genmatch.generators.ctmc_rate import RateParametrization
from genmatch.generators.ctmc_unmasking import confidence_unmask
from genmatch.generators.ctmc_values import (
    PosteriorKL,
    PosteriorValue,
    likelihood_ratio,
    neighbour_differences,
    off_current,
    pin_posterior,
    posterior_to_rates,
    select_rows,
)
from genmatch.guidance.base import (
    AbstractGuidableParametrization,
    AbstractTiltableParametrization,
    geometric,
)
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import AbstractConditionalPath, AbstractFactorizedMixturePath, PathSample
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.sources.categorical import CategoricalSource
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.types import Field, HeadShapes, ParamValue, RawHeads


class CTMCHead(enum.Enum):
    """What the network of a :class:`CTMCGenerator` outputs (module docstring)."""

    RATE = "rate"
    POSTERIOR = "posterior"


class JumpMethod(enum.Enum):
    """How a step draws jumps from the rates over ``[t, t + h]``.

    - ``EXPONENTIAL``: each position jumps with probability ``1 − exp(−h λ_i)``,
      ``λ_i = Σ_y u^i(y)``, to ``y ∝ u^i(y)`` (Euler with the exact per-position probability);
      for the posterior head, the exact survival ``(1 − κ_{t+h})/(1 − κ_t)`` replaces
      ``exp(−h λ_t)``, which makes the last step to ``t = 1`` draw every position from the
      posterior, without dividing by zero.
    - ``TAU_LEAPING``: every (position, token) clock fires ``Poisson(h u^i(y))`` times; a
      position with exactly one firing token jumps to it, one with several keeps its token.
    - ``CONFIDENCE`` (posterior head, masked models): as many masks as ``EXPONENTIAL`` would
      fill (same law), but the most confident ones; biased
      (:func:`~genmatch.generators.ctmc_unmasking.confidence_unmask`).
    """

    EXPONENTIAL = "exponential"
    TAU_LEAPING = "tau_leaping"
    CONFIDENCE = "confidence"


@final
@dataclass(frozen=True, eq=False)
class PosteriorParametrization(
    AbstractLinearParametrization, AbstractGuidableParametrization, AbstractTiltableParametrization
):
    """``u^i(y|x) = λ_t p^i(y|x)``: probabilities on the simplex; head ``"logits"`` ``(L, S)``.

    On a space with a mask token the posterior gives it probability 0 (data hold no masks).
    With ``source``, positions whose token the source never draws (``q_i(x_i) = 0``, e.g. an
    unmasked token under the masked source) are pinned to ``δ_{x_i}``: there
    ``p_{t|Z}(x_i|z) = κ_t δ_{z_i}(x_i)`` forces ``z_i = x_i``, so the exact posterior is
    ``δ_{x_i}`` and the model never leaves such a token. With ``fit_pinned`` the value also
    carries the unpinned probabilities (:attr:`PosteriorValue.fit`), so that the loss fits the
    network's posterior to ``δ_{x_i}`` there too (its minimiser is unchanged).
    """

    space: DiscreteSpace
    kappa: AbstractKappaSchedule
    source: CategoricalSource | None = None
    fit_pinned: bool = False

    def head_shapes(self, space: AbstractStateSpace) -> HeadShapes:
        return {"logits": (self.space.length, self.space.num_states)}

    def constrain(self, raw: RawHeads, x_t: Tensor, t: Tensor) -> PosteriorValue:
        logits = raw["logits"]
        if self.space.mask_token is not None:  # data never hold the mask: p_{1|t}(mask) = 0
            logits = logits.index_fill(-1, torch.tensor([self.space.mask_token]), float("-inf"))
        free = logits.softmax(-1)
        probs = pin_posterior(free, x_t, self.source)
        fit = free if self.fit_pinned and self.source is not None else None
        return PosteriorValue(probs, self.kappa.intensity(t), fit=fit)

    def test_operator(self, f: TestFunction, x_t: Tensor) -> Tensor:
        return neighbour_differences(f, x_t, self.space.num_states)

    def inner(self, a: Tensor, b: PosteriorValue, x_t: Tensor) -> Tensor:
        return b.intensity * (a * b.probs).sum((1, 2))

    def scale(self, value: PosteriorValue, factor: Tensor) -> PosteriorValue:
        """``c u``: ``λ_t`` scaled by ``factor``; the speed (and ``fit``) are kept."""
        return dataclasses.replace(value, intensity=factor * value.intensity)

    def posterior_mean(self, values: PosteriorValue, weights: Tensor) -> PosteriorValue:
        b, n = weights.shape
        probs = values.probs.reshape(b, n, *values.probs.shape[1:])
        mean = (weights[:, :, None, None] * probs).sum(1)
        return PosteriorValue(mean, values.intensity.reshape(b, n)[:, 0])

    def guide(
        self,
        conditional: PosteriorValue,
        unconditional: PosteriorValue,
        weight: Tensor,
        x_t: Tensor,
    ) -> PosteriorValue:
        """The rates ``u_c^{1+w} u^{−w}`` (the shared ``λ_t`` factors out of the geometric
        mean), kept in the posterior form with a speed; ``conditional`` itself at ``w = 0``."""
        rel = geometric(conditional.relative_rates(x_t), unconditional.relative_rates(x_t), weight)
        guided = PosteriorValue.from_relative_rates(rel, x_t, conditional.intensity)
        return select_rows(
            weight == -1, unconditional, select_rows(weight == 0, conditional, guided)
        )

    def tilt(
        self,
        value: PosteriorValue,
        x_t: Tensor,
        t: Tensor,
        log_likelihood: BoundLikelihood,
        weight: Tensor,
        path: AbstractConditionalPath,
    ) -> PosteriorValue:
        """The tilt of :meth:`RateParametrization.tilt`, in the posterior form with a speed."""
        ratio = likelihood_ratio(log_likelihood, x_t, self.space.num_states, weight)
        return PosteriorValue.from_relative_rates(
            value.relative_rates(x_t) * ratio, x_t, value.intensity
        )


def _categorical(weights: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row of non-negative ``weights`` ``(..., S)`` by inverse CDF (rows may be 0)."""
    cdf = weights.cumsum(-1)
    u = torch.rand(cdf.shape[:-1] + (1,), generator=generator, dtype=cdf.dtype, device=cdf.device)
    idx = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)
    return idx[..., 0].clamp_max(weights.shape[-1] - 1)


def jump_from_rates(
    rates: Tensor,
    x: Tensor,
    h: float | Tensor,
    method: JumpMethod,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw the jumps of a factorized CTMC over a step of length ``h`` (see :class:`JumpMethod`).

    Shapes:
        rates: ``(batch, L, S)``, non-negative, zero at the current tokens; x: ``(batch, L)``;
        h: a float or ``(batch,)``; returns ``(batch, L)``.
    """
    if value_checks_enabled() and bool((rates < 0).any()):
        raise ValueError(f"negative rates (minimum {float(rates.min()):.3g}): rates must be >= 0")
    h_ = h[:, None] if isinstance(h, Tensor) else h
    if method is JumpMethod.TAU_LEAPING:
        scaled = (h_[..., None] if isinstance(h_, Tensor) else h_) * rates
        fired = torch.poisson(scaled, generator=generator) > 0
        single = fired.sum(-1) == 1
        return torch.where(single, fired.to(torch.uint8).argmax(-1), x)
    p_jump = -torch.expm1(-h_ * rates.sum(-1))
    u = torch.rand(x.shape, generator=generator, dtype=rates.dtype, device=x.device)
    return torch.where(u < p_jump, _categorical(rates, generator), x)


@final
@dataclass(frozen=True, eq=False)
class CTMCGenerator(AbstractGenerator):
    """A factorized CTMC on a :class:`~genmatch.spaces.DiscreteSpace` (GM eq. 9.8–9.9).

    Conditional target for any :class:`~genmatch.paths.AbstractFactorizedMixturePath`
    (:class:`~genmatch.paths.FactorizedMixturePath`): position ``i`` moves to ``z_i`` at rate
    ``λ_t = κ̇_t/(1 − κ_t)`` (rate head), i.e. the posterior ``δ_{z_i}`` (posterior head).
    Simulation: :class:`JumpMethod`.

    Args:
        space: the discrete space.
        kappa: the mixture path's schedule; required by the posterior head (its ``λ_t`` and
            exact survival), checked against the path.
        head: :class:`CTMCHead`; the posterior head by default.
        method: how steps draw jumps.
        temperature: sampling temperature of the posterior head (``p ∝ p^{1/T}``); 1 keeps
            the model's distribution. Training ignores it.
        divergence: the loss's Bregman divergence; generalized KL (rate head) or
            :class:`PosteriorKL` (posterior head) by default.
        source: the path's source; the posterior head keeps tokens the source never draws
            (unmasked tokens of a masked model) where they are, as the exact posterior does
            (:class:`PosteriorParametrization`). On a space with a mask token it defaults to
            the masked source; training checks it against the path's.
        fit_pinned: the loss also fits the network's posterior at pinned positions to their
            exact ``δ_{x_i}`` (cross-entropy at every position); sampling is unchanged. On by
            default: it trains masked models faster (``docs/discrete.md``).
        pin: whether the model keeps those tokens; ``False`` lets its own posterior move them
            (rates ``λ_t p^i(y|x)``, a learned corrector: not the exact masked process).

    Example:
        >>> import torch
        >>> from genmatch import simulate
        >>> from genmatch.paths import LinearKappa
        >>> from genmatch.spaces import DiscreteSpace
        >>> space = DiscreteSpace(3, 4, mask=True)
        >>> gen = CTMCGenerator(space, LinearKappa())
        >>> logits = torch.full((3, 5), -float("inf")).index_fill(1, torch.tensor([2]), 0.0)
        >>> field = lambda x, t: gen.constrain({"logits": logits.expand(len(x), 3, 5)}, x, t)
        >>> x_0 = torch.full((2, 3), space.mask_token)
        >>> simulate(gen, field, x_0, 8, rng=torch.Generator().manual_seed(0)).x
        tensor([[2, 2, 2],
                [2, 2, 2]])
    """

    space: DiscreteSpace
    kappa: AbstractKappaSchedule | None = None
    head: CTMCHead = CTMCHead.POSTERIOR
    method: JumpMethod = JumpMethod.EXPONENTIAL
    temperature: float = 1.0
    divergence: AbstractBregmanDivergence = field(default=None)  # type: ignore[assignment]
    source: CategoricalSource | None = None
    fit_pinned: bool = True
    pin: bool = True
    parametrization: AbstractLinearParametrization = field(init=False)

    def __post_init__(self) -> None:
        check_instance(self.space, DiscreteSpace, "space")
        check_instance(self.kappa, AbstractKappaSchedule, "kappa", optional=True)
        check_enum(self.head, CTMCHead, "head")
        check_enum(self.method, JumpMethod, "method")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.head is CTMCHead.POSTERIOR:
            if self.kappa is None:
                raise ValueError("the posterior head needs the mixture path's kappa schedule")
            if self.source is None and self.space.mask_token is not None:
                object.__setattr__(self, "source", CategoricalSource.masked(self.space))
            if self.source is not None and self.source.space != self.space:
                raise ValueError("the source lives on a different space than the generator")
            param: AbstractLinearParametrization = PosteriorParametrization(
                self.space, self.kappa, self.source if self.pin else None, self.fit_pinned
            )
            default: AbstractBregmanDivergence = PosteriorKL()
        else:
            param, default = RateParametrization(self.space), GeneralizedKL()
        if self.method is JumpMethod.CONFIDENCE and (
            self.head is not CTMCHead.POSTERIOR or self.space.mask_token is None
        ):
            raise ValueError("JumpMethod.CONFIDENCE needs the posterior head on a mask space")
        object.__setattr__(self, "parametrization", param)
        if self.divergence is None:
            object.__setattr__(self, "divergence", default)

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ParamValue:
        if not isinstance(path, AbstractFactorizedMixturePath):
            raise self.unsupported(path, "AbstractFactorizedMixturePath")
        if self.kappa is not None and path.kappa != self.kappa:
            raise ValueError(f"the path's kappa {path.kappa} differs from {self.kappa}")
        if self.source is not None and not torch.equal(path.source.probs, self.source.probs):
            raise ValueError("the path's source differs from the generator's: pass source=")
        z, x, t = sample.z, sample.x_t, sample.t
        one_hot = F.one_hot(z, self.space.num_states).to(t.dtype)
        intensity = path.kappa.intensity(t)
        if self.head is CTMCHead.POSTERIOR:
            return PosteriorValue(one_hot, intensity)
        if value_checks_enabled() and not bool(torch.isfinite(intensity).all()):
            raise ValueError(
                "the rate head's target λ_t = κ̇_t/(1 − κ_t) diverges at t = 1: evaluate it at "
                "t < 1 (the posterior head has a finite target there)"
            )
        return intensity[:, None, None] * one_hot * off_current(x, self.space.num_states, one_hot)

    def rates(self, value: ParamValue, x: Tensor) -> Tensor:
        """The jump rates ``(batch, L, S)`` of a value of either head."""
        return posterior_to_rates(value, x) if isinstance(value, PosteriorValue) else value

    def step(
        self,
        field: Field,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        check_step(x, t, h)
        value = field(x, t)
        shape = (*x.shape, self.space.num_states)
        got = value.probs if isinstance(value, PosteriorValue) else value
        if not isinstance(got, Tensor) or got.shape != shape:
            raise ValueError(
                f"the field must return rates or probabilities of shape {shape} for tokens "
                f"{tuple(x.shape)}, got "
                f"{tuple(got.shape) if isinstance(got, Tensor) else type(got).__name__}"
            )
        if not isinstance(value, PosteriorValue):
            return jump_from_rates(value, x, h, self.method, generator)
        return self.posterior_step(value, x, t, h, generator=generator)

    def posterior_step(
        self,
        value: PosteriorValue,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Each position is redrawn from ``p`` (``δ_{x_i}`` where pinned) at the mixture path's
        exact integrated intensity, or by Poisson clocks on it, or in confidence order."""
        assert self.kappa is not None
        probs = value.probs
        if self.temperature != 1.0:
            probs = probs ** (1 / self.temperature)
            probs = probs / probs.sum(-1, keepdim=True)
        survival = self.kappa.survival(t, (t + h).clamp(max=1.0))[:, None]
        if value.speed is not None:  # rates s λ_t p: survival S^s (0^0 = 1: no rate, no jump)
            survival = survival**value.speed
        if self.pin:  # unmasked tokens stay (the exact posterior)
            probs = pin_posterior(probs, x, self.source)
        draw = _categorical(probs, generator)
        if self.method is JumpMethod.CONFIDENCE:
            assert self.space.mask_token is not None
            return confidence_unmask(probs, draw, x, 1 - survival, self.space.mask_token, generator)
        if self.method is JumpMethod.EXPONENTIAL:
            u = torch.rand(x.shape, generator=generator, dtype=probs.dtype, device=x.device)
            return torch.where(u < 1 - survival, draw, x)
        integrated = -torch.log(survival)  # ∫ s λ over the step; inf at the last step
        integrated = integrated.expand(x.shape)
        rates = probs * off_current(x, self.space.num_states, probs)
        finite = torch.isfinite(integrated)
        leaped = jump_from_rates(
            rates * torch.where(finite, integrated, 0.0)[..., None], x, 1.0, self.method, generator
        )
        return torch.where(finite, leaped, draw)
