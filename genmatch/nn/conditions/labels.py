"""Class labels as conditions."""

from __future__ import annotations

from typing import final

import torch
from torch import Tensor, nn

from genmatch._checks import check_positive_int, value_checks_enabled
from genmatch.nn.conditions.base import AbstractConditionEmbedding


@final
class LabelEmbedding(AbstractConditionEmbedding):
    """``k ↦ E[k]``: a learned vector per class, ``e(∅)`` for the null condition.

    Args:
        num_classes: ``K``; labels are int64 in ``[0, K)``, shaped ``(batch,)`` or ``(batch, 1)``.
        dim: the embedding width.

    Example:
        >>> import torch
        >>> emb = LabelEmbedding(3, 4)
        >>> emb(torch.tensor([0, 2]), 2).shape, emb(None, 5).shape
        (torch.Size([2, 4]), torch.Size([5, 4]))
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__(dim)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.table = nn.Embedding(self.num_classes, dim)

    def embed(self, value: Tensor) -> Tensor:
        if not isinstance(value, Tensor) or value.dtype != torch.int64:
            got = value.dtype if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"labels must be int64, got {got}")
        if value.dim() == 2 and value.shape[1] == 1:
            value = value[:, 0]
        if value.dim() != 1:
            raise ValueError(f"labels must be (batch,) or (batch, 1), got {tuple(value.shape)}")
        if value_checks_enabled() and value.numel() > 0:
            low, high = int(value.min()), int(value.max())
            if low < 0 or high >= self.num_classes:
                raise ValueError(f"labels must be in [0, {self.num_classes}), found {low}..{high}")
        return self.table(value)
