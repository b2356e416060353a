"""Token sequences to transformer tokens: one token per position."""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from genmatch._checks import check_positive_int, value_checks_enabled


@final
class TokenEncoder(nn.Module):
    """``x ↦ E[x_l] + P_l``: a token embedding plus a learned position embedding per position.

    The encoder of a :class:`~genmatch.spaces.DiscreteSpace` factor (``num_tokens = L``).

    Args:
        length: ``L``, the number of positions (``num_tokens``).
        num_states: ``S``, the number of token states (the mask token included).
        d_model: the token width.

    Shapes:
        x: ``(batch, L)`` int64 in ``[0, S)``; returns ``(batch, L, d_model)``.

    Example:
        >>> import torch
        >>> enc = TokenEncoder(length=3, num_states=5, d_model=8)
        >>> enc(torch.tensor([[0, 4, 2]])).shape, enc.num_tokens
        (torch.Size([1, 3, 8]), 3)
    """

    def __init__(self, length: int, num_states: int, d_model: int) -> None:
        super().__init__()
        self.num_tokens = check_positive_int(length, "length")
        self.num_states = check_positive_int(num_states, "num_states")
        d_model = check_positive_int(d_model, "d_model")
        self.token = nn.Embedding(self.num_states, d_model)
        self.position = nn.Parameter(torch.randn(self.num_tokens, d_model) * 0.02)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dtype != torch.int64:
            got = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise TypeError(f"x must be int64 tokens, got {got}")
        if x.dim() != 2 or x.shape[1] != self.num_tokens:
            raise ValueError(f"x must have shape (batch, {self.num_tokens}), got {tuple(x.shape)}")
        if value_checks_enabled() and x.numel() > 0:
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.num_states:
                bad = low if low < 0 else high
                raise ValueError(f"x has tokens outside [0, {self.num_states}): found {bad}")
        return self.token(x) + self.position
