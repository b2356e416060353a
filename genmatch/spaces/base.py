"""The abstract state space."""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from genmatch.types import State


class AbstractStateSpace(abc.ABC):
    """A state space ``S``: what a batch of points is and which batches are valid.

    Subclass it to define a new space. Only :meth:`check` is abstract; the defaults below
    assume a point batch is a tensor ``(batch, *event)`` and are overridden by spaces whose
    points are structured (products, graphs).

    A space's :meth:`check` must raise a clear ``TypeError``/``ValueError`` for a batch that is
    not a valid set of points (wrong shape, dtype, or values off the space) and return
    ``None`` otherwise. Use :func:`genmatch.testing.check_state_space` to test a subclass.
    """

    @abc.abstractmethod
    def check(self, x: State, name: str = "x") -> None:
        """Raise unless ``x`` is a valid batch of points of this space.

        Args:
            x: a batch of points.
            name: the argument's name, for error messages.
        """

    def batch_size(self, x: State) -> int:
        """Number of points in the batch ``x``."""
        return int(x.shape[0])

    def where(self, mask: Tensor, a: State, b: State) -> State:
        """Pick ``a[i]`` where ``mask[i]`` else ``b[i]``, for each point ``i``.

        Shapes:
            mask: ``(batch,)`` bool; a, b: batches of points; returns a batch of points.
        """
        return torch.where(mask.reshape(mask.shape + (1,) * (a.dim() - 1)), a, b)
