"""CategoricalSource: uniform, masked and arbitrary product categoricals on token sequences."""

import pytest
import torch

from genmatch.sources import CategoricalSource, UniformFiniteSource
from genmatch.spaces import DiscreteSpace

D = torch.float64


def test_uniform_never_draws_the_mask_and_masked_always_does(rng):
    space = DiscreteSpace(4, 3, mask=True)
    uniform = CategoricalSource.uniform(space).sample(2000, generator=rng)
    space.check(uniform)
    assert bool((uniform < 3).all())
    freq = torch.bincount(uniform.flatten(), minlength=4).to(D) / uniform.numel()
    assert bool(((freq[:3] - 1 / 3).abs() < 5 * (2 / 9 / uniform.numel()) ** 0.5).all())
    assert bool((CategoricalSource.masked(space).sample(5) == 3).all())


def test_product_source_log_prob_is_normalised_and_frequencies_match(rng):
    space = DiscreteSpace(2, 3)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]], dtype=D)
    source = CategoricalSource(space, probs)
    points = space.enumerate()
    mass = torch.exp(source.log_prob(points))
    assert abs(float(mass.sum()) - 1) < 1e-12
    assert abs(float(mass[space.index(torch.tensor([[0, 2]]))]) - 0.35) < 1e-12
    n = 40_000
    x = source.sample(n, generator=rng)
    emp = torch.bincount(space.index(x), minlength=9).to(D) / n
    assert bool(((emp - mass).abs() <= 5 * (mass * (1 - mass) / n).sqrt() + 1e-12).all())


@pytest.mark.parametrize(
    "probs",
    [
        torch.tensor([0.5, 0.6, -0.1]),  # negative
        torch.tensor([0.5, 0.6, 0.1]),  # does not sum to 1
        torch.tensor([0.5, 0.5]),  # wrong number of states
        torch.full((3, 3), 1 / 3),  # wrong number of positions
    ],
)
def test_bad_probabilities_raise(probs):
    with pytest.raises(ValueError):
        CategoricalSource(DiscreteSpace(2, 3), probs)


def test_bad_sample_size_raises():
    with pytest.raises(ValueError, match="positive integer"):
        CategoricalSource.uniform(DiscreteSpace(2, 3)).sample(0)


def test_uniform_finite_source():
    space = DiscreteSpace(2, 3, mask=True)
    src = UniformFiniteSource(space)
    x = src.sample(90_000, generator=torch.Generator().manual_seed(0))
    space.check(x)
    freq = torch.bincount(space.index(x), minlength=space.num_points) / 90_000
    assert float((freq - 1 / 16).abs().max()) < 0.005
    assert torch.allclose(src.log_prob(x[:3]).exp(), torch.full((3,), 1 / 16, dtype=torch.float64))
    with pytest.raises(TypeError, match="AbstractFiniteSpace"):
        UniformFiniteSource(object())
