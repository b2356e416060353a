"""All (point, datum) pairs of a batch and a finite data set, point-major."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.types import State, Times


def pair_up(
    x: State, t: Times, data: State, space: AbstractStateSpace = TENSORS
) -> tuple[State, Times, State]:
    """Repeat ``x`` (``B`` points), ``t`` (``(B,)``, or one per factor) and ``data`` (``N``
    points) into ``B * N`` pairs.

    Returns:
        ``(x_rep, t_rep, z_rep)`` with pair ``b * N + n`` = ``(x[b], t[b], data[n])``.
    """
    if isinstance(x, Tensor) and isinstance(data, Tensor) and isinstance(t, Tensor):
        b, n = x.shape[0], data.shape[0]
        event = tuple(x.shape[1:])
        x_rep = x.unsqueeze(1).expand(b, n, *event).reshape(b * n, *event)
        z_rep = data.unsqueeze(0).expand(b, n, *event).reshape(b * n, *event)
        t_rep = t.unsqueeze(1).expand(b, n).reshape(b * n)
        return x_rep, t_rep, z_rep
    b, n = space.batch_size(x), space.batch_size(data)
    device = space.reference(x).device
    rows = torch.arange(b, device=device).repeat_interleave(n)
    cols = torch.arange(n, device=device).repeat(b)
    t_rep = pytree.tree_map(lambda s: s[rows], t)
    return space.take(x, rows), t_rep, space.take(data, cols)
