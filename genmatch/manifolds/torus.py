"""The flat torus ``T^d = (R / 2πZ)^d`` in angle coordinates."""

from __future__ import annotations

import math
from typing import final

import torch
from torch import Tensor

from genmatch.manifolds.base import AbstractCompactManifold


def wrap(a: Tensor) -> Tensor:
    """Angles mapped to ``[−π, π)``; derivative 1 (it is a translation almost everywhere)."""
    return torch.remainder(a + math.pi, 2 * math.pi) - math.pi


@final
class FlatTorus(AbstractCompactManifold):
    """``T^d`` with points as angles in ``[−π, π)^d`` and the flat metric ``Σ dθ_i²``.

    ``exp_x(u) = wrap(x + u)``, ``log_x(y) = wrap(y − x)`` (the shortest signed angle in each
    coordinate). The cut locus of ``x`` is the set where some ``|y_i − x_i| = π``; there
    ``log`` picks ``−π`` (``wrap`` maps ``π`` to ``−π``). Tangent vectors are any ``u ∈ R^d``.

    Args:
        dim: the number of angles ``d``.

    Example:
        >>> import math, torch
        >>> t2 = FlatTorus(2)
        >>> t2.logmap(torch.tensor([[3.0, 0.0]]), torch.tensor([[-3.0, 1.0]]))  # across ±π
        tensor([[0.2832, 1.0000]])
    """

    ndim = 1
    name = "FlatTorus"

    def __init__(self, dim: int) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"FlatTorus needs dim >= 1, got {dim!r}")
        self.dim = dim

    @property
    def intrinsic_dim(self) -> int:
        return self.dim

    @property
    def point_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def volume(self) -> float:
        return (2 * math.pi) ** self.dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def inner(
        self, x: Tensor, u: Tensor, v: Tensor | None = None, *, keepdim: bool = False
    ) -> Tensor:
        v = u if v is None else v
        return (u * v).sum(-1, keepdim=keepdim)

    def projx(self, x: Tensor) -> Tensor:
        return wrap(x)

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        return u

    def expmap(self, x: Tensor, u: Tensor) -> Tensor:
        return wrap(x + u)

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        return wrap(y - x)

    def dlogmap(self, x: Tensor, y: Tensor, k: Tensor) -> Tensor:
        return k

    def dist(self, x: Tensor, y: Tensor, *, keepdim: bool = False) -> Tensor:
        return wrap(y - x).norm(dim=-1, keepdim=keepdim)

    def random_uniform_points(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        u = torch.rand(n, self.dim, generator=generator, dtype=dtype, device=device)
        return wrap(2 * math.pi * u - math.pi)

    def log_exp_jacobian(self, z: Tensor, w: Tensor) -> Tensor:
        return torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)

    def injectivity_excess(self, z: Tensor, w: Tensor) -> Tensor:
        return w.abs().amax(-1) - math.pi

    def _check_point_on_manifold(
        self, x: Tensor, *, atol: float = 1e-5, rtol: float = 1e-5
    ) -> tuple[bool, str | None]:
        if not bool(((x >= -math.pi - atol) & (x <= math.pi + atol)).all()):
            return False, f"angles must lie in [-π, π] (atol={atol}); wrap them with projx"
        return True, None

    def _check_vector_on_tangent(
        self, x: Tensor, u: Tensor, *, atol: float = 1e-5, rtol: float = 1e-5
    ) -> tuple[bool, str | None]:
        return True, None
