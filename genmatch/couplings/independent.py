"""The independent coupling ``π = p ⊗ q``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.couplings.base import AbstractCoupling
from genmatch.couplings.batch import CoupledBatch


@final
@dataclass(frozen=True)
class IndependentCoupling(AbstractCoupling):
    """``π = p ⊗ q``: the batches are paired as given (any states, products included)."""

    def pair(
        self, x_0: Tensor, x_1: Tensor, *, generator: torch.Generator | None = None
    ) -> CoupledBatch:
        return CoupledBatch(x_0=x_0, x_1=x_1)
