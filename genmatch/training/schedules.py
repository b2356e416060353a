"""Learning-rate schedules: stateless functions of the step."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final


@final
@dataclass(frozen=True)
class WarmupCosine:
    """The learning-rate factor ``f(s)`` of optimizer step ``s = 0, 1, ...``: a linear
    warm-up over ``warmup`` steps, then a cosine decay to ``final`` at step ``total``.

    ``f(s) = (s + 1) / warmup`` for ``s < warmup``, then with
    ``u = (s - warmup) / (total - warmup)`` clipped to ``[0, 1]``,
    ``f(s) = final + (1 - final) (1 + cos(π u)) / 2``.

    It is a pure function of the step (the loop sets ``lr = base_lr · f(step)`` before every
    optimizer step), so resuming needs no scheduler state. ``total = 0`` keeps the factor at
    ``1`` after the warm-up (warm-up only).

    Args:
        warmup: warm-up steps (``0``: none).
        total: the step at which the cosine reaches ``final`` (``0``: no decay).
        final: the factor at the end of the decay, in ``[0, 1]``.

    Example:
        >>> s = WarmupCosine(warmup=2, total=6, final=0.0)
        >>> [round(s(i), 3) for i in range(7)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0]
    """

    warmup: int = 0
    total: int = 0
    final: float = 0.0

    def __post_init__(self) -> None:
        for name in ("warmup", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.total and self.total <= self.warmup:
            raise ValueError(
                f"total ({self.total}) must exceed warmup ({self.warmup}), or be 0 for no decay"
            )
        if not (isinstance(self.final, (int, float)) and 0.0 <= self.final <= 1.0):
            raise ValueError(f"final must be a float in [0, 1], got {self.final!r}")

    def __call__(self, step: int) -> float:
        """The factor at optimizer step ``step`` (0-based)."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        if not self.total:
            return 1.0
        u = min(max((step - self.warmup) / (self.total - self.warmup), 0.0), 1.0)
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * u))
