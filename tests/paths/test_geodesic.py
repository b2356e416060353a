"""Geodesic paths: continuity equation on M, normalised densities, schedules, errors."""

import math

import geoopt
import pytest
import torch

from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.paths import CosineKappa, GeodesicPath, PolynomialKappa
from genmatch.sources import UniformSource
from genmatch.spaces import ManifoldSpace
from genmatch.testing import check_geodesic_path, manifold_continuity_residual

F64 = torch.float64
COMPACT = [
    ("circle", Hypersphere(2), (2,)),
    ("S2", Hypersphere(3), (3,)),
    ("T1", FlatTorus(1), (1,)),
    ("T2", FlatTorus(2), (2,)),
    ("SO3", SO3(), (3, 3)),
]


def _draw(space, path, n, seed):
    g = torch.Generator().manual_seed(seed)
    z = UniformSource(space).sample(n, generator=g, dtype=F64)
    t = 0.05 + 0.9 * torch.rand(n, generator=g, dtype=F64)
    return path.sample(z, t, generator=g).x_t, t, z


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name,manifold,shape", COMPACT, ids=[c[0] for c in COMPACT])
def test_conditional_flow_solves_continuity_equation(name, manifold, shape, seed):
    space = ManifoldSpace(manifold, shape)
    path = GeodesicPath(space)
    x, t, z = _draw(space, path, 32, seed)
    residual = manifold_continuity_residual(path, x, t, z)
    assert residual.abs().max() < 1e-9
    # negative control: the same density with a 10% faster velocity violates it
    wrong = manifold_continuity_residual(_Faster(path), x, t, z)
    assert wrong.abs().max() > 1e-2


class _Faster:
    """The density of ``path`` with 1.1 times its velocity (not a solution)."""

    def __init__(self, path):
        self.space, self.log_prob, self.d_log_prob_dt = (
            path.space,
            path.log_prob,
            path.d_log_prob_dt,
        )
        self.conditional_velocity = lambda sample: 1.1 * path.conditional_velocity(sample)


def _quadrature_circle(path, space, t, z_angle):
    # ∫ p_t(x|z) dθ over the circle, trapezoid on a fine grid
    theta = torch.linspace(-math.pi, math.pi, 200_001, dtype=F64)[:-1]
    if isinstance(space.manifold, Hypersphere):
        x = torch.stack([theta.cos(), theta.sin()], 1)
        z = torch.tensor([[math.cos(z_angle), math.sin(z_angle)]], dtype=F64)
    else:
        x, z = theta[:, None], torch.tensor([[z_angle]], dtype=F64)
    p = path.log_prob(x, torch.full((x.shape[0],), t, dtype=F64), z.expand_as(x)).exp()
    return float(p.sum() * (2 * math.pi / x.shape[0]))


@pytest.mark.parametrize("manifold,shape", [(Hypersphere(2), (2,)), (FlatTorus(1), (1,))])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.8])
def test_density_normalised_on_circle(manifold, shape, t):
    space = ManifoldSpace(manifold, shape)
    assert _quadrature_circle(GeodesicPath(space), space, t, 0.7) == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("t", [0.0, 0.4, 0.9])
def test_density_normalised_on_s2(t):
    # radial quadrature around z = north pole: ∫_0^π p(r) 2π sin r dr
    space = ManifoldSpace(Hypersphere(3), (3,))
    r = torch.linspace(0, math.pi, 400_001, dtype=F64)[1:-1]
    x = torch.stack([r.sin(), torch.zeros_like(r), r.cos()], 1)
    z = torch.tensor([[0.0, 0.0, 1.0]], dtype=F64).expand_as(x)
    p = GeodesicPath(space).log_prob(x, torch.full_like(r, t), z).exp()
    assert float(torch.trapezoid(p * 2 * math.pi * r.sin(), r)) == pytest.approx(1, abs=1e-4)
    # closed form sin(r/c) / (4π c sin r) inside the cap of radius cπ
    c = 1 - t
    inside = r < c * math.pi
    expected = (r[inside] / c).sin() / (4 * math.pi * c * r[inside].sin())
    assert torch.allclose(p[inside], expected, rtol=1e-9)
    assert bool((p[~inside] == 0).all())


def test_density_normalised_on_so3():
    # Monte Carlo under the Haar measure: E_uniform[p_t(x|z)] vol = 1
    space = ManifoldSpace(SO3(), (3, 3))
    src = UniformSource(space)
    g = torch.Generator().manual_seed(0)
    x = src.sample(200_000, generator=g, dtype=F64)
    z = src.sample(1, generator=g, dtype=F64).expand_as(x)
    p = GeodesicPath(space).log_prob(x, torch.full((x.shape[0],), 0.2, dtype=F64), z).exp()
    mass = p * SO3().volume()
    assert float(mass.mean()) == pytest.approx(1, abs=4 * float(mass.std()) / math.sqrt(2e5))


@pytest.mark.parametrize("kappa", [CosineKappa(), PolynomialKappa(3.0)])
def test_other_schedules_closed_form_equals_jvp(kappa):
    space = ManifoldSpace(Hypersphere(3), (3,))
    g = torch.Generator().manual_seed(3)
    src = UniformSource(space)
    x_0, x_1 = src.sample(32, generator=g, dtype=F64), src.sample(32, generator=g, dtype=F64)
    t = 0.05 + 0.9 * torch.rand(32, generator=g, dtype=F64)
    check_geodesic_path(GeodesicPath(space, kappa=kappa), x_0, x_1, t, atol=1e-8)


def test_velocity_finite_at_endpoints_with_x0():
    space = ManifoldSpace(Hypersphere(3), (3,))
    path = GeodesicPath(space)
    g = torch.Generator().manual_seed(0)
    x_0, x_1 = (UniformSource(space).sample(8, generator=g, dtype=F64) for _ in range(2))
    for t in (0.0, 1.0):
        s = path.sample(x_1, torch.full((8,), t, dtype=F64), x_0=x_0)
        u = path.conditional_velocity(s)
        assert torch.isfinite(u).all()
        assert torch.allclose(u.norm(dim=1), space.dist(x_0, x_1), atol=1e-8)


def test_bandwidth_relaxes_only_outside_the_support():
    space = ManifoldSpace(FlatTorus(1), (1,))
    exact, relaxed = GeodesicPath(space), GeodesicPath(space, bandwidth=0.01)
    x = torch.tensor([[0.1], [2.0], [2.5]], dtype=F64)
    z = torch.zeros(3, 1, dtype=F64)
    t = torch.full((3,), 0.5, dtype=F64)  # support: |x| < π/2
    a, b = exact.log_prob(x, t, z), relaxed.log_prob(x, t, z)
    assert a[0] == b[0] and torch.isinf(a[1:]).all()
    assert torch.isfinite(b).all() and b[2] < b[1] < b[0]


def test_errors():
    poincare = ManifoldSpace(geoopt.PoincareBall(), (2,))
    with pytest.raises(ValueError, match="needs x_0"):
        GeodesicPath(poincare).sample(torch.zeros(2, 2), torch.zeros(2))
    with pytest.raises(TypeError, match="compact manifold"):
        GeodesicPath(poincare).log_prob(torch.zeros(2, 2), torch.zeros(2), torch.zeros(2, 2))
    with pytest.raises(TypeError, match="ManifoldSpace"):
        GeodesicPath(object())
    with pytest.raises(ValueError, match="bandwidth"):
        GeodesicPath(poincare, bandwidth=0.0)
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    with pytest.raises(ValueError, match="must have shape"):
        GeodesicPath(s2).sample(torch.eye(3)[:2], torch.zeros(3), x_0=torch.eye(3)[:2])
