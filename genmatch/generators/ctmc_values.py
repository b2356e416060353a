"""Values of the factorized CTMC's heads and the maths on them: the posterior value, the
neighbour differences ``K f``, conversions between posterior and rates, and the likelihood
ratios of predictor guidance (GM eq. 9.8–9.9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch.nn import functional as F

from genmatch._checks import value_checks_enabled
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.kl import KLDivergence
from genmatch.generators.base import TestFunction
from genmatch.sources.categorical import CategoricalSource


@final
@dataclass(frozen=True)
class PosteriorValue:
    """The posterior head's value: probabilities ``(batch, L, S)`` and ``λ_t`` ``(batch,)``.

    The rates are ``u^i(y|x) = s^i λ_t p^i(y|x)`` for ``y ≠ x_i``, where the optional ``speed``
    ``s`` ``(batch, L)`` (1 when ``None``) lets guided rates, which need not have the mixture
    path's form, keep the posterior head's exact time integration of ``λ_t``
    (:meth:`CTMCGenerator.posterior_step`). Network outputs, targets and oracles have no speed.
    ``fit`` ``(batch, L, S)``, when set, holds the network's probabilities before pinning
    (:class:`PosteriorParametrization`): :class:`PosteriorKL` fits those, so training also
    teaches the network the exact posterior ``δ_{x_i}`` of pinned positions.
    """

    probs: Tensor
    intensity: Tensor
    speed: Tensor | None = None
    fit: Tensor | None = None

    @property
    def fitted(self) -> Tensor:
        """What a loss fits: ``fit`` if set, else ``probs``."""
        return self.probs if self.fit is None else self.fit

    def relative_rates(self, x: Tensor) -> Tensor:
        """``u^i(y|x) / λ_t = s^i p^i(y|x)`` off the current tokens, ``(batch, L, S)``."""
        rel = self.probs * off_current(x, self.probs.shape[-1], self.probs)
        return rel if self.speed is None else self.speed[..., None] * rel

    @staticmethod
    def from_relative_rates(rel: Tensor, x: Tensor, intensity: Tensor) -> PosteriorValue:
        """The value with rates ``λ_t rel`` (``rel ≥ 0``, 0 on the current tokens): ``p ∝ rel``
        and ``s = Σ_y rel`` (a position with no rate keeps ``p = δ_{x_i}``, ``s = 0``)."""
        total = rel.sum(-1)
        stay = F.one_hot(x, rel.shape[-1]).to(rel.dtype)
        positive = total[..., None] > 0
        # divide by the total itself (1 where it is 0), not by a floor on it: a subnormal total
        # still normalises
        probs = torch.where(positive, rel / torch.where(positive, total[..., None], 1.0), stay)
        return PosteriorValue(probs, intensity, total)


def neighbour_differences(f: TestFunction, x: Tensor, num_states: int) -> Tensor:
    """``K f(x) = [f(x^{i→y}) − f(x)]_{i,y}``, ``(batch, L, S)`` (zero where ``y = x_i``).

    Evaluates ``f`` on the ``batch·L·S`` single-site changes of ``x`` (small spaces, tests).
    """
    b, length = x.shape
    y = x[:, None, None, :].expand(b, length, num_states, length).clone()
    pos = torch.arange(length, device=x.device)
    y[:, pos, :, pos] = torch.arange(num_states, device=x.device).expand(length, b, -1)
    values = f(y.reshape(-1, length)).reshape(b, length, num_states)
    return values - f(x)[:, None, None]


def off_current(x: Tensor, num_states: int, like: Tensor) -> Tensor:
    return 1 - F.one_hot(x, num_states).to(like.dtype)


def pin_posterior(probs: Tensor, x: Tensor, source: CategoricalSource | None) -> Tensor:
    """``probs`` ``(batch, L, S)`` with ``δ_{x_i}`` where ``q_i(x_i) = 0`` (a token the source
    never draws, e.g. an unmasked token under the masked source): there the mixture path's
    exact posterior is ``δ_{x_i}``, so the model never changes it. ``probs`` if no source."""
    if source is None:
        return probs
    pinned = source.position_probs(torch.float64, x.device).gather(1, x.T).T == 0
    return torch.where(pinned[..., None], F.one_hot(x, probs.shape[-1]).to(probs), probs)


def posterior_to_rates(value: PosteriorValue, x: Tensor) -> Tensor:
    """``u^i(y|x) = λ_t p^i(y|x)`` for ``y ≠ x_i``, 0 at ``x_i``: ``(batch, L, S)``.

    Example:
        >>> import torch
        >>> value = PosteriorValue(torch.tensor([[[0.5, 0.25, 0.25]]]), torch.tensor([2.0]))
        >>> x = torch.tensor([[1]])
        >>> rates = posterior_to_rates(value, x)
        >>> rates
        tensor([[[1.0000, 0.0000, 0.5000]]])
        >>> rates_to_posterior(rates, x, value.intensity).probs
        tensor([[[0.5000, 0.2500, 0.2500]]])
    """
    return value.intensity[:, None, None] * value.relative_rates(x)


def rates_to_posterior(rates: Tensor, x: Tensor, intensity: Tensor) -> PosteriorValue:
    """Inverse of :func:`posterior_to_rates`: ``p(y) = u(y)/λ_t``, ``p(x_i) = 1 − Σ_{y≠x_i} p(y)``.

    Raises ``ValueError`` (value checks on) when the rates leave no mass for ``x_i``
    (``Σ_y u^i(y) > λ_t``): such rates are not of the mixture path's form.
    """
    off = rates * off_current(x, rates.shape[-1], rates) / intensity[:, None, None]
    stay = 1 - off.sum(-1, keepdim=True)
    if value_checks_enabled() and bool((stay < -1e-6).any()):
        raise ValueError("rates exceed the intensity λ_t: no posterior gives them")
    probs = off + stay.clamp_min(0) * F.one_hot(x, rates.shape[-1]).to(rates.dtype)
    return PosteriorValue(probs, intensity)


def select_rows(rows: Tensor, a: PosteriorValue, b: PosteriorValue) -> PosteriorValue:
    """``a`` where ``rows`` ``(batch,)``, else ``b``, field by field (speeds default to 1)."""

    def speed(v: PosteriorValue) -> Tensor:
        return v.speed if v.speed is not None else torch.ones_like(v.probs[..., 0])

    if a.speed is None and b.speed is None:
        new_speed = None
    else:
        new_speed = torch.where(rows[:, None], speed(a), speed(b))
    return PosteriorValue(
        torch.where(rows[:, None, None], a.probs, b.probs),
        torch.where(rows, a.intensity, b.intensity),
        new_speed,
    )


def likelihood_ratio(
    log_likelihood: TestFunction, x: Tensor, num_states: int, weight: Tensor
) -> Tensor:
    """``(p(c|x^{i→y}) / p(c|x))^w`` for every single-site change, ``(batch, L, S)`` (1 at
    ``y = x_i``). A neighbour the predictor rules out gets 0; from a point it rules out
    (``p(c|x) = 0``) a possible neighbour gets ``e^{50}``: leave at once."""
    diff = neighbour_differences(log_likelihood, x, num_states)
    diff = torch.nan_to_num(diff, nan=0.0, posinf=50.0)
    return torch.exp(weight.to(diff.dtype)[:, None, None] * diff)


@final
@dataclass(frozen=True)
class PosteriorKL(AbstractBregmanDivergence):
    """KL between the posterior probabilities (cross-entropy up to a constant), summed over
    positions; the Bregman divergence of ``Σ p log p`` on the simplex. It compares
    :attr:`PosteriorValue.fitted` (the unpinned probabilities where a value carries them)."""

    def phi(self, a: PosteriorValue) -> Tensor:  # type: ignore[override]
        return KLDivergence().phi(a.fitted)

    def __call__(self, a: PosteriorValue, b: PosteriorValue) -> Tensor:  # type: ignore[override]
        return KLDivergence()(a.fitted, b.fitted)

    def generic(self, a: PosteriorValue, b: PosteriorValue) -> Tensor:  # type: ignore[override]
        return KLDivergence().generic(a.fitted, b.fitted)
