"""Source distributions ``p`` (GM §9.1)."""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import final

import torch

from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.types import State


class AbstractSource(abc.ABC):
    """A distribution ``p`` on a state space from which ``X_0`` is drawn."""

    @abc.abstractmethod
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> State:
        """Draw ``n`` points."""


@final
@dataclass(frozen=True)
class GaussianSource(AbstractSource):
    """Isotropic Gaussian ``N(0, std² I)`` on a Euclidean space.

    ``std = 1`` matches :class:`~genmatch.paths.AffineGaussianPath` with a schedule with
    ``σ_0 = 1``; use ``std = σ_max`` with :class:`~genmatch.paths.VE`.

    Example:
        >>> import torch
        >>> from genmatch.spaces import EuclideanSpace
        >>> rng = torch.Generator().manual_seed(0)
        >>> GaussianSource(EuclideanSpace(2)).sample(3, generator=rng).shape
        torch.Size([3, 2])
    """

    space: EuclideanSpace
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std}")

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        x = torch.randn(
            (n, *self.space.event_shape), generator=generator, dtype=dtype, device=device
        )
        return x if self.std == 1.0 else self.std * x

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log N(x; 0, std² I)``: ``(batch, *event) → (batch,)``."""
        d = self.space.dim
        sq = (x.reshape(x.shape[0], -1) ** 2).sum(1)
        return -0.5 * sq / self.std**2 - d * math.log(self.std) - 0.5 * d * math.log(2 * math.pi)


@final
@dataclass(frozen=True, eq=False)
class CategoricalSource(AbstractSource):
    """A product of categoricals on a :class:`~genmatch.spaces.DiscreteSpace`.

    ``p(x) = Π_i q_i(x_i)`` with ``q`` one distribution per position (``(L, S)``) or one for
    all (``(S,)``). :meth:`uniform` and :meth:`masked` build the two usual sources.

    Args:
        space: the discrete space.
        probs: ``(S,)`` or ``(L, S)``, non-negative, rows summing to 1.

    Example:
        >>> import torch
        >>> from genmatch.spaces import DiscreteSpace
        >>> src = CategoricalSource.masked(DiscreteSpace(3, 5, mask=True))
        >>> src.sample(2)
        tensor([[5, 5, 5],
                [5, 5, 5]])
    """

    space: DiscreteSpace
    probs: torch.Tensor

    def __post_init__(self) -> None:
        s, length = self.space.num_states, self.space.length
        p = torch.as_tensor(self.probs, dtype=torch.float64)
        if p.dim() == 1:
            p = p.expand(length, -1)
        if p.shape != (length, s):
            raise ValueError(f"probs must be ({s},) or ({length}, {s}), got {tuple(p.shape)}")
        sums = p.sum(-1)
        if bool((p < 0).any()) or not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
            raise ValueError("probs must be non-negative with rows summing to 1")
        # renormalise in float64: probabilities given in float32 sum to 1 only to ~1e-7
        object.__setattr__(self, "probs", (p / p.sum(-1, keepdim=True)).contiguous())

    @classmethod
    def uniform(cls, space: DiscreteSpace) -> CategoricalSource:
        """Uniform over the real tokens (never the mask)."""
        p = torch.zeros(space.num_states, dtype=torch.float64)
        p[: space.vocab_size] = 1.0 / space.vocab_size
        return cls(space, p)

    @classmethod
    def masked(cls, space: DiscreteSpace) -> CategoricalSource:
        """Every position is the mask token (needs ``space.mask``)."""
        if space.mask_token is None:
            raise ValueError("a masked source needs a DiscreteSpace with mask=True")
        p = torch.zeros(space.num_states, dtype=torch.float64)
        p[space.mask_token] = 1.0
        return cls(space, p)

    def position_probs(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``q``, ``(L, S)``."""
        return self.probs.to(dtype=dtype, device=device)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> State:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        p = self.probs.to(device=device)
        draws = torch.multinomial(p, n, replacement=True, generator=generator)  # (L, n)
        return draws.T.contiguous()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = Σ_i log q_i(x_i)``: ``(batch, L) → (batch,)`` (float64)."""
        q = self.probs.to(x.device)
        return torch.log(q.gather(1, x.T).T).sum(1)
