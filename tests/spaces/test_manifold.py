"""ManifoldSpace validation: off-manifold points and non-tangent vectors raise clear errors."""

import math

import geoopt
import pytest
import torch

from genmatch._checks import value_checks
from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.spaces import ManifoldSpace
from genmatch.testing import check_state_space

F64 = torch.float64


def test_sphere_points():
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    good = torch.nn.functional.normalize(torch.randn(5, 3, dtype=F64), dim=1)
    check_state_space(
        s2,
        good,
        [
            2 * good,  # off the sphere
            good[:, :2],  # wrong shape
            good.long(),  # integer dtype
            torch.full((5, 3), math.nan, dtype=F64),
            good.tolist(),
        ],
    )
    with pytest.raises(ValueError, match=r"not on Hypersphere: \|x\| != 1"):
        s2.check(1.01 * good, "x_0")


def test_so3_points_and_reflections():
    space = ManifoldSpace(SO3(), (3, 3))
    eye = torch.eye(3, dtype=F64).expand(4, 3, 3)
    space.check(eye)
    with pytest.raises(ValueError, match="RᵀR != I"):
        space.check(1.1 * eye)
    with pytest.raises(ValueError, match="reflection"):
        space.check(torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=F64)).expand(4, 3, 3))


def test_torus_points_must_be_wrapped():
    space = ManifoldSpace(FlatTorus(2), (2,))
    space.check(torch.tensor([[-math.pi, 3.0]], dtype=F64))
    with pytest.raises(ValueError, match="wrap them"):
        space.check(torch.tensor([[0.0, 4.0]], dtype=F64))


@pytest.mark.parametrize(
    "space,x,bad",
    [
        (
            ManifoldSpace(Hypersphere(3), (3,)),
            torch.tensor([[0.0, 0, 1]]),
            torch.tensor([[0, 0, 1.0]]),
        ),
        (ManifoldSpace(SO3(), (3, 3)), torch.eye(3)[None], torch.eye(3)[None]),
        (
            ManifoldSpace(geoopt.Lorentz(), (3,)),
            torch.tensor([[1.0, 0, 0]]),
            torch.tensor([[1.0, 0, 0]]),
        ),
    ],
)
def test_non_tangent_vectors_raise(space, x, bad):
    with pytest.raises(ValueError, match="not tangent"):
        space.check_tangent(x, bad)
    space.check_tangent(x, space.proju(x, bad + 0.3))
    with pytest.raises(ValueError, match="shape"):
        space.check_tangent(x, bad[:, :1])


def test_value_checks_can_be_switched_off():
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    with value_checks(False):
        s2.check(torch.full((2, 3), 5.0))  # values are not read
    with pytest.raises(ValueError, match="shape"), value_checks(False):
        s2.check(torch.ones(2, 4))


def test_constructor_errors():
    with pytest.raises(TypeError, match="geoopt.Manifold"):
        ManifoldSpace(object(), (3,))
    with pytest.raises(ValueError, match="event_shape"):
        ManifoldSpace(Hypersphere(3), (0,))
    with pytest.raises(ValueError, match=">= 2"):
        Hypersphere(1)
    with pytest.raises(ValueError, match=">= 1"):
        FlatTorus(0)


def test_poincare_boundary():
    space = ManifoldSpace(geoopt.PoincareBall(), (2,))
    space.check(torch.tensor([[0.3, 0.4]]))
    with pytest.raises(ValueError, match="not on PoincareBall"):
        space.check(torch.tensor([[0.9, 0.9]]))


def test_product_factors_split_and_join():
    product = geoopt.ProductManifold((SO3(), (3, 3)), (FlatTorus(2), 2))
    space = ManifoldSpace(product, (11,))
    factors = space.factors
    assert [type(f.manifold) for f in factors] == [SO3, FlatTorus]
    assert [f.event_shape for f in factors] == [(3, 3), (2,)]
    x = torch.randn(4, 11, dtype=F64)
    parts = space.split(x)
    assert [p.shape for p in parts] == [(4, 3, 3), (4, 2)]
    assert torch.equal(parts[1], x[:, 9:])
    assert torch.equal(space.join(parts), x)
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    for call in (lambda: s2.factors, lambda: s2.split(x), lambda: s2.join([x])):
        with pytest.raises(TypeError, match="ProductManifold"):
            call()


def test_power_manifold_shapes_and_product_distance():
    so3_4 = ManifoldSpace(SO3(), (4, 3, 3))
    assert (so3_4.power, so3_4.point_shape) == (4, (3, 3))
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    assert (s2.power, s2.point_shape) == (1, (3,))
    # the distance of S² × S² as a power (2, 3) equals geoopt's ProductManifold distance
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(6, 2, 3, generator=g, dtype=F64), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(6, 2, 3, generator=g, dtype=F64), dim=-1)
    power = ManifoldSpace(Hypersphere(3), (2, 3))
    product = ManifoldSpace(geoopt.ProductManifold((Hypersphere(3), 3), (Hypersphere(3), 3)), (6,))
    expected = product.dist(x.reshape(6, 6), y.reshape(6, 6))
    assert torch.allclose(power.dist(x, y), expected, atol=1e-12)
    per_element = Hypersphere(3).dist(x, y)
    assert torch.allclose(expected, per_element.square().sum(1).sqrt(), atol=1e-12)
    with pytest.raises(ValueError, match="fewer dimensions than a point of SO3"):
        ManifoldSpace(SO3(), (9,))


def test_event_shapes_that_do_not_fit_the_manifold_raise():
    with pytest.raises(ValueError, match=r"must end with the point shape \(3,\)"):
        ManifoldSpace(Hypersphere(3), (4,))
    with pytest.raises(ValueError, match=r"point shape \(3, 3\)"):
        ManifoldSpace(SO3(), (3, 4))
    product = geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2))
    with pytest.raises(ValueError, match="powers of a product are not supported"):
        ManifoldSpace(product, (4, 5))
    assert ManifoldSpace(FlatTorus(1), (5, 1)).power == 5


def test_lorentz_check_is_relative_to_the_point_size():
    # float32 points far out (x₀ ~ 10³) carry rounding ~ x₀² · 1e-7 in ⟨x, x⟩_L: still on H²
    space = ManifoldSpace(geoopt.Lorentz(), (3,))
    r = torch.linspace(0.0, 8.0, 50)
    far = torch.stack([torch.cosh(r), torch.sinh(r) * 0.6, torch.sinh(r) * 0.8], 1)
    space.check(far)
    with pytest.raises(ValueError, match="not on Lorentz"):
        space.check(torch.tensor([[1.0, 0.1, 0.0]]))  # ⟨x, x⟩_L = −0.99
    with pytest.raises(ValueError, match="x₀ <= 0"):
        space.check(torch.tensor([[-1.0, 0.0, 0.0]]))  # the lower sheet
