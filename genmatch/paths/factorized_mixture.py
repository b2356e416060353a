"""The per-position mixture path on token sequences (GM eq. 9.2 / 9.25, factorized)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_instance, check_path_inputs
from genmatch.paths.base import AbstractFactorizedMixturePath, PathSample
from genmatch.paths.kappa import AbstractKappaSchedule
from genmatch.sources.categorical import CategoricalSource
from genmatch.spaces.discrete import DiscreteSpace


@final
@dataclass(frozen=True, eq=False)
class FactorizedMixturePath(AbstractFactorizedMixturePath):
    """``p_{t|Z}(x|z) = Π_i [κ_t δ_{z_i}(x_i) + (1 − κ_t) q_i(x_i)]`` (GM eq. 9.25, per position).

    Each position independently shows the data token ``z_i`` with probability ``κ_t`` and a
    source token ``x_{0,i} ~ q_i`` otherwise. Its conditional CTMC
    (:class:`~genmatch.generators.CTMCGenerator`) moves position ``i`` to ``z_i`` at rate
    ``κ̇_t/(1 − κ_t)``; the tests check the Kolmogorov forward equation exactly. Densities
    (:meth:`probs`, :meth:`log_prob`) are those of
    :class:`~genmatch.paths.AbstractFactorizedMixturePath`.

    Args:
        space: the discrete space.
        source: the factorized source ``q`` (uniform, masked or any product categorical).
        kappa: the schedule ``κ_t`` (``κ_0 = 0``, ``κ_1 = 1``).

    Example:
        >>> import torch
        >>> from genmatch.spaces import DiscreteSpace
        >>> from genmatch.sources import CategoricalSource
        >>> from genmatch.paths import LinearKappa
        >>> space = DiscreteSpace(4, 2, mask=True)
        >>> path = FactorizedMixturePath(space, CategoricalSource.masked(space), LinearKappa())
        >>> z = torch.zeros(1, 4, dtype=torch.long)
        >>> path.sample(z, torch.tensor([1.0])).x_t
        tensor([[0, 0, 0, 0]])
    """

    space: DiscreteSpace
    source: CategoricalSource
    kappa: AbstractKappaSchedule

    def __post_init__(self) -> None:
        check_instance(self.space, DiscreteSpace, "space")
        check_instance(self.source, CategoricalSource, "source")
        check_instance(self.kappa, AbstractKappaSchedule, "kappa")
        if self.source.space != self.space:
            raise ValueError("the source lives on a different space than the path")

    def sample(
        self,
        z: Tensor,
        t: Tensor,
        *,
        x_0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PathSample:
        self.space.check(z, "z")
        t = check_path_inputs(z, t, x_0, floating=False)
        if x_0 is not None:
            self.space.check(x_0, "x_0")
        if x_0 is None:
            x_0 = self.source.sample(z.shape[0], generator=generator, device=z.device)
        u = torch.rand(z.shape, generator=generator, dtype=t.dtype, device=z.device)
        x_t = torch.where(u < self.kappa.kappa(t)[:, None], z, x_0)
        return PathSample(x_t=x_t, t=t, z=z, x_0=x_0)
