"""The uniform source on a finite space (GM §9.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch._checks import check_positive_int
from genmatch.sources.base import AbstractSource
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.types import State


@final
@dataclass(frozen=True, eq=False)
class UniformFiniteSource(AbstractSource):
    """The uniform distribution ``p(x) = 1/M`` on a finite space of ``M`` points.

    Args:
        space: the finite space (any :class:`~genmatch.spaces.AbstractFiniteSpace`).

    Example:
        >>> import torch
        >>> from genmatch.spaces import DiscreteSpace
        >>> source = UniformFiniteSource(DiscreteSpace(2, 3))
        >>> source.sample(4, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([4, 2])
        >>> round(float(source.log_prob(torch.zeros(1, 2, dtype=torch.long))[0].exp()), 4)
        0.1111
    """

    space: AbstractFiniteSpace

    def __post_init__(self) -> None:
        if not isinstance(self.space, AbstractFiniteSpace):
            raise TypeError(
                f"UniformFiniteSource needs an AbstractFiniteSpace, got {type(self.space).__name__}"
            )

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> State:
        n = check_positive_int(n, "n")
        states = self.space.enumerate()
        index = torch.randint(self.space.num_points, (n,), generator=generator)
        return self.space.take(states, index.to(self.space.reference(states).device))

    def log_prob(self, x: State) -> Tensor:
        """``−log M`` for every point, ``(batch,)`` float64."""
        n = self.space.batch_size(x)
        device = self.space.reference(x).device
        log_m = -math.log(self.space.num_points)
        return torch.full((n,), log_m, dtype=torch.float64, device=device)
