from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from scipy.spatial.distance import cdist as np_cdist

import genmatch.metrics.euclidean as metrics
from genmatch.metrics import DEFAULT_RBF_BANDWIDTHS, energy_distance, rbf_mmd, sliced_wasserstein

F64 = torch.float64
ALL_METRICS = (energy_distance, sliced_wasserstein, rbf_mmd)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(n: int, d: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(n, d, generator=gen(seed), dtype=torch.float64).to(dtype)


def phi(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def mean_abs_normal(m: float, s: float) -> float:
    """E|Z| for Z ~ N(m, s^2) (folded normal mean)."""
    return s * math.sqrt(2 / math.pi) * math.exp(-(m**2) / (2 * s**2)) + m * (1 - 2 * phi(-m / s))


def linear_standard_error(kxx: np.ndarray, kxy: np.ndarray, kyy: np.ndarray) -> float:
    """First-order (Hoeffding) standard error of U(kxx) + U(kyy) - 2 mean(kxy).

    The estimator's linear part is (1/n) sum_i g(x_i) + (1/m) sum_j h(y_j) with
    g(x) = 2 E k(x, X') - 2 E k(x, Y) and h(y) = 2 E k(y, Y') - 2 E k(X, y), so its variance is
    Var g / n + Var h / m; the conditional expectations are replaced by row means.
    """
    n, m = kxy.shape
    kx1 = (kxx.sum(axis=1) - np.diag(kxx)) / (n - 1)
    ky1 = (kyy.sum(axis=1) - np.diag(kyy)) / (m - 1)
    g = 2 * kx1 - 2 * kxy.mean(axis=1)
    h = 2 * ky1 - 2 * kxy.mean(axis=0)
    return math.sqrt(g.var(ddof=1) / n + h.var(ddof=1) / m)


def brute_energy(x: np.ndarray, y: np.ndarray) -> float:
    n, m = len(x), len(y)
    dxx, dyy, dxy = np_cdist(x, x), np_cdist(y, y), np_cdist(x, y)
    return 2 * dxy.mean() - dxx.sum() / (n * (n - 1)) - dyy.sum() / (m * (m - 1))


def rbf_matrix(a: np.ndarray, b: np.ndarray, bandwidths) -> np.ndarray:
    d2 = np_cdist(a, b, "sqeuclidean")
    return sum(np.exp(-d2 / (2 * h**2)) for h in bandwidths)


def brute_mmd(x: np.ndarray, y: np.ndarray, bandwidths) -> float:
    n, m = len(x), len(y)
    kxx, kyy = rbf_matrix(x, x, bandwidths), rbf_matrix(y, y, bandwidths)
    kxy = rbf_matrix(x, y, bandwidths)
    uxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    uyy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return uxx + uyy - 2 * kxy.mean()


# Null tolerance for energy distance and MMD of two independent N(0, I_2) samples of 800
# points: the null standard deviation of both estimators is about 0.0027 (measured over 100
# seeds; the estimators are degenerate U-statistics, so it scales like 1/n), so 0.02 is ~7 sd.
NULL_TOL_800 = 0.02


# ----------------------------------------------------------------------------- energy distance


def test_energy_distance_matches_brute_force() -> None:
    x, y = randn(37, 3, 0), randn(23, 3, 1) + 0.3
    got = energy_distance(x, y)
    assert got.dtype == F64 and got.shape == ()
    assert math.isclose(float(got), brute_energy(x.numpy(), y.numpy()), rel_tol=1e-12)


def test_energy_distance_of_a_set_with_itself_is_the_u_statistic_bias() -> None:
    # With U-statistics within sets and a V-statistic across: D(x, x) = 2 S / n^2 - 2 S / (n(n-1))
    # where S = sum_{i, i'} |x_i - x_i'|.
    n = 50
    x = randn(n, 2, 2)
    s = float(np_cdist(x.numpy(), x.numpy()).sum())
    expected = 2 * s / n**2 - 2 * s / (n * (n - 1))
    assert expected < 0
    assert math.isclose(float(energy_distance(x, x)), expected, rel_tol=1e-12)


def test_energy_distance_same_distribution_is_near_zero() -> None:
    x, y = randn(800, 2, 3), randn(800, 2, 4)
    assert abs(float(energy_distance(x, y))) < NULL_TOL_800
    assert float(energy_distance(x, y + torch.tensor([0.5, 0.0], dtype=F64))) > 2 * NULL_TOL_800


@pytest.mark.parametrize("mu", [1.0, 2.0])
def test_energy_distance_of_two_gaussians_matches_closed_form(mu: float) -> None:
    # X ~ N(0, 1), Y ~ N(mu, 1): X - Y ~ N(-mu, 2) and X - X' ~ N(0, 2), so
    # D^2 = 2 E|N(mu, 2)| - 2 E|N(0, 2)| with E|N(m, s^2)| = s sqrt(2/pi) e^{-m^2/2s^2}
    # + m (1 - 2 Phi(-m/s)).
    s = math.sqrt(2.0)
    expected = 2 * mean_abs_normal(mu, s) - 2 * mean_abs_normal(0.0, s)
    assert math.isclose(mean_abs_normal(0.0, s), 2 / math.sqrt(math.pi), rel_tol=1e-14)
    n = m = 1500
    x, y = randn(n, 1, 10), randn(m, 1, 11) + mu
    got = float(energy_distance(x, y))
    xn, yn = x.numpy(), y.numpy()
    se = linear_standard_error(-np_cdist(xn, xn), -np_cdist(xn, yn), -np_cdist(yn, yn))
    assert 0 < se < 0.1 * expected
    assert abs(got - expected) < 5 * se


def test_energy_distance_is_symmetric_and_translation_invariant() -> None:
    x, y = randn(40, 2, 5), randn(60, 2, 6) * 1.5
    shift = torch.tensor([3.0, -2.0], dtype=F64)
    d = energy_distance(x, y)
    torch.testing.assert_close(energy_distance(y, x), d, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(energy_distance(x + shift, y + shift), d, rtol=1e-9, atol=1e-12)
    # Degree-1 homogeneity: D^2(c x, c y) = c D^2(x, y).
    torch.testing.assert_close(energy_distance(3 * x, 3 * y), 3 * d, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- sliced Wasserstein


def test_sliced_wasserstein_of_identical_multisets_is_exactly_zero() -> None:
    x = randn(100, 3, 7)
    assert float(sliced_wasserstein(x, x, generator=gen(0))) == 0.0
    assert float(sliced_wasserstein(x, x + 0.0, generator=gen(0))) == 0.0
    # Same empirical measure with n != m (exercises the merged-quantile path).
    assert float(sliced_wasserstein(x, x.repeat(2, 1), generator=gen(0))) == 0.0
    perm = torch.randperm(100, generator=gen(1))
    assert float(sliced_wasserstein(x, x[perm].repeat(3, 1), generator=gen(0))) == 0.0


@pytest.mark.parametrize("p", [1, 2, 3])
def test_sliced_wasserstein_in_one_dimension_is_exact_wasserstein(p: int) -> None:
    # For d = 1 every direction is +-1, so SW_p = W_p, which POT computes exactly.
    x, y = randn(57, 1, 8), randn(31, 1, 9) * 2 + 1
    expected = ot.wasserstein_1d(x[:, 0].numpy(), y[:, 0].numpy(), p=p) ** (1 / p)
    got = sliced_wasserstein(x, y, p=p, num_projections=4, generator=gen(0))
    assert math.isclose(float(got), expected, rel_tol=1e-12)
    # Equal sizes (sorting path).
    x2, y2 = randn(40, 1, 10), randn(40, 1, 11) + 0.5
    expected2 = ot.wasserstein_1d(x2[:, 0].numpy(), y2[:, 0].numpy(), p=p) ** (1 / p)
    got2 = sliced_wasserstein(x2, y2, p=p, num_projections=4, generator=gen(0))
    assert math.isclose(float(got2), expected2, rel_tol=1e-12)


def test_sliced_wasserstein_single_points() -> None:
    x = torch.tensor([[0.5]], dtype=F64)
    y = torch.tensor([[-1.25]], dtype=F64)
    assert math.isclose(float(sliced_wasserstein(x, y, generator=gen(0))), 1.75, rel_tol=1e-15)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("sizes", [(60, 60), (60, 45), (17, 90)])
def test_sliced_wasserstein_matches_pot_with_the_same_directions(p: int, sizes) -> None:
    # The directions are documented to be normalised float64 standard normals from `generator`.
    n, m = sizes
    x, y = randn(n, 3, 12), randn(m, 3, 13) * 0.7 + 0.4
    num = 64
    theta = torch.randn(num, 3, generator=gen(5), dtype=F64)
    theta = theta / theta.norm(dim=1, keepdim=True)
    expected = ot.sliced_wasserstein_distance(
        x.numpy(), y.numpy(), n_projections=num, p=p, projections=theta.T.numpy()
    )
    got = sliced_wasserstein(x, y, num_projections=num, p=p, generator=gen(5))
    assert math.isclose(float(got), float(expected), rel_tol=1e-10)


def test_sliced_wasserstein_of_a_shift_matches_sphere_averages() -> None:
    # y = x + v: every projected sample is shifted by theta.v, so W_p(theta) = |theta.v| and
    # SW_p^p = |v|^p mean_l |cos angle_l|^p.  In d = 3, cos of a uniform direction with a fixed
    # axis is U[-1, 1] (Archimedes): E cos^2 = 1/3 (var 4/45) and E|cos| = 1/2 (var 1/12).
    d, num = 3, 4096
    x = randn(500, d, 14)
    v = torch.tensor([1.0, -2.0, 2.0], dtype=F64)  # |v| = 3
    sw2 = float(sliced_wasserstein(x, x + v, num_projections=num, p=2, generator=gen(3)))
    se2 = math.sqrt(4 / 45 / num)
    assert abs(sw2**2 / 9.0 - 1 / 3) < 5 * se2
    assert abs(sw2 - 3.0 / math.sqrt(d)) < 0.03
    sw1 = float(sliced_wasserstein(x, x + v, num_projections=num, p=1, generator=gen(3)))
    assert abs(sw1 / 3.0 - 0.5) < 5 * math.sqrt(1 / 12 / num)


def test_sliced_wasserstein_determinism_symmetry_and_seed_dependence() -> None:
    x, y = randn(80, 4, 15), randn(70, 4, 16) + 0.2
    a = sliced_wasserstein(x, y, num_projections=32, generator=gen(1))
    assert torch.equal(a, sliced_wasserstein(x, y, num_projections=32, generator=gen(1)))
    torch.testing.assert_close(
        sliced_wasserstein(y, x, num_projections=32, generator=gen(1)), a, rtol=1e-14, atol=0
    )
    b = sliced_wasserstein(x, y, num_projections=32, generator=gen(2))
    assert float(a) != float(b)
    state = torch.get_rng_state()
    try:
        torch.manual_seed(1)
        c = sliced_wasserstein(x, y, num_projections=32)
    finally:
        torch.set_rng_state(state)
    assert torch.equal(a, c)


def test_sliced_wasserstein_projection_blocks_do_not_change_the_result(monkeypatch) -> None:
    x, y = randn(30, 2, 17), randn(20, 2, 18)
    full = sliced_wasserstein(x, y, num_projections=50, generator=gen(0))
    monkeypatch.setattr(metrics, "_MAX_BLOCK_ENTRIES", 7 * 50)  # 7 projections per block
    blocked = sliced_wasserstein(x, y, num_projections=50, generator=gen(0))
    torch.testing.assert_close(blocked, full, rtol=1e-14, atol=0)


# ----------------------------------------------------------------------------- RBF MMD


@pytest.mark.parametrize("bandwidths", [None, 0.7, (0.3, 1.5), torch.tensor([0.5, 2.0])])
def test_rbf_mmd_matches_brute_force(bandwidths) -> None:
    x, y = randn(41, 3, 20), randn(29, 3, 21) * 1.3 + 0.2
    if bandwidths is None:
        hs = DEFAULT_RBF_BANDWIDTHS
    elif isinstance(bandwidths, float):
        hs = (bandwidths,)
    else:
        hs = tuple(float(h) for h in bandwidths)
    got = rbf_mmd(x, y, bandwidths=bandwidths)
    assert got.dtype == F64 and got.shape == ()
    assert math.isclose(float(got), brute_mmd(x.numpy(), y.numpy(), hs), rel_tol=1e-10)


def test_rbf_mmd_default_bandwidths() -> None:
    assert DEFAULT_RBF_BANDWIDTHS == (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
    x, y = randn(20, 2, 22), randn(25, 2, 23)
    assert torch.equal(rbf_mmd(x, y), rbf_mmd(x, y, bandwidths=DEFAULT_RBF_BANDWIDTHS))


def test_rbf_mmd_of_a_set_with_itself_is_the_u_statistic_bias() -> None:
    n = 50
    x = randn(n, 2, 24)
    k = rbf_matrix(x.numpy(), x.numpy(), DEFAULT_RBF_BANDWIDTHS)
    s, diag = float(k.sum()), float(np.trace(k))
    assert diag == n * len(DEFAULT_RBF_BANDWIDTHS)
    expected = 2 * (s - diag) / (n * (n - 1)) - 2 * s / n**2
    assert math.isclose(float(rbf_mmd(x, x)), expected, rel_tol=1e-10)


def test_rbf_mmd_same_distribution_near_zero_and_different_clearly_positive() -> None:
    x, y = randn(800, 2, 25), randn(800, 2, 26)
    assert abs(float(rbf_mmd(x, y))) < NULL_TOL_800
    shifted = float(rbf_mmd(x, y + torch.tensor([0.5, 0.0], dtype=F64)))
    scaled = float(rbf_mmd(x, 2.0 * y))
    assert shifted > 2 * NULL_TOL_800
    assert scaled > 2 * NULL_TOL_800


def test_rbf_mmd_of_two_gaussians_matches_closed_form() -> None:
    # P = N(0, I_d), Q = N(delta, I_d).  For Z ~ N(mu, s^2 I_d),
    # E exp(-|Z|^2 / 2h^2) = (h^2 / (h^2 + s^2))^{d/2} exp(-|mu|^2 / (2 (h^2 + s^2))), and
    # X - X', X - Y have s^2 = 2, so MMD^2 = sum_h 2 A_h (1 - exp(-|delta|^2 / (2 (h^2 + 2))))
    # with A_h = (h^2 / (h^2 + 2))^{d/2}.
    d, n, m = 2, 1200, 1000
    delta = np.array([0.6, -0.3])
    hs = (0.5, 1.0, 2.0)
    expected = sum(
        2 * (h**2 / (h**2 + 2)) ** (d / 2) * (1 - math.exp(-(delta @ delta) / (2 * (h**2 + 2))))
        for h in hs
    )
    x, y = randn(n, d, 27), randn(m, d, 28) + torch.from_numpy(delta)
    got = float(rbf_mmd(x, y, bandwidths=hs))
    xn, yn = x.numpy(), y.numpy()
    se = linear_standard_error(
        rbf_matrix(xn, xn, hs), rbf_matrix(xn, yn, hs), rbf_matrix(yn, yn, hs)
    )
    assert 0 < se < 0.2 * expected
    assert abs(got - expected) < 5 * se


def test_rbf_mmd_is_symmetric_and_translation_invariant() -> None:
    x, y = randn(40, 2, 29), randn(55, 2, 30) + 0.5
    shift = torch.tensor([-1.0, 4.0], dtype=F64)
    d = rbf_mmd(x, y)
    torch.testing.assert_close(rbf_mmd(y, x), d, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(rbf_mmd(x + shift, y + shift), d, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, (), (1.0, -0.5), torch.zeros(2)])
def test_rbf_mmd_bad_bandwidths_raise(bad) -> None:
    x, y = randn(5, 2, 0), randn(6, 2, 1)
    with pytest.raises(ValueError, match="bandwidths"):
        rbf_mmd(x, y, bandwidths=bad)


# ----------------------------------------------------------------------------- shared behaviour


@pytest.mark.parametrize("metric", [energy_distance, rbf_mmd])
def test_row_blocks_do_not_change_the_result(metric, monkeypatch) -> None:
    x, y = randn(45, 3, 31), randn(38, 3, 32) + 0.1
    full = metric(x, y)
    monkeypatch.setattr(metrics, "_MAX_BLOCK_ENTRIES", 100)  # a few rows per block
    blocked = metric(x, y)
    torch.testing.assert_close(blocked, full, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_float32_agrees_with_float64_and_keeps_dtype(metric) -> None:
    x, y = randn(300, 2, 33), randn(250, 2, 34) + 0.3
    kwargs = {"generator": gen(0)} if metric is sliced_wasserstein else {}
    ref = metric(x, y, **kwargs)
    kwargs = {"generator": gen(0)} if metric is sliced_wasserstein else {}
    got = metric(x.float(), y.float(), **kwargs)
    assert got.dtype == torch.float32 and got.shape == ()
    assert abs(float(got) - float(ref)) < 1e-4 * max(1.0, abs(float(ref)))


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_metrics_are_differentiable(metric) -> None:
    x = randn(30, 2, 35).requires_grad_(True)
    y = randn(25, 2, 36) + 1.0
    kwargs = {"generator": gen(0)} if metric is sliced_wasserstein else {}
    value = metric(x, y, **kwargs)
    (grad,) = torch.autograd.grad(value, x)
    assert grad.shape == x.shape
    assert bool(torch.isfinite(grad).all())
    assert float(grad.abs().sum()) > 0


def _valid(n: int = 5, d: int = 2, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(n, d, generator=gen(n), dtype=F64).to(dtype)


BAD_PAIRS = [
    pytest.param(_valid()[:, 0], _valid(), "2-D", id="x-1d"),
    pytest.param(_valid(), _valid()[None], "2-D", id="y-3d"),
    pytest.param(_valid(d=2), _valid(d=3), "same dimension", id="dim-mismatch"),
    pytest.param(_valid(), _valid(dtype=torch.float32), "same dtype", id="dtype-mismatch"),
    pytest.param(_valid(), torch.zeros(5, 2, dtype=F64, device="meta"), "same device", id="device"),
    pytest.param(_valid().long(), _valid().long(), "floating-point", id="integer"),
    pytest.param(_valid()[:0], _valid(), "non-empty|at least", id="x-empty"),
    pytest.param(_valid(), _valid()[:0], "non-empty|at least", id="y-empty"),
    pytest.param(_valid()[:, :0], _valid()[:, :0], "dim >= 1", id="zero-dim"),
    pytest.param(
        _valid().index_fill(0, torch.tensor([2]), math.nan), _valid(), "non-finite", id="nan"
    ),
    pytest.param(
        _valid(), _valid().index_fill(0, torch.tensor([1]), math.inf), "non-finite", id="inf"
    ),
    pytest.param(_valid().numpy(), _valid(), "torch.Tensor", id="numpy"),
]


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize(("x", "y", "message"), BAD_PAIRS)
def test_bad_inputs_raise(metric, x, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        metric(x, y)


@pytest.mark.parametrize("metric", [energy_distance, rbf_mmd])
def test_u_statistics_need_two_points(metric) -> None:
    with pytest.raises(ValueError, match="at least 2 points"):
        metric(_valid(1), _valid(5))
    with pytest.raises(ValueError, match="at least 2 points"):
        metric(_valid(5), _valid(1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_projections": 0}, "num_projections"),
        ({"num_projections": 2.0}, "num_projections"),
        ({"num_projections": True}, "num_projections"),
        ({"p": 0.5}, "p must be"),
        ({"p": math.inf}, "p must be"),
        ({"p": "two"}, "p must be"),
    ],
)
def test_sliced_wasserstein_bad_options_raise(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sliced_wasserstein(_valid(), _valid(), **kwargs)
