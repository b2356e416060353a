"""Validation at public entry points: clear errors, not silent NaNs."""

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, FlowGenerator, GeneratorMatchingLoss
from genmatch._checks import as_time


def test_as_time_broadcasts_and_converts():
    ref = torch.zeros(4, 2, dtype=torch.float64)
    assert as_time(0.5, 4, ref).tolist() == [0.5] * 4
    assert as_time(torch.tensor(0.25, dtype=torch.float64), 4, ref).shape == (4,)


@pytest.mark.parametrize(
    ("t", "error", "match"),
    [
        (1.01, ValueError, r"\[0, 1\]"),
        (-0.5, ValueError, r"\[0, 1\]"),
        (float("nan"), ValueError, r"\[0, 1\]"),
        (torch.tensor([0.1, float("nan"), 0.2, 0.3], dtype=torch.float64), ValueError, r"\[0, 1\]"),
        ("0.5", TypeError, "float or a tensor"),
        (True, TypeError, "float or a tensor"),
        (torch.zeros(4, dtype=torch.int64), TypeError, "floating"),
        (torch.zeros(4, device="meta", dtype=torch.float64), ValueError, "meta"),
        (torch.zeros(2, 2, dtype=torch.float64), ValueError, "shape"),
    ],
)
def test_as_time_rejects(t, error, match):
    with pytest.raises(error, match=match):
        as_time(t, 4, torch.zeros(4, 2, dtype=torch.float64))


def test_loss_rejects_mismatched_devices():
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())
    with pytest.raises(ValueError, match="meta"):
        loss_fn(
            lambda x, t: {"velocity": x}, torch.zeros(3, 2), x_0=torch.zeros(3, 2, device="meta")
        )


def test_loss_rejects_non_tensor_and_empty_batches():
    loss_fn = GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())
    with pytest.raises(TypeError, match="tensor"):
        loss_fn(lambda x, t: {"velocity": x}, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="non-empty"):
        loss_fn(lambda x, t: {"velocity": x}, torch.zeros(0, 2))
