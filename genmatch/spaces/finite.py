"""Finite state spaces: the capability of enumerating and indexing every point."""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from genmatch.spaces.base import AbstractStateSpace
from genmatch.types import State


class AbstractFiniteSpace(AbstractStateSpace):
    """A state space with finitely many points ``S = {s_0, …, s_{M−1}}``.

    Subclass it for spaces such as permutations, small graphs or token sequences: besides
    :meth:`check`, implement :meth:`enumerate` (every point, in a fixed order) and
    :meth:`index` (each point's position in that order). With them the space gets the
    counting measure as reference measure, the uniform source
    (:class:`~genmatch.sources.UniformFiniteSource`), mixture-path densities, the exact
    marginal, a trainable whole-state jump head (:class:`~genmatch.generators.JumpGenerator`)
    and the exact forward-equation check
    :func:`genmatch.testing.check_finite_forward_equation`.
    """

    @abc.abstractmethod
    def enumerate(self) -> State:
        """Every point of the space, a batch of :attr:`num_points` points in a fixed order."""

    @abc.abstractmethod
    def index(self, x: State) -> Tensor:
        """The position of each point of ``x`` in :meth:`enumerate`'s order, ``(batch,)`` int64."""

    @property
    def num_points(self) -> int:
        """``M = |S|``."""
        return self.batch_size(self.enumerate())

    def one_hot(self, x: State, dtype: torch.dtype = torch.float32) -> Tensor:
        """``δ_x`` as a ``(batch, M)`` row per point."""
        return torch.nn.functional.one_hot(self.index(x), self.num_points).to(dtype)
