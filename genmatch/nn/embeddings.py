"""Time embeddings."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalTimeEmbedding(nn.Module):
    """``t ↦ [sin(2π f_k t), cos(2π f_k t)]_k`` with ``dim/2`` log-spaced frequencies.

    Frequencies run from 1/2 to ``max_frequency`` cycles per unit time; times are in ``[0, 1]``.

    Shapes:
        t: ``(batch,)``; returns ``(batch, dim)``.
    """

    frequencies: Tensor

    def __init__(self, dim: int, max_frequency: float = 64.0) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim}")
        freqs = torch.exp(torch.linspace(math.log(0.5), math.log(max_frequency), dim // 2))
        self.register_buffer("frequencies", 2 * math.pi * freqs, persistent=False)
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        angles = t.unsqueeze(-1) * self.frequencies.to(t.dtype)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
