"""ELBO and exact log-likelihood of CTMC models on an enumerable space."""

import pytest
import torch

from genmatch import ExactMarginal, GeneratorMatchingLoss
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


class _RateNet(torch.nn.Module):
    """A tiny rate-head network: a per-(point, position, token) table plus a time slope."""

    def __init__(self, space, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.space = space
        shape = (space.num_points, space.length, space.num_states)
        self.table = torch.nn.Parameter(torch.randn(shape, generator=g))
        self.slope = torch.nn.Parameter(torch.randn(shape[1:], generator=g))

    def forward(self, x, t):
        return {"rate": self.table[self.space.index(x)] + t[:, None, None] * self.slope}


def test_elbo_is_the_negative_rate_loss_and_has_gradients():
    """The module's claim, checked draw for draw: with the same random numbers, the ELBO of a
    rate-head model is minus the per-sequence mean of the generator-matching loss (generalized
    KL on rates) at the ELBO's stratified times; and the ELBO of a posterior-head model is the
    ELBO of the rate model with the rates ``λ_t p^i(y|x)`` it defines."""
    space, source = SETUPS["masked"]
    kappa = LinearKappa()
    path = FactorizedMixturePath(space, source, kappa)
    rate_gen = CTMCGenerator(space, kappa, head=CTMCHead.RATE)
    net = _RateNet(space, 0)
    x_1 = space.enumerate()[[0, 4, 5]]
    k, b = 8, x_1.shape[0]
    value = elbo(net, rate_gen, path, x_1, num_times=k, rng=torch.Generator().manual_seed(3))
    # the same draws by hand: stratified times, then the loss at those times
    rng = torch.Generator().manual_seed(3)
    u = torch.rand(k, b, generator=rng)
    times = ((torch.arange(k)[:, None] + u) / k).clamp(max=1 - 1e-4).reshape(-1)
    loss = GeneratorMatchingLoss(path, rate_gen)
    per_sample = loss.terms(net, x_1.repeat(k, 1), t=times, generator=rng).per_sample
    torch.testing.assert_close(value, -per_sample.reshape(k, b).mean(0), rtol=1e-12, atol=0)
    assert float(value.detach().max()) < 0
    value.sum().backward()
    assert net.table.grad is not None and float(net.table.grad.abs().max()) > 0
    # posterior head: the same bound as the rate model with its rates
    logits = torch.randn(space.length, space.num_states, generator=torch.Generator().manual_seed(1))
    logits.requires_grad_(True)
    post_gen = CTMCGenerator(space, kappa)

    def posterior(x, t):
        return PosteriorValue(logits.expand(x.shape[0], -1, -1).softmax(-1), kappa.intensity(t))

    def as_rates(x, t):
        return post_gen.rates(posterior(x, t), x)

    a = elbo(posterior, post_gen, path, x_1, num_times=k, rng=torch.Generator().manual_seed(4))
    r = elbo(as_rates, rate_gen, path, x_1, num_times=k, rng=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, r, rtol=1e-12, atol=0)
    a.sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().max()) > 0
    with pytest.raises(ValueError, match="num_times"):
        elbo(posterior, rate_gen, path, space.enumerate()[[0]], num_times=0)
    # the default is 16 stratified times
    d16 = elbo(net, rate_gen, path, x_1, rng=torch.Generator().manual_seed(5))
    e16 = elbo(net, rate_gen, path, x_1, num_times=16, rng=torch.Generator().manual_seed(5))
    assert torch.equal(d16, e16)
    with pytest.raises(ValueError, match="^x_1 has tokens outside"):
        elbo(net, rate_gen, path, torch.full((1, space.length), 99))


def test_pinning_unmasked_tokens_makes_the_masked_elbo_tight():
    """Masked source, one position, a posterior ``p`` that ignores ``x``: the exact terminal law
    is ``p``; pinned to ``δ_{x}`` on unmasked tokens (the default) the ELBO is ``log p(z)``
    (its integrand is ``κ̇ log 1/p(z)``), unpinned the model leaves unmasked tokens and the
    bound is loose."""
    space = DiscreteSpace(1, 2, mask=True)
    path = FactorizedMixturePath(space, CategoricalSource.masked(space), LinearKappa())
    logits = torch.log(torch.tensor([[0.75, 0.25, 0.0]]))
    x = torch.tensor([[0], [1]])
    truth = torch.log(torch.tensor([0.75, 0.25]))
    bounds = {}
    for pinned in (False, True):
        gen = CTMCGenerator(space, LinearKappa(), pin=pinned)

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
