"""Time grids for simulation and time distributions for training."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor


@final
@dataclass(frozen=True, init=False)
class TimeGrid:
    """An increasing grid ``0 ≤ t_0 < t_1 < … < t_n ≤ 1`` of ``n = steps`` intervals.

    A simulation makes ``steps`` calls to its generator's ``step``, so its number of function
    evaluations is ``NFE = steps × nfe_per_step`` (1 for Euler, 2 for midpoint and Heun, 4
    for RK4). The grid lives on the host: stepping over it never synchronises with a device.

    Args:
        times: the grid points, strictly increasing, within ``[0, 1]``, at least two.

    Example:
        >>> TimeGrid.uniform(4).times
        (0.0, 0.25, 0.5, 0.75, 1.0)
        >>> TimeGrid.uniform(4).steps
        4
    """

    times: tuple[float, ...]

    def __init__(self, times: Sequence[float] | Tensor) -> None:
        values = tuple(float(v) for v in (times.tolist() if isinstance(times, Tensor) else times))
        if len(values) < 2:
            raise ValueError(f"a time grid needs at least 2 points, got {len(values)}")
        if not all(0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"grid times must lie in [0, 1], got {values[0]} … {values[-1]}")
        if not all(b > a for a, b in zip(values, values[1:], strict=False)):
            raise ValueError("grid times must be strictly increasing")
        object.__setattr__(self, "times", values)

    @classmethod
    def uniform(cls, steps: int, t_start: float = 0.0, t_end: float = 1.0) -> TimeGrid:
        """``steps`` equal intervals from ``t_start`` to ``t_end``."""
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        h = (t_end - t_start) / steps
        return cls([t_start + i * h for i in range(steps)] + [t_end])

    @property
    def steps(self) -> int:
        """Number of intervals."""
        return len(self.times) - 1

    def as_tensor(
        self, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> Tensor:
        """The grid as a ``(steps + 1,)`` tensor."""
        return torch.tensor(self.times, dtype=dtype, device=device)


class AbstractTimeSampler(abc.ABC):
    """A distribution of training times on ``[0, 1]``."""

    @abc.abstractmethod
    def sample(
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw ``(n,)`` times in ``[0, 1]``."""


@final
@dataclass(frozen=True)
class UniformTime(AbstractTimeSampler):
    """``t ~ U[0, 1]`` (GM eq. 9.16)."""

    def sample(
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        return torch.rand(n, dtype=dtype, device=device, generator=generator)


@final
@dataclass(frozen=True)
class LogitNormalTime(AbstractTimeSampler):
    """``t = sigmoid(m + s ε)``, ``ε ~ N(0, 1)``: concentrates training on middle times.

    Args:
        mean: ``m``, the location in logit space.
        std: ``s > 0``, the scale in logit space.
    """

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"std must be > 0, got {self.std}")

    def sample(
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        eps = torch.randn(n, dtype=dtype, device=device, generator=generator)
        return torch.sigmoid(self.mean + self.std * eps)
