"""Riemannian divergence: closed forms off the default parameters, and Hutchinson's estimate
as an exact quadratic form.

Hutchinson's estimate is a quadratic form ``εᵀ A ε`` in the probe, so its average over all
``2^n`` Rademacher sign vectors is exactly ``tr A``: on every supported manifold that average
must equal the exact divergence to rounding, and one Gaussian probe must give
``ε_Pᵀ J_u (P_x ε)`` with the tangent projection ``P_x`` and the ambient Jacobian ``J_u`` built
as explicit matrices. Closed forms cover a Poincaré ball of curvature ``c ≠ 1``, ``SO(3)``
(``Δ tr(MᵀR) = −tr(MᵀR)``) and a product with a non-induced factor between two induced ones.
"""

import itertools
import math

import geoopt
import pytest
import torch
from geoopt.manifolds.symmetric_positive_definite import SPDMetric

from genmatch.likelihood import HutchinsonDivergence, Probe, riemannian_divergence
from genmatch.manifolds import SO3, FlatTorus, Hypersphere
from genmatch.sources import UniformSource
from genmatch.spaces import ManifoldSpace, TangentVector

F64 = torch.float64


def _ball(c):
    ball = geoopt.PoincareBall(c=c).to(F64)
    return ball, float(ball.c)


def _spd(batch, size, seed):
    a = torch.randn(batch, size, size, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return a @ a.mT + 0.5 * torch.eye(size, dtype=F64)


def _hyperboloid(q, k):
    """Points ``(√(k + |q|²), q)`` of the Lorentz model ``⟨x, x⟩_L = −k``."""
    return torch.cat([(k + (q * q).sum(-1, keepdim=True)).sqrt(), q], -1)


def _cases():
    g = torch.Generator().manual_seed(11)
    a3 = torch.randn(3, 3, generator=g, dtype=F64)
    a2 = torch.randn(2, 2, generator=g, dtype=F64)
    a6 = torch.randn(6, 6, generator=g, dtype=F64)
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    so3 = ManifoldSpace(SO3(), (3, 3))
    lorentz = geoopt.Lorentz(k=2.0).to(F64)
    ball, _ = _ball(0.5)
    h2 = ManifoldSpace(lorentz, (3,))
    s2_t2 = ManifoldSpace(geoopt.ProductManifold((Hypersphere(3), 3), (FlatTorus(2), 2)), (5,))
    s2_ball_t1 = ManifoldSpace(
        geoopt.ProductManifold((Hypersphere(3), 3), (ball, 2), (FlatTorus(1), 1)), (6,)
    )
    p = torch.tensor([[0.1, 0.2], [-0.5, 0.3]], dtype=F64)
    on_so3 = UniformSource(so3).sample(2, generator=g, dtype=F64)
    on_s2 = UniformSource(s2).sample(2, generator=g, dtype=F64)
    mixed = torch.cat([on_s2, 0.6 * p, torch.tensor([[0.4], [-2.0]], dtype=F64)], 1)
    return [
        ("S2", s2, lambda y, t: y @ a3.T + torch.sin(y), on_s2),
        ("SO3", so3, lambda y, t: a3 @ y + y @ y, on_so3),
        ("lorentz_k2", h2, lambda y, t: y @ a3.T + 0.3 * y * y, _hyperboloid(p, 2.0)),
        ("poincare_c05", ManifoldSpace(ball, (2,)), lambda y, t: y @ a2.T + torch.cos(y), p),
        ("spd3", ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (3, 3)),
         lambda y, t: a3 @ y + y @ a3.T + y @ y, _spd(2, 3, 0)),
        ("S2xT2", s2_t2, lambda y, t: torch.sin(y[:, :5] @ a6[:5, :5].T),
         torch.cat([on_s2, torch.tensor([[0.3, -1.0], [2.5, 0.1]], dtype=F64)], 1)),
        ("S2xH2xT1", s2_ball_t1, lambda y, t: 0.3 * torch.tanh(y @ a6.T), mixed),
        # a power (2, 3) of the Lorentz model: the Minkowski form acts on the last axis
        ("lorentz_k2_power", ManifoldSpace(lorentz, (2, 3)),
         lambda y, t: y @ a3.T + 0.3 * y * y, _hyperboloid(torch.stack([p, 0.5 * p.flip(0)]), 2.0)),
    ]  # fmt: skip


CASES = _cases()
IDS = [c[0] for c in CASES]


def _all_sign_vectors(x):
    """Every ``±1`` probe shaped like one point of ``x``: ``(2^n, *event)``."""
    event = x.shape[1:]
    n = math.prod(event)
    signs = torch.tensor(list(itertools.product((1.0, -1.0), repeat=n)), dtype=F64)
    return signs.reshape(-1, *event)


@pytest.mark.parametrize("name,space,field,x", CASES, ids=IDS)
def test_rademacher_average_over_all_sign_vectors_is_the_exact_divergence(name, space, field, x):
    batch = x.shape[0]
    zero = torch.zeros(batch, dtype=F64)
    space.check(x)
    exact = riemannian_divergence(space, field, x, zero)
    signs = _all_sign_vectors(x)
    k = signs.shape[0]
    xs = x.repeat(k, *([1] * (x.dim() - 1)))  # (k·batch, *event), point-major inside a sign
    probes = signs.repeat_interleave(batch, 0)
    est = riemannian_divergence(space, field, xs, zero.repeat(k), probe=probes)
    torch.testing.assert_close(est.reshape(k, batch).mean(0), exact, atol=1e-11, rtol=0)
    assert float(est.reshape(k, batch).std(0).min()) > 1e-3  # the single probes differ


def _matrices(space, field, x):
    """``P_x`` and ``J_u`` (``u = P_x field``) at one point ``x`` (``(1, *event)``), flat."""
    n = space.ambient_dim
    eye = torch.eye(n, dtype=F64)
    p = torch.stack([space.proju(x, eye[j].reshape(x.shape)).reshape(n) for j in range(n)], 1)

    def u(flat):
        y = flat.reshape(x.shape)
        return space.proju(y, field(y, torch.zeros(1, dtype=F64))).reshape(n)

    return p, torch.autograd.functional.jacobian(u, x.reshape(n))


@pytest.mark.parametrize(
    "name,space,field,x", CASES[:3] + CASES[5:6] + CASES[7:], ids=IDS[:3] + IDS[5:6] + IDS[7:]
)
def test_one_probe_is_the_projected_quadratic_form_on_induced_metrics(name, space, field, x):
    """``(P_xᵀ ε)ᵀ J_u (P_x ε)`` for a Gaussian probe, with ``P_x`` and ``J_u`` as matrices;
    on the Lorentz model (``k = 2``) ``P_x`` is not symmetric."""
    eps = HutchinsonDivergence(Probe.GAUSSIAN).prepare(x, torch.Generator().manual_seed(4))
    est = riemannian_divergence(space, field, x, torch.zeros(x.shape[0], dtype=F64), probe=eps)
    n = space.ambient_dim
    for b in range(x.shape[0]):
        p, jac = _matrices(space, field, x[b : b + 1])
        e = eps[b].reshape(n)
        torch.testing.assert_close(est[b], (p.T @ e) @ (jac @ (p @ e)), atol=1e-12, rtol=0)
    if name.startswith("lorentz"):
        assert float((p - p.T).abs().max()) > 0.1


def test_poincare_ball_of_curvature_one_half_affine_field():
    """``u = A p + b`` on the ball of curvature ``c``:
    ``div_g u = tr A + n ⟨u, 2c p/(1 − c|p|²)⟩``."""
    ball, c = _ball(0.5)
    assert abs(c - 0.5) < 1e-6
    space = ManifoldSpace(ball, (2,))
    a = torch.tensor([[0.4, -1.1], [0.7, 0.9]], dtype=F64)
    shift = torch.tensor([0.3, -0.2], dtype=F64)
    x = torch.tensor([[0.1, 0.2], [-0.9, 0.6], [1.0, -0.7]], dtype=F64)  # |x|² < 1/c = 2
    div = riemannian_divergence(space, lambda y, t: y @ a.T + shift, x, torch.zeros(3, dtype=F64))
    u = x @ a.T + shift
    sq = (x * x).sum(1, keepdim=True)
    expected = a.trace() + 2 * (u * 2 * c * x / (1 - c * sq)).sum(1)
    torch.testing.assert_close(div, expected, atol=1e-12, rtol=0)


def test_so3_laplacian_of_a_linear_function():
    """``f(R) = tr(MᵀR)``: its gradient for the induced (Frobenius) metric is ``P_R(M)`` and
    ``Δ f = −tr(MᵀR)`` (``Σ_k E_k² = −I`` over an orthonormal basis of so(3))."""
    space = ManifoldSpace(SO3(), (3, 3))
    m = torch.tensor([[0.5, 0.2, 0.0], [-0.1, 0.3, 0.4], [0.2, 0.0, -0.6]], dtype=F64)
    x = UniformSource(space).sample(5, generator=torch.Generator().manual_seed(3), dtype=F64)
    div = riemannian_divergence(space, lambda y, t: m.expand_as(y), x, torch.zeros(5, dtype=F64))
    torch.testing.assert_close(div, -(m * x).sum((-2, -1)), atol=1e-12, rtol=0)


def test_product_with_a_conformal_factor_between_induced_ones():
    """S² × B²_c × T¹ (not induced: one divergence per factor, the others held fixed):
    ``u = (cos(θ + p₁) P_s e₃, (1 + s_z²) p, sin(θ + s_z))`` has
    ``div = −2 s_z cos(θ + p₁) + (1 + s_z²)(2 + 4c|p|²/(1 − c|p|²)) + cos(θ + s_z)``."""
    ball, c = _ball(0.5)
    space = ManifoldSpace(
        geoopt.ProductManifold((Hypersphere(3), 3), (ball, 2), (FlatTorus(1), 1)), (6,)
    )
    e3 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    g = torch.Generator().manual_seed(0)
    s = UniformSource(ManifoldSpace(Hypersphere(3), (3,))).sample(4, generator=g, dtype=F64)
    p = 0.8 * torch.rand(4, 2, generator=g, dtype=F64) - 0.4
    th = 4 * torch.rand(4, 1, generator=g, dtype=F64) - 2
    x = torch.cat([s, p, th], 1)

    def field(y, t):
        s, p, th = space.split(y)
        z = s[:, 2:]
        return space.join(
            [torch.cos(th + p[:, :1]) * (e3 - z * s), (1 + z * z) * p, torch.sin(th + z)]
        )

    z, sq = s[:, 2], (p * p).sum(1)
    expected = (
        -2 * z * torch.cos(th[:, 0] + p[:, 0])
        + (1 + z * z) * (2 + 4 * c * sq / (1 - c * sq))
        + torch.cos(th[:, 0] + z)
    )
    got = riemannian_divergence(space, field, x, torch.zeros(4, dtype=F64))
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_fields_returning_tangent_vectors_give_the_same_divergence():
    space = ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(4, generator=torch.Generator().manual_seed(5), dtype=F64)
    e3 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    zero = torch.zeros(4, dtype=F64)
    div = riemannian_divergence(space, lambda y, t: TangentVector(y, e3.expand_as(y)), x, zero)
    torch.testing.assert_close(div, -2 * x[:, 2], atol=1e-12, rtol=0)


def test_field_is_evaluated_at_the_given_times():
    space = ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(3, generator=torch.Generator().manual_seed(6), dtype=F64)
    e3 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    t = torch.tensor([0.1, 0.5, 0.8], dtype=F64)
    div = riemannian_divergence(space, lambda y, s: s[:, None] * e3.expand_as(y), x, t)
    torch.testing.assert_close(div, -2 * t * x[:, 2], atol=1e-12, rtol=0)


def test_error_messages():
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    with pytest.raises(
        ValueError,
        match=r"^probe must have the shape of x \(2, 3\), got torch\.Size\(\[2, 2\]\)$",
    ):
        riemannian_divergence(s2, lambda y, t: y, torch.zeros(2, 3), torch.zeros(2),
                              probe=torch.zeros(2, 2))  # fmt: skip
    power = ManifoldSpace(geoopt.PoincareBall(), (4, 2))
    with pytest.raises(
        ValueError,
        match=r"^riemannian_divergence on a power of PoincareBall \(event_shape \(4, 2\)\) is "
        r"not supported; use a geoopt\.ProductManifold of its copies$",
    ):
        riemannian_divergence(power, lambda y, t: y, torch.zeros(2, 4, 2), torch.zeros(2))
    stiefel = ManifoldSpace(geoopt.Stiefel(), (3, 2))
    unsupported = "^riemannian_divergence does not support CanonicalStiefel$"
    with pytest.raises(TypeError, match=unsupported):
        riemannian_divergence(stiefel, lambda y, t: y, torch.eye(3, 2)[None], torch.zeros(1))
    with pytest.warns(UserWarning, match="not fully implemented"):
        lem = geoopt.SymmetricPositiveDefinite(default_metric=SPDMetric.LEM)
    spd = ManifoldSpace(lem, (2, 2))
    with pytest.raises(
        TypeError, match="^riemannian_divergence supports SPD matrices with the AIM metric only$"
    ):
        riemannian_divergence(spd, lambda y, t: y, torch.eye(2)[None], torch.zeros(1))


def _float32_cases():
    ball, _ = _ball(0.5)
    s2 = ManifoldSpace(Hypersphere(3), (3,))
    on_s2 = UniformSource(s2).sample(2, generator=torch.Generator().manual_seed(8), dtype=F64)
    mixed = ManifoldSpace(
        geoopt.ProductManifold((Hypersphere(3), 3), (ball, 2), (FlatTorus(1), 1)), (6,)
    )
    p = torch.tensor([[0.1, 0.2], [-0.5, 0.3]], dtype=F64)
    return [
        ("S2", s2, on_s2),
        ("poincare_c05", ManifoldSpace(ball, (2,)), p),
        ("spd3", ManifoldSpace(geoopt.SymmetricPositiveDefinite(), (3, 3)), _spd(2, 3, 1)),
        ("S2xH2xT1", mixed, torch.cat([on_s2, p, torch.tensor([[0.4], [-2.0]], dtype=F64)], 1)),
    ]


FLOAT32_CASES = _float32_cases()


@pytest.mark.parametrize("probe", [False, True], ids=["exact", "hutchinson"])
@pytest.mark.parametrize("name,space,x", FLOAT32_CASES, ids=[c[0] for c in FLOAT32_CASES])
def test_float32_points_give_float32_divergences_under_a_float64_default(name, space, x, probe):
    def field(y, t):
        return 0.5 * torch.sin(y) + y * y if name == "spd3" else 0.5 * torch.sin(y)

    eps = torch.ones_like(x) if probe else None
    reference = riemannian_divergence(space, field, x, torch.zeros(2, dtype=F64), probe=eps)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        x32 = x.float()
        got = riemannian_divergence(
            space, field, x32, torch.zeros(2), probe=None if eps is None else eps.float()
        )
    finally:
        torch.set_default_dtype(previous)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), reference, atol=1e-4, rtol=1e-4)


def test_product_factors_see_the_given_times():
    """On S² × B²_c, ``u = t (P_s e₃, p)``: ``div = t (−2 s_z + 2 + 4c|p|²/(1 − c|p|²))``."""
    ball, c = _ball(0.5)
    space = ManifoldSpace(geoopt.ProductManifold((Hypersphere(3), 3), (ball, 2)), (5,))
    e3 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    g = torch.Generator().manual_seed(12)
    s = UniformSource(ManifoldSpace(Hypersphere(3), (3,))).sample(3, generator=g, dtype=F64)
    p = torch.tensor([[0.1, 0.3], [-0.6, 0.2], [0.0, -0.9]], dtype=F64)
    t = torch.tensor([0.2, 0.5, 0.9], dtype=F64)

    def field(y, tt):
        s, p = space.split(y)
        return tt[:, None] * space.join([e3 - s[:, 2:] * s, p])

    sq = (p * p).sum(1)
    expected = t * (-2 * s[:, 2] + 2 + 4 * c * sq / (1 - c * sq))
    got = riemannian_divergence(space, field, torch.cat([s, p], 1), t)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)
