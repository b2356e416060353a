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


def _sinkhorn_costs(reg, x_0, x_1, seeds=16):
    """Per-pair costs of ``seeds`` independent Sinkhorn pairings (partners drawn from the plan)."""
    pairs = [
        SinkhornOTCoupling(reg=reg).pair(x_0, x_1, generator=torch.Generator().manual_seed(s))
        for s in range(seeds)
    ]
    return torch.cat([((p.x_0 - p.x_1) ** 2).sum(1) for p in pairs])


def test_sinkhorn_interpolates_between_exact_and_independent_transport(rng):
    """Small ``reg``: the expected pairing cost is the exact OT cost; large ``reg``: the plan is
    uniform and the cost the mean over all pairs; in between, strictly between. Each mean is
    compared within 5 standard errors of its 16 × 128 draws (partners are drawn from the
    plan, so a single pairing can even cost less than the optimal permutation)."""
    x_0, x_1 = torch.randn(128, 2, generator=rng), torch.randn(128, 2, generator=rng) + 2
    exact = float(_cost(ExactOTCoupling().pair(x_0, x_1)))
    all_pairs = float((torch.cdist(x_0, x_1) ** 2).mean())
    assert all_pairs - exact > 3.0  # the two limits are far apart

    def mean_and_band(reg):
        c = _sinkhorn_costs(reg, x_0, x_1)
        return float(c.mean()), 5 * float(c.std()) / c.numel() ** 0.5

    sharp, band = mean_and_band(1e-3)
    assert abs(sharp - exact) < band
    flat, band_flat = mean_and_band(100.0)
    assert abs(flat - all_pairs) < band_flat
    middle, band_mid = mean_and_band(0.05)
    assert exact + band_mid < middle < all_pairs - band_mid


def test_dtype_and_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        ExactOTCoupling().pair(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(TypeError, match="dtype"):
        ExactOTCoupling().pair(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="reg"):
        SinkhornOTCoupling(reg=0.0)
