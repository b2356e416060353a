"""GeodesicPath against hand-computed values: interpolant, both velocity forms, the density
(inside, at and beyond the support boundary, relaxed by a bandwidth), powers ``M^N`` and
products of manifolds, default sources, and the exact error messages."""

import math
import re

import geoopt
import pytest
import torch

from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.paths import GeodesicPath, PolynomialKappa
from genmatch.sources import AbstractSource, ProductSource, UniformSource
from genmatch.spaces import ManifoldSpace

F64 = torch.float64
T1 = ManifoldSpace(FlatTorus(1), (1,))
S2 = ManifoldSpace(Hypersphere(3), (3,))
SQUARE = PolynomialKappa(2.0)  # κ_t = t², κ̇_t = 2t
LOG_2PI = math.log(2 * math.pi)


def _t(*values):
    return torch.tensor(values, dtype=F64)


def _col(*values):
    return torch.tensor(values, dtype=F64)[:, None]


def test_interpolant_and_both_velocity_forms_on_the_circle():
    path = GeodesicPath(T1, kappa=SQUARE)
    z, x_0 = _col(0.0, 0.0, 1.0), _col(1.0, 2.0, -2.0)  # wrap(x_0 − z): 1, 2, π-wrapped 3 − 2π
    t = _t(0.5, 0.8, 0.5)  # κ = 0.25, 0.64, 0.25
    c = 1 - t**2
    d = torch.remainder(x_0 - z + math.pi, 2 * math.pi) - math.pi  # log_z(x_0)
    expected_x_t = torch.remainder(z + c[:, None] * d + math.pi, 2 * math.pi) - math.pi
    s = path.sample(z, t, x_0=x_0)
    torch.testing.assert_close(s.x_t, expected_x_t, atol=1e-14, rtol=0)
    torch.testing.assert_close(path.interpolate(x_0, z, t), expected_x_t, atol=1e-14, rtol=0)
    assert s.x_0 is x_0 and s.z is z and torch.equal(s.t, t)
    expected_u = -(2 * t)[:, None] * d  # d/dt of z + (1 − t²) d
    torch.testing.assert_close(path.conditional_velocity(s), expected_u, atol=1e-13, rtol=0)
    torch.testing.assert_close(path.autodiff_velocity(x_0, z, t), expected_u, atol=1e-13, rtol=0)
    # without x_0: κ̇/(1 − κ) log_{x_t}(z), the same field on the geodesic
    no_x0 = type(s)(x_t=s.x_t, t=s.t, z=s.z)
    torch.testing.assert_close(path.conditional_velocity(no_x0), expected_u, atol=1e-13, rtol=0)


def test_velocity_off_the_geodesic_uses_the_target_form():
    path = GeodesicPath(T1, kappa=SQUARE)
    x, z, t = _col(0.5, -1.0), _col(0.0, 1.0), _t(0.5, 0.9)
    s = type(path.sample(z, t, x_0=x))(x_t=x, t=t, z=z)
    kappa, d_kappa = t**2, 2 * t
    expected = (d_kappa / (1 - kappa))[:, None] * (z - x)
    torch.testing.assert_close(path.conditional_velocity(s), expected, atol=1e-13, rtol=0)


@pytest.mark.parametrize("t", [0.3, 0.6, 0.95])
def test_velocity_with_x0_on_the_sphere_has_the_geodesic_speed(t):
    """On the quarter circle from e₁ to e₂, ``x_t`` is at angle ``(1 − κ) π/2`` from ``e₂``
    and moves at speed ``κ̇ π/2`` towards ``e₂``, on either side of ``κ = 1/2``."""
    path = GeodesicPath(S2, kappa=SQUARE)
    x_0, z = (
        torch.tensor([[1.0, 0.0, 0.0]] * 2, dtype=F64),
        torch.tensor([[0.0, 1.0, 0.0]] * 2, dtype=F64),
    )
    tt = _t(t, t)
    s = path.sample(z, tt, x_0=x_0)
    a = (1 - t**2) * math.pi / 2
    torch.testing.assert_close(s.x_t[0], _t(math.sin(a), math.cos(a), 0.0), atol=1e-14, rtol=0)
    speed = 2 * t * math.pi / 2
    expected = speed * _t(-math.cos(a), math.sin(a), 0.0)
    u = path.conditional_velocity(s)
    torch.testing.assert_close(u, expected.expand(2, 3), atol=1e-12, rtol=0)


def test_velocity_broadcasts_over_matrix_points():
    """On SO(3) (points ``(3, 3)``) every coefficient is per point: two different times."""
    space = ManifoldSpace(SO3(), (3, 3))
    path = GeodesicPath(space, kappa=SQUARE)
    g = torch.Generator().manual_seed(0)
    x_0, z = (UniformSource(space).sample(2, generator=g, dtype=F64) for _ in range(2))
    t = _t(0.3, 0.7)
    s = path.sample(z, t, x_0=x_0)
    u = path.conditional_velocity(s)
    jvp = path.autodiff_velocity(x_0, z, t)
    assert u.shape == (2, 3, 3)
    torch.testing.assert_close(u, jvp, atol=1e-10, rtol=0)
    no_x0 = type(s)(x_t=s.x_t, t=s.t, z=s.z)
    torch.testing.assert_close(path.conditional_velocity(no_x0), jvp, atol=1e-10, rtol=0)


def test_density_on_the_circle_inside_at_and_beyond_the_boundary():
    """``p_t(x|z) = 1/(2π c)`` for ``|log_z x| < c π``, ``c = 1 − κ_t``; ``0`` from the
    boundary on (the support is open)."""
    path = GeodesicPath(T1, kappa=SQUARE)
    t = _t(math.sqrt(0.5), math.sqrt(0.5), math.sqrt(0.5), 0.0, 0.5)
    c = 1 - t**2  # 0.5 (up to rounding), 1, 0.75
    x = _col(0.4, math.pi / 2 - 1e-9, 2.0, 3.0, -2.0)
    z = torch.zeros(5, 1, dtype=F64)
    lp = path.log_prob(x, t, z)
    expected = -LOG_2PI - torch.log(c)
    torch.testing.assert_close(lp[[0, 1, 3, 4]], expected[[0, 1, 3, 4]], atol=1e-14, rtol=0)
    assert torch.isneginf(lp[2])


def test_density_is_zero_exactly_on_the_support_boundary():
    path = GeodesicPath(T1)  # c = 1/2 at t = 1/2: the boundary is |x| = π/2 exactly
    x, z, t = _col(math.pi / 2, math.pi / 2 - 1e-12), torch.zeros(2, 1, dtype=F64), _t(0.5, 0.5)
    lp = path.log_prob(x, t, z)
    assert torch.isneginf(lp[0])
    assert float(lp[1]) == pytest.approx(-LOG_2PI + math.log(2), abs=1e-14)


def test_bandwidth_relaxation_is_the_documented_gaussian_tail():
    """Beyond the support: ``log p − n log c − ½ (c e / h)²`` with ``e = |w|/c − π``."""
    h = 0.25
    path = GeodesicPath(T1, kappa=SQUARE, bandwidth=h)
    x, z, t = _col(2.5, -2.8, 2.0), torch.zeros(3, 1, dtype=F64), _t(0.5, 0.5, 0.5)
    c = 0.75  # support |x| < 3π/4 ≈ 2.36
    excess = _t(2.5, 2.8) / c - math.pi
    tail = -LOG_2PI - math.log(c) - 0.5 * (c * excess / h) ** 2
    lp = path.log_prob(x, t, z)
    torch.testing.assert_close(lp[:2], tail, atol=1e-12, rtol=0)
    assert float(lp[2]) == pytest.approx(-LOG_2PI - math.log(c), abs=1e-14)


def test_density_on_a_power_of_spheres_is_the_product_of_elements():
    space = ManifoldSpace(Hypersphere(3), (2, 3))
    path = GeodesicPath(space, kappa=SQUARE, bandwidth=0.5)
    assert path.space.power == 2
    r = torch.tensor([[0.3, 1.0], [0.7, 2.5], [0.2, 0.7]], dtype=F64)  # geodesic radii from z
    x = torch.stack([r.sin(), torch.zeros_like(r), r.cos()], -1)
    z = torch.tensor([0.0, 0.0, 1.0], dtype=F64).expand(3, 2, 3)
    t = _t(0.2, 0.5, 0.9)
    c = (1 - t**2)[:, None]
    inside = r / c < math.pi
    per = torch.where(
        inside,
        torch.log((r / c).sin() / (4 * math.pi * c * r.sin())),
        -math.log(4 * math.pi) - 2 * torch.log(c) - 0.5 * (c * (r / c - math.pi) / 0.5) ** 2,
    )
    assert inside.tolist() == [[True, True], [True, False], [True, False]]
    torch.testing.assert_close(path.log_prob(x, t, z), per.sum(1), atol=1e-11, rtol=0)


def test_density_on_a_power_of_circles_uses_each_points_own_time():
    space = ManifoldSpace(FlatTorus(1), (3, 1))
    path = GeodesicPath(space, kappa=SQUARE)
    x = torch.tensor([[[0.1], [0.2], [0.3]], [[1.0], [-1.0], [0.5]]], dtype=F64)
    z = torch.zeros(2, 3, 1, dtype=F64)
    t = _t(0.1, 0.6)
    expected = 3 * (-LOG_2PI - torch.log(1 - t**2))
    torch.testing.assert_close(path.log_prob(x, t, z), expected, atol=1e-13, rtol=0)


def _sphere_times_torus():
    product = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(1), 1))
    return ManifoldSpace(product, (4,))


def test_density_on_a_product_of_manifolds_is_the_sum_of_factor_densities():
    space = _sphere_times_torus()
    path = GeodesicPath(space, kappa=SQUARE, bandwidth=0.2)
    assert isinstance(path.source, ProductSource)
    r, a = _t(0.5, 0.3), _t(0.2, 2.8)  # sphere radius, torus angle
    x = torch.stack([r.sin(), torch.zeros(2, dtype=F64), r.cos(), a], 1)
    z = torch.tensor([[0.0, 0.0, 1.0, 0.0]] * 2, dtype=F64)
    t = _t(0.5, 0.5)
    c = 0.75
    sphere = torch.log((r / c).sin() / (4 * math.pi * c * r.sin()))
    torus = torch.tensor(
        [-LOG_2PI - math.log(c), -LOG_2PI - math.log(c) - 0.5 * ((2.8 - c * math.pi) / 0.2) ** 2],
        dtype=F64,
    )
    torch.testing.assert_close(path.log_prob(x, t, z), sphere + torus, atol=1e-12, rtol=0)


def test_default_sources():
    assert isinstance(GeodesicPath(T1).source, UniformSource)
    assert GeodesicPath(T1).source.space is T1
    product = GeodesicPath(_sphere_times_torus()).source
    assert isinstance(product, ProductSource)
    mixed = geoopt.ProductManifold((Hypersphere(3), 3), (geoopt.PoincareBall(), 2))
    assert GeodesicPath(ManifoldSpace(mixed, (5,))).source is None
    given = UniformSource(T1)
    assert GeodesicPath(T1, given).source is given


def test_source_draws_follow_z_and_the_generator():
    path = GeodesicPath(S2)
    z = torch.tensor([[0.0, 0.0, 1.0]] * 5, dtype=F64)
    s = path.sample(z, 0.5, generator=torch.Generator().manual_seed(4))
    drawn = UniformSource(S2).sample(5, generator=torch.Generator().manual_seed(4), dtype=F64)
    assert s.x_0.dtype == F64 and torch.equal(s.x_0, drawn)
    assert torch.equal(s.t, torch.full((5,), 0.5, dtype=F64))
    torch.testing.assert_close(s.x_t, path.interpolate(drawn, z, s.t), atol=0, rtol=0)


class _Points(AbstractSource):
    def __init__(self, space):
        self.space = space

    def sample(self, n, *, generator=None, dtype=torch.float32, device=None):
        return UniformSource(self.space).sample(n, generator=generator, dtype=dtype)


def test_errors_have_exact_messages():
    with pytest.raises(ValueError, match=r"^bandwidth must be > 0 or None, got -1\.0$"):
        GeodesicPath(T1, bandwidth=-1.0)
    with pytest.raises(TypeError, match="^GeodesicPath needs a ManifoldSpace, got str$"):
        GeodesicPath("S2")
    z = torch.zeros(2, 1, dtype=F64)
    with pytest.raises(ValueError, match=r"^z must have shape \(batch, 1\), got \(2, 2\)$"):
        GeodesicPath(T1).sample(torch.zeros(2, 2, dtype=F64), 0.5)
    with pytest.raises(ValueError, match=r"^x_0 must have shape \(batch, 1\)"):
        GeodesicPath(T1).sample(z, 0.5, x_0=torch.zeros(2, 3, dtype=F64))
    with pytest.raises(
        TypeError, match="^x_0 has dtype torch.float32 but z has dtype torch.float64$"
    ):
        GeodesicPath(T1).sample(z, 0.5, x_0=torch.zeros(2, 1))
    with pytest.raises(TypeError, match="^t has dtype torch.float32 but x needs"):
        GeodesicPath(T1).sample(z, torch.zeros(2))
    message = "x_0 (3, 1), z (2, 1) and t (2,) must be (batch, *event), (batch, *event), (batch,)"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        GeodesicPath(T1).sample(z, 0.5, x_0=torch.zeros(3, 1, dtype=F64))
    poincare = ManifoldSpace(geoopt.PoincareBall(), (2,))
    with pytest.raises(ValueError, match="^GeodesicPath without a source needs x_0$"):
        GeodesicPath(poincare).sample(torch.zeros(2, 2, dtype=F64), 0.5)
    message = (
        "GeodesicPath.log_prob needs a compact manifold from genmatch.manifolds and a "
        "UniformSource (or a product of them with a ProductSource), got "
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}PoincareBall and NoneType$"):
        GeodesicPath(poincare).log_prob(torch.zeros(2, 2), torch.zeros(2), torch.zeros(2, 2))
    with pytest.raises(TypeError, match=f"^{re.escape(message)}FlatTorus and _Points$"):
        GeodesicPath(T1, _Points(T1)).log_prob(z, _t(0.5, 0.5), z)
    product = _sphere_times_torus()
    with pytest.raises(TypeError, match=f"^{re.escape(message)}ProductManifold and _Points$"):
        x = torch.tensor([[0.0, 0.0, 1.0, 0.0]] * 2, dtype=F64)
        GeodesicPath(product, _Points(T1)).log_prob(x, _t(0.5, 0.5), x)


def test_product_density_needs_uniform_factor_sources():
    """A ``ProductSource`` with a non-uniform factor source has no closed-form density: the
    factor's own check names that source."""
    from genmatch.sources import WrappedNormalSource

    space = _sphere_times_torus()
    sphere, torus = space.factors
    mean = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    source = ProductSource(space, (WrappedNormalSource(sphere, mean, 0.5), UniformSource(torus)))
    path = GeodesicPath(space, source)
    x = torch.tensor([[0.0, 0.0, 1.0, 0.0]] * 2, dtype=F64)
    with pytest.raises(TypeError, match="Hypersphere and WrappedNormalSource$"):
        path.log_prob(x, _t(0.5, 0.5), x)
