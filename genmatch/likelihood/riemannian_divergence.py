"""The Riemannian divergence ``div_g u`` of a vector field on a manifold, exact or Hutchinson's
unbiased estimate.

The divergence is ``div_g u = Σ_i ⟨e_i, ∇_{e_i} u⟩`` over an orthonormal basis of ``T_xM``;
for a manifold whose metric is induced by its ambient coordinates (sphere, flat torus,
``SO(3)``) and a tangent field ``u``, ``div_g u = tr(P_x J_u(x))`` with ``P_x`` the tangent
projection and ``J_u`` the ambient Jacobian (one ``jvp`` per ambient coordinate). On the
Poincaré ball (metric ``λ_x² I``) ``div_g u = div u + n ⟨u, ∇ log λ_x⟩``. For high-dimensional
manifolds (products of many factors) Hutchinson's estimate replaces the exact divergence: one
``jvp`` per evaluation instead of one per ambient coordinate.
"""

from __future__ import annotations

from collections.abc import Callable

import geoopt
import torch
from geoopt.manifolds.symmetric_positive_definite import SPDMetric
from torch import Tensor

from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.spaces.manifold import ManifoldSpace, TangentVector
from genmatch.types import Field


def _tangent_field(space: ManifoldSpace, field: Field, t: Tensor) -> Callable[[Tensor], Tensor]:
    def u(x: Tensor) -> Tensor:
        v = field(x, t)
        return space.proju(x, v.v if isinstance(v, TangentVector) else v)

    return u


def _jvp(u: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """``(u(x), J_u(x) v)``."""
    out = torch.func.jvp(u, (x,), (v,))
    return out[0], out[1]


def _proju_transposed(space: ManifoldSpace, x: Tensor, v: Tensor) -> Tensor:
    """``P_xᵀ v``: ``P_x v`` where the projection is Euclidean-orthogonal (symmetric), and
    ``v + G x ⟨x, v⟩ / k`` for the Minkowski projection ``v + x ⟨x, v⟩_L / k`` of the Lorentz
    model (``G = diag(−1, 1, …)``, ``⟨x, v⟩ = xᵀ v``)."""
    manifold = space.manifold
    if isinstance(manifold, geoopt.ProductManifold):
        parts = zip(space.factors, space.split(x), space.split(v), strict=True)
        return space.join([_proju_transposed(f, x_i, v_i) for f, x_i, v_i in parts])
    if isinstance(manifold, geoopt.Lorentz):
        gx = torch.cat([-x[..., :1], x[..., 1:]], -1)
        return v + gx * (x * v).sum(-1, keepdim=True) / manifold.k.to(x.dtype)
    return space.proju(x, v)


_INDUCED = (AbstractCompactManifold, geoopt.Sphere, geoopt.Euclidean, geoopt.Lorentz)


def _induced(space: ManifoldSpace) -> bool:
    """Metric induced by the ambient (Minkowski) coordinates, or a product of such factors."""
    if isinstance(space.manifold, geoopt.ProductManifold):
        return all(_induced(f) for f in space.factors)
    return isinstance(space.manifold, _INDUCED)


def riemannian_divergence(
    space: ManifoldSpace, field: Field, x: Tensor, t: Tensor, *, probe: Tensor | None = None
) -> Tensor:
    """``div_g u_t(x)`` of the tangent field ``P_x field(x, t)`` (see the module docstring).

    Supported: the manifolds of :mod:`genmatch.manifolds`, geoopt's ``Sphere``,
    ``Euclidean`` and ``Lorentz`` (metrics induced by the ambient (Minkowski) coordinates),
    ``PoincareBall`` (conformal metric), ``SymmetricPositiveDefinite`` (affine-invariant
    metric) and ``ProductManifold`` of these (``Σ_i div_{M_i}`` of each component, the other
    factors held fixed).

    Exact by default (one ``jvp`` per ambient coordinate). With ``probe`` (``ε`` with
    ``E[ε εᵀ] = I``, e.g. Rademacher or Gaussian, shaped like ``x``) it is Hutchinson's unbiased
    estimate with a single ``jvp``: ``(P_xᵀ ε)ᵀ J_u (P_x ε)`` for induced metrics
    (``E = tr(P J P) = tr(J P)``, ``P`` idempotent; ``P_xᵀ = P_x`` except for the Minkowski
    projection of the Lorentz model), ``εᵀ J_u ε`` plus the exact conformal term
    on the Poincaré ball, and ``Σ_{i≤j} ε_ij (J_u D)_ij`` with ``D`` the symmetric matrix of the
    ``ε_ij`` on SPD matrices; on a product with a conformal or SPD factor, one ``jvp`` per
    factor.

    Shapes:
        x: ``(batch, *event)``; t: ``(batch,)``; probe: like ``x``; returns ``(batch,)``.
    """
    manifold = space.manifold
    u = _tangent_field(space, field, t)
    n = space.ambient_dim
    batch = x.shape[0]
    if probe is not None and probe.shape != x.shape:
        raise ValueError(f"probe must have the shape of x {tuple(x.shape)}, got {probe.shape}")
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    if _induced(space):
        if probe is not None:
            du = _jvp(u, x, space.proju(x, probe))[1]
            return (_proju_transposed(space, x, probe) * du).reshape(batch, n).sum(1)
        # tr(J_u P_x) = tr(P_x J_u): one jvp per ambient direction, projected
        div = torch.zeros(batch, dtype=x.dtype, device=x.device)
        for j in range(n):
            e_j = eye[j].reshape(space.event_shape).expand_as(x)
            du = _jvp(u, x, space.proju(x, e_j))[1]
            div = div + du.reshape(batch, n)[:, j]
        return div
    if space.power != 1:
        raise ValueError(
            f"riemannian_divergence on a power of {type(manifold).__name__} (event_shape "
            f"{space.event_shape}) is not supported; use a geoopt.ProductManifold of its copies"
        )
    if isinstance(manifold, geoopt.PoincareBall):
        if probe is not None:
            u_x, du = _jvp(u, x, probe)
            div = (probe * du).sum(-1)
        else:
            div = torch.zeros(batch, dtype=x.dtype, device=x.device)
            for j in range(n):
                u_x, du = _jvp(u, x, eye[j].expand_as(x))
                div = div + du[:, j]
        c = manifold.c.to(x.dtype)
        grad_log_lambda = 2 * c * x / (1 - c * (x * x).sum(-1, keepdim=True))
        return div + n * (u_x * grad_log_lambda).sum(-1)
    if isinstance(manifold, geoopt.SymmetricPositiveDefinite):
        if manifold.default_metric is not SPDMetric.AIM:
            raise TypeError("riemannian_divergence supports SPD matrices with the AIM metric only")
        size = x.shape[-1]
        if probe is not None:
            upper = probe.triu()
            u_x, du = _jvp(u, x, upper + upper.triu(1).mT)
            div = (upper * du).sum((-2, -1))
        else:
            div = torch.zeros(batch, dtype=x.dtype, device=x.device)
            for i in range(size):
                for j in range(i, size):
                    # coordinate X_ij = X_ji of the n(n+1)/2 independent entries
                    e = torch.zeros(size, size, dtype=x.dtype, device=x.device)
                    e[i, j] = e[j, i] = 1.0
                    u_x, du = _jvp(u, x, e.expand_as(x))
                    div = div + du[:, i, j]
        trace = torch.linalg.solve(x, u_x).diagonal(dim1=-2, dim2=-1).sum(-1)
        return div - 0.5 * (size + 1) * trace
    if isinstance(manifold, geoopt.ProductManifold):
        # product metric: div u = Σ_i div_{M_i} of u's i-th component as a field of x_i alone
        parts = space.split(x)
        probes = space.split(probe) if probe is not None else (None,) * len(parts)
        div = torch.zeros(batch, dtype=x.dtype, device=x.device)
        for i, factor in enumerate(space.factors):

            def component(y: Tensor, s: Tensor, i: int = i) -> Tensor:
                return space.split(u(space.join([*parts[:i], y, *parts[i + 1 :]])))[i]

            div = div + riemannian_divergence(factor, component, parts[i], t, probe=probes[i])
        return div
    raise TypeError(f"riemannian_divergence does not support {type(manifold).__name__}")
