"""check_bregman_divergence passes on correct divergences and fails on broken ones."""

import pytest
import torch

from genmatch import SquaredEuclidean
from genmatch.divergences.base import AbstractBregmanDivergence, _sum_event
from genmatch.testing import check_bregman_divergence

G = torch.Generator().manual_seed(3)
A = torch.randn(32, 4, dtype=torch.float64, generator=G)
B = torch.randn(32, 4, dtype=torch.float64, generator=G)


class _WrongClosedForm(AbstractBregmanDivergence):
    """``Φ = |a|²`` with a closed form off by ``scale`` (the generic form is right)."""

    def __init__(self, scale=1.0, shift=0.0, keepdim=False):
        self.scale, self.shift, self.keepdim = scale, shift, keepdim

    def phi(self, a):
        return _sum_event(a**2)

    def __call__(self, a, b):
        d = self.scale * _sum_event((a - b) ** 2) + self.shift
        return d[:, None] if self.keepdim else d


def test_passes_on_the_correct_closed_form():
    d = check_bregman_divergence(SquaredEuclidean(), A, B)
    torch.testing.assert_close(d, ((A - B) ** 2).sum(1))
    check_bregman_divergence(_WrongClosedForm(), A, B)


def test_fails_on_a_wrong_closed_form():
    with pytest.raises(AssertionError, match="closed form and generic Bregman form differ"):
        check_bregman_divergence(_WrongClosedForm(scale=1.01), A, B)


def test_fails_when_d_of_a_point_with_itself_is_not_zero():
    with pytest.raises(AssertionError, match=r"D\(a, a\) must be 0"):
        check_bregman_divergence(_WrongClosedForm(shift=1e-3), A, B)


def test_fails_on_a_non_positive_divergence():
    with pytest.raises(AssertionError, match=r"D\(a, b\) must be > 0"):
        check_bregman_divergence(_WrongClosedForm(scale=-1.0), A, B)


def test_fails_on_a_wrong_shape():
    with pytest.raises(AssertionError, match=r"must return \(batch,\), got \(32, 1\)"):
        check_bregman_divergence(_WrongClosedForm(keepdim=True), A, B)


def test_the_default_call_is_the_generic_bregman_form():
    """A divergence giving only its potential gets ``D`` by autograd; with ``Φ = |a|²`` that is
    the squared distance, and the checker accepts it."""

    class Potential(AbstractBregmanDivergence):
        def phi(self, a):
            return _sum_event(a**2)

    d = check_bregman_divergence(Potential(), A, B)
    torch.testing.assert_close(d, ((A - B) ** 2).sum(1))
