"""Binned per-coordinate jumps: exact bin masses, the test operator, targets and one step.

Checks :mod:`genmatch.generators.binned_jump` against hand-computed values: the bins, the
parametrization's heads and ``K f``, the bin masses of the minimal jump model for schedules
whose ``σ_t`` shrinks, stays constant or grows (against quadrature of ``[∂_t p]_+``), the
fast exact marginal against its definition, and the jump proposal.
"""

import math

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, EuclideanSpace, PathSample
from genmatch.generators import BinnedJumpGenerator, Bins, UnsupportedPathError
from genmatch.generators.binned_jump import BinnedJumpParametrization
from genmatch.generators.density_jumps import jump_density_unnormalized, minimal_jump_intensity
from genmatch.paths.schedules import AbstractSchedule
from genmatch.spaces.discrete import DiscreteSpace

D64 = torch.float64


def _t(v):
    return torch.tensor(v, dtype=D64)


class Growing(AbstractSchedule):
    """``α_t = t``, ``σ_t = 1 + t``: the noise level grows with ``t``."""

    def alpha(self, t):
        return t

    def sigma(self, t):
        return 1 + t

    def d_alpha(self, t):
        return torch.ones_like(t)

    def d_sigma(self, t):
        return torch.ones_like(t)


class ConstantNoise(AbstractSchedule):
    """``α_t = t``, ``σ_t = 1``: ``∂_t log p`` is linear in ``u = (y − α_t z)/σ_t``."""

    def alpha(self, t):
        return t

    def sigma(self, t):
        return torch.ones_like(t)

    def d_alpha(self, t):
        return torch.ones_like(t)

    def d_sigma(self, t):
        return torch.zeros_like(t)


def _quadrature_masses(path, bins, z, t, points=4001):
    """Bin integrals of ``[∂_t p_t(y|z)]_+`` by the trapezoid rule, normalised."""
    edges = torch.linspace(bins.low, bins.high, bins.num + 1, dtype=D64)
    masses = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        y = torch.linspace(float(lo), float(hi), points, dtype=D64)[:, None]
        tt = torch.full((points,), t, dtype=D64)
        dens = jump_density_unnormalized(path, y, tt, torch.full((points, 1), z, dtype=D64))
        masses.append(torch.trapezoid(dens, y[:, 0]))
    masses = torch.stack(masses)
    return masses / masses.sum()


def _bin_distribution(gen, path, z, t):
    zz = torch.tensor([z], dtype=D64)
    a, sig, da, dsig = gen._coefficients(path, torch.tensor([t], dtype=D64), zz)
    return gen._bin_distribution(zz, a, sig, da, dsig)


@pytest.mark.parametrize("z", [[0.5, -1.2, 0.0]])
@pytest.mark.parametrize(
    "schedule", [Growing(), CondOT(), ConstantNoise()], ids=["growing", "condot", "constant"]
)
def test_bin_masses_match_quadrature_whatever_the_sign_of_the_noise_rate(schedule, z):
    """Where ``σ_t`` grows, ``∂_t p > 0`` on two rays outside the roots: both are counted."""
    path = AffineGaussianPath(schedule)
    bins = Bins(-6.0, 6.0, 12)
    gen = BinnedJumpGenerator(bins)
    j = _bin_distribution(gen, path, z, 0.4)
    for i, zi in enumerate(z):
        if isinstance(schedule, ConstantNoise) and zi == 0.0:
            continue  # ∂_t p ≡ 0: checked below
        torch.testing.assert_close(
            j[0, i], _quadrature_masses(path, bins, zi, 0.4), atol=1e-7, rtol=0
        )


def test_growing_noise_puts_jump_mass_in_both_tails():
    """``σ_t = 1 + t``, ``z = 0``: ``∂_t p > 0`` for ``|u| > 1``, symmetric, nothing inside."""
    gen = BinnedJumpGenerator(Bins(-4.0, 4.0, 4))
    j = _bin_distribution(gen, AffineGaussianPath(Growing()), [0.0], 0.0)
    # σ_0 = 1, α_0 = 0: u = y, c2 = 1, c1 = 0; bins [-4,-2], [-2,0], [0,2], [2,4]
    # ∫_1^2 ∂_t p du = flux(1) − flux(2) with flux(u) = φ(u) u
    phi = lambda u: math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)  # noqa: E731
    inner, outer = phi(1) - 2 * phi(2), 2 * phi(2) - 4 * phi(4)
    expected = torch.tensor([outer, inner, inner, outer], dtype=D64) / (2 * (inner + outer))
    torch.testing.assert_close(j[0, 0], expected, atol=1e-14, rtol=0)


def test_linear_case_puts_mass_on_the_side_the_mean_moves_to():
    """Constant ``σ``: ``∂_t p`` has the sign of ``z u``; with ``z = 0`` nothing moves."""
    gen = BinnedJumpGenerator(Bins(-2.0, 2.0, 4))
    path = AffineGaussianPath(ConstantNoise())
    phi = lambda u: math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)  # noqa: E731
    # t = 0: α = 0, u = y, c1 = z; flux(u) = φ(u) z, mass on [0,1] ∝ φ(0) − φ(1), [1,2]: φ(1) − φ(2)
    near, far = phi(0) - phi(1), phi(1) - phi(2)
    right = torch.tensor([0, 0, near, far], dtype=D64) / (near + far)
    torch.testing.assert_close(
        _bin_distribution(gen, path, [2.0], 0.0)[0, 0], right, atol=1e-14, rtol=0
    )
    torch.testing.assert_close(
        _bin_distribution(gen, path, [-2.0], 0.0)[0, 0], right.flip(0), atol=1e-14, rtol=0
    )
    torch.testing.assert_close(
        _bin_distribution(gen, path, [0.0], 0.0)[0, 0], torch.full((4,), 0.25, dtype=D64)
    )


def test_bins_width_edges_and_validation():
    bins = Bins(-1.0, 3.0, 8)
    assert bins.width == 0.5
    edges = bins.edges(torch.zeros(1, dtype=D64))
    assert edges.dtype == D64
    assert edges.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert Bins() == Bins(-5.0, 5.0, 64)
    Bins(0.0, 1.0, 2)  # the smallest binning
    with pytest.raises(ValueError, match=r"need high > low and num >= 2, got 0.0, 1.0, 1"):
        Bins(0.0, 1.0, 1)
    with pytest.raises(ValueError, match=r"need high > low and num >= 2, got 1.0, 1.0, 4"):
        Bins(1.0, 1.0, 4)
    with pytest.raises(ValueError, match=r"num must be an integer >= 1, got 0"):
        Bins(0.0, 1.0, 0)


def test_parametrization_heads_and_constrain():
    param = BinnedJumpParametrization(Bins(-1.0, 1.0, 3))
    assert param.quadrature == 4
    assert param.head_shapes(EuclideanSpace(2)) == {"jump_intensity": (2,), "jump_logits": (2, 3)}
    with pytest.raises(TypeError, match="BinnedJumpParametrization needs a Euclidean space"):
        param.head_shapes(object())
    raw = {
        "jump_intensity": torch.tensor([[0.0, 1.0]], dtype=D64),
        "jump_logits": torch.log(torch.tensor([[[1.0, 1.0, 2.0], [3.0, 0.5, 0.5]]], dtype=D64)),
    }
    q = param.constrain(raw, torch.zeros(1, 2, dtype=D64), torch.zeros(1, dtype=D64))
    sp = torch.log1p(torch.exp(torch.tensor([0.0, 1.0], dtype=D64)))
    j = torch.tensor([[0.25, 0.25, 0.5], [0.75, 0.125, 0.125]], dtype=D64)
    torch.testing.assert_close(q[0], sp[:, None] * j, atol=1e-15, rtol=0)
    gen = BinnedJumpGenerator()
    assert gen.parametrization == BinnedJumpParametrization(Bins(-5.0, 5.0, 64), 4)
    assert BinnedJumpGenerator(Bins(0.0, 1.0, 2), quadrature=3).parametrization.quadrature == 3


def test_test_operator_is_the_bin_average_minus_the_value():
    """``K f(x)_{ik} = mean_{y ∈ bin k} f(x_{i←y}) − f(x)`` with ``m`` midpoints per bin."""
    param = BinnedJumpParametrization(Bins(-1.0, 1.0, 2), quadrature=2)

    def f(x):
        return x[:, 0] ** 2 + 3 * x[:, 1]

    x = torch.tensor([[0.5, 2.0], [-1.0, 0.0]], dtype=D64)
    k = param.test_operator(f, x)
    assert k.shape == (2, 2, 2)
    # bin midpoints: [-0.75, -0.25] and [0.25, 0.75]; mean y² = 0.3125 in both bins, mean y ∓0.5
    expected = torch.tensor(
        [
            [[0.3125 - 0.25, 0.3125 - 0.25], [3 * (-0.5 - 2.0), 3 * (0.5 - 2.0)]],
            [[0.3125 - 1.0, 0.3125 - 1.0], [3 * -0.5, 3 * 0.5]],
        ],
        dtype=D64,
    )
    torch.testing.assert_close(k, expected, atol=1e-14, rtol=0)
    value = torch.tensor([[[1.0, 2.0], [0.0, 0.5]], [[2.0, 0.0], [1.0, 1.0]]], dtype=D64)
    applied = param.apply(f, x, value)
    torch.testing.assert_close(applied, (k * value).sum((1, 2)), atol=1e-14, rtol=0)
    assert applied.tolist() == pytest.approx([-2.0625, -1.375], abs=1e-14)


def test_guide_is_geometric_per_bin():
    param = BinnedJumpParametrization(Bins())
    a = torch.tensor([[4.0, 0.0]], dtype=D64)
    b = torch.tensor([[1.0, 2.0]], dtype=D64)
    out = param.guide(a, b, torch.tensor([1.0], dtype=D64), torch.zeros(1, 1, dtype=D64))
    torch.testing.assert_close(out, torch.tensor([[16.0, 0.0]], dtype=D64))


def test_conditional_target_is_intensity_times_bin_distribution():
    gen = BinnedJumpGenerator(Bins(-4.0, 4.0, 8))
    path = AffineGaussianPath(CondOT())
    x = torch.tensor([[3.0, 0.3], [0.1, 2.5]], dtype=D64)  # x_01 = α_t z_01: λ = 0
    z = torch.tensor([[0.5, 1.0], [-1.0, 0.3]], dtype=D64)
    t = torch.tensor([0.3, 0.6], dtype=D64)
    q = gen.conditional_target(path, PathSample(x_t=x, t=t, z=z))
    lam = torch.stack(
        [minimal_jump_intensity(path, x[:, i : i + 1], t, z[:, i : i + 1]) for i in range(2)], 1
    )
    torch.testing.assert_close(q.sum(-1), lam, atol=1e-12, rtol=1e-12)
    assert float(lam.min()) == 0.0 and float(lam.max()) > 1.0  # both branches of the relu
    for n in range(2):
        j = _bin_distribution(gen, path, z[n].tolist(), float(t[n]))[0]
        torch.testing.assert_close(q[n], lam[n, :, None] * j, atol=1e-12, rtol=0)
    with pytest.raises(
        UnsupportedPathError, match="it needs a path implementing AbstractGaussianPath"
    ):
        gen.conditional_target(object(), PathSample(x_t=x, t=t, z=z))
    with pytest.raises(ValueError, match="the binned jump target is singular"):
        gen.conditional_target(path, PathSample(x_t=x, t=torch.ones(2, dtype=D64), z=z))


@pytest.mark.parametrize("expanded", [True, False], ids=["shared-time", "per-point-time"])
def test_marginal_target_is_the_posterior_average(expanded):
    gen = BinnedJumpGenerator(Bins(-3.0, 3.0, 6))
    path = AffineGaussianPath(CondOT())
    x = torch.tensor([[2.0, -1.0], [0.5, 0.0], [-2.5, 1.5]], dtype=D64)
    data = torch.tensor([[1.0, 0.0], [-0.5, 2.0]], dtype=D64)
    posterior = torch.tensor([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]], dtype=D64)
    t = _t([0.4]).expand(3) if expanded else _t([0.2, 0.4, 0.7])  # per point: the generic sum
    q = gen.marginal_target(path, x, t, data, posterior)
    assert q.shape == (3, 2, 6)
    expected = sum(
        posterior[:, n, None, None]
        * gen.conditional_target(path, PathSample(x_t=x, t=t.contiguous(), z=data[n].expand(3, 2)))
        for n in range(2)
    )
    torch.testing.assert_close(q, expected, atol=1e-12, rtol=0)
    assert float(q.sum()) > 0.1
    empty = gen.marginal_target(path, x[:0], t[:0], data, posterior[:0])
    assert empty.shape == (0, 2, 6)


def test_propose_jumps_into_the_drawn_bin():
    gen = BinnedJumpGenerator(Bins(-1.0, 1.0, 4))
    rng = torch.Generator().manual_seed(0)
    n = 2000
    x = torch.full((n, 2), 7.0, dtype=D64)
    value = torch.zeros(n, 2, 4, dtype=D64)
    value[:, 0, 2] = 1e6  # coordinate 0 jumps surely into bin 2 = [0, 0.5)
    prop = gen.propose(value, x, torch.zeros(n, dtype=D64), 0.1, generator=rng)
    assert prop.space is None
    assert prop.mask[:, 0].all() and not prop.mask[:, 1].any()  # zero intensity: no jump
    dest = prop.destination[:, 0]
    assert float(dest.min()) >= 0.0 and float(dest.max()) < 0.5
    assert float(dest.mean()) == pytest.approx(0.25, abs=0.01)  # uniform inside the bin
    moved = prop.apply(x)
    assert bool((moved[:, 1] == 7.0).all()) and bool((moved[:, 0] == dest).all())


def test_propose_jumps_with_probability_one_minus_exp():
    gen = BinnedJumpGenerator(Bins(-1.0, 1.0, 2))
    rng = torch.Generator().manual_seed(1)
    n = 40_000
    value = torch.tensor([[[0.5, 1.5]]], dtype=D64).expand(n, 1, 2)  # λ = 2, J = (1/4, 3/4)
    prop = gen.propose(
        value, torch.zeros(n, 1, dtype=D64), torch.zeros(n, dtype=D64), 0.25, generator=rng
    )
    p = 1 - math.exp(-0.5)
    assert float(prop.mask.double().mean()) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n))
    right = float((prop.destination >= 0).double().mean())
    assert right == pytest.approx(0.75, abs=4 * math.sqrt(0.75 * 0.25 / n))


def test_density_jump_pieces_are_the_positive_parts():
    path = AffineGaussianPath(CondOT())
    y = torch.tensor([[0.0], [3.0]], dtype=D64)
    t = torch.tensor([0.5, 0.5], dtype=D64)
    z = torch.zeros(2, 1, dtype=D64)
    d = path.d_log_prob_dt(y, t, z)  # σ = 0.5 shrinking, z = 0: ∂_t log p = (u² − 1)(−2)
    assert d.tolist() == pytest.approx([2.0, -70.0])
    assert minimal_jump_intensity(path, y, t, z).tolist() == pytest.approx([0.0, 70.0])
    p = path.log_prob(y, t, z).exp()
    assert jump_density_unnormalized(path, y, t, z).tolist() == pytest.approx(
        [2 * float(p[0]), 0.0]
    )


def test_discrete_space_has_no_binned_heads():
    with pytest.raises(TypeError, match="needs a Euclidean space"):
        BinnedJumpGenerator().head_shapes(type("NoShape", (), {})())
    assert BinnedJumpGenerator(Bins(0.0, 1.0, 2)).head_shapes(DiscreteSpace(3, 2)) == {
        "jump_intensity": (3,),
        "jump_logits": (3, 2),
    }


def test_propose_is_exact_for_given_random_draws():
    """Mask ``U < 1 − e^{−hλ}``, bin ``k ~ J`` (any bin for an all-zero row), ``low + (k + V) w``.

    Replays the draws from a generator seeded alike."""
    gen = BinnedJumpGenerator(Bins(-1.0, 1.0, 4))
    value = _t(
        [
            [[0.1, 0.2, 0.3, 0.2], [0.0, 0.0, 0.0, 0.0]],
            [[0.4, 0.1, 0.1, 0.1], [0.2, 0.2, 0.1, 0.3]],
            [[0.3, 0.3, 0.2, 0.1], [0.1, 0.1, 0.1, 0.1]],
        ]
    )
    x, t, h = _t([[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]), _t([0.1, 0.2, 0.3]), 2.0
    prop = gen.propose(value, x, t, h, generator=torch.Generator().manual_seed(11))
    again = gen.propose(value, x, t, h, generator=torch.Generator().manual_seed(11))
    assert prop.mask.tolist() == again.mask.tolist()
    assert prop.destination.tolist() == again.destination.tolist()
    rng = torch.Generator().manual_seed(11)
    mask = torch.rand(3, 2, generator=rng, dtype=D64) < 1 - torch.exp(-h * value.sum(-1))
    probs = value.reshape(6, 4).clone()
    probs[1] = 1.0  # the all-zero row: any bin
    k = torch.multinomial(probs, 1, generator=rng).reshape(3, 2)
    u = torch.rand(3, 2, generator=rng, dtype=D64)
    assert prop.mask.tolist() == mask.tolist()
    assert 0 < int(mask.sum()) < 6  # both outcomes occur
    torch.testing.assert_close(prop.destination, -1.0 + (k.to(D64) + u) * 0.5, atol=0, rtol=0)
    assert prop.destination.dtype == D64 and prop.mask.dtype == torch.bool


def test_marginal_target_of_an_unsupported_path_raises():
    gen = BinnedJumpGenerator(Bins(-3.0, 3.0, 6))
    x = torch.zeros(2, 1, dtype=D64)
    with pytest.raises(UnsupportedPathError, match="BinnedJumpGenerator has no conditional"):
        gen.marginal_target(
            object(), x, _t([0.5]).expand(2), torch.zeros(3, 1, dtype=D64), torch.ones(2, 3) / 3
        )


def test_bin_distribution_near_the_quadratic_threshold():
    """``c1 = 0``: below ``|c2| = 1e-12`` the density does not move (uniform bins); above
    it the two tails carry the mass, the same for every ``c2 > 0`` (it scales out)."""
    gen = BinnedJumpGenerator(Bins(-4.0, 4.0, 4))
    z, zero, one = (
        torch.zeros(1, 1, dtype=D64),
        torch.zeros(1, 1, dtype=D64),
        torch.ones(1, 1, dtype=D64),
    )

    def j(c2):
        return gen._bin_distribution(z, zero, one, zero, torch.full((1, 1), c2, dtype=D64))[0, 0]

    uniform = torch.full((4,), 0.25, dtype=D64)
    for c2 in (0.0, 1e-13, 1e-12):
        torch.testing.assert_close(j(c2), uniform, atol=1e-15, rtol=0)
    phi = lambda u: math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)  # noqa: E731
    inner, outer = phi(1) - 2 * phi(2), 2 * phi(2) - 4 * phi(4)
    tails = torch.tensor([outer, inner, inner, outer], dtype=D64) / (2 * (inner + outer))
    for c2 in (1.5e-12, 0.5):
        torch.testing.assert_close(j(c2), tails, atol=1e-14, rtol=0)
    # a flat batch (no event dimensions): each point its own noise
    flat = gen._bin_distribution(
        torch.zeros(2, dtype=D64),
        torch.zeros(2, dtype=D64),
        _t2([1.0, 2.0]),
        torch.zeros(2, dtype=D64),
        _t2([0.0, 1.0]),
    )
    torch.testing.assert_close(flat[0], uniform, atol=1e-15, rtol=0)
    # σ = 2, c2 = 1/2: tails beyond |u| = 1, i.e. |y| = 2: bins [-4, -2] and [2, 4] only
    torch.testing.assert_close(flat[1], _t2([0.5, 0.0, 0.0, 0.5]), atol=1e-15, rtol=0)


def _t2(v):
    return torch.tensor(v, dtype=D64)


def test_test_operator_for_one_point_and_a_bin_width_below_one():
    param = BinnedJumpParametrization(Bins(0.0, 1.4, 2), quadrature=3)

    def f(x):
        return x[:, 0] ** 2 + 2 * x[:, 1]

    # midpoints (j + 1/2)/3 · 0.7 (+ 0.7): means 0.35 and 1.05, of y² 0.49 · 35/108 (+ 0.98)
    sq = 0.49 * 35 / 108

    def expected(points):
        return _t2(
            [[[sq - a * a, sq + 0.98 - a * a], [2 * (0.35 - b), 2 * (1.05 - b)]] for a, b in points]
        )

    for points in ([[0.5, 1.0]], [[0.5, 1.0], [0.0, 0.0], [1.0, -1.0]]):
        k = param.test_operator(f, _t2(points))
        torch.testing.assert_close(k, expected(points), atol=1e-15, rtol=0)
    a = torch.arange(12, dtype=D64).reshape(2, 3, 2)
    assert param.inner(a, torch.ones_like(a), torch.zeros(2, 3, dtype=D64)).tolist() == [15.0, 51.0]
