"""Floating-point points to transformer tokens: flatten, chunk, project."""

from __future__ import annotations

import math
from typing import final

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genmatch._checks import check_float_tensor, check_positive_int


@final
class FeatureEncoder(nn.Module):
    """``x ↦ W · chunk_n(flatten(x)) + b + P_n``: floating points as ``num_tokens`` tokens.

    The flattened point (``D = prod(event_shape)`` features) is cut into ``num_tokens`` chunks
    of ``ceil(D / num_tokens)`` features (the last one zero-padded), each projected by one
    shared linear map; with several tokens a learned position embedding tells them apart.
    Used for Euclidean factors (one token, or a large vector in several) and for manifold
    factors in ambient coordinates (one token per element of a power ``M^N``: ``num_tokens =
    N``, chunks of ``prod(point_shape)`` features).

    Args:
        event_shape: the shape of one point.
        d_model: the token width.
        num_tokens: the number of tokens (``<= D``).

    Shapes:
        x: ``(batch, *event_shape)`` floating; returns ``(batch, num_tokens, d_model)``.

    Example:
        >>> import torch
        >>> enc = FeatureEncoder((4, 3, 3), d_model=8, num_tokens=4)  # SO(3)^4 frames
        >>> enc(torch.zeros(2, 4, 3, 3)).shape
        torch.Size([2, 4, 8])
        >>> FeatureEncoder(64, d_model=8, num_tokens=3).chunk  # 64 features in 3 tokens of 22
        22
    """

    def __init__(
        self, event_shape: int | tuple[int, ...], d_model: int, *, num_tokens: int = 1
    ) -> None:
        super().__init__()
        shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
        if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"event_shape must be positive integers, got {event_shape!r}")
        self.event_shape = shape
        self.num_tokens = check_positive_int(num_tokens, "num_tokens")
        features = math.prod(shape)
        if self.num_tokens > features:
            raise ValueError(f"num_tokens must be <= the {features} features, got {num_tokens}")
        self.chunk = math.ceil(features / self.num_tokens)
        self.pad = self.chunk * self.num_tokens - features
        self.linear = nn.Linear(self.chunk, check_positive_int(d_model, "d_model"))
        self.position = (
            nn.Parameter(torch.randn(self.num_tokens, d_model) * 0.02)
            if self.num_tokens > 1
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        check_float_tensor(x, "x")
        if tuple(x.shape[1:]) != self.event_shape or x.dim() != 1 + len(self.event_shape):
            expected = ", ".join(["batch", *map(str, self.event_shape)])
            raise ValueError(f"x must have shape ({expected}), got {tuple(x.shape)}")
        h = F.pad(x.flatten(1), (0, self.pad)).reshape(x.shape[0], self.num_tokens, self.chunk)
        h = self.linear(h)
        return h if self.position is None else h + self.position
