"""Kolmogorov forward equations: the strong form on R^d, and the weak form by differentiable
quadrature on any space and on products."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch.generators.base import AbstractGenerator, TestFunction
from genmatch.paths.base import AbstractConditionalPath, AbstractDensityPath, PathSample
from genmatch.spaces.base import TENSORS
from genmatch.types import State


def continuity_residual(
    path: AbstractDensityPath, generator: AbstractGenerator, x: Tensor, t: Tensor, z: Tensor
) -> Tensor:
    """``∂_t log p_t(x|z) + div u_t(x|z) + u_t(x|z)·∇_x log p_t(x|z)`` (flows, GM eq. 9.21).

    This is ``(∂_t p + div(p u)) / p``: zero iff the flow with conditional target ``u``
    transports ``p_{t|Z}(·|z)``. Divergence and gradients by autograd (exact Jacobian trace).

    Shapes:
        x, z: ``(batch, d)`` (flattened events); t: ``(batch,)``; returns ``(batch,)``.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        u = generator.conditional_target(path, PathSample(x_t=x, t=t, z=z))
        log_p = path.log_prob(x, t, z)
        (grad_log_p,) = torch.autograd.grad(log_p.sum(), x, create_graph=True)
        u_flat = u.reshape(x.shape[0], -1)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(u_flat.shape[1]):
            (g,) = torch.autograd.grad(u_flat[:, i].sum(), x, retain_graph=True)
            div = div + g.reshape(x.shape[0], -1)[:, i]
    dt_log_p = path.d_log_prob_dt(x.detach(), t, z)
    return dt_log_p + div + (u * grad_log_p).reshape(x.shape[0], -1).sum(1)


def check_continuity_equation(
    path: AbstractDensityPath,
    generator: AbstractGenerator,
    x: Tensor,
    t: Tensor,
    z: Tensor,
    *,
    atol: float = 1e-8,
) -> Tensor:
    """Assert :func:`continuity_residual` vanishes; returns the residual."""
    r = continuity_residual(path, generator, x, t, z)
    if not bool((r.abs() <= atol).all()):
        raise AssertionError(f"continuity equation violated: max |residual| = {r.abs().max():.3e}")
    return r


def kolmogorov_forward_gap(
    path: AbstractDensityPath,
    generator: AbstractGenerator,
    f: TestFunction,
    z: Tensor,
    t: float,
    *,
    bounds: tuple[float, float],
    points: int = 201,
) -> tuple[Tensor, Tensor]:
    """Both sides of the weak KFE ``d/dt ⟨p_t(·|z), f⟩ = ⟨p_t(·|z), L^z_t f⟩`` (GM eq. 9.20).

    Integrals are computed by the trapezoid rule on a tensor-product grid over
    ``[bounds]^d`` (``d ≤ 2``); ``d/dt p_t = p_t ∂_t log p_t``. Works for every generator
    whose parametrization evaluates ``L_t f(x)`` pointwise (:meth:`AbstractGenerator.apply`).

    Args:
        path: a path with a density on ``R^d``.
        generator: the generator under test.
        f: a smooth test function, ``(n, d) → (n,)``.
        z: one conditioning point, ``(d,)``.
        t: the time.
        bounds: the integration box (must hold the mass of ``p_t(·|z)``).
        points: grid points per axis.

    Returns:
        ``(lhs, rhs)``, two 0-d tensors.
    """
    d = z.numel()
    if d > 2:
        raise ValueError("the quadrature check supports d <= 2")
    axis = torch.linspace(bounds[0], bounds[1], points, dtype=z.dtype)
    grids = torch.meshgrid(*([axis] * d), indexing="ij")
    x = torch.stack([g.reshape(-1) for g in grids], 1).reshape(-1, *z.shape)
    n = x.shape[0]
    tt = torch.full((n,), t, dtype=z.dtype)
    zz = z.expand(n, *z.shape)
    p = path.log_prob(x, tt, zz).exp()
    lhs_integrand = f(x).detach() * p * path.d_log_prob_dt(x, tt, zz)
    value = generator.conditional_target(path, PathSample(x_t=x, t=tt, z=zz))
    rhs_integrand = generator.apply(f, x, value).detach() * p

    def integrate(v: Tensor) -> Tensor:
        v = v.reshape([points] * d)
        for _ in range(d):
            v = torch.trapezoid(v, axis, dim=0)
        return v

    return integrate(lhs_integrand), integrate(rhs_integrand)


@final
@dataclass(frozen=True)
class MovingPoints:
    """A quadrature of ``p_{t|Z}(·|z)`` by the images ``ψ_t(x_0|z)`` of fixed source points,
    for paths whose sample is a deterministic, differentiable function of ``(x_0, t)`` given
    ``x_0`` (affine Gaussian, geodesic): ``E_{p_t}[g] ≈ Σ_m w_m g(ψ_t(x_{0,m}|z))``.

    For a flow the weak forward equation holds exactly on such points (each one moves with
    the conditional velocity), so the check is exact whatever the number of points.

    Attributes:
        x_0: ``M`` source points (a batch of the factor's space).
        weights: ``(M,)`` quadrature weights (uniform ``1/M`` when ``None``), e.g.
            Gauss–Hermite weights for Gaussian sources and diffusions.
    """

    x_0: State
    weights: Tensor | None = None


@final
@dataclass(frozen=True)
class DensityPoints:
    """A quadrature of ``p_{t|Z}(·|z)`` on fixed points weighted by the path's density:
    ``E_{p_t}[g] ≈ Σ_m v_m p_t(x_m|z) g(x_m)``. With every point of a finite space and
    ``volume = 1`` it is exact (enumeration); on a grid, ``volume`` holds the cell volumes.

    Attributes:
        points: ``M`` points (a batch of the factor's space).
        volume: ``(M,)`` cell volumes, or one number for all.
    """

    points: State
    volume: Tensor | float = 1.0


#: A quadrature rule of one factor, or ``{name: rule}`` for a product.
QuadratureRule = MovingPoints | DensityPoints | Mapping[str, "MovingPoints | DensityPoints"]


def _rule_points(
    path: AbstractConditionalPath, rule: MovingPoints | DensityPoints, z: State, t: Tensor
) -> tuple[State, Tensor]:
    """The rule's points at time ``t`` (0-d, differentiable) and their weights ``(M,)``."""
    if isinstance(rule, MovingPoints):
        m = TENSORS.batch_size(rule.x_0)
        zz = TENSORS.take(z, torch.zeros(m, dtype=torch.long))
        x = path.sample(zz, t.expand(m), x_0=rule.x_0).x_t
        w = torch.full((m,), 1.0 / m, dtype=t.dtype) if rule.weights is None else rule.weights
        return x, w.to(t.dtype)
    if not isinstance(path, AbstractDensityPath):
        raise TypeError(f"DensityPoints need a path with a density, got {type(path).__name__}")
    m = TENSORS.batch_size(rule.points)
    zz = TENSORS.take(z, torch.zeros(m, dtype=torch.long))
    volume = torch.as_tensor(rule.volume, dtype=t.dtype).expand(m)
    with torch.no_grad():  # points outside the support (constant on (0, 1)) are dropped
        keep = torch.isfinite(path.log_prob(rule.points, t.detach().expand(m), zz))
        keep = keep.nonzero()[:, 0]
    points, zz = TENSORS.take(rule.points, keep), TENSORS.take(zz, keep)
    density = path.log_prob(points, t.expand(keep.shape[0]), zz).exp()
    return points, density * volume[keep]


def forward_equation_gap(
    path: AbstractConditionalPath,
    generator: AbstractGenerator,
    f: TestFunction,
    z: State,
    t: float,
    rule: QuadratureRule,
) -> tuple[Tensor, Tensor]:
    """Both sides of the weak Kolmogorov forward equation of a conditional path,
    ``d/dt E_{p_t(·|z)}[f] = E_{p_t(·|z)}[L^z_t f]`` (GM eq. 9.20), on any space.

    Expectations use a quadrature rule whose points and weights are differentiable in ``t``
    (:class:`MovingPoints`, :class:`DensityPoints`), so the left side is an exact derivative
    (autograd) and the right side applies the generator with its conditional target
    ``F_t(x|z)`` (conditioned on ``z`` alone) through :meth:`AbstractGenerator.apply`. On a
    product (a :class:`~genmatch.paths.ProductPath` and
    :class:`~genmatch.compose.ProductGenerator`, ``rule`` a dict per factor) the quadrature
    is the tensor product of the factors' rules and ``f`` a joint (non-separable) function
    of all factors, so the check tests the product generator as one generator, with tied time.

    Args:
        path: the conditional path.
        generator: the generator under test.
        f: a test function on batches of points, ``→ (batch,)``; differentiable in the
            continuous coordinates.
        z: the latent, a batch of one point.
        t: the time, inside ``(0, 1)``.
        rule: the quadrature, or one per factor on a product.

    Returns:
        ``(lhs, rhs)``, two 0-d tensors.
    """
    ref = TENSORS.reference(z)
    dtype = ref.dtype if ref.is_floating_point() else torch.float64
    tt = torch.tensor(float(t), dtype=dtype, requires_grad=True)
    with torch.enable_grad():
        if isinstance(rule, Mapping):
            paths = getattr(path, "paths", None)
            if not isinstance(paths, Mapping) or set(paths) != set(rule):
                raise ValueError("a rule per factor needs a ProductPath with the same factors")
            parts = {k: _rule_points(paths[k], rule[k], z[k], tt) for k in paths}
            sizes = [TENSORS.batch_size(p[0]) for p in parts.values()]
            grids = torch.meshgrid(*[torch.arange(s) for s in sizes], indexing="ij")
            index = dict(zip(parts, (g.reshape(-1) for g in grids), strict=True))
            x = {k: TENSORS.take(p[0], index[k]) for k, p in parts.items()}
            w = torch.stack([p[1][index[k]] for k, p in parts.items()]).prod(0)
        else:
            x, w = _rule_points(path, rule, z, tt)
        lhs_total = (w * f(x)).sum()
        (lhs,) = torch.autograd.grad(lhs_total, tt)
    m = TENSORS.batch_size(x)
    x = pytree.tree_map(lambda a: a.detach(), x)
    zz = TENSORS.take(z, torch.zeros(m, dtype=torch.long))
    s = torch.full((m,), float(t), dtype=dtype)
    value = generator.conditional_target(path, PathSample(x_t=x, t=s, z=zz))
    rhs = (w.detach() * generator.apply(f, x, value).detach()).sum()
    return lhs.detach(), rhs


def check_forward_equation(
    path: AbstractConditionalPath,
    generator: AbstractGenerator,
    f: TestFunction,
    z: State,
    t: float,
    rule: QuadratureRule,
    *,
    rtol: float = 1e-8,
    atol: float = 1e-10,
) -> tuple[Tensor, Tensor]:
    """Assert the two sides of :func:`forward_equation_gap` agree; returns them."""
    lhs, rhs = forward_equation_gap(path, generator, f, z, t, rule)
    if not bool((lhs - rhs).abs() <= atol + rtol * lhs.abs()):
        raise AssertionError(
            f"Kolmogorov forward equation violated at t={t}: d/dt E[f] = {float(lhs):.10g} "
            f"but E[L f] = {float(rhs):.10g}"
        )
    return lhs, rhs
