"""Product-of-categoricals sources on token sequences (GM §9.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch

from genmatch.sources.base import AbstractSource
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.types import State


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
