"""The abstract source distribution ``p`` (GM §9.1)."""

from __future__ import annotations

import abc

import torch

from genmatch.types import State


class AbstractSource(abc.ABC):
    """A distribution ``p`` on a state space from which ``X_0`` is drawn."""

    @abc.abstractmethod
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> State:
        """Draw ``n`` points."""
