"""The Fréchet distance of Gaussian fits against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from genmatch.metrics import frechet_distance, gaussian_frechet_distance

F64 = torch.float64


def test_one_dimensional_samples_by_hand():
    x = torch.tensor([[0.0], [2.0]], dtype=F64)  # mean 1, unbiased variance 2
    y = torch.tensor([[1.0], [5.0]], dtype=F64)  # mean 3, unbiased variance 8
    # (1 - 3)^2 + (sqrt 2 - sqrt 8)^2 = 4 + 2
    assert float(frechet_distance(x, y)) == pytest.approx(6.0, abs=1e-12)


def test_diagonal_covariances_by_hand():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]], dtype=F64)
    y = 3 * x + torch.tensor([1.0, -1.0], dtype=F64)
    # means (1, 1) and (4, 2); covariances (4/3) I and 12 I
    expected = 10 + 2 * (4 / 3 + 12 - 2 * math.sqrt(4 / 3 * 12))
    assert float(frechet_distance(x, y)) == pytest.approx(expected, abs=1e-12)
    assert float(frechet_distance(y, x)) == pytest.approx(expected, abs=1e-12)
    assert float(frechet_distance(x, x)) == pytest.approx(0.0, abs=1e-12)


def test_non_commuting_covariances_by_hand():
    # M = Σx^½ Σy Σx^½ = [[8, 2], [2, 2]]; tr M^½ = sqrt(tr M + 2 sqrt(det M)) for 2 x 2
    sx = torch.tensor([[4.0, 0.0], [0.0, 1.0]], dtype=F64)
    sy = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=F64)
    mx, my = torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 2.0], dtype=F64)
    expected = 5 + (5 + 4 - 2 * math.sqrt(10 + 2 * math.sqrt(12)))
    assert float(gaussian_frechet_distance(mx, sx, my, sy)) == pytest.approx(expected, abs=1e-12)
    assert float(gaussian_frechet_distance(my, sy, mx, sx)) == pytest.approx(expected, abs=1e-12)


def test_singular_covariance_and_float32():
    # a rank-one covariance against the identity: tr(Σ + I - 2 (Σ)^½) with Σ = diag(4, 0)
    sx = torch.tensor([[4.0, 0.0], [0.0, 0.0]])
    value = gaussian_frechet_distance(torch.zeros(2), sx, torch.zeros(2), torch.eye(2))
    assert value.dtype == torch.float32
    assert float(value) == pytest.approx(4 + 2 - 2 * (2 + 0), abs=1e-6)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="at least 2 points"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\(d, d\)"):
        gaussian_frechet_distance(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="non-finite"):
        gaussian_frechet_distance(
            torch.zeros(2), torch.eye(2) * float("nan"), torch.zeros(2), torch.eye(2)
        )
