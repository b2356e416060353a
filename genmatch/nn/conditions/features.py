"""Real feature vectors as conditions."""

from __future__ import annotations

from typing import final

from torch import Tensor, nn

from genmatch._checks import check_float_tensor, check_positive_int
from genmatch.nn.conditions.base import AbstractConditionEmbedding


@final
class FeatureEmbedding(AbstractConditionEmbedding):
    """``c ↦ W c + b`` for real conditions ``(batch, features)``; ``e(∅)`` learned.

    Args:
        features: the condition's size.
        dim: the embedding width.

    Example:
        >>> import torch
        >>> FeatureEmbedding(3, 4)(torch.zeros(2, 3), 2).shape
        torch.Size([2, 4])
    """

    def __init__(self, features: int, dim: int) -> None:
        super().__init__(dim)
        self.features = check_positive_int(features, "features")
        self.linear = nn.Linear(self.features, dim)

    def embed(self, value: Tensor) -> Tensor:
        check_float_tensor(value, "c")
        if value.dim() != 2 or value.shape[1] != self.features:
            raise ValueError(f"c must be (batch, {self.features}), got {tuple(value.shape)}")
        return self.linear(value)
