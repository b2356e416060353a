"""The mixture path on any state space (GM eq. 9.2, 9.25)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import as_time
from genmatch.paths.base import AbstractDensityPath, AbstractMixturePath, PathSample
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.sources.base import AbstractSource
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.types import State


@final
@dataclass(frozen=True)
class MixturePath(AbstractMixturePath, AbstractDensityPath):
    """``p_{t|Z}(dx|z) = κ_t δ_z(dx) + (1 − κ_t) p(dx)`` (GM eq. 9.25), on any state space.

    A sample is ``z`` with probability ``κ_t`` and the source sample ``x_0`` otherwise. Its
    conditional generator is the jump process with intensity ``κ̇_t/(1 − κ_t)`` that jumps
    straight to ``z`` (:class:`~genmatch.generators.JumpGenerator`).

    Density (finite spaces, :class:`~genmatch.spaces.AbstractFiniteSpace`, with a source that
    has a ``log_prob``): w.r.t. the counting measure,
    ``p_{t|Z}(x|z) = κ_t 1[x = z] + (1 − κ_t) p(x)``, which gives the exact marginal
    (:class:`~genmatch.ExactMarginal`) and the forward-equation check on finite spaces. On other
    spaces the path has no density and :meth:`log_prob` raises.

    Args:
        space: the state space (its ``where`` picks between points).
        source: the source ``p``, used when ``x_0`` is not given.
        kappa: the mixing schedule.
    """

    space: AbstractStateSpace
    source: AbstractSource
    kappa: AbstractKappaSchedule

    def sample(
        self,
        z: State,
        t: Tensor,
        *,
        x_0: State | None = None,
        generator: torch.Generator | None = None,
    ) -> PathSample:
        self.space.check(z, "z")
        n = self.space.batch_size(z)
        t = as_time(t, n, self.space.reference(z))
        if x_0 is not None:
            self.space.check(x_0, "x_0")
            if self.space.batch_size(x_0) != n:
                raise ValueError(f"x_0 has {self.space.batch_size(x_0)} points but z has {n}")
        if x_0 is None:
            x_0 = self.source.sample(n, generator=generator, dtype=t.dtype, device=t.device)
        u = torch.rand(n, generator=generator, dtype=t.dtype, device=t.device)
        x_t = self.space.where(u < self.kappa.kappa(t), z, x_0)
        return PathSample(x_t=x_t, t=t, z=z, x_0=x_0)

    def log_prob(self, x: State, t: Tensor, z: State) -> Tensor:
        """``log(κ_t 1[x = z] + (1 − κ_t) p(x))`` on a finite space, ``(batch,)``."""
        if not isinstance(self.space, AbstractFiniteSpace):
            raise TypeError(
                "the mixture path has a density only on a finite space (AbstractFiniteSpace), "
                f"got {type(self.space).__name__}"
            )
        log_source = getattr(self.source, "log_prob", None)
        if log_source is None:
            raise TypeError(f"the source {type(self.source).__name__} has no log_prob")
        same = (self.space.index(x) == self.space.index(z)).to(t.dtype)
        kappa = self.kappa.kappa(t)
        return torch.log(kappa * same + (1 - kappa) * log_source(x).to(t.dtype).exp())
