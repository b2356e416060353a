import pytest
import torch

from genmatch import VE, CondOT, Cosine, Polynomial, VPLinear
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
