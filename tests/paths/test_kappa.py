"""Mixing schedules ``κ_t`` (GM eq. 9.2, 9.25): endpoints, closed-form derivatives against
autodiff, the jump intensity and its exact survival probability."""

import math

import pytest
import torch

from genmatch.paths import CosineKappa, LinearKappa, PolynomialKappa

F64 = torch.float64
KAPPAS = [
    LinearKappa(),
    PolynomialKappa(),
    PolynomialKappa(0.5),
    PolynomialKappa(3.0),
    CosineKappa(),
]
CLOSED = {
    "LinearKappa()": lambda t: t,
    "PolynomialKappa(n=2.0)": lambda t: t**2,
    "PolynomialKappa(n=0.5)": lambda t: t**0.5,
    "PolynomialKappa(n=3.0)": lambda t: t**3,
    "CosineKappa()": lambda t: 1 - torch.cos(math.pi * t / 2) ** 2,
}


@pytest.mark.parametrize("kappa", KAPPAS, ids=repr)
def test_values_endpoints_and_derivatives(kappa):
    t = torch.linspace(0.05, 0.95, 19, dtype=F64)
    torch.testing.assert_close(kappa.kappa(t), CLOSED[repr(kappa)](t), atol=1e-14, rtol=0)
    ends = kappa.kappa(torch.tensor([0.0, 1.0], dtype=F64))
    torch.testing.assert_close(ends, torch.tensor([0.0, 1.0], dtype=F64), atol=1e-15, rtol=0)
    assert bool((kappa.kappa(t).diff() > 0).all())
    torch.testing.assert_close(kappa.d_kappa(t), kappa.autodiff_d_kappa(t), atol=1e-12, rtol=0)
    h = 1e-6  # the autodiff derivative is the derivative (central difference, O(h²))
    fd = (kappa.kappa(t + h) - kappa.kappa(t - h)) / (2 * h)
    torch.testing.assert_close(kappa.autodiff_d_kappa(t), fd, atol=1e-8, rtol=0)


@pytest.mark.parametrize("kappa", KAPPAS, ids=repr)
def test_intensity_and_exact_survival(kappa):
    """``λ_t = κ̇_t/(1 − κ_t)`` and ``exp(−∫_t^s λ) = (1 − κ_s)/(1 − κ_t)`` (Simpson's rule)."""
    t = torch.tensor([0.1, 0.3, 0.6], dtype=F64)
    torch.testing.assert_close(
        kappa.intensity(t), kappa.d_kappa(t) / (1 - kappa.kappa(t)), atol=0, rtol=0
    )
    s = t + 0.25
    n = 2000
    grid = t[:, None] + (s - t)[:, None] * torch.linspace(0, 1, n + 1, dtype=F64)
    w = torch.ones(n + 1, dtype=F64)
    w[1:-1:2], w[2:-1:2] = 4, 2
    integral = (kappa.intensity(grid) * w).sum(1) * (s - t) / (3 * n)
    torch.testing.assert_close(kappa.survival(t, s), torch.exp(-integral), atol=1e-10, rtol=0)
    assert float(kappa.survival(t, torch.ones(3, dtype=F64)).abs().max()) == 0.0
    assert bool(torch.isinf(kappa.intensity(torch.ones(1, dtype=F64))).all())


def test_the_default_derivative_is_autodiff():
    from dataclasses import dataclass

    from genmatch.paths.kappa import AbstractKappaSchedule

    @dataclass(frozen=True)
    class Cubic(AbstractKappaSchedule):
        def kappa(self, t):
            return t**3

    t = torch.tensor([0.2, 0.5, 0.9], dtype=F64)
    torch.testing.assert_close(Cubic().d_kappa(t), 3 * t**2, atol=1e-14, rtol=0)


def test_polynomial_exponent_must_be_positive():
    for n in (0.0, -1.0):
        with pytest.raises(ValueError, match=f"^PolynomialKappa exponent n must be > 0, got {n}$"):
            PolynomialKappa(n)
    assert PolynomialKappa(1e-3).n == 1e-3
