"""Manifold log-likelihood: exact on S² and T² against the geodesic path's closed-form density."""

import math

import geoopt
import pytest
import torch

from genmatch.likelihood import (
    HutchinsonDivergence,
    Probe,
    manifold_log_likelihood,
    riemannian_divergence,
)
from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.paths import GeodesicPath, PathSample
from genmatch.solvers import RiemannianMidpoint
from genmatch.sources import ProductSource, UniformSource, WrappedNormalSource
from genmatch.spaces import ManifoldSpace
from genmatch.time import TimeGrid

F64 = torch.float64


@pytest.mark.parametrize(
    "manifold,shape", [(Hypersphere(3), (3,)), (FlatTorus(2), (2,))], ids=["S2", "T2"]
)
def test_likelihood_of_conditional_flow_matches_path_density(manifold, shape):
    # one datum z, uniform source: the flow u_t(x|z) carries p_0 to p_T(·|z) in closed form
    space = ManifoldSpace(manifold, shape)
    path = GeodesicPath(space)
    g = torch.Generator().manual_seed(0)
    z = UniformSource(space).sample(1, generator=g, dtype=F64).expand(12, *shape)
    end = 0.7
    x = path.sample(z, torch.full((12,), end, dtype=F64), generator=g).x_t

    def velocity(y, t):
        return path.conditional_velocity(PathSample(x_t=y, t=t, z=z))

    out = manifold_log_likelihood(
        space, velocity, x, UniformSource(space).log_prob, TimeGrid.uniform(48, 0.0, end)
    )
    expected = path.log_prob(x, torch.full((12,), end, dtype=F64), z)
    assert torch.allclose(out.log_prob, expected, atol=1e-6)
    # the backward flow lands on the source points that generated x
    space.check(out.x_0)
    assert out.nfe == 2 * 48 * 4


def test_likelihood_converges_with_midpoint_on_s2():
    space = ManifoldSpace(Hypersphere(3), (3,))
    path = GeodesicPath(space)
    g = torch.Generator().manual_seed(1)
    z = UniformSource(space).sample(1, generator=g, dtype=F64).expand(8, 3)
    x = path.sample(z, torch.full((8,), 0.6, dtype=F64), generator=g).x_t
    expected = path.log_prob(x, torch.full((8,), 0.6, dtype=F64), z)

    def velocity(y, t):
        return path.conditional_velocity(PathSample(x_t=y, t=t, z=z))

    errors = []
    for n in (8, 16, 32):
        out = manifold_log_likelihood(
            space,
            velocity,
            x,
            UniformSource(space).log_prob,
            TimeGrid.uniform(n, 0.0, 0.6),
            solver=RiemannianMidpoint(space),
        )
        errors.append(float((out.log_prob - expected).abs().max()))
    assert errors[2] < errors[1] < errors[0]
    assert math.log2(errors[1] / errors[2]) > 1.7  # second order


def _gradient_and_finite_difference(space, field, x, steps, a=0.7):
    """``d Σ log p / d a`` by the kept graph, and by a central finite difference (float64)."""

    def log_p(a, grad):
        return manifold_log_likelihood(
            space, lambda y, t: field(a, y, t), x, UniformSource(space).log_prob, steps, grad=grad
        ).log_prob

    a = torch.tensor(a, dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(log_p(a, True).sum(), a)
    eps = 1e-5
    with torch.no_grad():
        fd = (log_p(a + eps, False).sum() - log_p(a - eps, False).sum()) / (2 * eps)
        assert not log_p(a, False).requires_grad  # without grad=True nothing is tracked
    return g, fd


def test_gradients_with_respect_to_the_velocity_parameters_on_s2():
    space = ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(4, generator=torch.Generator().manual_seed(3), dtype=F64)
    e3 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    # a ∇z, time-dependent
    g, fd = _gradient_and_finite_difference(
        space, lambda a, y, t: a * (e3 - y[:, 2:] * y) * (1 + t[:, None]), x, 12
    )
    assert abs(float(g)) > 0.1
    assert torch.allclose(g, fd, rtol=1e-6, atol=0)


def test_rotation_preserves_the_uniform_density_on_s2():
    space = ManifoldSpace(Hypersphere(3), (3,))
    w = torch.tensor([0.3, 0.2, -1.0], dtype=F64)
    x = UniformSource(space).sample(5, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = manifold_log_likelihood(
        space,
        lambda y, t: torch.linalg.cross(w.expand_as(y), y),
        x,
        UniformSource(space).log_prob,
        8,
    )
    assert torch.allclose(out.log_prob, torch.full((5,), -math.log(4 * math.pi), dtype=F64))


def test_likelihood_through_a_hyperbolic_translation():
    # the Killing field u(z) = a(1 − z²)/2 (complex notation) of the Poincaré disk flows by the
    # Möbius translation T(z) = (z + τ)/(1 + τz), τ = tanh(a/2), an isometry: it carries the
    # wrapped normal WN(μ, σ) to WN(Tμ, σ λ_μ / λ_{Tμ}); the divergence is 0 for the metric
    # but not in coordinates, so the conformal term of the divergence is exercised
    ball = geoopt.PoincareBall().to(F64)
    with torch.no_grad():  # geoopt stores c = softplus(·) rounded in float32: make it exactly 1
        ball.isp_c.copy_(torch.log(torch.expm1(torch.tensor(1.0, dtype=F64))))
    space = ManifoldSpace(ball, (2,))
    a = 1.2
    tau = math.tanh(a / 2)

    def killing(y, t):
        re, im = y[:, 0], y[:, 1]
        return 0.5 * a * torch.stack([1 - re * re + im * im, -2 * re * im], 1)

    def translate(z):
        num = torch.complex(z[0] + tau, z[1])
        w = num / torch.complex(1 + tau * z[0], tau * z[1])
        return torch.stack([w.real, w.imag])

    mu = torch.tensor([0.2, -0.4], dtype=F64)
    source = WrappedNormalSource(space, mu, 0.35)
    mu_1 = translate(mu)
    lam = lambda p: 2 / (1 - (p * p).sum())  # noqa: E731
    pushed = WrappedNormalSource(space, mu_1, 0.35 * float(lam(mu) / lam(mu_1)))
    x = pushed.sample(16, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = manifold_log_likelihood(space, killing, x, source.log_prob, 32)
    assert torch.allclose(out.log_prob, pushed.log_prob(x), atol=1e-8)
    # an isometry: div_g u = 0, although the Euclidean divergence −2a Re z is not
    div = riemannian_divergence(space, killing, x, torch.zeros(16, dtype=F64))
    assert (div.abs() < 1e-12).all()


def _s2_t1():
    return ManifoldSpace(geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(1), 1)), (4,))


def test_likelihood_of_conditional_flow_on_a_product():
    # the geodesic path of S² × T¹ from the product of uniforms has the product density
    space = _s2_t1()
    path = GeodesicPath(space)
    assert isinstance(path.source, ProductSource)
    g = torch.Generator().manual_seed(0)
    z = path.source.sample(1, generator=g, dtype=F64).expand(12, 4)
    end = 0.7
    x = path.sample(z, torch.full((12,), end, dtype=F64), generator=g).x_t

    def velocity(y, t):
        return path.conditional_velocity(PathSample(x_t=y, t=t, z=z))

    out = manifold_log_likelihood(
        space, velocity, x, path.source.log_prob, TimeGrid.uniform(48, 0.0, end)
    )
    expected = path.log_prob(x, torch.full((12,), end, dtype=F64), z)
    assert torch.allclose(out.log_prob, expected, atol=1e-6)
    # the product density is the product of the factors' densities
    s, a = space.split(x)
    z_s, z_a = space.split(z)
    t = torch.full((12,), end, dtype=F64)
    factors = GeodesicPath(space.factors[0]).log_prob(s, t, z_s)
    factors = factors + GeodesicPath(space.factors[1]).log_prob(a, t, z_a)
    assert torch.allclose(expected, factors, atol=1e-12)
    assert bool((expected > path.source.log_prob(x)).all())  # concentrated towards z


def test_manifold_likelihood_with_hutchinson_is_unbiased_on_s2():
    space = ManifoldSpace(Hypersphere(3), (3,))
    path = GeodesicPath(space)
    g = torch.Generator().manual_seed(2)
    z = UniformSource(space).sample(1, generator=g, dtype=F64)
    x = path.sample(z.expand(3, 3), torch.full((3,), 0.6, dtype=F64), generator=g).x_t
    reps = 300
    xs, zs = x.repeat(reps, 1), z.expand(3 * reps, 3)

    def velocity(y, t):
        return path.conditional_velocity(PathSample(x_t=y, t=t, z=zs))

    grid = TimeGrid.uniform(24, 0.0, 0.6)
    out = manifold_log_likelihood(
        space,
        velocity,
        xs,
        UniformSource(space).log_prob,
        grid,
        divergence=HutchinsonDivergence(Probe.GAUSSIAN),
        generator=torch.Generator().manual_seed(0),
    )
    expected = path.log_prob(x, torch.full((3,), 0.6, dtype=F64), z.expand(3, 3))
    est = out.log_prob.reshape(reps, 3)
    se = est.std(0) / math.sqrt(reps)
    assert (est.std(0) > 1e-2).all()
    assert ((est.mean(0) - expected).abs() < 4 * se + 1e-5).all(), (est.mean(0), expected, se)
    with pytest.raises(TypeError, match="HutchinsonDivergence"):
        manifold_log_likelihood(
            space, velocity, xs, UniformSource(space).log_prob, grid, divergence=object()
        )
    with pytest.raises(ValueError, match="probe must have the shape"):
        riemannian_divergence(space, velocity, x, torch.zeros(3), probe=torch.zeros(2, 3))


def test_power_manifold_path_density_and_likelihood():
    # S²^3 as a power (3, 3): the path density is the sum over elements, equals the density
    # of the same states on the ProductManifold S² × S² × S², and the flow's likelihood
    space = ManifoldSpace(Hypersphere(3), (3, 3))
    path = GeodesicPath(space)
    g = torch.Generator().manual_seed(3)
    z = path.source.sample(1, generator=g, dtype=F64).expand(10, 3, 3)
    end = 0.6
    t = torch.full((10,), end, dtype=F64)
    x = path.sample(z, t, generator=g).x_t
    expected = path.log_prob(x, t, z)
    element = GeodesicPath(ManifoldSpace(Hypersphere(3), (3,)))
    per_element = sum(element.log_prob(x[:, i], t, z[:, i]) for i in range(3))
    assert torch.allclose(expected, per_element, atol=1e-12)
    product = ManifoldSpace(geoopt.ProductManifold(*[(Hypersphere(3), 3)] * 3), (9,))
    on_product = GeodesicPath(product).log_prob(x.reshape(10, 9), t, z.reshape(10, 9))
    assert torch.allclose(expected, on_product, atol=1e-12)

    def velocity(y, s):
        return path.conditional_velocity(PathSample(x_t=y, t=s, z=z))

    out = manifold_log_likelihood(
        space, velocity, x, path.source.log_prob, TimeGrid.uniform(48, 0.0, end)
    )
    assert torch.allclose(out.log_prob, expected, atol=1e-6)


def test_nested_product_path_density_matches_the_flat_product():
    inner = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2))
    nested = ManifoldSpace(geoopt.ProductManifold((inner, 5), (SO3(), (3, 3))), (14,))
    flat = ManifoldSpace(
        geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2), (SO3(), (3, 3))), (14,)
    )
    g = torch.Generator().manual_seed(0)
    path = GeodesicPath(nested)
    z = path.source.sample(6, generator=g, dtype=F64)
    t = torch.full((6,), 0.5, dtype=F64)
    x = path.sample(z, t, generator=g).x_t
    assert torch.allclose(path.log_prob(x, t, z), GeodesicPath(flat).log_prob(x, t, z), atol=1e-12)


def test_gradients_on_so3_are_finite_and_match_finite_differences():
    # SO(3)'s drift correction after each exponential map must not break the gradient (an
    # SVD projection has a NaN backward at rotations); the field a·P_R(M), the gradient of
    # a·tr(MᵀR), is not volume-preserving, so d log p / d a ≠ 0
    space = ManifoldSpace(SO3(), (3, 3))
    x = UniformSource(space).sample(4, generator=torch.Generator().manual_seed(1), dtype=F64)
    m = torch.tensor([[0.5, 0.2, 0.0], [-0.1, 0.3, 0.4], [0.2, 0.0, -0.6]], dtype=F64)
    g, fd = _gradient_and_finite_difference(space, lambda a, y, t: a * m.expand_as(y), x, 8, 0.8)
    assert torch.isfinite(g) and abs(float(g)) > 0.01
    assert torch.allclose(g, fd, rtol=1e-6, atol=0)
