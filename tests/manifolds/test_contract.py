"""Every manifold through the same identities, in float64 over several seeds."""

import math

import geoopt
import pytest
import torch

from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.paths import GeodesicPath
from genmatch.sources import UniformSource, WrappedNormalSource
from genmatch.spaces import ManifoldSpace
from genmatch.testing import check_geodesic_path, check_manifold_space

F64 = torch.float64


def _uniform(space):
    src = UniformSource(space)
    return lambda n, g: src.sample(n, generator=g, dtype=F64)


def _wrapped(space, mean, std=0.7):
    src = WrappedNormalSource(space, mean.to(F64), std)
    return lambda n, g: src.sample(n, generator=g, dtype=F64)


def _product_sampler(n, g):
    s = Hypersphere(3).random_uniform_points(n, generator=g, dtype=F64)
    return torch.cat([s, FlatTorus(2).random_uniform_points(n, generator=g, dtype=F64)], 1)


def _cases():
    """(id, space, sampler, atol). geoopt's Lorentz clamps tiny norms in expmap (≈1e-8)."""
    cases = []
    for name, manifold, shape in [
        ("circle", Hypersphere(2), (2,)),
        ("S2", Hypersphere(3), (3,)),
        ("S4", Hypersphere(5), (5,)),
        ("T1", FlatTorus(1), (1,)),
        ("T2", FlatTorus(2), (2,)),
        ("SO3", SO3(), (3, 3)),
    ]:
        space = ManifoldSpace(manifold, shape)
        cases.append((name, space, _uniform(space), 1e-9))
    poincare = ManifoldSpace(geoopt.PoincareBall().to(F64), (2,))
    cases.append(("poincare", poincare, _wrapped(poincare, torch.zeros(2)), 1e-9))
    lorentz = ManifoldSpace(geoopt.Lorentz().to(F64), (3,))
    cases.append(("lorentz", lorentz, _wrapped(lorentz, torch.tensor([1.0, 0, 0])), 1e-6))
    spd = ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (2, 2))
    cases.append(("spd", spd, _wrapped(spd, torch.eye(2)), 1e-9))
    product = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2))
    cases.append(("S2xT2", ManifoldSpace(product, (5,)), _product_sampler, 1e-9))
    # powers M^N given by leading event dimensions (N backbone frames, N directions)
    for name, manifold, shape in [("SO3^4", SO3(), (4, 3, 3)), ("S2^5", Hypersphere(3), (5, 3))]:
        space = ManifoldSpace(manifold, shape)
        cases.append((name, space, _uniform(space), 1e-9))
    return cases


CASES = _cases()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name,space,sampler,atol", CASES, ids=[c[0] for c in CASES])
def test_manifold_identities(name, space, sampler, atol, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = sampler(64, g), sampler(64, g)
    w = check_manifold_space(space, x, y, atol=atol)
    assert bool((space.dist(x, y) > 0).all())  # distinct points: log is not trivially zero
    assert w.abs().max() > 0.1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name,space,sampler,atol", CASES, ids=[c[0] for c in CASES])
def test_geodesic_path_contract(name, space, sampler, atol, seed):
    g = torch.Generator().manual_seed(seed)
    x_0, x_1 = sampler(64, g), sampler(64, g)
    t = torch.rand(64, generator=g, dtype=F64).clamp(0.01, 0.99)
    path = GeodesicPath(space)
    u = check_geodesic_path(path, x_0, x_1, t, atol=max(atol, 1e-8) * 100)
    # the speed is constant along a geodesic with κ_t = t: |u| = d(x_0, x_1)
    speed = space.inner(path.sample(x_1, t, x_0=x_0).x_t, u).sqrt()
    assert torch.allclose(speed, space.dist(x_0, x_1), atol=1e-6)


@pytest.mark.parametrize("name,space,sampler,atol", CASES[:6], ids=[c[0] for c in CASES[:6]])
def test_uniform_samples_have_uniform_moments(name, space, sampler, atol):
    # E[x] = 0 for the uniform law on the sphere, the torus angles and SO(3) (Haar)
    x = sampler(20_000, torch.Generator().manual_seed(0))
    assert x.mean(0).abs().max() < 0.05


def test_sphere_near_antipode_is_exact():
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    x = torch.tensor([[0.0, 0.0, 1.0]], dtype=F64)
    v = torch.tensor([[math.pi - 1e-6, 0.0, 0.0]], dtype=F64)
    y = s2.expmap(x, v)
    assert torch.allclose(s2.logmap(x, y), v, atol=1e-8)
    # the exact antipode is the cut locus: log returns the zero vector (a null set)
    assert torch.equal(s2.logmap(x, -x), torch.zeros_like(x))


def test_torus_cut_locus_picks_minus_pi():
    t1 = ManifoldSpace(FlatTorus(1), (1,))
    x = torch.tensor([[0.0]], dtype=F64)
    assert torch.allclose(t1.logmap(x, torch.tensor([[math.pi]], dtype=F64)), -x - math.pi)


def test_so3_log_at_angle_pi_round_trips():
    so3 = SO3()
    axes = torch.nn.functional.normalize(torch.randn(16, 3, dtype=F64), dim=1)
    for angle in (math.pi, math.pi - 1e-3, math.pi - 2e-2):
        r = so3.expmap(torch.eye(3, dtype=F64).expand(16, 3, 3), so3_hat(axes * angle))
        eye = torch.eye(3, dtype=F64).expand(16, 3, 3)
        assert torch.allclose(so3.expmap(eye, so3.logmap(eye, r)), r, atol=1e-9)
        assert torch.allclose(so3.dist(eye, r) / math.sqrt(2), torch.full((16,), angle, dtype=F64))


def so3_hat(omega):
    from genmatch.manifolds import hat

    return hat(omega)


TOL = {torch.float32: 2e-5, torch.float64: 1e-12}


@pytest.mark.parametrize("name,space,sampler,atol", CASES[:6], ids=[c[0] for c in CASES[:6]])
def test_round_trip_in_both_dtypes(name, space, sampler, atol, dtype):
    x = sampler(64, torch.Generator().manual_seed(5)).to(dtype)
    y = sampler(64, torch.Generator().manual_seed(6)).to(dtype)
    scale = 1 + space.dist(x, y).max()
    err = (space.expmap(x, space.logmap(x, y)) - y).abs().max()
    assert err < 50 * TOL[dtype] * scale


@pytest.mark.parametrize("dtype_", [torch.float32, torch.float64])
def test_sphere_log_is_accurate_for_close_points(dtype_):
    # |log_x(y)| = d for d down to 1e-6 (an acos-based distance saturates near 1e-2 in f32)
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    x = torch.tensor([[1.0, 0.0, 0.0]], dtype=dtype_).expand(4, 3)
    d = torch.tensor([1e-6, 1e-4, 1e-2, 1.0], dtype=dtype_)
    y = torch.stack([d.cos(), d.sin(), torch.zeros_like(d)], 1)
    assert torch.allclose(
        s2.logmap(x, y).norm(dim=1), d, rtol=1e-5 if dtype_ == torch.float32 else 1e-12
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name,space,sampler,atol", CASES[:6], ids=[c[0] for c in CASES[:6]])
def test_closed_form_dlogmap_equals_jvp(name, space, sampler, atol, seed):
    g = torch.Generator().manual_seed(seed)
    m = space.manifold
    x, y = sampler(32, g), sampler(32, g)
    near = space.expmap(x, 1e-3 * space.proju(x, torch.randn(x.shape, generator=g, dtype=F64)))
    for p in (y, near):
        k = space.proju(p, torch.randn(x.shape, generator=g, dtype=F64))
        auto = torch.func.jvp(lambda q: m.logmap(x, q), (p,), (k,))[1]
        assert torch.allclose(m.dlogmap(x, p, k), auto, atol=1e-9)


def test_so3_drift_projection_is_quadratic_and_differentiable():
    so3 = SO3()
    r = UniformSource(ManifoldSpace(so3, (3, 3))).sample(
        16, generator=torch.Generator().manual_seed(0), dtype=F64
    )
    assert torch.allclose(so3.project_drift(r), r, atol=1e-14)
    drift = 1e-6 * torch.randn(16, 3, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    fixed = so3.project_drift(r + drift)
    eye = torch.eye(3, dtype=F64)
    assert (fixed.mT @ fixed - eye).abs().max() < 1e-10  # from ~1e-5: quadratic
    # gradients through the exponential map exist at rotations (an SVD's would be NaN)
    v = torch.zeros(16, 3, 3, dtype=F64, requires_grad=True)
    ManifoldSpace(so3, (3, 3)).expmap(r, v).sum().backward()
    assert torch.isfinite(v.grad).all()
    # dlogmap at y = x (angle 0) has a finite gradient too
    k = torch.zeros(16, 3, 3, dtype=F64, requires_grad=True)
    y = r.clone().requires_grad_(True)
    so3.dlogmap(
        r, y, r @ torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64) + k
    ).sum().backward()
    assert torch.isfinite(y.grad).all() and torch.isfinite(k.grad).all()
