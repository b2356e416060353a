"""The result of a coupling: paired source and data samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from torch import Tensor


@final
@dataclass(frozen=True)
class CoupledBatch:
    """Paired samples: ``(x_0[i], x_1[i])`` is one draw of the coupling.

    Shapes:
        x_0: ``(batch, *event)``; x_1: ``(batch, *event)``.
    """

    x_0: Tensor
    x_1: Tensor
