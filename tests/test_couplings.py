import pytest
import torch

from genmatch import BlockOTCoupling, ExactOTCoupling, IndependentCoupling, SinkhornOTCoupling
from genmatch.data import checkerboard


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


def _is_permutation_of(pair, x_1, j):
    """``pair.x_1`` is ``x_1[j]`` with ``j`` a permutation: every data point used exactly once."""
    return torch.equal(pair.x_1, x_1[j]) and torch.equal(torch.sort(j).values, torch.arange(len(j)))


@pytest.mark.parametrize("n", [1, 2, 37, 64])
def test_block_ot_is_the_exact_plan_when_the_batch_fits_one_block(rng, n):
    x_0, x_1 = torch.randn(n, 2, generator=rng), checkerboard(n, generator=rng)
    block = BlockOTCoupling(block_size=64).pair(x_0, x_1)
    assert torch.equal(block.x_1, ExactOTCoupling().pair(x_0, x_1).x_1)


@pytest.mark.parametrize("block_size", [1, 2, 5, 16])
def test_block_ot_is_exact_in_one_dimension_at_any_block_size(rng, block_size):
    """Median cuts of sorted points keep the sorted matching, which is the 1-D optimum."""
    x_0, x_1 = torch.randn(203, 1, generator=rng), 3 * torch.rand(203, 1, generator=rng)
    pair = BlockOTCoupling(block_size=block_size).pair(x_0, x_1)
    assert torch.equal(pair.x_1, ExactOTCoupling().pair(x_0, x_1).x_1)
    assert torch.equal(pair.x_1[torch.argsort(x_0[:, 0])], torch.sort(x_1, dim=0).values)


@pytest.mark.parametrize(("n", "block_size"), [(1000, 16), (4096, 16), (333, 7), (50, 1)])
def test_block_ot_is_a_permutation(rng, n, block_size):
    x_0, x_1 = torch.randn(n, 2, generator=rng), checkerboard(n, generator=rng)
    coupling = BlockOTCoupling(block_size=block_size)
    j = coupling.assignment(x_0, x_1)
    pair = coupling.pair(x_0, x_1)
    assert pair.x_0 is x_0
    assert _is_permutation_of(pair, x_1, j)


@pytest.mark.parametrize(("block_size", "bound"), [(1, 1.08), (16, 1.06), (64, 1.05)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_ot_cost_is_within_its_stated_ratio_of_exact(seed, block_size, bound):
    """Gaussian → checkerboard, 1 024 points: measured ratios 1.064–1.079 (pure bisection),
    1.042–1.054 (blocks of 16), 1.032–1.043 (blocks of 64) over seeds 0–4; an independent
    pairing costs 3.4 times the optimum."""
    rng = torch.Generator().manual_seed(seed)
    x_1, x_0 = checkerboard(1024, generator=rng), torch.randn(1024, 2, generator=rng)
    exact = float(_cost(ExactOTCoupling().pair(x_0, x_1)))
    block = float(_cost(BlockOTCoupling(block_size=block_size).pair(x_0, x_1)))
    assert exact <= block < bound * exact


def test_block_ot_in_high_dimension_is_close_to_exact():
    """48-D points (power-iteration axes): blocks of 64 cost ≤ 1.03 × the optimum (measured
    1.028), against 1.20 × for the independent pairing."""
    rng = torch.Generator().manual_seed(0)
    x_0 = torch.randn(256, 3, 4, 4, generator=rng)
    x_1 = torch.randn(256, 3, 4, 4, generator=rng) * 0.5 + 1

    def cost(x):
        return float(((x_0 - x) ** 2).flatten(1).sum(1).mean())

    exact = cost(ExactOTCoupling().pair(x_0, x_1).x_1)
    block = BlockOTCoupling(block_size=64).pair(x_0, x_1)
    assert block.x_1.shape == x_1.shape
    assert exact <= cost(block.x_1) < 1.03 * exact < cost(x_1)


def test_block_ot_follows_dtype_and_survives_coincident_points(rng):
    x_0, x_1 = torch.randn(100, 2, generator=rng), checkerboard(100, generator=rng)
    c = BlockOTCoupling(block_size=8)
    pair = c.pair(x_0.double(), x_1.double())
    assert pair.x_1.dtype == torch.float64 and pair.x_1.device == x_1.device
    assert torch.equal(c.assignment(x_0.double(), x_1.double()), c.assignment(x_0, x_1))
    same = torch.ones(40, 2)
    j = c.assignment(same, same)
    assert torch.equal(torch.sort(j).values, torch.arange(40))


def test_block_ot_bad_input():
    with pytest.raises(ValueError, match="block_size"):
        BlockOTCoupling(block_size=0)
    with pytest.raises(ValueError, match="block_size"):
        BlockOTCoupling(block_size=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same shape"):
        BlockOTCoupling().pair(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(TypeError, match="dtype"):
        BlockOTCoupling().pair(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="empty"):
        BlockOTCoupling().pair(torch.zeros(0, 2), torch.zeros(0, 2))
    with pytest.raises(TypeError, match="tensor points"):
        BlockOTCoupling().pair({"a": torch.zeros(3, 2)}, torch.zeros(3, 2))  # type: ignore[arg-type]
