"""Superposition weights ``t ↦ α_t``: rows of non-negative numbers summing to 1 (GM Prop. 3.1).

Any convex combination ``Σ_i α^i_t L^i_t`` of generators of one marginal path ``p_t`` solves
its forward equation at every ``t``, whatever the dependence of ``α_t`` on ``t``:
``∂_t ⟨p_t, f⟩ = Σ_i α^i_t ⟨p_t, L^i_t f⟩`` because each part gives the same right-hand side.
The weights therefore only change how ``p_t`` is sampled, not what is sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor


def check_simplex(values: tuple[float, ...], name: str) -> None:
    """Raise ``ValueError`` unless ``values`` are finite, ``>= 0`` and sum to 1 (to ``1e-9``)."""
    if (
        not values
        or any(not math.isfinite(v) or v < 0 for v in values)
        or abs(sum(values) - 1) > 1e-9
    ):
        raise ValueError(f"{name} must be >= 0 and sum to 1, got {values}")


def _row(values: tuple[float, ...], t: Tensor) -> Tensor:
    """``values`` as a ``(1, n)`` tensor with ``t``'s dtype and device."""
    return torch.tensor(values, dtype=t.dtype, device=t.device)[None]


@final
@dataclass(frozen=True)
class ConstantWeights:
    """Time-independent superposition weights ``α^i``, non-negative and summing to 1.

    Shapes: ``t (batch,)`` → ``(batch, n)``.

    Example:
        >>> import torch
        >>> ConstantWeights((0.25, 0.75))(torch.zeros(2))
        tensor([[0.2500, 0.7500],
                [0.2500, 0.7500]])
    """

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        check_simplex(self.values, "weights")

    def __call__(self, t: Tensor) -> Tensor:
        return _row(self.values, t).expand(t.shape[0], len(self.values))


@final
@dataclass(frozen=True)
class LinearWeights:
    """``α_t = (1 − t) α_0 + t α_1``: weights moving linearly from ``start`` to ``end``.

    A convex combination of two points of the simplex stays in it, so every ``α_t`` is valid.
    Shapes: ``t (batch,)`` → ``(batch, n)``.

    Example:
        >>> import torch
        >>> LinearWeights((0.0, 1.0), (1.0, 0.0))(torch.tensor([0.0, 0.25]))
        tensor([[0.0000, 1.0000],
                [0.2500, 0.7500]])
    """

    start: tuple[float, ...]
    end: tuple[float, ...]

    def __post_init__(self) -> None:
        check_simplex(self.start, "start")
        check_simplex(self.end, "end")
        if len(self.start) != len(self.end):
            raise ValueError(f"start has {len(self.start)} weights, end {len(self.end)}")

    def __call__(self, t: Tensor) -> Tensor:
        s = t[:, None]
        return (1 - s) * _row(self.start, t) + s * _row(self.end, t)


@final
@dataclass(frozen=True)
class SwitchWeights:
    """``α_t = before`` for ``t < at``, ``α_t = after`` for ``t ≥ at``: a switch of generator.

    With ``before = (0, 1)`` and ``after = (1, 0)`` on ``[flow, jump]`` the process jumps on
    ``[0, at)`` and flows on ``[at, 1]``: at ``at = ½`` it beats an Euler flow at equal NFE
    on the 2-D benchmarks, not a midpoint flow (``docs/concepts.md``, "When superposition
    pays"). Sampling evaluates ``α`` at the start of each step, so a step that
    straddles ``at`` uses ``before`` throughout.
    Shapes: ``t (batch,)`` → ``(batch, n)``.

    Example:
        >>> import torch
        >>> SwitchWeights((0.0, 1.0), (1.0, 0.0), at=0.5)(torch.tensor([0.25, 0.5]))
        tensor([[0., 1.],
                [1., 0.]])
    """

    before: tuple[float, ...]
    after: tuple[float, ...]
    at: float

    def __post_init__(self) -> None:
        check_simplex(self.before, "before")
        check_simplex(self.after, "after")
        if len(self.before) != len(self.after):
            raise ValueError(f"before has {len(self.before)} weights, after {len(self.after)}")
        if isinstance(self.at, bool) or not isinstance(self.at, (int, float)):
            raise TypeError(f"at must be a float, got {self.at!r}")
        if not 0.0 <= self.at <= 1.0:
            raise ValueError(f"at must be in [0, 1], got {self.at}")

    def __call__(self, t: Tensor) -> Tensor:
        early = (t < self.at)[:, None]
        return torch.where(early, _row(self.before, t), _row(self.after, t))
