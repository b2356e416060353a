"""A batch of conditions ``c`` with the rows that hold the null condition ``∅``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor

from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.types import State


@final
@dataclass(frozen=True)
class Condition:
    """Conditions ``c_i`` for a batch of points, some of which may be the null condition ``∅``.

    One network serves ``F_t(x | c)`` and ``F_t(x) = F_t(x | ∅)`` (classifier-free guidance):
    its condition encoder replaces the rows where ``present`` is false by a learned null
    embedding. The loss drops conditions with probability ``p_uncond``
    (:class:`~genmatch.GeneratorMatchingLoss`), sampling passes every row present (or none).

    Attributes:
        value: the conditions, a batch of ``batch`` points of the condition space (a tensor,
            tokens, or a product state); ``None`` when every row is ``∅``.
        present: ``(batch,)`` bool, which rows hold their condition; ``None`` means all.
        batch: the number of rows (needed when ``value`` is ``None``).

    Example:
        >>> import torch
        >>> c = Condition.of(torch.tensor([3, 1]))
        >>> c.batch, c.mask().tolist()
        (2, [True, True])
        >>> Condition.null(2).mask().tolist()
        [False, False]
    """

    value: State | None
    present: Tensor | None
    batch: int

    def __post_init__(self) -> None:
        if self.value is None and self.present is not None and bool(self.present.any()):
            raise ValueError("a condition without a value cannot have present rows")
        if self.present is not None:
            if self.present.dtype != torch.bool or self.present.shape != (self.batch,):
                raise ValueError(
                    f"present must be a ({self.batch},) bool tensor, got "
                    f"{self.present.dtype} {tuple(self.present.shape)}"
                )

    @staticmethod
    def of(value: State, space: AbstractStateSpace | None = None) -> Condition:
        """Every row present: ``value`` is a batch of conditions (validated by ``space``)."""
        states = TENSORS if space is None else space
        states.check(value, "c")
        return Condition(value, None, states.batch_size(value))

    @staticmethod
    def null(batch: int, device: torch.device | str | None = None) -> Condition:
        """``batch`` rows of the null condition ``∅``."""
        return Condition(None, torch.zeros(batch, dtype=torch.bool, device=device), batch)

    def mask(self, device: torch.device | str | None = None) -> Tensor:
        """``present`` as a ``(batch,)`` bool tensor (all true when ``None``)."""
        if self.present is not None:
            return self.present
        return torch.ones(self.batch, dtype=torch.bool, device=device)

    def dropped(
        self, p_uncond: float, rng: torch.Generator | None, device: torch.device
    ) -> Condition:
        """Each present row replaced by ``∅`` with probability ``p_uncond`` (condition dropout)."""
        if p_uncond == 0.0:
            return self
        keep = torch.rand(self.batch, generator=rng, device=device) >= p_uncond
        return Condition(self.value, self.mask(device) & keep, self.batch)


def as_condition(
    c: Condition | State | None, batch: int, space: AbstractStateSpace | None = None
) -> Condition | None:
    """``c`` as a :class:`Condition` of ``batch`` rows (``None`` stays ``None``).

    Raises:
        ValueError: if ``c`` does not have ``batch`` rows.
    """
    if c is None:
        return None
    cond = c if isinstance(c, Condition) else Condition.of(c, space)
    if cond.batch != batch:
        raise ValueError(f"the condition has {cond.batch} rows but the batch has {batch} points")
    return cond
