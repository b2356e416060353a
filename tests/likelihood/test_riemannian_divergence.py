"""The Riemannian divergence: closed forms, isometry invariance, products, Hutchinson."""

import math

import geoopt
import pytest
import torch
from geoopt.manifolds.lorentz import math as lorentz_math

from genmatch.likelihood import (
    HutchinsonDivergence,
    Probe,
    riemannian_divergence,
)
from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.sources import ProductSource, UniformSource, WrappedNormalSource
from genmatch.spaces import ManifoldSpace

F64 = torch.float64


def test_divergence_of_radial_field_on_poincare_ball():
    # u = x: div u = n, ∇ log λ = 2x/(1 − |x|²), so div_g u = n + 2n|x|²/(1 − |x|²)
    space = ManifoldSpace(geoopt.PoincareBall().to(F64), (2,))
    x = torch.tensor([[0.1, 0.2], [-0.5, 0.3]], dtype=F64)
    div = riemannian_divergence(space, lambda y, t: y, x, torch.zeros(2, dtype=F64))
    sq = (x**2).sum(1)
    assert torch.allclose(div, 2 + 4 * sq / (1 - sq))


def test_divergence_of_gradient_of_height_on_s2():
    # u = ∇_g z = e_3 − z x on S²: div_g u = Δ z = −2 z
    space = ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(6, generator=torch.Generator().manual_seed(2), dtype=F64)
    e3 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    div = riemannian_divergence(space, lambda y, t: e3.expand_as(y), x, torch.zeros(6, dtype=F64))
    assert torch.allclose(div, -2 * x[:, 2])


def test_divergence_of_gradient_of_height_on_lorentz():
    # f = x_0 = cosh r on H²: Hess f = f g, so div_g ∇_g f = Δ f = 2 x_0;
    # ∇_g f is the Minkowski projection of J ∇f = (−1, 0, 0)
    manifold = geoopt.Lorentz().to(F64)
    space = ManifoldSpace(manifold, (3,))
    p = torch.tensor([[0.1, 0.2], [-0.5, 0.3], [0.0, 0.0]], dtype=F64)
    x = lorentz_math.poincare_to_lorentz(p, manifold.k)
    grad_f = torch.tensor([-1.0, 0.0, 0.0], dtype=F64)
    div = riemannian_divergence(
        space, lambda y, t: space.proju(y, grad_f.expand_as(y)), x, torch.zeros(3, dtype=F64)
    )
    assert torch.allclose(div, 2 * x[:, 0], atol=1e-12)


def test_divergence_is_invariant_under_the_lorentz_poincare_isometry():
    # push the ball's field v(p) = p + (0.3, −0.1) to the hyperboloid: same divergence
    ball = geoopt.PoincareBall().to(F64)
    lorentz = geoopt.Lorentz().to(F64)
    shift = torch.tensor([0.3, -0.1], dtype=F64)
    p = torch.tensor([[0.1, 0.2], [-0.5, 0.3], [0.4, -0.4]], dtype=F64)
    zero = torch.zeros(3, dtype=F64)
    expected = riemannian_divergence(ManifoldSpace(ball, (2,)), lambda y, t: y + shift, p, zero)

    def pushed(y, t):
        q = lorentz_math.lorentz_to_poincare(y, lorentz.k)
        to_h = lambda r: lorentz_math.poincare_to_lorentz(r, lorentz.k)  # noqa: E731
        return torch.func.jvp(to_h, (q,), (q + shift,))[1]

    x = lorentz_math.poincare_to_lorentz(p, lorentz.k)
    got = riemannian_divergence(ManifoldSpace(lorentz, (3,)), pushed, x, zero)
    assert torch.allclose(got, expected, atol=1e-10)


def _spd(batch, size, seed):
    a = torch.randn(batch, size, size, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return a @ a.mT + 0.5 * torch.eye(size, dtype=F64)


def test_affine_invariant_isometries_of_spd_preserve_volume():
    # X ↦ e^{tA} X e^{tAᵀ} is an isometry of the AIM metric: div_g (AX + XAᵀ) = 0, although
    # its Euclidean divergence on the n(n+1)/2 entries is (n+1) tr A ≠ 0
    space = ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (3, 3))
    a = torch.tensor([[0.5, 0.2, -0.1], [0.0, 0.3, 0.4], [0.7, -0.2, 0.1]], dtype=F64)
    x = _spd(4, 3, 0)
    zero = torch.zeros(4, dtype=F64)
    div = riemannian_divergence(space, lambda y, t: a @ y + y @ a.T, x, zero)
    assert torch.allclose(div, zero, atol=1e-12)
    # a constant field I: div_g I = −(n+1)/2 tr(X⁻¹)
    div = riemannian_divergence(space, lambda y, t: torch.eye(3, dtype=F64).expand_as(y), x, zero)
    expected = -2 * torch.linalg.inv(x).diagonal(dim1=-2, dim2=-1).sum(-1)
    assert torch.allclose(div, expected, atol=1e-12)


def test_unsupported_manifold_raises():
    space = ManifoldSpace(geoopt.Stiefel(), (3, 2))
    x = torch.eye(3, 2).unsqueeze(0)
    with pytest.raises(TypeError, match="does not support"):
        riemannian_divergence(space, lambda y, t: y, x, torch.zeros(1))


def test_divergence_on_a_product_sums_the_factors():
    # u = (cos θ₂ · P_s e₃, (sin(θ₁ + s_z), s_z θ₁)) on S² × T²: each factor's divergence
    # holds the other factor fixed, div = −2 s_z cos θ₂ + cos(θ₁ + s_z)
    space = ManifoldSpace(geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2)), (5,))
    x = ProductSource(space).sample(8, generator=torch.Generator().manual_seed(0), dtype=F64)
    e3 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)

    def field(y, t):
        s, th = space.split(y)
        z = s[:, 2]
        u_s = torch.cos(th[:, 1])[:, None] * (e3 - z[:, None] * s)
        return space.join([u_s, torch.stack([torch.sin(th[:, 0] + z), z * th[:, 0]], 1)])

    s, th = space.split(x)
    expected = -2 * s[:, 2] * torch.cos(th[:, 1]) + torch.cos(th[:, 0] + s[:, 2])
    got = riemannian_divergence(space, field, x, torch.zeros(8, dtype=F64))
    assert torch.allclose(got, expected, atol=1e-12)


def _hutchinson_cases():
    g = torch.Generator().manual_seed(5)
    a3 = torch.randn(3, 3, generator=g, dtype=F64)
    a2 = torch.randn(2, 2, generator=g, dtype=F64)
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    ball = ManifoldSpace(geoopt.PoincareBall().to(F64), (2,))
    lorentz = ManifoldSpace(geoopt.Lorentz().to(F64), (3,))
    spd = ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (2, 2))
    so3 = ManifoldSpace(SO3(), (3, 3))
    s2_t2 = ManifoldSpace(geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2)), (5,))
    s2_ball = ManifoldSpace(
        geoopt.ProductManifold((Hypersphere(3), 3), (geoopt.PoincareBall().to(F64), 2)), (5,)
    )
    a5 = torch.randn(5, 5, generator=g, dtype=F64)

    def draw(space, n):
        if isinstance(space.manifold, geoopt.ProductManifold):
            return ProductSource(space, tuple(_source(f) for f in space.factors)).sample(
                n, generator=g, dtype=F64
            )
        return _source(space).sample(n, generator=g, dtype=F64)

    return [
        ("S2", s2, lambda y, t: y @ a3.T + torch.sin(y), draw(s2, 4)),
        ("SO3", so3, lambda y, t: a3 @ y + y @ y, draw(so3, 4)),
        ("lorentz", lorentz, lambda y, t: y @ a3.T + 0.3 * y * y, draw(lorentz, 4)),
        ("poincare", ball, lambda y, t: y @ a2.T + torch.cos(y), draw(ball, 4)),
        ("spd", spd, lambda y, t: a2 @ y + y @ a2.T + y @ y, draw(spd, 4)),
        ("S2xT2", s2_t2, lambda y, t: torch.sin(y @ a5.T), draw(s2_t2, 4)),
        ("S2xH2", s2_ball, lambda y, t: 0.3 * torch.tanh(y @ a5.T), draw(s2_ball, 4)),
    ]


def _source(space):
    if isinstance(space.manifold, (Hypersphere, SO3, FlatTorus)):
        return UniformSource(space)
    mean = {
        "PoincareBall": torch.tensor([0.2, -0.1]),
        "Lorentz": torch.tensor([1.0, 0.0, 0.0]),
        "SymmetricPositiveDefinite": torch.eye(2),
    }[type(space.manifold).__name__]
    return WrappedNormalSource(space, mean.to(F64), 0.5)


HUTCHINSON_CASES = _hutchinson_cases()


@pytest.mark.parametrize("probe", list(Probe), ids=lambda p: p.value)
@pytest.mark.parametrize(
    "name,space,field,x", HUTCHINSON_CASES, ids=[c[0] for c in HUTCHINSON_CASES]
)
def test_hutchinson_divergence_is_unbiased_on_every_manifold(name, space, field, x, probe):
    reps = 4000
    zero = torch.zeros(x.shape[0], dtype=F64)
    exact = riemannian_divergence(space, field, x, zero)
    xs = x.repeat(reps, *([1] * (x.dim() - 1)))
    eps = HutchinsonDivergence(probe).prepare(xs, torch.Generator().manual_seed(0))
    est = riemannian_divergence(space, field, xs, zero.repeat(reps), probe=eps)
    est = est.reshape(reps, x.shape[0])
    se = est.std(0) / math.sqrt(reps)
    assert (est.std(0) > 1e-3).all()  # a real estimate, not the exact trace by accident
    assert ((est.mean(0) - exact).abs() < 4 * se + 1e-12).all(), (est.mean(0), exact, se)


def test_divergence_on_powers_of_non_induced_metrics_raises():
    space = ManifoldSpace(geoopt.PoincareBall(), (4, 2))
    with pytest.raises(ValueError, match="use a geoopt.ProductManifold"):
        riemannian_divergence(space, lambda y, t: y, torch.zeros(2, 4, 2), torch.zeros(2))
