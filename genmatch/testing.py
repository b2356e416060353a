"""Public contract checks: test your own spaces, schedules, divergences and generators the way
genmatch tests its own.

Each ``check_*`` function raises ``AssertionError`` with a message naming the violated
identity, and returns the measured quantity so tests can report it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import final

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch.divergences.base import AbstractBregmanDivergence
from genmatch.generators.base import AbstractGenerator, TestFunction
from genmatch.likelihood.riemannian_divergence import riemannian_divergence
from genmatch.paths.base import AbstractConditionalPath, AbstractDensityPath, PathSample
from genmatch.paths.geodesic import GeodesicPath
from genmatch.paths.schedules import AbstractSchedule
from genmatch.solvers.base import AbstractODESolver, VelocityFn
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.spaces.discrete import DiscreteSpace
from genmatch.spaces.finite import AbstractFiniteSpace
from genmatch.spaces.manifold import ManifoldSpace
from genmatch.types import ParamValue, State


def check_state_space(space: AbstractStateSpace, valid: State, invalid: Sequence[State]) -> None:
    """``space.check`` accepts ``valid`` and raises ``TypeError``/``ValueError`` on each invalid
    batch, and the batch operations the glue relies on are consistent on ``valid``.

    The operations checked (:class:`~genmatch.spaces.AbstractStateSpace`): ``batch_size``;
    ``take`` (reversed and repeated indices give valid batches of the right size, and taking
    every point twice then the first half gives back the same points); ``cat``; ``where`` with
    an alternating mask; ``reference`` is a tensor on the batch's device; ``times`` broadcasts
    a float to ``(batch,)`` (per factor on a product).

    Args:
        space: the space under test.
        valid: a batch of at least two valid points.
        invalid: batches ``check`` must reject.
    """
    name = type(space).__name__

    def fail(what: str) -> AssertionError:
        return AssertionError(f"{name}: {what}")

    space.check(valid)
    n = space.batch_size(valid)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise fail(f"batch_size must be an int >= 2 for the test batch, got {n!r}")
    ref = space.reference(valid)
    if not isinstance(ref, Tensor):
        raise fail(f"reference must return a tensor, got {type(ref).__name__}")
    index = torch.arange(n - 1, -1, -1, device=ref.device)
    results = {
        "take(reversed)": (space.take(valid, index), n),
        "take(repeated)": (space.take(valid, index.repeat(2)), 2 * n),
        "cat": (space.cat([valid, valid]), 2 * n),
        "where": (space.where(torch.arange(n, device=ref.device) % 2 == 0, valid, valid), n),
    }
    for what, (batch, size) in results.items():
        try:
            space.check(batch, what)
        except (TypeError, ValueError) as e:
            raise fail(f"{what} returned an invalid batch: {e}") from e
        if space.batch_size(batch) != size:
            raise fail(f"{what} returned {space.batch_size(batch)} points, expected {size}")
    twice = space.take(space.take(valid, index), index)
    if not _same_points(space, twice, valid):
        raise fail("take(take(x, reversed), reversed) differs from x")
    mixed = space.where(torch.arange(n, device=ref.device) < n, valid, space.take(valid, index))
    if not _same_points(space, mixed, valid):
        raise fail("where(all true, a, b) differs from a")
    space.times(0.5, n, ref)
    for i, bad in enumerate(invalid):
        try:
            space.check(bad)
        except (TypeError, ValueError):
            continue
        raise AssertionError(f"{name}.check accepted invalid batch #{i}")


def _same_points(space: AbstractStateSpace, a: State, b: State) -> bool:
    """Equal tensor leaves, for pytree batches; spaces with other containers are compared by
    their ``cat`` with themselves (a weak check) when their leaves are not tensors."""
    leaves_a, leaves_b = pytree.tree_leaves(a), pytree.tree_leaves(b)
    if all(isinstance(v, Tensor) for v in leaves_a + leaves_b) and len(leaves_a) == len(leaves_b):
        return all(torch.equal(u, v) for u, v in zip(leaves_a, leaves_b, strict=True))
    return space.batch_size(a) == space.batch_size(b)


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
    if not bool(torch.isfinite(q).all()):
        raise AssertionError("the generator matrix has NaN or infinite entries")
    off = q - torch.diag(torch.diagonal(q))
    if bool((off < -atol).any()):
        raise AssertionError(f"negative off-diagonal rate {float(off.min()):.3g}")
    rows = q.sum(1).abs().max()
    if float(rows) > atol * max(1.0, float(q.abs().max())):
        raise AssertionError(f"rows of the generator must sum to 0, max |sum| = {float(rows):.3g}")


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


def finite_generator_matrix(
    generator: AbstractGenerator, value: ParamValue, space: AbstractFiniteSpace
) -> Tensor:
    """The generator matrix ``Q[x, y] = L_t 1_y (x)`` of a generator on a finite space, from its
    value ``F_t`` at every point of ``space.enumerate()`` (indicator test functions applied
    through :meth:`AbstractGenerator.apply`; works for any generator, factorised or not).

    Shapes:
        value: a value for the ``M`` enumerated points; returns ``(M, M)``.
    """
    states = space.enumerate()
    m = space.batch_size(states)
    columns = []
    for y in range(m):
        def indicator(x: State, y: int = y) -> Tensor:
            return (space.index(x) == y).to(torch.float64)

        columns.append(generator.apply(indicator, states, value).to(torch.float64))
    return torch.stack(columns, 1)


def check_finite_forward_equation(
    path: AbstractDensityPath,
    generator: AbstractGenerator,
    space: AbstractFiniteSpace,
    z: State,
    t: float,
    *,
    atol: float = 1e-10,
) -> tuple[Tensor, Tensor]:
    """The Kolmogorov forward equation ``d/dt p_t(·|z) = p_t(·|z) Q_t^z`` exactly on a finite
    space (GM eq. 9.11 by enumeration), with ``Q_t^z`` the generator matrix of the conditional
    target ``F_t(x|z)`` (:func:`finite_generator_matrix`), which must also be a valid rate
    matrix (off-diagonal ``≥ 0``, rows summing to 0).

    Args:
        path: a conditional path with a density w.r.t. the counting measure.
        generator: the generator under test.
        space: the finite space.
        z: the latent, a batch of one point.
        t: the time, inside ``(0, 1)``.
        atol: tolerance of every identity (relative to the largest rate where above 1).

    Returns:
        ``(d/dt p_t, p_t Q_t)``, two ``(M,)`` tensors.
    """
    states = space.enumerate()
    m = space.batch_size(states)
    zz = space.take(z, torch.zeros(m, dtype=torch.long, device=space.reference(z).device))
    tt = torch.full((m,), float(t), dtype=torch.float64)
    with torch.no_grad():  # the support is constant on (0, 1): p = ∂_t p = 0 outside it
        support = torch.isfinite(path.log_prob(states, tt, zz)).nonzero()[:, 0]
    inside, z_in = space.take(states, support), space.take(zz, support)
    p_in, dp_in = torch.func.jvp(
        lambda s: path.log_prob(inside, s, z_in).exp(), (tt[support],), (tt[support] * 0 + 1,)
    )  # type: ignore[misc]
    p = torch.zeros(m, dtype=torch.float64).index_copy(0, support, p_in.to(torch.float64))
    dp = torch.zeros(m, dtype=torch.float64).index_copy(0, support, dp_in.to(torch.float64))
    value = generator.conditional_target(path, PathSample(x_t=states, t=tt, z=zz))
    q = finite_generator_matrix(generator, value, space)
    check_rate_matrix(q, atol=atol)
    flow = p @ q
    scale = max(1.0, float(q.abs().max()))
    err = float((dp - flow).abs().max())
    if not err <= atol * scale:  # NaN fails too
        raise AssertionError(
            f"Kolmogorov forward equation violated on the finite space at t={t}: "
            f"max |d/dt p − p Q| = {err:.3e}"
        )
    return dp, flow
