"""All (point, datum) pairs of a batch and a finite data set, point-major."""

from __future__ import annotations

from torch import Tensor


def pair_up(x: Tensor, t: Tensor, data: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Repeat ``x (B, *event)``, ``t (B,)`` and ``data (N, *event)`` into ``B * N`` pairs.

    Returns:
        ``(x_rep, t_rep, z_rep)`` with pair ``b * N + n`` = ``(x[b], t[b], data[n])``.
    """
    b, n = x.shape[0], data.shape[0]
    event = tuple(x.shape[1:])
    x_rep = x.unsqueeze(1).expand(b, n, *event).reshape(b * n, *event)
    z_rep = data.unsqueeze(0).expand(b, n, *event).reshape(b * n, *event)
    t_rep = t.unsqueeze(1).expand(b, n).reshape(b * n)
    return x_rep, t_rep, z_rep
