"""Riemannian manifolds as state spaces, over geoopt manifolds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import final

import geoopt
import torch
from torch import Tensor

from genmatch._checks import (
    check_finite,
    check_float_tensor,
    check_instance,
    value_checks_enabled,
)
from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.spaces.base import AbstractStateSpace

#: Absolute tolerances of the on-manifold and tangency checks, by dtype.
MANIFOLD_ATOL: dict[torch.dtype, float] = {
    torch.float16: 1e-2,
    torch.bfloat16: 1e-2,
    torch.float32: 1e-4,
    torch.float64: 1e-9,
}


@final
@dataclass(frozen=True)
class TangentVector:
    """Tangent vectors ``v ∈ T_xM`` with their base points ``x``.

    The value of the Riemannian flow parametrization (GM eq. 9.10): the metric ``⟨·,·⟩_x``
    of the Bregman divergence depends on ``x``, so the base point travels with the vector.

    Attributes:
        x: base points, ``(batch, *point_shape)``.
        v: tangent vectors in ambient coordinates, ``(batch, *point_shape)``.
    """

    x: Tensor
    v: Tensor


@final
@dataclass(frozen=True, eq=False)
class ManifoldSpace(AbstractStateSpace):
    """A Riemannian manifold ``M`` given by a geoopt manifold; points in ambient coordinates.

    Works with any geoopt manifold (``Sphere``, ``PoincareBall``, ``Lorentz``,
    ``SymmetricPositiveDefinite``, ``ProductManifold``) and with the compact manifolds of
    :mod:`genmatch.manifolds` (:class:`~genmatch.manifolds.Hypersphere`,
    :class:`~genmatch.manifolds.FlatTorus`, :class:`~genmatch.manifolds.SO3`), which add
    uniform sampling, volumes and geodesic-path densities.

    Args:
        manifold: the geoopt manifold.
        event_shape: the shape of one point in ambient coordinates, e.g. ``(3,)`` for ``S²``,
            ``(3, 3)`` for ``SO(3)``.
        atol: tolerance of the point and tangency checks, by dtype.

    Shapes:
        points and tangent vectors: ``(batch, *event_shape)``.

    Example:
        >>> import torch
        >>> from genmatch.manifolds import Hypersphere
        >>> s2 = ManifoldSpace(Hypersphere(3), (3,))
        >>> s2.check(torch.tensor([[0.0, 0.0, 1.0]]))
        >>> s2.check(torch.tensor([[0.0, 0.0, 2.0]]))
        Traceback (most recent call last):
        ...
        ValueError: x is not on Hypersphere: |x| != 1 (max deviation 1.00e+00, atol=0.0001)
    """

    manifold: geoopt.Manifold
    event_shape: tuple[int, ...]
    atol: dict[torch.dtype, float] = field(default_factory=lambda: dict(MANIFOLD_ATOL))

    def __post_init__(self) -> None:
        check_instance(self.manifold, geoopt.Manifold, "manifold", kind_name="geoopt.Manifold")
        shape = (
            (self.event_shape,) if isinstance(self.event_shape, int) else tuple(self.event_shape)
        )
        if not shape or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
        ):
            raise ValueError(f"event_shape must be positive integers, got {self.event_shape!r}")
        object.__setattr__(self, "event_shape", shape)
        ndim = int(getattr(self.manifold, "ndim", 1))
        if len(shape) < ndim:
            raise ValueError(
                f"event_shape {shape} has fewer dimensions than a point of {self._name()} ({ndim})"
            )
        known = getattr(self.manifold, "point_shape", None)  # the compact manifolds' own
        if known is not None and shape[len(shape) - ndim :] != tuple(known):
            raise ValueError(
                f"event_shape {shape} must end with the point shape {tuple(known)} of "
                f"{self._name()} (leading dimensions make a power M^N)"
            )
        if isinstance(self.manifold, geoopt.ProductManifold) and len(shape) != 1:
            raise ValueError(
                f"a ProductManifold packs a point into one dimension: event_shape must be "
                f"({self.manifold.n_elements},), got {shape}; powers of a product are not "
                "supported"
            )

    @property
    def point_shape(self) -> tuple[int, ...]:
        """The shape of one element of the manifold: the last ``manifold.ndim`` dimensions of
        ``event_shape`` (``(3, 3)`` for ``SO(3)``, ``(3,)`` for ``S²``)."""
        return self.event_shape[len(self.event_shape) - int(getattr(self.manifold, "ndim", 1)) :]

    @property
    def power(self) -> int:
        """How many elements one state holds: ``1``, or ``N`` for the power manifold ``M^N``
        given by leading event dimensions (e.g. ``event_shape = (N, 3, 3)`` on ``SO(3)``: ``N``
        backbone frames, with the product metric)."""
        return math.prod(self.event_shape[: len(self.event_shape) - len(self.point_shape)])

    @property
    def ambient_dim(self) -> int:
        """The number of ambient coordinates of a point."""
        return math.prod(self.event_shape)

    def _name(self) -> str:
        return type(self.manifold).__name__

    def _check_shape(self, x: object, name: str) -> Tensor:
        x = check_float_tensor(x, name)
        if tuple(x.shape[1:]) != self.event_shape:
            expected = ", ".join(["batch", *map(str, self.event_shape)])
            raise ValueError(f"{name} must have shape ({expected}), got {tuple(x.shape)}")
        check_finite(x, name)
        return x

    def check(self, x: object, name: str = "x") -> None:
        """Raise unless ``x`` is a batch of points on the manifold (shape, dtype, values)."""
        x = self._check_shape(x, name)
        if not value_checks_enabled() or x.shape[0] == 0:  # an empty batch is valid
            return
        tol = self.atol.get(x.dtype, 1e-4)
        if isinstance(self.manifold, geoopt.Lorentz):
            # ⟨x, x⟩_L = −k up to rounding, which grows like x₀² (geoopt's check is absolute)
            sq = x * x
            form = sq[..., 1:].sum(-1) - sq[..., 0]
            k = self.manifold.k.to(x.dtype)
            err = ((form + k).abs() / (k + sq.sum(-1))).max()
            if bool((err > tol) | (x[..., 0] <= 0).any()):  # one host sync
                raise ValueError(
                    f"{name} is not on {self._name()}: ⟨x, x⟩_L != −k or x₀ <= 0 (relative "
                    f"deviation {float(err):.2e}, atol={tol})"
                )
            return
        ok, reason = self.manifold.check_point_on_manifold(x, explain=True, atol=tol, rtol=tol)
        if not ok:
            raise ValueError(f"{name} is not on {self._name()}: {reason}")

    def check_tangent(self, x: Tensor, v: object, name: str = "v") -> None:
        """Raise unless ``v`` is a batch of tangent vectors at the points ``x``."""
        v = self._check_shape(v, name)
        if v.shape != x.shape:
            raise ValueError(f"{name} must have the shape of x {tuple(x.shape)}, got {v.shape}")
        if not value_checks_enabled():
            return
        tol = self.atol.get(v.dtype, 1e-4)
        # v is tangent iff the projection onto T_xM keeps it (geoopt-independent criterion)
        err = (self.proju(x, v) - v).reshape(v.shape[0], -1).norm(dim=1)
        scale = 1 + v.reshape(v.shape[0], -1).norm(dim=1)
        if not bool((err <= tol * scale).all()):
            worst = float((err / scale).max())
            raise ValueError(
                f"{name} is not tangent to {self._name()} at x: it differs from its projection "
                f"onto the tangent space by {worst:.2e} (relative; atol={tol})"
            )

    def expmap(self, x: Tensor, v: Tensor) -> Tensor:
        """``exp_x(v)``, then projected onto ``M`` against rounding drift (differentiably:
        :meth:`AbstractCompactManifold.project_drift` where the manifold has it)."""
        y = self.manifold.expmap(x, v)
        if isinstance(self.manifold, AbstractCompactManifold):
            return self.manifold.project_drift(y)
        return self.manifold.projx(y)

    def logmap(self, x: Tensor, y: Tensor) -> Tensor:
        """``log_x(y) ∈ T_xM`` (undefined on the cut locus of ``x``)."""
        return self.manifold.logmap(x, y)

    def proju(self, x: Tensor, v: Tensor) -> Tensor:
        """Orthogonal projection of an ambient vector onto ``T_xM``."""
        return self.manifold.proju(x, v)

    def projx(self, x: Tensor) -> Tensor:
        """A nearby point of ``M`` (geoopt's projection)."""
        return self.manifold.projx(x)

    def inner(self, x: Tensor, u: Tensor, v: Tensor | None = None) -> Tensor:
        """``⟨u, v⟩_x``: ``(batch, *event) → (batch,)``."""
        out = self.manifold.inner(x, u, u if v is None else v, keepdim=True)
        return out.reshape(out.shape[0], -1).sum(1)

    def dist(self, x: Tensor, y: Tensor) -> Tensor:
        """Geodesic distance ``d(x, y)``: ``(batch,)``; on a power manifold ``M^N`` the product
        distance ``(Σ_i d(x_i, y_i)²)^{1/2}``."""
        out = self.manifold.dist(x, y)
        if out.dim() == 1:
            return out
        return out.reshape(out.shape[0], -1).square().sum(1).sqrt()

    def riemannian_gradient(self, x: Tensor, egrad: Tensor) -> Tensor:
        """The Riemannian gradient from the Euclidean gradient of an ambient extension."""
        return self.manifold.egrad2rgrad(x, egrad)

    @property
    def factors(self) -> tuple[ManifoldSpace, ...]:
        """The factor spaces of a geoopt ``ProductManifold``, in order.

        Raises:
            TypeError: if the manifold is not a ``ProductManifold``.

        Example:
            >>> import geoopt, torch
            >>> from genmatch.manifolds import FlatTorus, Hypersphere
            >>> product = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2))
            >>> space = ManifoldSpace(product, (5,))
            >>> [f.event_shape for f in space.factors]
            [(3,), (2,)]
        """
        manifold = self.manifold
        if not isinstance(manifold, geoopt.ProductManifold):
            raise TypeError(f"factors needs a geoopt.ProductManifold, got {self._name()}")
        return tuple(
            ManifoldSpace(m, tuple(shape), atol=self.atol)
            for m, shape in zip(manifold.manifolds, manifold.shapes, strict=True)
        )

    def split(self, x: Tensor) -> tuple[Tensor, ...]:
        """The factor components of points (or tangent vectors) of a product manifold.

        Shapes:
            x: ``(batch, total)``; returns one ``(batch, *factor_shape)`` per factor.
        """
        manifold = self.manifold
        if not isinstance(manifold, geoopt.ProductManifold):
            raise TypeError(f"split needs a geoopt.ProductManifold, got {self._name()}")
        return tuple(manifold.take_submanifold_value(x, i) for i in range(len(manifold.manifolds)))

    def join(self, parts: tuple[Tensor, ...] | list[Tensor]) -> Tensor:
        """Inverse of :meth:`split`: ``(batch, *factor_shape)`` per factor ``→ (batch, total)``."""
        if not isinstance(self.manifold, geoopt.ProductManifold):
            raise TypeError(f"join needs a geoopt.ProductManifold, got {self._name()}")
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts], dim=-1)
