"""Superposition weight schedules: exact rows, dtypes, the simplex check's boundaries and messages.

Checks :func:`~genmatch.compose.weights.check_simplex` (zero weights allowed, a sum off by more
than ``1e-9`` rejected, empty or non-finite rows rejected, the exact error text) and the rows of
:class:`ConstantWeights`, :class:`LinearWeights` and :class:`SwitchWeights` in float64.
"""

import re

import pytest
import torch

from genmatch.compose import ConstantWeights, LinearWeights, SwitchWeights
from genmatch.compose.weights import check_simplex

D = torch.float64


def test_check_simplex_accepts_zeros_and_rounding_but_not_more():
    check_simplex((0.0, 1.0), "w")  # a zero weight is allowed
    check_simplex((0.5, 0.5 + 5e-10), "w")  # within 1e-9 of a unit sum
    with pytest.raises(ValueError, match=re.escape("w must be >= 0 and sum to 1, got (0.5, 0.5")):
        check_simplex((0.5, 0.5 + 3e-9), "w")
    with pytest.raises(ValueError, match=re.escape("w must be >= 0 and sum to 1, got (0.5, 1.5)")):
        check_simplex((0.5, 1.5), "w")
    with pytest.raises(ValueError, match=re.escape("w must be >= 0 and sum to 1, got (-0.5, 1.5)")):
        check_simplex((-0.5, 1.5), "w")
    with pytest.raises(ValueError, match=re.escape("w must be >= 0 and sum to 1, got ()")):
        check_simplex((), "w")
    with pytest.raises(ValueError, match=re.escape("w must be >= 0 and sum to 1, got (inf, 1.0)")):
        check_simplex((float("inf"), 1.0), "w")
    with pytest.raises(ValueError, match=re.escape("got (-inf, 1.0)")):
        check_simplex((float("-inf"), 1.0), "w")


def test_constant_weights_rows_have_the_times_dtype_and_batch():
    w = ConstantWeights((0.25, 0.0, 0.75))(torch.tensor([0.1, 0.5, 0.9, 1.0], dtype=D))
    assert w.dtype == D and w.shape == (4, 3)
    torch.testing.assert_close(w, torch.tensor([[0.25, 0.0, 0.75]] * 4, dtype=D), rtol=0, atol=0)
    with pytest.raises(
        ValueError, match=re.escape("weights must be >= 0 and sum to 1, got (0.5,)")
    ):
        ConstantWeights((0.5,))


def test_linear_weights_are_the_interpolation_in_float64():
    t = torch.tensor([0.0, 0.1, 0.6, 1.0], dtype=D)
    w = LinearWeights((0.2, 0.8), (0.9, 0.1))(t)
    assert w.dtype == D
    expected = torch.stack([0.2 + 0.7 * t, 0.8 - 0.7 * t], 1)
    torch.testing.assert_close(w, expected, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=re.escape("start must be >= 0 and sum to 1, got (0.2,)")):
        LinearWeights((0.2,), (1.0,))
    with pytest.raises(ValueError, match=re.escape("end must be >= 0 and sum to 1, got (0.2,)")):
        LinearWeights((1.0,), (0.2,))
    with pytest.raises(ValueError, match=re.escape("start has 2 weights, end 3")):
        LinearWeights((0.5, 0.5), (0.2, 0.3, 0.5))


def test_switch_weights_switch_exactly_at_the_switch_time():
    t = torch.tensor([0.0, 0.3, 0.3 + 1e-12, 1.0], dtype=D)
    w = SwitchWeights((0.0, 1.0), (0.6, 0.4), at=0.3)(t)
    assert w.dtype == D
    expected = torch.tensor([[0.0, 1.0], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4]], dtype=D)
    torch.testing.assert_close(w, expected, rtol=0, atol=0)
    w = SwitchWeights((0.0, 1.0), (0.6, 0.4), at=0.3)(torch.tensor([0.3 - 1e-12], dtype=D))
    torch.testing.assert_close(w, torch.tensor([[0.0, 1.0]], dtype=D), rtol=0, atol=0)
    # the ends of [0, 1] and an integer switch time are valid
    at_one = SwitchWeights((0.0, 1.0), (1.0, 0.0), at=1)(torch.tensor([0.999, 1.0], dtype=D))
    torch.testing.assert_close(at_one, torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=D))
    at_zero = SwitchWeights((0.0, 1.0), (1.0, 0.0), at=0.0)(torch.tensor([0.0], dtype=D))
    torch.testing.assert_close(at_zero, torch.tensor([[1.0, 0.0]], dtype=D))


def test_switch_weights_reject_bad_arguments_with_their_messages():
    with pytest.raises(ValueError, match=re.escape("before must be >= 0 and sum to 1, got (0.2,)")):
        SwitchWeights((0.2,), (1.0,), at=0.5)
    with pytest.raises(ValueError, match=re.escape("after must be >= 0 and sum to 1, got (0.2,)")):
        SwitchWeights((1.0,), (0.2,), at=0.5)
    with pytest.raises(ValueError, match=re.escape("before has 1 weights, after 2")):
        SwitchWeights((1.0,), (0.5, 0.5), at=0.5)
    with pytest.raises(TypeError, match=re.escape("at must be a float, got True")):
        SwitchWeights((0.0, 1.0), (1.0, 0.0), at=True)
    with pytest.raises(TypeError, match=re.escape("at must be a float, got '0.5'")):
        SwitchWeights((0.0, 1.0), (1.0, 0.0), at="0.5")
    with pytest.raises(ValueError, match=re.escape("at must be in [0, 1], got -0.25")):
        SwitchWeights((0.0, 1.0), (1.0, 0.0), at=-0.25)
    with pytest.raises(ValueError, match=re.escape("at must be in [0, 1], got 1.25")):
        SwitchWeights((0.0, 1.0), (1.0, 0.0), at=1.25)
