"""Metropolis–Hastings jumps on token sequences: a divergence-free generator (GM §9.7)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.generators.base import AbstractGenerator
from genmatch.generators.ctmc import RateParametrization
from genmatch.generators.ctmc_values import neighbour_differences
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.types import Field, ParamValue

#: ``(x (batch, L) int64, t (batch,)) ↦ log π_t(x) (batch,)``, up to a constant in ``x``.
LogDensity = Callable[[Tensor, Tensor], Tensor]
#: ``t (batch,) ↦ rate ≥ 0 (batch,)``.
RateFn = Callable[[Tensor], Tensor]


def constant_rate(rate: float) -> RateFn:
    """``t ↦ rate`` (``rate ≥ 0``)."""
    if rate < 0:
        raise ValueError(f"rate must be >= 0, got {rate}")
    return lambda t: torch.full_like(t, rate)


@final
@dataclass(frozen=True, eq=False)
class MetropolisHastings(AbstractGenerator):
    """A CTMC with detailed balance for ``π_t ∝ exp(log_prob(·, t))``.

    Proposals arrive at rate ``rate(t)``; each picks a position uniformly and a new token
    uniformly among the other ``S − 1`` (a symmetric proposal) and is accepted with
    probability ``min(1, π(y)/π(x))``. The jump kernel
    ``Q(y, x) = rate/(L (S − 1)) · min(1, π(y)/π(x))`` satisfies
    ``Q(y, x) π(x) = Q(x, y) π(y)``, hence ``⟨π_t, L f⟩ = 0`` (eq. 9.37): added to any model of
    ``p_t = π_t`` it keeps the marginals (use :class:`~genmatch.compose.Corrected`); alone,
    ``simulate(mh, None, x_0, steps)`` is an MCMC sampler of ``π``. It has no network: the
    ``field`` passed to :meth:`step` is ignored and it cannot be trained.

    Args:
        space: the discrete space.
        log_prob: ``log π_t`` up to a constant.
        rate: ``t ↦`` proposal rate ``≥ 0`` (the corrector strength).

    Example:
        >>> import torch
        >>> from genmatch import simulate
        >>> from genmatch.spaces import DiscreteSpace
        >>> space = DiscreteSpace(1, 2)
        >>> log_pi = torch.log(torch.tensor([0.8, 0.2]))
        >>> mh = MetropolisHastings(space, lambda x, t: log_pi[x[:, 0]], constant_rate(5.0))
        >>> x = simulate(mh, None, torch.zeros(4000, 1, dtype=torch.long), 50,
        ...              rng=torch.Generator().manual_seed(0)).x
        >>> round(float((x == 0).float().mean()), 1)
        0.8
    """

    space: DiscreteSpace
    log_prob: LogDensity
    rate: RateFn
    divergence: AbstractBregmanDivergence = field(default_factory=GeneralizedKL)
    parametrization: RateParametrization = field(init=False)
    nfe_per_step: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parametrization", RateParametrization(self.space))

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> ParamValue:
        raise TypeError("MetropolisHastings has no parameters and is not trained")

    def rates(self, x: Tensor, t: Tensor) -> Tensor:
        """Its factorized rates ``(batch, L, S)`` (evaluates ``π`` at every neighbour)."""
        s = self.space.num_states
        diff = neighbour_differences(
            lambda y: self.log_prob(y, t.repeat_interleave(y.shape[0] // x.shape[0])), x, s
        )
        accept = torch.exp(diff.clamp(max=0.0))
        off = 1 - torch.nn.functional.one_hot(x, s).to(accept.dtype)
        scale = self.rate(t).to(accept.dtype) / (self.space.length * (s - 1))
        return scale[:, None, None] * accept * off

    def step(
        self,
        field: Field | None,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        b, length = x.shape
        s = self.space.num_states
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
        u = torch.rand(b, 3, generator=generator, dtype=dtype, device=x.device)
        propose = u[:, 0] < -torch.expm1(-h * self.rate(t).to(dtype))
        pos = (u[:, 1] * length).long().clamp_max(length - 1)
        shift = 1 + torch.randint(0, s - 1, (b,), generator=generator, device=x.device)
        current = x.gather(1, pos[:, None])[:, 0]
        y = x.clone()
        y.scatter_(1, pos[:, None], ((current + shift) % s)[:, None])
        log_ratio = self.log_prob(y, t) - self.log_prob(x, t)
        accept = propose & (torch.log(u[:, 2]) < log_ratio)
        return torch.where(accept[:, None], y, x)
