"""DiscreteSpace: validation, enumeration and indexing."""

import pytest
import torch

from genmatch.spaces import DiscreteSpace
from genmatch.testing import check_state_space


@pytest.mark.parametrize("mask", [False, True])
def test_check_accepts_tokens_and_rejects_bad_batches(mask):
    space = DiscreteSpace(3, 4, mask=mask)
    top = space.num_states - 1
    check_state_space(
        space,
        torch.tensor([[0, 1, top], [top, 2, 0]]),
        [
            torch.tensor([[0, 1, top + 1]]),  # out of range above
            torch.tensor([[0, -1, 2]]),  # negative token
            torch.tensor([[0.0, 1.0, 2.0]]),  # float dtype
            torch.tensor([[0, 1, 2]], dtype=torch.int32),  # int32
            torch.tensor([[0, 1]]),  # wrong length
            torch.tensor([0, 1, 2]),  # no batch dimension
            [[0, 1, 2]],  # not a tensor
        ],
    )


def test_out_of_range_message_names_the_token():
    with pytest.raises(ValueError, match=r"outside \[0, 4\): found 7"):
        DiscreteSpace(2, 4).check(torch.tensor([[0, 7]]), "x")


def test_mask_token_and_counts():
    assert DiscreteSpace(2, 5).mask_token is None
    assert DiscreteSpace(2, 5).num_states == 5
    masked = DiscreteSpace(2, 5, mask=True)
    assert (masked.mask_token, masked.num_states, masked.event_shape) == (5, 6, (2,))


def test_enumerate_and_index_round_trip():
    space = DiscreteSpace(3, 2, mask=True)
    points = space.enumerate()
    assert points.shape == (27, 3) and points.dtype == torch.int64
    space.check(points)
    assert torch.equal(space.index(points), torch.arange(27))
    assert torch.unique(points, dim=0).shape[0] == 27
    assert torch.equal(points[5], torch.tensor([0, 1, 2]))  # 5 = 0·9 + 1·3 + 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"length": 0, "vocab_size": 3},
        {"length": 2, "vocab_size": 1},
        {"length": 2.0, "vocab_size": 3},
    ],
)
def test_bad_construction_raises(kwargs):
    with pytest.raises(ValueError):
        DiscreteSpace(**kwargs)


def test_too_large_to_enumerate():
    with pytest.raises(ValueError, match="too many"):
        DiscreteSpace(8, 16).enumerate()
