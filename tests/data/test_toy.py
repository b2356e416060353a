from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genmatch.data import (
    ALL_TOY_SETS,
    EIGHT_GAUSSIANS_RADIUS,
    EIGHT_GAUSSIANS_STD,
    SPIRALS_MAX_ANGLE,
    SPIRALS_SCALE,
    checkerboard,
    eight_gaussians,
    spirals,
    two_moons,
)

NOISY_SETS = (two_moons, spirals)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_all_toy_sets_is_the_four_samplers() -> None:
    assert ALL_TOY_SETS == (checkerboard, eight_gaussians, two_moons, spirals)


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_shape_default_dtype_and_finite(sampler, n: int) -> None:
    x = sampler(n, generator=gen(0))
    assert x.shape == (n, 2)
    assert x.dtype == torch.float32
    assert x.device == torch.device("cpu")
    assert bool(torch.isfinite(x).all())


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_dtype_honoured_and_same_points_for_every_dtype(sampler, dtype: torch.dtype) -> None:
    ref = sampler(500, generator=gen(3), dtype=torch.float64)
    x = sampler(500, generator=gen(3), dtype=dtype)
    assert x.dtype == dtype
    # The random stream is drawn in float64 and only the result is cast.
    assert torch.equal(x, ref.to(dtype))


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
def test_device_honoured(sampler) -> None:
    x = sampler(10, generator=gen(0), device="cpu")
    assert x.device == torch.device("cpu")
    y = sampler(10, generator=gen(0), device=torch.device("cpu"))
    assert torch.equal(x, y)
    z = sampler(10, generator=gen(0), device="meta")
    assert z.device.type == "meta" and z.shape == (10, 2)
    if torch.cuda.is_available():
        c = sampler(10, generator=gen(0), device="cuda")
        assert c.device.type == "cuda"
        assert torch.equal(c.cpu(), x)


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
def test_determinism_and_seed_dependence(sampler) -> None:
    a = sampler(300, generator=gen(11))
    b = sampler(300, generator=gen(11))
    c = sampler(300, generator=gen(12))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # A shared generator advances: consecutive calls differ.
    g = gen(11)
    first, second = sampler(300, generator=g), sampler(300, generator=g)
    assert torch.equal(first, a)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
def test_default_rng_is_used_when_no_generator(sampler) -> None:
    state = torch.get_rng_state()
    try:
        torch.manual_seed(5)
        a = sampler(200)
        torch.manual_seed(5)
        b = sampler(200)
    finally:
        torch.set_rng_state(state)
    assert torch.equal(a, b)
    assert torch.equal(a, sampler(200, generator=gen(5)))


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
def test_scale_is_sensible(sampler) -> None:
    x = sampler(20000, generator=gen(1), dtype=torch.float64)
    std = x.std(dim=0)
    assert bool((std > 0.8).all()) and bool((std < 2.4).all()), std
    assert float(x.abs().max()) < 5.0
    # All four sets are symmetric about the origin: mean zero within 5 standard errors.
    assert bool((x.mean(dim=0).abs() < 5 * std / math.sqrt(x.shape[0])).all())


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
@pytest.mark.parametrize("bad", [0, -3, 2.5, 1.0, "10", None, True, False])
def test_bad_n_raises(sampler, bad) -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        sampler(bad)


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
def test_numpy_integer_n_is_accepted(sampler) -> None:
    assert sampler(np.int64(4), generator=gen(0)).shape == (4, 2)


@pytest.mark.parametrize("sampler", ALL_TOY_SETS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, "float32"])
def test_non_float_dtype_raises(sampler, dtype) -> None:
    with pytest.raises(ValueError, match="dtype"):
        sampler(3, dtype=dtype)


@pytest.mark.parametrize("sampler", NOISY_SETS)
@pytest.mark.parametrize("noise", [-0.1, math.nan, math.inf, "a"])
def test_bad_noise_raises(sampler, noise) -> None:
    with pytest.raises(ValueError, match="noise"):
        sampler(3, noise=noise)


def test_checkerboard_parity_rule_and_balance() -> None:
    n = 40000
    x = checkerboard(n, generator=gen(2), dtype=torch.float64)
    assert float(x.min()) >= -4.0 and float(x.max()) < 4.0
    cells = torch.floor((x + 4.0) / 2.0).long()
    assert bool(((cells >= 0) & (cells <= 3)).all())
    assert bool((cells.sum(dim=1) % 2 == 0).all())
    # The 8 filled cells are equally likely: counts within 5 binomial standard deviations.
    counts = torch.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16)
    filled = torch.tensor([(i + j) % 2 == 0 for i in range(4) for j in range(4)])
    assert bool((counts[~filled] == 0).all())
    p = 1.0 / 8.0
    sd = math.sqrt(n * p * (1 - p))
    assert float((counts[filled].double() - n * p).abs().max()) < 5 * sd
    # Uniform inside each cell: the offset within its cell is U[0, 2)^2 (mean 1, var 1/3).
    offset = x + 4.0 - 2.0 * cells
    assert float((offset.mean(dim=0) - 1.0).abs().max()) < 5 * math.sqrt(1 / 3 / n)
    assert float((offset.var(dim=0) - 1 / 3).abs().max()) < 0.01


def test_eight_gaussians_clusters() -> None:
    n = 40000
    x = eight_gaussians(n, generator=gen(4), dtype=torch.float64)
    k = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    centres = EIGHT_GAUSSIANS_RADIUS * torch.stack((torch.cos(k), torch.sin(k)), dim=1)
    assert torch.allclose(centres[1], torch.tensor([2.0, 2.0], dtype=torch.float64))
    dist = torch.cdist(x, centres)
    nearest = dist.argmin(dim=1)
    d_min = dist.min(dim=1).values
    # |x - c|^2 / s^2 is chi-square with 2 dof: P(|x - c| > 6 s) = exp(-18) ~ 1.5e-8.
    assert float(d_min.max()) < 6 * EIGHT_GAUSSIANS_STD
    resid = x - centres[nearest]
    # Per-coordinate residual std is s (mis-assignment beyond half the centre gap is negligible).
    assert torch.allclose(
        resid.std(dim=0), torch.full((2,), EIGHT_GAUSSIANS_STD, dtype=torch.float64), rtol=0.03
    )
    assert float(resid.mean(dim=0).abs().max()) < 5 * EIGHT_GAUSSIANS_STD / math.sqrt(n)
    counts = torch.bincount(nearest, minlength=8).double()
    sd = math.sqrt(n * (1 / 8) * (7 / 8))
    assert float((counts - n / 8).abs().max()) < 5 * sd
    # Per-coordinate variance is R^2 / 2 + s^2.
    expected_var = EIGHT_GAUSSIANS_RADIUS**2 / 2 + EIGHT_GAUSSIANS_STD**2
    assert torch.allclose(
        x.var(dim=0), torch.full((2,), expected_var, dtype=torch.float64), rtol=0.03
    )


def test_two_moons_noiseless_points_lie_on_the_arcs() -> None:
    n = 5000
    x = two_moons(n, noise=0.0, generator=gen(6), dtype=torch.float64)
    c_up = torch.tensor([-1.0, -0.5], dtype=torch.float64)
    r_up = (x - c_up).norm(dim=1)
    r_lo = (x + c_up).norm(dim=1)
    on_up = ((r_up - 2.0).abs() < 1e-12) & (x[:, 1] >= -0.5 - 1e-12)
    on_lo = ((r_lo - 2.0).abs() < 1e-12) & (x[:, 1] <= 0.5 + 1e-12)
    assert bool((on_up | on_lo).all())
    assert float(x[:, 0].abs().max()) <= 3.0 + 1e-12
    assert float(x[:, 1].abs().max()) <= 1.5 + 1e-12
    frac_up = float(on_up.double().mean())
    assert abs(frac_up - 0.5) < 5 * math.sqrt(0.25 / n)
    # Angle within each moon is uniform on [0, pi]: mean pi/2, variance pi^2/12.
    t_up = torch.atan2(x[on_up, 1] - c_up[1], x[on_up, 0] - c_up[0])
    assert float(t_up.min()) >= -1e-12 and float(t_up.max()) <= math.pi + 1e-12
    assert abs(float(t_up.mean()) - math.pi / 2) < 5 * math.pi / math.sqrt(12 * t_up.numel())


def test_spirals_noiseless_points_lie_on_the_curves() -> None:
    n = 5000
    x = spirals(n, noise=0.0, generator=gen(7), dtype=torch.float64)
    t = x.norm(dim=1) / SPIRALS_SCALE
    assert float(t.max()) <= SPIRALS_MAX_ANGLE + 1e-9
    curve = SPIRALS_SCALE * torch.stack((-t * torch.cos(t), t * torch.sin(t)), dim=1)
    arm1 = (x - curve).norm(dim=1) < 1e-9
    arm2 = (x + curve).norm(dim=1) < 1e-9
    assert bool((arm1 | arm2).all())
    assert abs(float(arm1.double().mean()) - 0.5) < 5 * math.sqrt(0.25 / n)
    # t = T sqrt(u): (t / T)^2 is uniform on [0, 1].
    u = (t / SPIRALS_MAX_ANGLE) ** 2
    assert abs(float(u.mean()) - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(float((u < 0.25).double().mean()) - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n)


@pytest.mark.parametrize("sampler", NOISY_SETS)
def test_noise_is_additive_isotropic_gaussian_with_given_std(sampler) -> None:
    n = 20000
    clean = sampler(n, noise=0.0, generator=gen(8), dtype=torch.float64)
    eps_a = (sampler(n, noise=0.1, generator=gen(8), dtype=torch.float64) - clean) / 0.1
    eps_b = (sampler(n, noise=0.3, generator=gen(8), dtype=torch.float64) - clean) / 0.3
    # Same standard normal matrix for every noise level.
    assert torch.allclose(eps_a, eps_b, atol=1e-12)
    assert float(eps_a.mean(dim=0).abs().max()) < 5 / math.sqrt(n)
    assert torch.allclose(eps_a.std(dim=0), torch.ones(2, dtype=torch.float64), atol=0.03)
    corr = torch.corrcoef(eps_a.T)[0, 1]
    assert abs(float(corr)) < 5 / math.sqrt(n)


@pytest.mark.parametrize("sampler", NOISY_SETS)
def test_default_noise_is_0_05(sampler) -> None:
    a = sampler(100, generator=gen(9), dtype=torch.float64)
    b = sampler(100, noise=0.05, generator=gen(9), dtype=torch.float64)
    assert torch.equal(a, b)
