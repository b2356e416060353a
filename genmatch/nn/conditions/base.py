"""The abstract condition embedding: conditions in, a vector per point out, ``∅`` learned."""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from genmatch.guidance.condition import Condition, as_condition
from genmatch.types import State


class AbstractConditionEmbedding(nn.Module, abc.ABC):
    """``c ↦ e(c)`` ``(batch, dim)``, with a learned vector ``e(∅)`` for the null condition.

    A network that takes conditions holds one; :meth:`forward` accepts a
    :class:`~genmatch.guidance.Condition` (rows where ``present`` is false get ``e(∅)``), a
    plain batch of conditions (all present) or ``None`` (all ``∅``), so one network gives
    ``F_t(x | c)`` and ``F_t(x)``. Subclasses implement :meth:`embed`.

    Args:
        dim: the embedding width.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.null = nn.Parameter(torch.zeros(dim))

    @abc.abstractmethod
    def embed(self, value: State) -> Tensor:
        """Embeddings of present conditions: a batch of conditions → ``(batch, dim)``."""

    def forward(self, c: Condition | State | None, batch: int) -> Tensor:
        """``(batch, dim)`` embeddings; ``batch`` is the number of points."""
        cond = as_condition(c, batch)
        if cond is None or cond.value is None:
            return self.null.expand(batch, self.dim)
        e = self.embed(cond.value)
        if e.shape != (batch, self.dim):
            raise ValueError(f"embed must return ({batch}, {self.dim}), got {tuple(e.shape)}")
        if cond.present is None:
            return e
        return torch.where(cond.present[:, None], e, self.null.to(e.dtype))
