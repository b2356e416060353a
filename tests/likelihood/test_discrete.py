"""ELBO and exact log-likelihood of CTMC models on an enumerable space."""

import pytest
import torch

from genmatch import ExactMarginal
from genmatch.generators import CTMCGenerator, CTMCHead, PosteriorValue
from genmatch.likelihood import elbo, exact_log_prob
from genmatch.paths import CosineKappa, FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

D = torch.float64
UNIFORM = DiscreteSpace(2, 3)
MASKED = DiscreteSpace(2, 2, mask=True)
SETUPS = {
    "uniform": (UNIFORM, CategoricalSource.uniform(UNIFORM)),
    "masked": (MASKED, CategoricalSource.masked(MASKED)),
}


@pytest.fixture(autouse=True)
def _float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _data(space):
    points = space.enumerate()
    return points, points[[1, 3, 3, 5, 7]]


@pytest.mark.parametrize("setup", list(SETUPS))
def test_exact_log_prob_of_the_oracle_is_the_data_distribution(setup):
    space, source = SETUPS[setup]
    kappa = LinearKappa()
    path = FactorizedMixturePath(space, source, kappa)
    gen = CTMCGenerator(space, kappa)
    points, data = _data(space)
    oracle = ExactMarginal(path, gen, data, t_max=1.0)
    logp = exact_log_prob(oracle, gen, path, data[:3], steps=100)
    truth = torch.log(torch.tensor([1 / 5, 2 / 5, 2 / 5]))
    torch.testing.assert_close(logp, truth, atol=2e-3, rtol=0)


def _random_model(space, kappa, seed):
    rng = torch.Generator().manual_seed(seed)
    table = torch.randn(
        space.num_states**space.length, space.length, space.num_states, generator=rng
    )
    slope = torch.randn(space.length, space.num_states, generator=rng)

    def field(x, t):
        logits = table[space.index(x)] + 3 * t[:, None, None] * slope
        return PosteriorValue(logits.softmax(-1), kappa.intensity(t))

    return field


@pytest.mark.parametrize("setup", list(SETUPS))
def test_elbo_is_below_the_exact_log_likelihood(setup):
    space, source = SETUPS[setup]
    kappa = CosineKappa()
    path = FactorizedMixturePath(space, source, kappa)
    gen = CTMCGenerator(space, kappa)
    points, data = _data(space)
    models = {
        "random": _random_model(space, kappa, 0),
        "oracle": ExactMarginal(path, gen, data, t_max=1.0),
    }
    x = points[[1, 3, 5, 7]]
    for name, field in models.items():
        exact = exact_log_prob(field, gen, path, x, steps=100)
        draws = torch.stack(
            [
                elbo(field, gen, path, x, num_times=64, rng=torch.Generator().manual_seed(s))
                for s in range(40)
            ]
        )
        mean, se = draws.mean(0), draws.std(0) / 40**0.5
        assert bool((mean <= exact + 4 * se + 1e-3).all()), (name, mean, exact, se)
        assert bool(torch.isfinite(mean).all())


def test_elbo_has_gradients_and_matches_the_rate_loss():
    space, source = SETUPS["masked"]
    kappa = LinearKappa()
    path = FactorizedMixturePath(space, source, kappa)
    logits = torch.zeros(space.length, space.num_states, requires_grad=True)

    def field(x, t):
        return PosteriorValue(logits.expand(x.shape[0], -1, -1).softmax(-1), kappa.intensity(t))

    value = elbo(field, CTMCGenerator(space, kappa), path, space.enumerate()[[0, 4]], num_times=8)
    value.sum().backward()
    assert logits.grad is not None and bool(torch.isfinite(logits.grad).all())
    rate_gen = CTMCGenerator(space, kappa, head=CTMCHead.RATE)
    with pytest.raises(ValueError, match="num_times"):
        elbo(field, rate_gen, path, space.enumerate()[[0]], num_times=0)


def test_pinning_unmasked_tokens_makes_the_masked_elbo_tight():
    """Masked source, one position, a posterior ``p`` that ignores ``x``: the exact terminal law
    is ``p``; pinned to ``δ_{x}`` on unmasked tokens (``source=``) the ELBO is ``log p(z)``
    (its integrand is ``κ̇ log 1/p(z)``), unpinned the model leaves unmasked tokens and the
    bound is loose."""
    space = DiscreteSpace(1, 2, mask=True)
    path = FactorizedMixturePath(space, CategoricalSource.masked(space), LinearKappa())
    logits = torch.log(torch.tensor([[0.75, 0.25, 0.0]]))
    x = torch.tensor([[0], [1]])
    truth = torch.log(torch.tensor([0.75, 0.25]))
    bounds = {}
    for pinned in (False, True):
        gen = CTMCGenerator(space, LinearKappa(), source=path.source if pinned else None)

        def field(y, t, gen=gen):
            return gen.constrain({"logits": logits.expand(len(y), 1, 3)}, y, t)

        assert torch.allclose(exact_log_prob(field, gen, path, x), truth, atol=1e-6)
        rates = gen.rates(field(x, torch.full((2,), 0.5)), x)
        assert bool((rates == 0).all()) == pinned  # pinned: unmasked tokens never move
        rng = torch.Generator().manual_seed(0)
        bounds[pinned] = elbo(field, gen, path, x, num_times=4096, rng=rng)
    # standard errors ≈ log(1/p) (ln(1e4)/4096)^½: 0.013 and 0.06; the unpinned bound is > 1 lower
    assert bool(((bounds[True] - truth).abs() < 0.25 * truth.abs()).all())
    assert bool((bounds[False] < truth - 1.0).all())
