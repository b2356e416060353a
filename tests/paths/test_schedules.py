import pytest
import torch

from genmatch import VE, CondOT, Cosine, Polynomial, VPLinear
from genmatch.paths.schedules import AbstractSchedule
from genmatch.testing import check_schedule

EXACT = [CondOT(), Polynomial(2.0), Polynomial(0.5), Polynomial(3.0), Cosine()]
ALL = [*EXACT, VPLinear(), VPLinear(0.5, 10.0), VE(), VE(0.1, 10.0)]


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_closed_form_derivatives_match_autodiff(schedule):
    t = torch.linspace(0.01, 0.99, 41, dtype=torch.float64)
    check_schedule(schedule, t, exact_boundary=schedule in EXACT, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("schedule", EXACT, ids=repr)
def test_exact_boundary_values(schedule):
    s = schedule(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert s.alpha_t.tolist() == [0.0, 1.0]
    assert s.sigma_t.tolist() == [1.0, 0.0]


def test_vp_boundaries_and_variance_preservation():
    vp = VPLinear(0.1, 20.0)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    s = vp(t)
    torch.testing.assert_close(s.alpha_t**2 + s.sigma_t**2, torch.ones_like(t))
    assert s.alpha_t[-1] == 1.0 and s.sigma_t[-1] == 0.0
    # alpha_0 = exp(-T(1)/2), T(1) = beta_min + (beta_max - beta_min)/2
    torch.testing.assert_close(
        s.alpha_t[0], torch.exp(torch.tensor(-0.5 * (0.1 + 9.95), dtype=torch.float64))
    )


def test_ve_boundaries():
    s = VE(0.01, 50.0)(torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(s.sigma_t, torch.tensor([50.0, 0.01], dtype=torch.float64))
    assert s.alpha_t.tolist() == [1.0, 1.0]


def test_cosine_is_variance_preserving():
    t = torch.rand(100, dtype=torch.float64)
    s = Cosine()(t)
    torch.testing.assert_close(s.alpha_t**2 + s.sigma_t**2, torch.ones_like(t))


@pytest.mark.parametrize(
    "bad", [lambda: Polynomial(0.0), lambda: VPLinear(5.0, 1.0), lambda: VE(1.0, 0.5)]
)
def test_invalid_parameters_raise(bad):
    with pytest.raises(ValueError):
        bad()


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_autodiff_returns_the_schedule_values(schedule):
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    closed, auto = schedule(t), schedule.autodiff(t)
    torch.testing.assert_close(auto.alpha_t, closed.alpha_t, rtol=0, atol=0)
    torch.testing.assert_close(auto.sigma_t, closed.sigma_t, rtol=0, atol=0)


def test_parameter_ranges_at_their_boundaries():
    """Each documented range is accepted up to its boundary and rejected past it."""
    Polynomial(0.5)  # any n > 0
    with pytest.raises(ValueError, match="Polynomial exponent n must be > 0, got 0"):
        Polynomial(0.0)
    VPLinear(0.0, 20.0)  # beta_min = 0 is allowed
    VPLinear(3.0, 3.0)  # a constant beta
    VPLinear(0.1, 0.5)  # beta_max in (0, 1]
    for beta_min, beta_max in [(-0.1, 20.0), (5.0, 4.0), (0.0, 0.0)]:
        with pytest.raises(ValueError, match=r"need 0 <= beta_min <= beta_max, beta_max > 0"):
            VPLinear(beta_min, beta_max)
    VE(1e-3, 1e-2)
    for sigma_min, sigma_max in [(0.0, 50.0), (2.0, 2.0), (-1.0, 3.0)]:
        with pytest.raises(ValueError, match=r"need 0 < sigma_min < sigma_max"):
            VE(sigma_min, sigma_max)


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_per_quantity_methods_equal_the_fused_call(schedule):
    """``alpha``, ``sigma``, ``d_alpha``, ``d_sigma`` agree with ``__call__`` (which VP fuses)."""
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    out = schedule(t)
    for name in ("alpha", "sigma", "d_alpha", "d_sigma"):
        torch.testing.assert_close(getattr(schedule, name)(t), getattr(out, f"{name}_t"))


def test_the_autodiff_default_derivatives():
    """A schedule giving only ``α`` and ``σ`` gets exact derivatives by autodiff."""

    class Quadratic(AbstractSchedule):
        def alpha(self, t):
            return t**2

        def sigma(self, t):
            return 1 - t**3

    t = torch.linspace(0.1, 0.9, 5, dtype=torch.float64)
    torch.testing.assert_close(Quadratic().d_alpha(t), 2 * t)
    torch.testing.assert_close(Quadratic().d_sigma(t), -3 * t**2)
