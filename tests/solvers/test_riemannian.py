"""Riemannian solvers: empirical order against exact flows on S² and SO(3), simulation."""

import math

import geoopt
import pytest
import torch

from genmatch.generators import RiemannianFlowGenerator
from genmatch.manifolds import SO3, FlatTorus, Hypersphere, hat, so3_exp
from genmatch.simulate import simulate
from genmatch.solvers import RiemannianEuler, RiemannianMidpoint, RiemannianRK4
from genmatch.sources import UniformSource, WrappedNormalSource
from genmatch.spaces import ManifoldSpace, TangentVector
from genmatch.testing import empirical_order

F64 = torch.float64
SOLVERS = [RiemannianEuler, RiemannianMidpoint, RiemannianRK4]
W = torch.tensor([0.3, -0.5, 0.8], dtype=F64)
W2 = torch.tensor([-0.7, 0.2, 0.4], dtype=F64)


def _a(t):
    return 1 + t  # angular speed; its integral is A(t) = t + t²/2


def _big_a(t):
    return t + t * t / 2


@pytest.mark.parametrize("solver_cls", SOLVERS)
def test_order_on_s2_rotation(solver_cls):
    # u_t(x) = a(t) ω × x rotates about ω: small circles, not geodesics
    space = ManifoldSpace(Hypersphere(3), (3,))
    x_0 = UniformSource(space).sample(8, generator=torch.Generator().manual_seed(0), dtype=F64)

    def velocity(x, t):
        return _a(t)[:, None] * torch.linalg.cross(W.expand_as(x), x)

    def exact(t):
        return x_0 @ so3_exp(W * _big_a(t)).T

    solver = solver_cls(space)
    orders = empirical_order(solver, velocity, x_0, exact, [8, 16, 32, 64])
    assert min(orders) > solver.order - 0.15
    assert max(orders) < solver.order + 0.3


@pytest.mark.parametrize("solver_cls", SOLVERS)
def test_order_on_so3_two_sided_rotation(solver_cls):
    # dR/dt = a(t) ([ω₁]R + R[ω₂]): exact R(t) = exp(A[ω₁]) R₀ exp(A[ω₂]), not a geodesic
    space = ManifoldSpace(SO3(), (3, 3))
    r_0 = UniformSource(space).sample(4, generator=torch.Generator().manual_seed(1), dtype=F64)

    def velocity(r, t):
        return _a(t)[:, None, None] * (hat(W) @ r + r @ hat(W2))

    def exact(t):
        return so3_exp(W * _big_a(t)) @ r_0 @ so3_exp(W2 * _big_a(t))

    solver = solver_cls(space)
    orders = empirical_order(solver, velocity, r_0, exact, [8, 16, 32, 64])
    assert min(orders) > solver.order - 0.15


def test_simulate_stays_on_manifold_and_is_exact_for_a_geodesic_flow():
    # on T² a constant velocity is a geodesic flow: every method is exact
    space = ManifoldSpace(FlatTorus(2), (2,))
    x_0 = UniformSource(space).sample(16, generator=torch.Generator().manual_seed(2), dtype=F64)
    v = torch.tensor([[2.5, -4.0]], dtype=F64)
    for solver in (RiemannianEuler(space), RiemannianRK4(space)):
        flow = RiemannianFlowGenerator(space, solver=solver)
        out = simulate(flow, lambda x, t: v.expand_as(x), x_0, 7, space=space)
        space.check(out.x)
        assert torch.allclose(out.x, space.expmap(x_0, v.expand_as(x_0)), atol=1e-12)
        assert out.nfe == 7 * solver.stages


def test_rk4_simulation_on_s2_matches_rotation():
    space = ManifoldSpace(Hypersphere(3), (3,))
    flow = RiemannianFlowGenerator(space, solver=RiemannianRK4(space))
    x_0 = UniformSource(space).sample(8, generator=torch.Generator().manual_seed(4), dtype=F64)
    out = simulate(
        flow,
        lambda x, t: math.pi * torch.linalg.cross(W.expand_as(x), x),
        x_0,
        32,
        return_trajectory=True,
    )
    for x in out.trajectory:
        space.check(x)
    assert torch.allclose(out.x, x_0 @ so3_exp(math.pi * W).T, atol=2e-6)  # RK4, h = 1/32


def test_generator_rejects_solver_on_another_space():
    a, b = ManifoldSpace(Hypersphere(3), (3,)), ManifoldSpace(Hypersphere(3), (3,))
    with pytest.raises(ValueError, match="same space|generator's space"):
        RiemannianFlowGenerator(a, solver=RiemannianRK4(b))


def test_float32_samples_stay_on_the_manifold_over_many_steps():
    for space in [ManifoldSpace(SO3(), (3, 3)), ManifoldSpace(Hypersphere(3), (3,))]:
        x_0 = UniformSource(space).sample(64, generator=torch.Generator().manual_seed(0))
        a = torch.randn(space.event_shape, generator=torch.Generator().manual_seed(1))

        def velocity(x, t):
            return torch.sin(3 * x + a) * (1 + t).reshape(-1, *[1] * (x.dim() - 1))

        flow = RiemannianFlowGenerator(space, solver=RiemannianRK4(space))
        out = simulate(flow, velocity, x_0, 100)
        assert out.x.dtype == torch.float32
        space.check(out.x)  # within the float32 tolerance after 400 evaluations


def _normal_part(space, x, g):
    """A field normal to ``T_xM``: ``c x`` on the sphere, ``R S`` (``S`` symmetric) on SO(3)."""
    if isinstance(space.manifold, SO3):
        a = torch.randn(x.shape, dtype=x.dtype, generator=g)
        return x @ (a + a.transpose(-1, -2))
    return torch.randn(x.shape[:1], dtype=x.dtype, generator=g)[:, None] * x


@pytest.mark.parametrize("solver_cls", SOLVERS)
@pytest.mark.parametrize("name", ["S2", "SO3"])
def test_a_non_tangent_field_is_projected_onto_the_tangent_space(solver_cls, name):
    """The documented contract: stage velocities are projected onto ``T_xM`` before use, so a
    field with a normal component (of size 10, larger than the tangent one) takes exactly the
    step of its tangent part, and the step stays on the manifold."""
    space = ManifoldSpace(SO3(), (3, 3)) if name == "SO3" else ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(8, generator=torch.Generator().manual_seed(5), dtype=F64)
    normal_seed = 6

    def tangent(y, t):
        if name == "SO3":
            return _a(t)[:, None, None] * (hat(W) @ y + y @ hat(W2))
        return _a(t)[:, None] * torch.linalg.cross(W.expand_as(y), y)

    def with_normal(y, t):
        g = torch.Generator().manual_seed(normal_seed)
        return tangent(y, t) + 10 * _normal_part(space, y, g)

    solver = solver_cls(space)
    t = torch.full((8,), 0.3, dtype=F64)
    g = torch.Generator().manual_seed(normal_seed)
    normal = _normal_part(space, x, g)
    torch.testing.assert_close(space.proju(x, normal), torch.zeros_like(x), atol=1e-12, rtol=0)
    stepped = solver.step(with_normal, x, t, 0.2)
    space.check(stepped)
    torch.testing.assert_close(stepped, solver.step(tangent, x, t, 0.2), atol=1e-12, rtol=0)
    assert float((stepped - x).abs().max()) > 1e-2  # the step moved


def test_one_geodesic_euler_step_is_the_exponential_of_the_projected_field():
    """On S²: ``x_{t+h} = cos(h|v|) x + sin(h|v|) v/|v|`` with ``v = u − ⟨u, x⟩ x``."""
    space = ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(8, generator=torch.Generator().manual_seed(7), dtype=F64)
    u = torch.randn(8, 3, dtype=F64, generator=torch.Generator().manual_seed(8))
    h = 0.7
    v = u - (u * x).sum(1, keepdim=True) * x
    speed = v.norm(dim=1, keepdim=True)
    exact = torch.cos(h * speed) * x + torch.sin(h * speed) * v / speed
    out = RiemannianEuler(space).step(lambda y, t: u, x, torch.zeros(8, dtype=F64), h)
    torch.testing.assert_close(out, exact, atol=1e-12, rtol=0)


def _sqrtm(x):
    e, v = torch.linalg.eigh(x)
    return v @ torch.diag_embed(e.sqrt()) @ v.transpose(-1, -2)


def _long_run_cases():
    g = torch.Generator().manual_seed(0)
    lorentz = ManifoldSpace(geoopt.Lorentz(), (3,))
    spd = ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (3, 3))
    a = torch.randn(3, generator=g, dtype=F64)
    s = torch.randn(3, 3, generator=g, dtype=F64)
    s = (s + s.T) / 2

    def lorentz_field(x, t):  # bounded in ambient coordinates, over a bounded region
        return torch.sin(3 * x + a.to(x.dtype))

    def spd_field(x, t):  # x^{1/2} S x^{1/2}: Riemannian norm |S|, a complete flow
        r = _sqrtm(x)
        return torch.cos(t)[:, None, None] * (r @ s.to(x.dtype) @ r)

    return [
        ("lorentz", lorentz, WrappedNormalSource(lorentz, torch.tensor([1.0, 0, 0]), 1.0),
         lorentz_field, 5000),
        ("spd3", spd, WrappedNormalSource(spd, torch.eye(3), 0.5), spd_field, 2500),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "space", "source", "velocity", "steps"),
    _long_run_cases(),
    ids=["lorentz", "spd3"],
)
def test_long_float32_runs_stay_on_the_manifold(name, space, source, velocity, steps):
    """Thousands of float32 geodesic-Euler steps on hyperbolic space and SPD(3) stay on the
    manifold (every step re-projects its exponential map) and agree with the float64 run."""
    x_0 = source.sample(4, generator=torch.Generator().manual_seed(1), dtype=F64)
    flow = RiemannianFlowGenerator(space, solver=RiemannianEuler(space))
    out32 = simulate(flow, velocity, x_0.float(), steps)
    out64 = simulate(flow, velocity, x_0, steps)
    assert out32.x.dtype == torch.float32
    space.check(out32.x)
    assert float(space.dist(out64.x, x_0).min()) > 0.1  # the points travelled
    assert float(space.dist(out32.x.double(), out64.x).max()) < 1e-3


def test_a_step_that_leaves_spd_raises_clearly():
    """An ambient-bounded field drives an eigenvalue of SPD(3) to 0 in finite time (its
    Riemannian norm is unbounded there): the step says so instead of failing in eigh."""
    spd = ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (3, 3))
    x_0 = WrappedNormalSource(spd, torch.eye(3), 0.5).sample(
        8, generator=torch.Generator().manual_seed(0)
    )
    a = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))

    def velocity(x, t):
        return torch.sin(3 * x + a)

    for solver in (RiemannianEuler(spd), RiemannianRK4(spd)):
        flow = RiemannianFlowGenerator(spd, solver=solver)
        with pytest.raises(FloatingPointError, match="SymmetricPositiveDefinite step .* left the"):
            simulate(flow, velocity, x_0, 200)


@pytest.mark.parametrize("solver_cls", SOLVERS)
def test_order_on_a_product_sphere_times_circle(solver_cls):
    """S² × T¹ with ``u_t = a(t) (ω × s, c)``: the sphere factor rotates on small circles, the
    angle turns at speed ``a(t) c``; the stages are pulled back factor by factor."""
    product = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(1), 1))
    space = ManifoldSpace(product, (4,))
    g = torch.Generator().manual_seed(3)
    s_0 = UniformSource(space.factors[0]).sample(8, generator=g, dtype=F64)
    a_0 = UniformSource(space.factors[1]).sample(8, generator=g, dtype=F64)
    x_0 = space.join([s_0, a_0])
    c = 2.5

    def velocity(x, t):
        s, _ = space.split(x)
        spin = torch.linalg.cross(W.expand_as(s), s)
        return _a(t)[:, None] * space.join([spin, torch.full_like(s[:, :1], c)])

    def exact(t):
        angle = space.factors[1].projx(a_0 + c * _big_a(t))
        return space.join([s_0 @ so3_exp(W * _big_a(t)).T, angle])

    solver = solver_cls(space)
    orders = empirical_order(solver, velocity, x_0, exact, [8, 16, 32, 64])
    assert min(orders) > solver.order - 0.15, orders
    assert max(orders) < solver.order + 0.3, orders


@pytest.mark.parametrize("solver_cls", SOLVERS)
def test_order_on_spd_congruence_flow(solver_cls):
    """SPD(2) (no closed-form pull-back: ``torch.func.jvp`` of ``log_x``) with
    ``u_t(x) = a(t) (S x + x S)``, ``S`` symmetric: exact ``x(t) = E x₀ E``, ``E = exp(A(t) S)``."""
    spd = ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (2, 2))
    s = torch.tensor([[0.4, -0.3], [-0.3, -0.2]], dtype=F64)
    x_0 = torch.tensor([[[2.0, 0.5], [0.5, 1.0]], [[0.7, -0.2], [-0.2, 1.5]]], dtype=F64)

    def velocity(x, t):
        return _a(t)[:, None, None] * (s @ x + x @ s)

    def exact(t):
        e = torch.linalg.matrix_exp(_big_a(t) * s)
        return e @ x_0 @ e

    solver = solver_cls(spd)
    orders = empirical_order(solver, velocity, x_0, exact, [8, 16, 32, 64])
    assert min(orders) > solver.order - 0.15, orders
    assert max(orders) < solver.order + 0.3, orders


@pytest.mark.parametrize("solver_cls", SOLVERS)
def test_a_field_returning_tangent_vectors_steps_like_its_tensor(solver_cls):
    space = ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(8, generator=torch.Generator().manual_seed(9), dtype=F64)

    def field(y, t):
        return _a(t)[:, None] * torch.linalg.cross(W.expand_as(y), y)

    def as_tangent(y, t):
        return TangentVector(y, field(y, t))

    solver, t = solver_cls(space), torch.full((8,), 0.3, dtype=F64)
    assert torch.equal(solver.step(as_tangent, x, t, 0.2), solver.step(field, x, t, 0.2))
