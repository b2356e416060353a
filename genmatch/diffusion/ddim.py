"""DDIM and DDPM ancestral sampling as steps of a flow model (GM §10.4).

A flow model of an affine Gaussian path (``X_t = α_t Z + σ_t ε``) fixes, at every ``(x, t)``,
the posterior predictions ``x̂ = E[Z|x]`` and ``ε̂ = E[ε|x]`` (:mod:`genmatch.diffusion.predictions`).
The denoising samplers of diffusion models are one-step rules built on them. From ``t`` to
``s = t + h`` (less noise), with the forward transition ``α_{t|s} = α_t/α_s``,
``σ²_{t|s} = σ_t² − α_{t|s}² σ_s²`` and the posterior standard deviation
``σ̃ = σ_{t|s} σ_s / σ_t`` of ``X_s`` given ``(X_t, Z)``:

``x_s = α_s x̂ + sqrt(σ_s² − c²) ε̂ + c ξ``,  ``c = η σ̃``,  ``ξ ~ N(0, I)``.

- ``η = 0`` is **DDIM**: deterministic, and exactly Euler's method for the probability-flow
  ODE written in ``(τ, y) = (α/σ, x/σ)``, where it reads ``dy/dτ = x̂``. It is a first-order
  method for the flow's ODE.
- ``η = 1`` is **DDPM ancestral sampling**: ``x_s`` is drawn from ``N(μ̃, σ̃² I)``, the
  posterior of the forward process with ``x̂`` in place of ``Z``; a first-order discretization
  of the reverse-time SDE, i.e. of eq. 10.15 with ``β_t`` from
  :func:`~genmatch.diffusion.reverse_sde_beta` (a :class:`~genmatch.compose.Langevin` flow).

Training is the flow's (the value is the velocity), so any trained flow model of an affine
path can be sampled with either rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import final

import torch
from torch import Tensor

from genmatch.diffusion.predictions import Prediction, to_data_and_epsilon
from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.divergences.squared_euclidean import SquaredEuclidean
from genmatch.generators.base import AbstractGenerator
from genmatch.generators.flow import FlowGenerator, VelocityParametrization
from genmatch.paths.base import AbstractConditionalPath, PathSample
from genmatch.paths.schedules import AbstractSchedule
from genmatch.solvers.base import shift_time
from genmatch.types import Field


@final
@dataclass(frozen=True)
class DDIM(AbstractGenerator):
    """The DDIM-``η`` step for a flow model of an affine path; ``η = 1`` is DDPM (module doc).

    Args:
        schedule: the ``(α_t, σ_t)`` the model was trained with.
        eta: ``η ∈ [0, 1]``: 0 deterministic DDIM, 1 DDPM ancestral sampling.
        divergence: the loss's Bregman divergence (squared error, as for flows).

    Example:
        >>> import torch
        >>> from genmatch import CondOT, simulate
        >>> from genmatch.marginal import GaussianMarginal
        >>> oracle = GaussianMarginal(torch.ones(2), 0.25 * torch.eye(2), CondOT())
        >>> rng = torch.Generator().manual_seed(0)
        >>> x = simulate(DDIM(CondOT(), eta=1.0), oracle.velocity, torch.randn(4000, 2), 50,
        ...              rng=rng).x
        >>> bool((x.mean(0) - 1).abs().max() < 0.05), bool((x.std(0) - 0.5).abs().max() < 0.05)
        (True, True)
    """

    schedule: AbstractSchedule
    eta: float = 0.0
    divergence: AbstractBregmanDivergence = field(default_factory=SquaredEuclidean)
    parametrization: VelocityParametrization = field(
        default_factory=VelocityParametrization, init=False
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")

    def conditional_target(self, path: AbstractConditionalPath, sample: PathSample) -> Tensor:
        return FlowGenerator().conditional_target(path, sample)

    def step(
        self,
        field: Field,
        x: Tensor,
        t: Tensor,
        h: float,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        data, eps = to_data_and_epsilon(field(x, t), Prediction.VELOCITY, x, t, self.schedule)
        s = shift_time(t, h).clamp(0.0, 1.0)
        shape = (-1,) + (1,) * (x.dim() - 1)
        alpha_s = self.schedule.alpha(s).reshape(shape)
        sigma_s = self.schedule.sigma(s).reshape(shape)
        if self.eta == 0.0:
            return alpha_s * data + sigma_s * eps
        c = self.eta * posterior_std(self.schedule, t, s).reshape(shape)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return alpha_s * data + (sigma_s**2 - c**2).clamp_min(0).sqrt() * eps + c * noise


def posterior_std(schedule: AbstractSchedule, t: Tensor, s: Tensor) -> Tensor:
    """``σ̃ = σ_{t|s} σ_s / σ_t``: the std of ``X_s`` given ``X_t`` and ``Z`` (``t < s``).

    ``σ²_{t|s} = σ_t² − (α_t/α_s)² σ_s²`` is the variance the forward process adds from ``s``
    back to ``t``. Shapes: ``t, s: (batch,)`` → ``(batch,)``.
    """
    alpha_t, sigma_t = schedule.alpha(t), schedule.sigma(t)
    alpha_s, sigma_s = schedule.alpha(s), schedule.sigma(s)
    var_ts = (sigma_t**2 - (alpha_t / alpha_s) ** 2 * sigma_s**2).clamp_min(0)
    return var_ts.sqrt() * sigma_s / sigma_t
