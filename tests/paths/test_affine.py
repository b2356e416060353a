import math
import re

import pytest
import torch

from genmatch import VE, AffineGaussianPath, CondOT, Cosine, Polynomial, VPLinear
from genmatch.paths import PathSample

SCHEDULES = [CondOT(), Polynomial(2.0), Cosine(), VPLinear(), VE(0.1, 5.0)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_sample_is_affine_combination(schedule, dtype, rng):
    path = AffineGaussianPath(schedule)
    z = torch.randn(16, 3, dtype=dtype, generator=rng)
    x_0 = torch.randn(16, 3, dtype=dtype, generator=rng)
    t = torch.rand(16, dtype=dtype, generator=rng)
    s = path.sample(z, t, x_0=x_0)
    c = schedule(t)
    torch.testing.assert_close(s.x_t, c.alpha_t[:, None] * z + c.sigma_t[:, None] * x_0)
    assert s.x_t.dtype == dtype and s.x_0 is x_0 and s.z is z


def test_velocity_forms_agree(rng):
    """α̇ z + σ̇ x_0 equals α̇ z + σ̇/σ (x − α z) on samples (conditioning on (X_0, X_1) vs X_1)."""
    path = AffineGaussianPath(Cosine())
    z = torch.randn(32, 2, 2, dtype=torch.float64, generator=rng)
    t = torch.rand(32, dtype=torch.float64, generator=rng) * 0.98
    s = path.sample(z, t, generator=rng)
    from genmatch import PathSample

    u_pair = path.conditional_velocity(s)
    u_point = path.conditional_velocity(PathSample(x_t=s.x_t, t=t, z=z))
    torch.testing.assert_close(u_pair, u_point, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_log_prob_is_gaussian_and_time_derivative_matches_autodiff(schedule, rng):
    path = AffineGaussianPath(schedule)
    z = torch.randn(8, 2, dtype=torch.float64, generator=rng)
    x = torch.randn(8, 2, dtype=torch.float64, generator=rng)
    t = 0.05 + 0.9 * torch.rand(8, dtype=torch.float64, generator=rng)
    c = schedule(t)
    expected = (
        torch.distributions.Normal(c.alpha_t[:, None] * z, c.sigma_t[:, None]).log_prob(x).sum(1)
    )
    torch.testing.assert_close(path.log_prob(x, t, z), expected)
    closed = path.d_log_prob_dt(x, t, z)
    autodiff = super(AffineGaussianPath, path).d_log_prob_dt(x, t, z)
    torch.testing.assert_close(closed, autodiff, rtol=1e-9, atol=1e-9)


def test_condot_time_derivative_closed_form(rng):
    """For CondOT in 1-D, ∂_t log p = −k_t/(1−t)³ with k_t = x² − (1+t)xz − (1−t)² + tz²."""
    path = AffineGaussianPath(CondOT())
    x = torch.randn(20, 1, dtype=torch.float64, generator=rng)
    z = torch.randn(20, 1, dtype=torch.float64, generator=rng)
    t = torch.rand(20, dtype=torch.float64, generator=rng) * 0.95
    xs, zs = x[:, 0], z[:, 0]
    k = xs**2 - (1 + t) * xs * zs - (1 - t) ** 2 + t * zs**2
    torch.testing.assert_close(path.d_log_prob_dt(x, t, z), -k / (1 - t) ** 3)


def test_sampling_draws_source_with_generator():
    path = AffineGaussianPath(CondOT())
    z = torch.zeros(1000, 2)
    a = path.sample(z, torch.zeros(1000), generator=torch.Generator().manual_seed(0))
    b = path.sample(z, torch.zeros(1000), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.x_t, b.x_t)
    assert abs(float(a.x_t.std()) - 1.0) < 5 / math.sqrt(2000)


def test_a_drawn_source_sample_has_the_dtype_of_z():
    path = AffineGaussianPath(Cosine())
    z = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = torch.full((6,), 0.4, dtype=torch.float64)
    s = path.sample(z, t, generator=torch.Generator().manual_seed(1))
    assert s.x_0.dtype == torch.float64 and s.x_t.dtype == torch.float64
    c = Cosine()(t)
    torch.testing.assert_close(
        s.x_t, c.alpha_t[:, None] * z + c.sigma_t[:, None] * s.x_0, atol=1e-15, rtol=0
    )


def test_errors_name_what_was_wrong():
    with pytest.raises(TypeError, match="^schedule must be a AbstractSchedule, got str$"):
        AffineGaussianPath("condot")
    path = AffineGaussianPath(CondOT())
    z = torch.ones(2, 2, dtype=torch.float64)
    s = path.sample(
        z, torch.ones(2, dtype=torch.float64), x_0=torch.zeros(2, 2, dtype=torch.float64)
    )
    no_x0 = PathSample(x_t=s.x_t, t=s.t, z=z)
    message = r"^the conditional velocity at arbitrary x \(no x_0\) is singular where sigma_t = 0"
    with pytest.raises(ValueError, match=message):
        path.conditional_velocity(no_x0)


def test_path_samples_check_their_times_and_name_the_factor():
    x = torch.zeros(1, 2)
    for t, name in (
        (torch.tensor([1.5]), "t"),
        ({"a": torch.tensor([0.5]), "b": torch.tensor([-0.5])}, "t['b']"),
    ):
        with pytest.raises(
            ValueError, match=rf"^{re.escape(name)} must lie in \[0, 1\]; got values"
        ):
            PathSample(x_t=x, t=t, z=x)


def test_log_prob_of_a_single_point_is_the_gaussian_density():
    path = AffineGaussianPath(Cosine())
    x, z = (
        torch.tensor([[0.3, -0.2, 0.5]], dtype=torch.float64),
        torch.ones(1, 3, dtype=torch.float64),
    )
    t = torch.tensor([0.6], dtype=torch.float64)
    c = Cosine()(t)
    normal = torch.distributions.Normal(c.alpha_t * z, c.sigma_t)
    torch.testing.assert_close(
        path.log_prob(x, t, z), normal.log_prob(x).sum(1), atol=1e-14, rtol=0
    )


def test_time_derivative_of_the_log_density_for_a_single_point():
    path = AffineGaussianPath(Cosine())
    x, z = torch.tensor([[0.3, -0.2]], dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
    t = torch.tensor([0.6], dtype=torch.float64)
    auto = torch.func.jvp(lambda s: path.log_prob(x, s, z), (t,), (torch.ones_like(t),))[1]
    torch.testing.assert_close(path.d_log_prob_dt(x, t, z), auto, atol=1e-12, rtol=0)
