"""Log-likelihood of Riemannian flows by the instantaneous change of variables on a manifold.

Along ``dX_t = u_t(X_t) dt`` on ``M``, the density with respect to the Riemannian volume obeys
``d/dt log p_t(X_t) = −div_g u_t(X_t)`` (the continuity equation on ``M``), so

``log p_1(x_1) = log p_0(x_0) − ∫_0^1 div_g u_t(x_t) dt``,

with ``x_t`` the flow run backwards from ``x_1`` by a Riemannian solver. The divergence is the
Riemannian one, ``div_g u = Σ_i ⟨e_i, ∇_{e_i} u⟩`` over an orthonormal basis of ``T_xM``; for
a manifold whose metric is induced by its ambient coordinates (sphere, flat torus, ``SO(3)``)
and a tangent field ``u``, ``div_g u = tr(P_x J_u(x))`` with ``P_x`` the tangent projection
and ``J_u`` the ambient Jacobian (one ``jvp`` per ambient coordinate). On the Poincaré ball
(metric ``λ_x² I``) ``div_g u = div u + n ⟨u, ∇ log λ_x⟩``. The time integral uses Simpson's
rule on each step with the state at the half step, so with :class:`RiemannianRK4` the result
converges at order 4. For high-dimensional manifolds (products of many factors) Hutchinson's
estimate replaces the exact divergence: one ``jvp`` per evaluation instead of one per ambient
coordinate, with one probe per point held fixed along the trajectory, so ``log p`` stays
unbiased (:func:`riemannian_divergence`, ``divergence=`` of
:func:`manifold_log_likelihood`).
"""

from __future__ import annotations

from collections.abc import Callable

import geoopt
import torch
from geoopt.manifolds.symmetric_positive_definite import SPDMetric
from torch import Tensor

from genmatch.likelihood.base import LikelihoodResult
from genmatch.likelihood.estimators import ExactDivergence, HutchinsonDivergence
from genmatch.manifolds.base import AbstractCompactManifold
from genmatch.solvers.riemannian_base import AbstractRiemannianSolver
from genmatch.solvers.riemannian_rk4 import RiemannianRK4
from genmatch.spaces.manifold import ManifoldSpace, TangentVector
from genmatch.time import TimeGrid
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


def manifold_log_likelihood(
    space: ManifoldSpace,
    velocity: Field,
    x_1: Tensor,
    source_log_prob: Callable[[Tensor], Tensor],
    grid: TimeGrid | int,
    *,
    solver: AbstractRiemannianSolver | None = None,
    divergence: ExactDivergence | HutchinsonDivergence | None = None,
    generator: torch.Generator | None = None,
    grad: bool = False,
) -> LikelihoodResult:
    """``log p_1(x_1)`` (w.r.t. the Riemannian volume) of the flow ``velocity`` from ``p_0``.

    Args:
        space: the manifold.
        velocity: ``(x, t) ↦ u_t(x)`` (tensors or :class:`TangentVector`), e.g.
            ``flow.field(net)`` or an :class:`~genmatch.marginal.ExactMarginal`.
        x_1: points on ``M``, ``(batch, *event)``.
        source_log_prob: ``log p_0`` w.r.t. the Riemannian volume, e.g.
            :meth:`UniformSource.log_prob`.
        grid: a :class:`TimeGrid` (integrated from its last time back to its first) or a
            number of uniform steps on ``[0, 1]``.
        solver: the Riemannian method for the trajectory (``RiemannianRK4`` by default).
        divergence: :class:`~genmatch.likelihood.ExactDivergence` (default; one ``jvp`` per
            ambient coordinate) or :class:`~genmatch.likelihood.HutchinsonDivergence` (one
            ``jvp``, one probe per point held fixed along the trajectory: unbiased for
            ``log p``; for high-dimensional manifolds such as products of many ``SO(3)``).
        generator: random number generator for Hutchinson probes.
        grad: keep the graph, so that ``log_prob`` can be differentiated with respect to the
            velocity's parameters (maximum-likelihood fine-tuning); memory grows with the
            number of steps.

    Returns:
        ``log p(x_1)``, the source points reached, and the number of velocity evaluations
        (divergence evaluations excluded).

    Example:
        >>> import torch
        >>> from genmatch.manifolds import FlatTorus
        >>> from genmatch.sources import UniformSource
        >>> space = ManifoldSpace(FlatTorus(1), (1,))
        >>> contract = lambda x, t: -0.5 * torch.sin(x)  # moves mass towards 0
        >>> out = manifold_log_likelihood(
        ...     space, contract, torch.zeros(1, 1), UniformSource(space).log_prob, 16)
        >>> round(float(out.log_prob), 4)  # log(e^{1/2} / 2π): density grows by e^{∫ ½ cos 0}
        -1.3379
    """
    if isinstance(grid, int):
        grid = TimeGrid.uniform(grid)
    space.check(x_1, "x_1")
    solver = solver if solver is not None else RiemannianRK4(space)
    if divergence is not None and not isinstance(
        divergence, (ExactDivergence, HutchinsonDivergence)
    ):
        raise TypeError(
            "divergence must be ExactDivergence or HutchinsonDivergence, got "
            f"{type(divergence).__name__}"
        )
    probe = divergence.prepare(x_1, generator) if divergence is not None else None
    batch = x_1.shape[0]

    def backwards(y: Tensor, tau: Tensor) -> Tensor:
        v = velocity(y, 1.0 - tau)
        return -(v.v if isinstance(v, TangentVector) else v)

    def div_at(y: Tensor, t: float) -> Tensor:
        tt = torch.full((batch,), t, dtype=x_1.dtype, device=x_1.device)
        with torch.set_grad_enabled(grad):
            return riemannian_divergence(space, velocity, y, tt, probe=probe)

    rev = list(reversed(grid.times))
    x, integral = x_1, torch.zeros(batch, dtype=x_1.dtype, device=x_1.device)
    div_x = div_at(x, rev[0])
    with torch.set_grad_enabled(grad):
        for i in range(grid.steps):
            h = rev[i] - rev[i + 1]
            tau = torch.full((batch,), 1.0 - rev[i], dtype=x_1.dtype, device=x_1.device)
            x_mid = solver.step(backwards, x, tau, 0.5 * h)
            x = solver.step(backwards, x, tau, h)
            div_next = div_at(x, rev[i + 1])
            integral = integral + (h / 6) * (div_x + 4 * div_at(x_mid, rev[i] - 0.5 * h) + div_next)
            div_x = div_next
    return LikelihoodResult(
        log_prob=source_log_prob(x) - integral, x_0=x, nfe=2 * grid.steps * solver.stages
    )
