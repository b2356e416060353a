"""Public contract checks: test your own spaces, schedules, divergences and generators the way
genmatch tests its own.

Each ``check_*`` function raises ``AssertionError`` with a message naming the violated
identity, and returns the measured quantity so tests can report it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import AbstractGenerator, TestFunction
from genmatch.likelihood.riemannian_divergence import riemannian_divergence
from genmatch.paths.base import AbstractDensityPath, PathSample
from genmatch.paths.geodesic import GeodesicPath
from genmatch.paths.schedules import AbstractSchedule
from genmatch.solvers.base import AbstractODESolver, VelocityFn
from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.manifold import ManifoldSpace
from genmatch.types import State


def check_state_space(space: AbstractStateSpace, valid: State, invalid: Sequence[State]) -> None:
    """``space.check`` accepts ``valid`` and raises ``TypeError``/``ValueError`` on each invalid."""
    space.check(valid)
    for i, bad in enumerate(invalid):
        try:
            space.check(bad)
        except (TypeError, ValueError):
            continue
        raise AssertionError(f"{type(space).__name__}.check accepted invalid batch #{i}")


def check_bregman_divergence(
    divergence: AbstractBregmanDivergence,
    a: Tensor,
    b: Tensor,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> Tensor:
    """``D ≥ 0``, ``D(a, a) = 0``, ``D(a, b) > 0`` where ``a ≠ b``, and closed form = generic.

    Args:
        divergence: the divergence under test.
        a, b: two batches in ``Ω`` (``(batch, *event)``), differing in every row.

    Returns:
        ``D(a, b)``, ``(batch,)``.
    """
    d_ab = divergence(a, b)
    if d_ab.shape != a.shape[:1]:
        raise AssertionError(f"divergence must return (batch,), got {tuple(d_ab.shape)}")
    if not bool((d_ab > 0).all()):
        raise AssertionError(f"D(a, b) must be > 0 for a != b, got min {d_ab.min()}")
    d_aa = divergence(a, a)
    if not torch.allclose(d_aa, torch.zeros_like(d_aa), atol=atol):
        raise AssertionError(f"D(a, a) must be 0, got max {d_aa.abs().max()}")
    generic = divergence.generic(a, b)
    if not torch.allclose(d_ab, generic, rtol=rtol, atol=atol):
        raise AssertionError(
            f"closed form and generic Bregman form differ by {(d_ab - generic).abs().max()}"
        )
    return d_ab


def check_schedule(
    schedule: AbstractSchedule,
    t: Tensor,
    *,
    exact_boundary: bool = True,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Closed-form derivatives equal autodiff at ``t``.

    With ``exact_boundary`` also ``α_0 = σ_1 = 0`` and ``α_1 = σ_0 = 1``.
    """
    closed, auto = schedule(t), schedule.autodiff(t)
    for name in ("d_alpha_t", "d_sigma_t"):
        c, a = getattr(closed, name), getattr(auto, name)
        if not torch.allclose(c, a, rtol=rtol, atol=atol):
            raise AssertionError(
                f"{type(schedule).__name__}.{name}: closed form != autodiff ({(c - a).abs().max()})"
            )
    if closed.alpha_t.lt(0).any() or closed.sigma_t.lt(0).any():
        raise AssertionError(f"{type(schedule).__name__}: α_t and σ_t must be >= 0")
    if exact_boundary:
        ends = torch.tensor([0.0, 1.0], dtype=t.dtype)
        s = schedule(ends)
        expected_alpha, expected_sigma = (
            torch.tensor([0.0, 1.0], dtype=t.dtype),
            torch.tensor([1.0, 0.0], dtype=t.dtype),
        )
        if not (
            torch.allclose(s.alpha_t, expected_alpha, atol=atol)
            and torch.allclose(s.sigma_t, expected_sigma, atol=atol)
        ):
            raise AssertionError(
                f"{type(schedule).__name__}: boundary values α=(0,1), σ=(1,0) violated"
            )


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


def empirical_order(
    solver: AbstractODESolver,
    velocity: VelocityFn,
    x_0: Tensor,
    exact: Callable[[float], Tensor],
    steps: Sequence[int],
) -> list[float]:
    """Empirical convergence orders ``log2(e_n / e_{2n})`` of ``solver`` on ``[0, 1]``.

    Args:
        solver: the ODE method.
        velocity: ``(x, t) ↦ u_t(x)``.
        x_0: the initial state at ``t = 0``.
        exact: ``t ↦`` the exact solution at ``t``.
        steps: increasing step counts, each double the previous.

    Returns:
        One order estimate per consecutive pair of ``steps``.
    """
    errors = []
    for n in steps:
        x, h = x_0, 1.0 / n
        for i in range(n):
            x = solver.step(velocity, x, torch.full(x.shape[:1], i * h, dtype=x.dtype), h)
        errors.append(float((x - exact(1.0)).abs().max()))
    return [math.log2(a / b) for a, b in itertools.pairwise(errors)]


def check_manifold_space(space: ManifoldSpace, x: Tensor, y: Tensor, *, atol: float) -> Tensor:
    """The identities every manifold keeps, checked at the point batches ``x`` and ``y``.

    Points are on the manifold and ``projx`` fixes them; ``proju`` is idempotent and lands in
    the tangent space; ``exp_x(log_x(y)) = y``; ``log_x(exp_x(v)) = v`` for a tangent ``v``
    of metric norm 0.1; ``d(x, y) = |log_x(y)|_g``. Pairs ``(x, y)`` must avoid each other's
    cut locus.

    Args:
        space: the manifold space under test.
        x, y: two batches of points, ``(batch, *event)``.
        atol: absolute tolerance of every identity.

    Returns:
        ``log_x(y)``, ``(batch, *event)``.
    """
    name = type(space.manifold).__name__

    def close(a: Tensor, b: Tensor, what: str) -> None:
        err = (a - b).abs().max()
        if not bool(err <= atol):
            raise AssertionError(f"{name}: {what} violated (max error {float(err):.3e})")

    space.check(x)
    space.check(y)
    close(space.projx(x), x, "projx(x) = x on M")
    noise = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(7919))
    v = space.proju(x, noise)
    space.check_tangent(x, v)
    close(space.proju(x, v), v, "proju idempotent")
    w = space.logmap(x, y)
    space.check_tangent(x, w)
    close(space.expmap(x, w), y, "exp_x(log_x(y)) = y")
    short = 0.1 * v / space.inner(x, v).sqrt().reshape(-1, *[1] * (v.dim() - 1))  # |v|_g = 0.1
    close(space.logmap(x, space.expmap(x, short)), short, "log_x(exp_x(v)) = v")
    dist = space.dist(x, y)
    norm = space.inner(x, w).clamp_min(0).sqrt()
    close(dist, norm, "d(x, y) = |log_x(y)|_g")
    return w


def check_geodesic_path(
    path: GeodesicPath, x_0: Tensor, x_1: Tensor, t: Tensor, *, atol: float
) -> Tensor:
    """Endpoints, tangency, and closed-form velocity = ``torch.func.jvp`` velocity.

    Checks ``X_0 = x_0`` and ``X_1 = x_1``, that ``X_t`` is on the manifold, and that
    :meth:`GeodesicPath.conditional_velocity` (with and without ``x_0``) is tangent and equals
    :meth:`GeodesicPath.autodiff_velocity` at ``t`` (``(batch,)``, inside ``(0, 1)``).

    Returns:
        The closed-form velocity, ``(batch, *event)``.
    """
    space = path.space
    name = type(space.manifold).__name__

    def close(a: Tensor, b: Tensor, what: str) -> None:
        err = (a - b).abs().max()
        if not bool(err <= atol):
            raise AssertionError(f"{name}: {what} violated (max error {float(err):.3e})")

    close(path.interpolate(x_0, x_1, torch.zeros_like(t)), x_0, "X_0 = x_0")
    close(path.interpolate(x_0, x_1, torch.ones_like(t)), x_1, "X_1 = x_1")
    sample = path.sample(x_1, t, x_0=x_0)
    space.check(sample.x_t)
    u = path.conditional_velocity(sample)
    u_z = path.conditional_velocity(PathSample(x_t=sample.x_t, t=t, z=x_1))
    space.check_tangent(sample.x_t, u)
    auto = path.autodiff_velocity(x_0, x_1, t)
    close(u, auto, "closed-form velocity (x_0 given) = jvp velocity")
    close(u_z, auto, "closed-form velocity u_t(x|x_1) = jvp velocity")
    return u


def manifold_continuity_residual(path: GeodesicPath, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
    """``∂_t log p_t(x|z) + div_g u_t(x|z) + ⟨u_t(x|z), ∇_g log p_t(x|z)⟩_g`` on a manifold.

    The continuity equation on ``M`` (GM eq. 9.21 with the Riemannian divergence and gradient)
    divided by ``p``: zero iff the conditional velocity ``u_t(·|z)`` of ``path`` transports
    its density. Points must lie inside the support of ``p_t(·|z)``.

    Shapes:
        x, z: ``(batch, *event)``; t: ``(batch,)``; returns ``(batch,)``.
    """
    space = path.space

    def velocity(y: Tensor, s: Tensor) -> Tensor:
        return path.conditional_velocity(PathSample(x_t=y, t=s, z=z))

    div = riemannian_divergence(space, velocity, x, t)
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        log_p = path.log_prob(xg, t, z).sum()
        if log_p.requires_grad:  # a flat density (torus) does not depend on x
            (egrad,) = torch.autograd.grad(log_p, xg, allow_unused=True, materialize_grads=True)
        else:
            egrad = torch.zeros_like(x)
    grad_log_p = space.riemannian_gradient(x, egrad)
    return path.d_log_prob_dt(x, t, z) + div + space.inner(x, velocity(x, t), grad_log_p)


def ctmc_generator_matrix(space: DiscreteSpace, rates: Tensor) -> Tensor:
    """The generator matrix ``Q[x, y]`` of factorized rates given at every point of ``space``.

    ``rates[n, i, s]`` is the rate at which position ``i`` of the ``n``-th point of
    ``space.enumerate()`` jumps to token ``s``; ``Q`` has these off the diagonal and
    ``−Σ_y Q[x, y]`` on it, so ``d/dt p_t = p_t Q_t`` is the Kolmogorov forward equation.

    Shapes:
        rates: ``(S^L, L, S)``; returns ``(S^L, S^L)``.
    """
    points = space.enumerate().to(rates.device)
    n, length, s = rates.shape
    if n != points.shape[0]:
        raise ValueError(f"need rates at all {points.shape[0]} points, got {n}")
    off = rates * (1 - torch.nn.functional.one_hot(points, s).to(rates.dtype))
    q = torch.zeros(n, n, dtype=rates.dtype, device=rates.device)
    for i in range(length):
        target = points.clone()[:, None, :].expand(n, s, length).clone()
        target[:, :, i] = torch.arange(s, device=rates.device)
        cols = space.index(target.reshape(-1, length)).reshape(n, s)
        q.scatter_add_(1, cols, off[:, i, :])
    return q - torch.diag(q.sum(1))


def check_rate_matrix(q: Tensor, *, atol: float = 1e-10) -> None:
    """Assert ``q`` is a CTMC generator matrix: off-diagonal ``≥ 0``, rows summing to 0."""
    off = q - torch.diag(torch.diagonal(q))
    if bool((off < -atol).any()):
        raise AssertionError(f"negative off-diagonal rate {float(off.min()):.3g}")
    rows = q.sum(1).abs().max()
    if float(rows) > atol * max(1.0, float(q.abs().max())):
        raise AssertionError(f"rows of the generator must sum to 0, max |sum| = {float(rows):.3g}")
