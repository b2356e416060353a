import pytest
import torch

from genmatch import ExactOTCoupling, IndependentCoupling, SinkhornOTCoupling


def _cost(pair):
    return ((pair.x_0 - pair.x_1) ** 2).sum(1).mean()


def test_independent_keeps_pairs(rng):
    x_0, x_1 = torch.randn(10, 2, generator=rng), torch.randn(10, 2, generator=rng)
    pair = IndependentCoupling().pair(x_0, x_1)
    assert pair.x_0 is x_0 and pair.x_1 is x_1


def test_exact_ot_is_an_optimal_permutation(rng):
    x_0, x_1 = torch.randn(7, 2, generator=rng), torch.randn(7, 2, generator=rng) + 1
    pair = ExactOTCoupling().pair(x_0, x_1, generator=rng)
    # a permutation of x_1: every data point used exactly once
    idx = torch.cdist(pair.x_1, x_1).argmin(1)
    assert sorted(idx.tolist()) == list(range(7))
    # optimal: no permutation of 7 elements does better (brute force)
    import itertools

    cost = torch.cdist(x_0, x_1) ** 2
    best = min(float(cost[range(7), list(p)].mean()) for p in itertools.permutations(range(7)))
    assert float(_cost(pair)) == pytest.approx(best, rel=1e-5)


def test_sinkhorn_lowers_transport_cost_and_approaches_exact(rng):
    x_0, x_1 = torch.randn(128, 2, generator=rng), torch.randn(128, 2, generator=rng) + 2
    indep = float(_cost(IndependentCoupling().pair(x_0, x_1)))
    exact = float(_cost(ExactOTCoupling().pair(x_0, x_1)))
    sink = float(_cost(SinkhornOTCoupling(reg=0.01).pair(x_0, x_1, generator=rng)))
    assert exact < sink < indep


def test_dtype_and_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        ExactOTCoupling().pair(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(TypeError, match="dtype"):
        ExactOTCoupling().pair(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="reg"):
        SinkhornOTCoupling(reg=0.0)
