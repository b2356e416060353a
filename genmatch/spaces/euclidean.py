"""Euclidean space ``R^{event_shape}``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

from genmatch._checks import check_finite, check_points_dtype
from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import State


@final
@dataclass(frozen=True, init=False)
class EuclideanSpace(AbstractStateSpace):
    """The Euclidean space ``R^d`` with points of any event shape (vectors, images, ...).

    Args:
        event_shape: the shape of one point, e.g. ``2`` or ``(2,)`` for the plane,
            ``(3, 32, 32)`` for images.

    Shapes:
        points: ``(batch, *event_shape)``, float32 or float64 (half precision is refused).

    Example:
        >>> import torch
        >>> space = EuclideanSpace(2)
        >>> space.dim
        2
        >>> space.check(torch.zeros(5, 2))
        >>> space.check(torch.zeros(5, 3))
        Traceback (most recent call last):
        ...
        ValueError: x must have shape (batch, 2), got (5, 3)
    """

    event_shape: tuple[int, ...]

    def __init__(self, event_shape: int | tuple[int, ...]) -> None:
        shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
        if len(shape) == 0 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
        ):
            raise ValueError(f"event_shape must be positive integers, got {event_shape!r}")
        object.__setattr__(self, "event_shape", shape)

    @property
    def dim(self) -> int:
        """The dimension ``d`` = product of the event shape."""
        return math.prod(self.event_shape)

    def check(self, x: State, name: str = "x") -> None:
        """Raise unless ``x`` is a float32/float64 batch ``(batch, *event_shape)`` of finite
        points (an empty batch is valid)."""
        check_points_dtype(x, name)
        if tuple(x.shape[1:]) != self.event_shape or x.dim() != 1 + len(self.event_shape):
            expected = ", ".join(["batch", *map(str, self.event_shape)])
            raise ValueError(f"{name} must have shape ({expected}), got {tuple(x.shape)}")
        check_finite(x, name)
