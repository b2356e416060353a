"""check_schedule passes on correct schedules and fails on each kind of broken one."""

import dataclasses

import pytest
import torch

from genmatch import CondOT, Cosine
from genmatch.paths.schedules import AbstractSchedule
from genmatch.testing import check_schedule

T = torch.linspace(0.01, 0.99, 41, dtype=torch.float64)


@dataclasses.dataclass(frozen=True)
class _Linear(AbstractSchedule):
    """``α_t = a t + b``, ``σ_t = 1 − t``, with a closed-form ``d_alpha`` that may be wrong."""

    slope: float = 1.0
    offset: float = 0.0
    claimed_slope: float = 1.0
    sigma_scale: float = 1.0

    def alpha(self, t):
        return self.slope * t + self.offset

    def sigma(self, t):
        return self.sigma_scale * (1 - t)

    def d_alpha(self, t):
        return torch.full_like(t, self.claimed_slope)

    def d_sigma(self, t):
        return torch.full_like(t, -self.sigma_scale)


@pytest.mark.parametrize("schedule", [CondOT(), Cosine(), _Linear()], ids=repr)
def test_passes_on_correct_schedules(schedule):
    check_schedule(schedule, T, rtol=1e-9, atol=1e-12)


def test_fails_on_a_wrong_derivative():
    check_schedule(_Linear(claimed_slope=1.0), T)
    with pytest.raises(AssertionError, match=r"_Linear\.d_alpha_t: closed form != autodiff"):
        check_schedule(_Linear(claimed_slope=1.001), T)


def test_fails_on_wrong_boundary_values_only_when_asked():
    shifted = _Linear(slope=0.9, offset=0.1, claimed_slope=0.9)  # α_0 = 0.1, α_1 = 1
    check_schedule(shifted, T, exact_boundary=False)
    with pytest.raises(AssertionError, match=r"boundary values α=\(0,1\), σ=\(1,0\) violated"):
        check_schedule(shifted, T)
    with pytest.raises(AssertionError, match="boundary values"):
        check_schedule(_Linear(sigma_scale=1.01), T)  # σ_0 = 1.01


def test_fails_on_a_negative_coefficient():
    with pytest.raises(AssertionError, match="must be >= 0"):
        check_schedule(_Linear(sigma_scale=-1.0), T, exact_boundary=False)
