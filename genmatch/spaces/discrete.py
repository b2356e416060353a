"""Sequences of tokens: ``S = {0, …, V−1}^L`` (optionally with a mask token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch

from genmatch._checks import value_checks_enabled
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.types import State


@final
@dataclass(frozen=True)
class DiscreteSpace(AbstractFiniteSpace):
    """Token sequences of length ``length`` over a vocabulary of ``vocab_size`` symbols.

    With ``mask=True`` one extra state, the mask token ``vocab_size``, is part of the space (the
    source of masked models); ``num_states = vocab_size + mask``.

    Args:
        length: ``L``, the number of positions.
        vocab_size: ``V``, the number of real tokens.
        mask: whether the mask token ``V`` is a state.

    Shapes:
        points: ``(batch, L)``, ``torch.int64``, values in ``[0, num_states)``.

    Example:
        >>> import torch
        >>> space = DiscreteSpace(4, 3, mask=True)
        >>> space.num_states, space.mask_token
        (4, 3)
        >>> space.check(torch.tensor([[0, 1, 2, 3]]))
        >>> space.check(torch.tensor([[0, 1, 2, 4]]))
        Traceback (most recent call last):
        ...
        ValueError: x has tokens outside [0, 4): found 4
    """

    length: int
    vocab_size: int
    mask: bool = False

    def __post_init__(self) -> None:
        for name in ("length", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.vocab_size + self.mask < 2:
            raise ValueError("a discrete space needs at least two states")

    @property
    def num_states(self) -> int:
        """``S``: tokens per position, the mask included."""
        return self.vocab_size + int(self.mask)

    @property
    def mask_token(self) -> int | None:
        """The mask token's id (``vocab_size``), or ``None`` without a mask."""
        return self.vocab_size if self.mask else None

    @property
    def event_shape(self) -> tuple[int, ...]:
        """``(L,)``."""
        return (self.length,)

    def check(self, x: State, name: str = "x") -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
        if x.dtype != torch.int64:
            raise TypeError(f"{name} must be int64 tokens, got {x.dtype}")
        if x.dim() != 2 or x.shape[1] != self.length:
            raise ValueError(f"{name} must have shape (batch, {self.length}), got {tuple(x.shape)}")
        if value_checks_enabled() and x.numel() > 0:
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.num_states:
                bad = low if low < 0 else high
                raise ValueError(f"{name} has tokens outside [0, {self.num_states}): found {bad}")

    @property
    def num_points(self) -> int:
        """``S^L``, the number of sequences."""
        return self.num_states**self.length

    def enumerate(self) -> torch.Tensor:
        """Every point of the space, ``(S^L, L)`` in lexicographic order (small spaces only)."""
        total = self.num_states**self.length
        if total > 1_000_000:
            raise ValueError(f"the space has {total} points, too many to enumerate")
        idx = torch.arange(total)
        powers = self.num_states ** torch.arange(self.length - 1, -1, -1)
        return (idx[:, None] // powers) % self.num_states

    def index(self, x: torch.Tensor) -> torch.Tensor:
        """Position of each point in :meth:`enumerate`'s order, ``(batch,)``."""
        powers = self.num_states ** torch.arange(self.length - 1, -1, -1, device=x.device)
        return (x * powers).sum(1)
