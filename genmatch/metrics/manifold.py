"""Sample-quality metrics on manifolds: MMD with a kernel of the geodesic distance."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from genmatch._checks import check_like, check_points_dtype
from genmatch.spaces.manifold import ManifoldSpace

#: Default bandwidths of :func:`geodesic_mmd`, in units of geodesic distance (radians on the
#: unit sphere and the torus).
DEFAULT_GEODESIC_BANDWIDTHS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0)


def geodesic_distances(space: ManifoldSpace, x: Tensor, y: Tensor, *, block: int = 256) -> Tensor:
    """All pairwise geodesic distances ``d(x_i, y_j)``: ``(n, *event), (m, *event) → (n, m)``.

    Computed in row blocks of ``block`` points of ``x``.
    """
    rows = []
    n, m = x.shape[0], y.shape[0]
    event = space.event_shape
    for i in range(0, n, block):
        xb = x[i : i + block]
        b = xb.shape[0]
        xr = xb.unsqueeze(1).expand(b, m, *event).reshape(b * m, *event)
        yr = y.unsqueeze(0).expand(b, m, *event).reshape(b * m, *event)
        rows.append(space.dist(xr, yr).reshape(b, m))
    return torch.cat(rows)


def geodesic_mmd(
    space: ManifoldSpace,
    x: Tensor,
    y: Tensor,
    *,
    bandwidths: Sequence[float] | None = None,
) -> Tensor:
    """Unbiased squared MMD with ``k(a, b) = Σ_h exp(−d(a, b)² / (2h²))``, ``d`` geodesic.

    The U-statistic ``E k(X, X') + E k(Y, Y') − 2 E k(X, Y)`` (diagonal terms excluded), so it
    fluctuates around 0 (and can be slightly negative) for two samples of one law. A Gaussian
    kernel of the geodesic distance is not positive definite on every curved manifold for
    every bandwidth, so the value is a discrepancy for comparing models on one data set rather
    than a metric with guarantees; it is cheap, intrinsic, and invariant under isometries.

    Args:
        space: the manifold.
        x: first sample ``(n, *event)``, ``n >= 2``.
        y: second sample ``(m, *event)``, ``m >= 2``.
        bandwidths: positive bandwidths in geodesic units; by default
            :data:`DEFAULT_GEODESIC_BANDWIDTHS` times ``√N`` on a power ``M^N``
            (:attr:`ManifoldSpace.power`), whose distances grow like ``√N``.

    Returns:
        A scalar tensor.

    Example:
        >>> import torch
        >>> from genmatch.manifolds import Hypersphere
        >>> from genmatch.sources import UniformSource
        >>> s2 = ManifoldSpace(Hypersphere(3), (3,))
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = (UniformSource(s2).sample(500, generator=g) for _ in range(2))
        >>> north = s2.expmap(torch.tensor([[0.0, 0.0, 1.0]]).expand(500, 3),
        ...                   0.3 * s2.proju(torch.tensor([[0.0, 0.0, 1.0]]), torch.randn(500, 3)))
        >>> bool(geodesic_mmd(s2, a, b).abs() < 0.02), bool(geodesic_mmd(s2, a, north) > 0.2)
        (True, True)
    """
    for name, t in (("x", x), ("y", y)):
        check_points_dtype(t, name)
        if t.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 points, got {tuple(t.shape)}")
    check_like(y, x, "y", "x")
    space.check(x, "x")
    space.check(y, "y")
    if bandwidths is None:
        # distances on a power M^N grow like √N: scale the defaults with them
        bandwidths = [h * space.power**0.5 for h in DEFAULT_GEODESIC_BANDWIDTHS]
    if not bandwidths or not all(h > 0 for h in bandwidths):
        raise ValueError(f"bandwidths must be positive, got {bandwidths!r}")
    h = torch.tensor(list(bandwidths), dtype=x.dtype, device=x.device)

    def mean_kernel(a: Tensor, b: Tensor, same: bool) -> Tensor:
        d2 = geodesic_distances(space, a, b) ** 2
        k = torch.exp(-d2[None] / (2 * h[:, None, None] ** 2)).sum(0)
        if same:
            n = a.shape[0]
            return (k.sum() - k.diagonal().sum()) / (n * (n - 1))
        return k.mean()

    return mean_kernel(x, x, True) + mean_kernel(y, y, True) - 2 * mean_kernel(x, y, False)
