"""The abstract state space and the batch operations every space provides."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch._checks import as_time
from genmatch.types import State


class AbstractStateSpace(abc.ABC):
    """A state space ``S``: what a batch of points is and which batches are valid.

    Subclass it to define a new space. Only :meth:`check` is abstract. Everything outside a
    space that handles a batch of points (the loss, couplings, :func:`~genmatch.simulate`,
    :class:`~genmatch.ExactMarginal`, :func:`~genmatch.train`) goes through the batch
    operations below, never through tensor methods. Their defaults treat a batch as a tensor
    ``(batch, *event)`` or a *pytree* of such tensors (dicts, tuples, named tuples) that share
    the leading batch dimension, so a space whose points are tensors, tuples or dicts of
    tensors needs nothing but :meth:`check`. A space whose batches are other containers
    (e.g. graph batches) overrides :meth:`batch_size`, :meth:`take`, :meth:`where`,
    :meth:`cat` and :meth:`reference`; :class:`~genmatch.spaces.ProductSpace` delegates each
    to its factors.

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
        """Number of points in the batch ``x`` (the leading dimension of its tensors)."""
        return int(_leaves(x)[0].shape[0])

    def take(self, x: State, index: Tensor) -> State:
        """The points ``x[index[j]]`` for each ``j``: a batch of ``len(index)`` points.

        Shapes:
            index: ``(m,)`` int64 on the device of ``x``; returns a batch of ``m`` points.
        """
        return pytree.tree_map(lambda a: a[index], x)

    def where(self, mask: Tensor, a: State, b: State) -> State:
        """Pick ``a[i]`` where ``mask[i]`` else ``b[i]``, for each point ``i``.

        Shapes:
            mask: ``(batch,)`` bool; a, b: batches of points; returns a batch of points.
        """
        return pytree.tree_map(
            lambda u, v: torch.where(mask.reshape(mask.shape + (1,) * (u.dim() - 1)), u, v), a, b
        )

    def cat(self, parts: Sequence[State]) -> State:
        """Concatenate batches of points along the batch dimension."""
        if len(parts) == 1:
            return parts[0]
        return pytree.tree_map(lambda *xs: torch.cat(xs), parts[0], *parts[1:])

    def reference(self, x: State) -> Tensor:
        """The tensor that fixes the device of a batch and the dtype of its times: the first
        floating-point tensor of ``x``, else its first tensor (token sequences are int64,
        their times float; see :meth:`times`)."""
        leaves = _leaves(x)
        return next((a for a in leaves if a.is_floating_point()), leaves[0])

    def times(self, t: object, batch: int, ref: Tensor, name: str = "t") -> Any:
        """Validate times for a batch of ``batch`` points and broadcast them to ``(batch,)``.

        Args:
            t: a Python float, a 0-d tensor or a ``(batch,)`` tensor of times in ``[0, 1]``.
            batch: the number of points.
            ref: the batch's :meth:`reference` tensor (device, time dtype).
            name: the argument's name, for error messages.

        Returns:
            ``(batch,)`` times; a :class:`~genmatch.spaces.ProductSpace` returns one per factor.
        """
        return as_time(t, batch, ref, name)  # type: ignore[arg-type]


def _leaves(x: State) -> list[Tensor]:
    leaves = pytree.tree_leaves(x)
    if not leaves or not all(isinstance(a, Tensor) for a in leaves):
        raise TypeError(
            f"a batch of points must be a tensor or a dict/tuple of tensors, got "
            f"{type(x).__name__}; a space with other batches overrides the batch operations"
        )
    return leaves


class TensorSpace(AbstractStateSpace):
    """The space used when none is given: batches are tensors ``(batch, *event)`` or pytrees
    of tensors sharing their leading dimension. Its :meth:`check` validates that structure
    only (no shapes or values), so pass the real space where validation matters."""

    def check(self, x: State, name: str = "x") -> None:
        leaves = pytree.tree_leaves(x)
        if not leaves or not all(isinstance(a, Tensor) and a.dim() >= 1 for a in leaves):
            raise TypeError(
                f"{name} must be a tensor (batch, *event) or a dict/tuple of them, "
                f"got {type(x).__name__}"
            )
        sizes = {int(a.shape[0]) for a in leaves}
        if len(sizes) != 1:
            raise ValueError(f"the tensors of {name} disagree on the batch size: {sorted(sizes)}")


#: The default space of glue code given no space: tensors and pytrees of tensors.
TENSORS = TensorSpace()
