"""Manifold sources: uniform on compact manifolds, wrapped normal otherwise, and products."""

import math

import geoopt
import pytest
import torch

from genmatch.manifolds import SO3, FlatTorus, Hypersphere, so3_log
from genmatch.sources import ProductSource, UniformSource, WrappedNormalSource
from genmatch.sources.wrapped_normal import _log_sinhc
from genmatch.spaces import ManifoldSpace

F64 = torch.float64


@pytest.mark.parametrize(
    "manifold,shape,volume",
    [
        (Hypersphere(3), (3,), 4 * math.pi),
        (Hypersphere(2), (2,), 2 * math.pi),
        (FlatTorus(2), (2,), 4 * math.pi**2),
        (SO3(), (3, 3), 16 * math.sqrt(2) * math.pi**2),
    ],
)
def test_uniform_log_prob_is_minus_log_volume(manifold, shape, volume):
    src = UniformSource(ManifoldSpace(manifold, shape))
    x = src.sample(7, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert torch.allclose(src.log_prob(x), torch.full((7,), -math.log(volume), dtype=F64))


def test_haar_rotation_angle_law():
    # under Haar measure the rotation angle ω has density (1 − cos ω)/π: E[ω] = π/2 + 2/π
    src = UniformSource(ManifoldSpace(SO3(), (3, 3)))
    r = src.sample(100_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    omega = so3_log(r).norm(dim=1)
    assert float(omega.mean()) == pytest.approx(math.pi / 2 + 2 / math.pi, abs=0.01)


def test_sphere_uniform_height_law():
    # Archimedes: the height z of a uniform point on S² is uniform on [−1, 1]
    src = UniformSource(ManifoldSpace(Hypersphere(3), (3,)))
    z = src.sample(100_000, generator=torch.Generator().manual_seed(0), dtype=F64)[:, 2]
    assert float((z < -0.5).double().mean()) == pytest.approx(0.25, abs=0.01)


def test_wrapped_normal_is_centred_and_on_manifold():
    space = ManifoldSpace(geoopt.Lorentz().to(F64), (3,))
    src = WrappedNormalSource(space, torch.tensor([1.0, 0.0, 0.0], dtype=F64), 0.3)
    x = src.sample(20_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    space.check(x)
    mu = torch.tensor([[1.0, 0.0, 0.0]], dtype=F64).expand_as(x)
    w = space.logmap(mu, x)
    assert w[:, 1:].mean(0).abs().max() < 0.01
    assert w[:, 1:].std(0).sub(0.3).abs().max() < 0.01


def test_errors():
    with pytest.raises(TypeError, match="WrappedNormalSource"):
        UniformSource(ManifoldSpace(geoopt.PoincareBall(), (2,)))
    space = ManifoldSpace(Hypersphere(3), (3,))
    with pytest.raises(ValueError, match="not on Hypersphere"):
        WrappedNormalSource(space, torch.tensor([0.0, 0.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="std"):
        WrappedNormalSource(space, torch.tensor([0.0, 0.0, 1.0]), 0.0)
    with pytest.raises(ValueError, match="n must"):
        UniformSource(space).sample(0)


def _to_hyperboloid(p):
    """The isometry from the unit Poincaré disk to the Lorentz model ``k = 1``."""
    sq = (p * p).sum(-1, keepdim=True)
    return torch.cat([1 + sq, 2 * p], -1) / (1 - sq)


def _ball(c):
    """A float64 Poincaré ball whose curvature is exact (geoopt rounds ``c`` in float32)."""
    ball = geoopt.PoincareBall(c=c).to(F64)
    with torch.no_grad():
        ball.isp_c.copy_(torch.log(torch.expm1(torch.tensor(c, dtype=F64))))
    return ball


def _disk_quadrature(radius, c=1.0, nr=3000, nt=256):
    """Midpoint nodes of the disk ``|y| < radius`` and weights of the volume ``λ(y)² dy``."""
    rho = (torch.arange(nr, dtype=F64) + 0.5) / nr * radius
    theta = (torch.arange(nt, dtype=F64) + 0.5) / nt * 2 * math.pi
    r, th = torch.meshgrid(rho, theta, indexing="ij")
    y = torch.stack([r * torch.cos(th), r * torch.sin(th)], -1).reshape(-1, 2)
    lam = 2 / (1 - c * (y * y).sum(-1))
    return y, lam**2 * r.reshape(-1) * (radius / nr) * (2 * math.pi / nt)


def _moments_agree(samples, y, weights):
    # E[y], E[y₀y₁], E|y|² of the samples (in disk coordinates) vs the quadrature of p
    stats = lambda v: torch.stack([v[:, 0], v[:, 1], v[:, 0] * v[:, 1], (v * v).sum(1)], 1)  # noqa: E731
    mc, se = stats(samples).mean(0), stats(samples).std(0) / math.sqrt(samples.shape[0])
    quad = (weights[:, None] * stats(y)).sum(0)
    assert ((mc - quad).abs() < 4 * se).all(), (mc, quad, se)


@pytest.mark.parametrize("c", [1.0, 2.0])
def test_wrapped_normal_density_on_the_poincare_ball(c):
    # log_prob integrates to 1 against the Riemannian volume and has the samples' moments
    space = ManifoldSpace(_ball(c), (2,))
    src = WrappedNormalSource(space, torch.tensor([0.3, -0.2], dtype=F64) / math.sqrt(c), 0.4)
    y, w = _disk_quadrature(0.9999 / math.sqrt(c), c)
    p = src.log_prob(y).exp() * w
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    x = src.sample(100_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    _moments_agree(x, y, p)


def test_wrapped_normal_density_on_the_lorentz_model():
    # away from the origin the ambient noise is anisotropic in the metric (Gram matrix of the
    # boosted basis); pulled back to the disk, the density integrates to 1 and has the moments
    space = ManifoldSpace(geoopt.Lorentz().to(F64), (3,))
    src = WrappedNormalSource(space, _to_hyperboloid(torch.tensor([0.5, 0.3], dtype=F64)), 0.5)
    y, w = _disk_quadrature(0.999)
    p = src.log_prob(_to_hyperboloid(y)).exp() * w
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    x = src.sample(100_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    _moments_agree(x[:, 1:] / (1 + x[:, :1]), y, p)


def test_wrapped_normals_at_the_origin_agree_across_the_isometry():
    # at the origin the Lorentz noise σ is the Poincaré noise σ/2 (λ₀ = 2): same density
    lorentz = WrappedNormalSource(
        ManifoldSpace(geoopt.Lorentz().to(F64), (3,)), torch.tensor([1.0, 0.0, 0.0], dtype=F64), 0.6
    )
    ball = WrappedNormalSource(ManifoldSpace(_ball(1.0), (2,)), torch.zeros(2, dtype=F64), 0.3)
    x = lorentz.sample(50, generator=torch.Generator().manual_seed(1), dtype=F64)
    expected = ball.log_prob(x[:, 1:] / (1 + x[:, :1]))
    assert torch.allclose(lorentz.log_prob(x), expected, atol=1e-12)


def test_log_sinhc_is_stable():
    r = torch.tensor([0.0, 1e-4, 0.5, 3.0, 1000.0], dtype=F64)
    expected = [0.0, 1e-8 / 6, math.log(math.sinh(0.5) / 0.5), math.log(math.sinh(3) / 3)]
    expected.append(1000 - math.log(2) - math.log(1000))  # sinh overflows here
    assert torch.allclose(_log_sinhc(r), torch.tensor(expected, dtype=F64), rtol=1e-12, atol=0)


def test_wrapped_normal_log_prob_errors():
    space = ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (2, 2))
    src = WrappedNormalSource(space, torch.eye(2), 0.5)
    with pytest.raises(TypeError, match="PoincareBall and Lorentz"):
        src.log_prob(torch.eye(2)[None])
    ball = WrappedNormalSource(ManifoldSpace(geoopt.PoincareBall(), (2,)), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match="not on PoincareBall"):
        ball.log_prob(torch.tensor([[1.5, 0.0]]))


def _s2_t2():
    return ManifoldSpace(geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2)), (5,))


def test_product_source_is_uniform_on_each_factor():
    space = _s2_t2()
    src = ProductSource(space)
    x = src.sample(40_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    space.check(x)
    sphere, angles = space.split(x)
    # Archimedes on S² (height uniform on [−1, 1]: E z² = 1/3), uniform angles on T²
    assert float((sphere[:, 2] ** 2).mean()) == pytest.approx(1 / 3, abs=0.005)
    assert float((angles**2).mean()) == pytest.approx(math.pi**2 / 3, abs=0.03)
    # the factors are independent: no correlation between z and the first angle
    assert abs(float((sphere[:, 2] * angles[:, 0]).mean())) < 0.02
    expected = -math.log(4 * math.pi) - math.log(4 * math.pi**2)
    assert torch.allclose(src.log_prob(x[:5]), torch.full((5,), expected, dtype=F64))


def test_product_source_with_a_wrapped_normal_factor():
    ball = _ball(1.0)
    product = geoopt.ProductManifold((Hypersphere(3), 3), (ball, 2))
    space = ManifoldSpace(product, (5,))
    sphere, disk = space.factors
    wrapped = WrappedNormalSource(disk, torch.tensor([0.1, 0.2], dtype=F64), 0.3)
    src = ProductSource(space, (UniformSource(sphere), wrapped))
    x = src.sample(6, generator=torch.Generator().manual_seed(0), dtype=F64)
    space.check(x)
    expected = -math.log(4 * math.pi) + wrapped.log_prob(space.split(x)[1])
    assert torch.allclose(src.log_prob(x), expected, atol=1e-12)


def test_product_source_errors():
    space = _s2_t2()
    sphere, torus = space.factors
    with pytest.raises(ValueError, match="needs 2 sources"):
        ProductSource(space, (UniformSource(sphere),))
    with pytest.raises(ValueError, match="factor 0"):
        ProductSource(
            space, (UniformSource(ManifoldSpace(Hypersphere(3), (3,))), UniformSource(torus))
        )
    with pytest.raises(TypeError, match="ProductManifold"):
        ProductSource(sphere)
    with pytest.raises(TypeError, match="WrappedNormalSource"):  # a non-compact factor
        product = geoopt.ProductManifold((Hypersphere(3), 3), (geoopt.PoincareBall(), 2))
        ProductSource(ManifoldSpace(product, (5,)))


def test_uniform_source_on_a_power():
    space = ManifoldSpace(SO3(), (4, 3, 3))
    src = UniformSource(space)
    x = src.sample(5000, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert x.shape == (5000, 4, 3, 3)
    space.check(x)
    assert x.mean(0).abs().max() < 0.05  # Haar on each element
    # independent elements: no correlation between the frames' first entries
    assert abs(float((x[:, 0, 0, 0] * x[:, 1, 0, 0]).mean())) < 0.02
    volume = 16 * math.sqrt(2) * math.pi**2
    assert torch.allclose(src.log_prob(x[:3]), torch.full((3,), -4 * math.log(volume), dtype=F64))
    wrapped = WrappedNormalSource(
        ManifoldSpace(geoopt.PoincareBall(), (3, 2)), torch.zeros(3, 2), 0.5
    )
    with pytest.raises(ValueError, match="one point per state"):
        wrapped.log_prob(torch.zeros(1, 3, 2))


def test_product_source_defaults_through_nested_products():
    inner = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2))
    space = ManifoldSpace(geoopt.ProductManifold((inner, 5), (SO3(), (3, 3))), (14,))
    src = ProductSource(space)
    x = src.sample(4, generator=torch.Generator().manual_seed(0), dtype=F64)
    space.check(x)
    volumes = 4 * math.pi * 4 * math.pi**2 * 16 * math.sqrt(2) * math.pi**2
    assert torch.allclose(src.log_prob(x), torch.full((4,), -math.log(volumes), dtype=F64))
