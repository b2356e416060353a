import pytest
import torch

from genmatch import EuclideanSpace, GaussianSource, set_value_checks, value_checks
from genmatch.testing import check_state_space


def test_contract():
    space = EuclideanSpace((3, 4))
    check_state_space(
        space,
        torch.zeros(2, 3, 4),
        [
            torch.zeros(2, 4, 3),
            torch.zeros(2, 12),
            torch.zeros(2, 3, 4, dtype=torch.int64),
            torch.full((2, 3, 4), float("inf")),
            [[0.0]],
        ],
    )
    assert space.dim == 12


def test_invalid_event_shape():
    with pytest.raises(ValueError, match="positive"):
        EuclideanSpace((2, 0))
    with pytest.raises(ValueError, match="positive"):
        EuclideanSpace(())


def test_value_checks_can_be_disabled():
    space = EuclideanSpace(2)
    bad = torch.full((2, 2), float("nan"))
    with value_checks(False):
        space.check(bad)  # shape and dtype still checked; values skipped
        with pytest.raises(ValueError, match="shape"):
            space.check(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        space.check(bad)
    set_value_checks(True)


def test_where_selects_rows():
    space = EuclideanSpace((2, 2))
    a, b = torch.zeros(3, 2, 2), torch.ones(3, 2, 2)
    out = space.where(torch.tensor([True, False, True]), a, b)
    assert out[:, 0, 0].tolist() == [0.0, 1.0, 0.0]


def test_gaussian_source(rng):
    source = GaussianSource(EuclideanSpace(3), std=2.0)
    x = source.sample(20000, generator=rng, dtype=torch.float64)
    assert x.shape == (20000, 3) and x.dtype == torch.float64
    assert abs(float(x.std()) - 2.0) < 0.05
    with pytest.raises(ValueError, match="positive"):
        source.sample(0)
