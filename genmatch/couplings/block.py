"""Block-wise optimal transport: recursive median bisection, then exact assignment per block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from genmatch.couplings.base import AbstractCoupling, check_points
from genmatch.couplings.batch import CoupledBatch

#: Up to this dimension each block's axis is the top eigenvector of its ``d × d`` covariance;
#: above it, power iterations in data space (never forming the covariance).
_COVARIANCE_DIM = 32
_POWER_ITERS = 6


def _segment_sort(p: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The permutation that sorts ``p`` within each contiguous segment.

    One stable sort of the key ``k + ½ + 0.49 p / max_k |p|`` (``k`` the segment index),
    which keeps the segments in place.
    """
    scale = np.maximum(np.maximum.reduceat(np.abs(p), starts), np.finfo(p.dtype).tiny)
    seg = np.repeat(np.arange(len(sizes)), sizes)
    return np.argsort(seg + 0.5 + 0.49 * p / scale[seg], kind="stable")


def _split_axes(
    c_a: np.ndarray, c_b: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """Per segment, the leading principal axis of its pooled centred points ``c_a ∪ c_b``.

    For ``d ≤ 32`` the top eigenvector of ``Σ_i c_i c_iᵀ``; above, power iteration
    ``v ← Σ_i c_i (c_i·v) / ‖·‖`` started at the coordinate axis of largest variance (a
    segment whose points all coincide keeps that axis).

    Shapes:
        c_a, c_b: ``(n, d)``, segments contiguous from ``starts``; returns ``(segments, d)``
        of unit rows.
    """
    n, d = c_a.shape

    def pooled(f_a: np.ndarray, f_b: np.ndarray) -> np.ndarray:
        return np.add.reduceat(f_a, starts) + np.add.reduceat(f_b, starts)

    if d <= _COVARIANCE_DIM:
        cov = pooled(
            (c_a[:, :, None] * c_a[:, None, :]).reshape(n, d * d),
            (c_b[:, :, None] * c_b[:, None, :]).reshape(n, d * d),
        )
        return np.linalg.eigh(cov.reshape(-1, d, d))[1][..., -1]
    v = np.eye(d)[pooled(c_a * c_a, c_b * c_b).argmax(1)]
    for _ in range(_POWER_ITERS):
        v_i = np.repeat(v, sizes, 0)
        w = pooled(
            c_a * np.einsum("id,id->i", c_a, v_i)[:, None],
            c_b * np.einsum("id,id->i", c_b, v_i)[:, None],
        )
        norm = np.linalg.norm(w, axis=1, keepdims=True)
        v = np.where(norm > 0, w / np.maximum(norm, np.finfo(w.dtype).tiny), v)
    return v


def _bisect(
    a: np.ndarray, b: np.ndarray, block_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``a`` and ``b`` into matched blocks of at most ``block_size`` points each.

    Each level sorts both sets, within every current block, along that block's principal axis
    (of the two sets pooled) and cuts each at the same rank ``⌊m/2⌋``, so block ``k`` of ``a``
    and of ``b`` always hold the same number of points.

    Returns:
        ``(order_a, order_b, bounds)``: ``a[order_a[bounds[k]:bounds[k+1]]]`` is matched with
        ``b[order_b[bounds[k]:bounds[k+1]]]``.
    """
    n = a.shape[0]
    order_a, order_b = np.arange(n), np.arange(n)
    bounds = np.array([0, n])
    while np.diff(bounds).max() > block_size:
        starts, sizes = bounds[:-1], np.diff(bounds)
        mu = (np.add.reduceat(a, starts) + np.add.reduceat(b, starts)) / (2 * sizes[:, None])
        c_a, c_b = a - np.repeat(mu, sizes, 0), b - np.repeat(mu, sizes, 0)
        v = np.repeat(_split_axes(c_a, c_b, starts, sizes), sizes, 0)
        perm_a = _segment_sort(np.einsum("id,id->i", c_a, v), starts, sizes)
        perm_b = _segment_sort(np.einsum("id,id->i", c_b, v), starts, sizes)
        a, order_a, b, order_b = a[perm_a], order_a[perm_a], b[perm_b], order_b[perm_b]
        bounds = np.unique(np.concatenate([bounds, starts + sizes // 2]))
    return order_a, order_b, bounds


def _assign_blocks(a: np.ndarray, b: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Exact assignment within each block: ``match[i]`` is the partner position of position ``i``.

    Blocks of equal size share one batched cost ``C_kij = ‖a_ki‖² + ‖b_kj‖² − 2 a_ki·b_kj``;
    each is then solved by :func:`scipy.optimize.linear_sum_assignment`.
    """
    match = np.arange(a.shape[0])
    starts, sizes = bounds[:-1], np.diff(bounds)
    for m in np.unique(sizes):
        if m < 2:
            continue
        first = starts[sizes == m]
        pos = first[:, None] + np.arange(m)
        a_k, b_k = a[pos], b[pos]
        cost = (a_k * a_k).sum(2)[:, :, None] + (b_k * b_k).sum(2)[:, None, :]
        cost -= 2 * a_k @ b_k.transpose(0, 2, 1)
        for k, s in enumerate(first):
            match[s : s + m] = s + linear_sum_assignment(cost[k])[1]
    return match


@final
@dataclass(frozen=True)
class BlockOTCoupling(AbstractCoupling):
    """Block-wise mini-batch optimal transport (squared Euclidean cost): a permutation.

    Both batches are cut into matched blocks by recursive median bisection: within a block,
    the points of ``x_0`` and of ``x_1`` are sorted along the block's leading principal axis
    (of both sets pooled) and each set is cut at its median, the lower halves forming one
    child block and the upper halves the other, until blocks hold at most ``block_size``
    points. Each block is then assigned exactly,
    ``σ_k = argmin_σ Σ_i ‖x_0[i] − x_1[σ(i)]‖²`` (Hungarian algorithm). The result is a
    permutation, so both marginals are the batches themselves (each point used once); it is
    deterministic (``generator`` is unused). Cost: ``O(n log n · d)`` for the bisection and
    ``O(n · block_size²)`` for the blocks.

    Exact (the optimal permutation, as :class:`~genmatch.couplings.ExactOTCoupling`) when
    ``n ≤ block_size``, and for one-dimensional points at any ``block_size`` (median cuts of
    sorted points keep the sorted, optimal, matching). In higher dimensions the plan's cost is
    above the optimum by a margin that shrinks as ``block_size`` grows: on 2-D Gaussian →
    checkerboard batches of 1 024, ``block_size = 64`` costs about 3 % more than exact
    (measured; ``tests/test_couplings.py`` holds the bound).

    Args:
        block_size: the largest block solved exactly (``≥ 1``; ``1`` is pure bisection).

    Example:
        >>> import torch
        >>> x_0 = torch.tensor([[0.0], [10.0], [5.0], [-3.0]])
        >>> x_1 = torch.tensor([[11.0], [1.0], [-2.0], [6.0]])
        >>> BlockOTCoupling(block_size=2).pair(x_0, x_1).x_1
        tensor([[ 1.],
                [11.],
                [ 6.],
                [-2.]])
    """

    block_size: int = 16

    def __post_init__(self) -> None:
        value = self.block_size
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"block_size must be an integer >= 1, got {value!r}")

    def assignment(self, x_0: Tensor, x_1: Tensor) -> Tensor:
        """The permutation ``j`` pairing ``x_0[i]`` with ``x_1[j[i]]``.

        Shapes:
            x_0, x_1: ``(n, *event)``; returns ``(n,)`` (int64, on ``x_1``'s device).
        """
        check_points(x_0, x_1)
        a = x_0.detach().flatten(1).double().cpu().numpy()
        b = x_1.detach().flatten(1).double().cpu().numpy()
        order_a, order_b, bounds = _bisect(a, b, self.block_size)
        match = _assign_blocks(a[order_a], b[order_b], bounds)
        j = np.empty_like(order_a)
        j[order_a] = order_b[match]
        return torch.from_numpy(j).to(x_1.device)

    def pair(
        self, x_0: Tensor, x_1: Tensor, *, generator: torch.Generator | None = None
    ) -> CoupledBatch:
        return CoupledBatch(x_0=x_0, x_1=x_1[self.assignment(x_0, x_1)])
