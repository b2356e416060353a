"""Factorized CTMCs: contract, exact Kolmogorov forward equation, conversions, sampling."""

import pytest
import torch

from genmatch import ExactMarginal, simulate
from genmatch.generators import (
    CTMCGenerator,
    CTMCHead,
    JumpMethod,
    PosteriorValue,
    posterior_to_rates,
    rates_to_posterior,
)
from genmatch.generators.ctmc import jump_from_rates
from genmatch.paths import CosineKappa, FactorizedMixturePath, LinearKappa, PolynomialKappa
from genmatch.paths.base import PathSample
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace
from genmatch.testing import check_rate_matrix, ctmc_generator_matrix

D = torch.float64
UNIFORM = DiscreteSpace(2, 3)
MASKED = DiscreteSpace(2, 2, mask=True)
SOURCES = {
    "uniform": (UNIFORM, CategoricalSource.uniform(UNIFORM)),
    "masked": (MASKED, CategoricalSource.masked(MASKED)),
    "product": (
        UNIFORM,
        CategoricalSource(UNIFORM, torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])),
    ),
}
KAPPAS = [LinearKappa(), PolynomialKappa(2.0), CosineKappa()]


def _prob(path, points, s, z):
    """``p_{t|Z}(x|z)`` at every point (a product over positions; no log, so zeros are fine)."""
    n = points.shape[0]
    per_position = path.probs(z.expand(n, -1), s.expand(n)).gather(2, points[..., None])
    return per_position[..., 0].prod(1)


def _conditional_matrix(space, path, gen, z, t):
    points = space.enumerate()
    n = points.shape[0]
    sample = PathSample(x_t=points, t=torch.full((n,), t, dtype=D), z=z.expand(n, -1))
    return ctmc_generator_matrix(space, gen.rates(gen.conditional_target(path, sample), points))


@pytest.mark.parametrize("head", list(CTMCHead), ids=lambda h: h.value)
@pytest.mark.parametrize("kappa", KAPPAS, ids=repr)
@pytest.mark.parametrize("source", list(SOURCES))
def test_conditional_ctmc_solves_the_kolmogorov_forward_equation(source, kappa, head):
    """``d/dt p_t(·|z) = p_t(·|z) Q_t(z)`` exactly, on the enumerated space, float64."""
    space, src = SOURCES[source]
    path = FactorizedMixturePath(space, src, kappa)
    gen = CTMCGenerator(space, kappa, head=head)
    points = space.enumerate()
    for z in points[[0, 4, points.shape[0] - 1]]:
        for t in (0.1, 0.45, 0.8):
            q = _conditional_matrix(space, path, gen, z[None], t)
            check_rate_matrix(q)

            def p_of(s):
                return _prob(path, points, s, z)

            tt = torch.tensor([t], dtype=D)
            p, dp = torch.func.jvp(p_of, (tt,), (torch.ones_like(tt),))
            torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=D))
            torch.testing.assert_close(dp, p @ q, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("source", list(SOURCES))
def test_exact_marginal_ctmc_solves_the_marginal_kfe(source):
    """The oracle's rates (posterior mean, eq. 9.14) generate the data's marginal path."""
    space, src = SOURCES[source]
    kappa = LinearKappa()
    path = FactorizedMixturePath(space, src, kappa)
    points = space.enumerate()
    data = points[[1, 3, 3, 5, 7]]
    for head in CTMCHead:
        gen = CTMCGenerator(space, kappa, head=head)
        oracle = ExactMarginal(path, gen, data, t_max=1.0)
        for t in (0.2, 0.6):
            n = points.shape[0]
            tt = torch.full((n,), t, dtype=D)
            q = ctmc_generator_matrix(space, gen.rates(oracle(points, tt), points))
            check_rate_matrix(q)

            def p_of(s):
                return torch.stack([_prob(path, points, s, z) for z in data]).mean(0)

            s = torch.tensor([t], dtype=D)
            p, dp = torch.func.jvp(p_of, (s,), (torch.ones_like(s),))
            torch.testing.assert_close(dp, p @ q, atol=1e-12, rtol=1e-9)


def test_apply_is_the_generator_matrix_acting_on_f():
    space, src = SOURCES["product"]
    path = FactorizedMixturePath(space, src, LinearKappa())
    points = space.enumerate()
    f_table = torch.randn(points.shape[0], dtype=D, generator=torch.Generator().manual_seed(0))

    def f(x):
        return f_table[space.index(x)]

    for head in CTMCHead:
        gen = CTMCGenerator(space, LinearKappa(), head=head)
        raw_shape = next(iter(gen.head_shapes(space).values()))
        raw = {k: torch.randn(points.shape[0], *raw_shape, dtype=D) for k in gen.head_shapes(space)}
        t = torch.full((points.shape[0],), 0.3, dtype=D)
        value = gen.constrain(raw, points, t)
        q = ctmc_generator_matrix(space, gen.rates(value, points))
        torch.testing.assert_close(gen.apply(f, points, value), q @ f_table)
    del path


def test_constrained_rates_are_non_negative_and_zero_at_the_current_token():
    space = DiscreteSpace(3, 4)
    gen = CTMCGenerator(space, head=CTMCHead.RATE)
    x = torch.randint(0, 4, (5, 3))
    rates = gen.constrain({"rate": torch.randn(5, 3, 4) * 5}, x, torch.rand(5))
    assert bool((rates >= 0).all())
    assert float(rates.gather(2, x[..., None]).abs().max()) == 0.0


def test_posterior_and_rates_convert_both_ways():
    rng = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (6, 3), generator=rng)
    probs = torch.rand(6, 3, 4, generator=rng, dtype=D).softmax(-1)
    intensity = torch.rand(6, generator=rng, dtype=D) * 3
    value = PosteriorValue(probs, intensity)
    back = rates_to_posterior(posterior_to_rates(value, x), x, intensity)
    torch.testing.assert_close(back.probs, probs)
    rates = posterior_to_rates(value, x)
    torch.testing.assert_close(
        posterior_to_rates(rates_to_posterior(rates, x, intensity), x), rates
    )
    with pytest.raises(ValueError, match="exceed the intensity"):
        rates_to_posterior(rates * 10, x, intensity * 0.01)


@pytest.mark.parametrize(
    "method", [JumpMethod.EXPONENTIAL, JumpMethod.TAU_LEAPING], ids=lambda m: m.value
)
@pytest.mark.parametrize("source", ["uniform", "masked"])
def test_oracle_sampling_reproduces_the_data(source, method):
    """Total variation between oracle samples and the data within Monte-Carlo error."""
    space, src = SOURCES[source]
    kappa = CosineKappa()
    path = FactorizedMixturePath(space, src, kappa)
    points = space.enumerate()
    data = points[[1, 3, 3, 5, 7, 8]]
    n = 20_000
    truth = torch.bincount(space.index(data), minlength=points.shape[0]).to(D) / data.shape[0]
    for head in CTMCHead:
        gen = CTMCGenerator(space, kappa, head=head, method=method)
        oracle = ExactMarginal(path, gen, data, t_max=0.999 if head is CTMCHead.RATE else 1.0)
        x_0 = src.sample(n, generator=torch.Generator().manual_seed(1))
        out = simulate(gen, oracle, x_0, 200, rng=torch.Generator().manual_seed(2), space=space)
        freq = torch.bincount(space.index(out.x), minlength=points.shape[0]).to(D) / n
        tv = 0.5 * float((freq - truth).abs().sum())
        assert tv < 0.03, (head, tv)
        if head is CTMCHead.POSTERIOR and method is JumpMethod.EXPONENTIAL:
            assert tv < 0.015  # exact survival: only Monte-Carlo error (about 0.006 here)


def test_the_last_posterior_step_resolves_every_mask():
    space, src = SOURCES["masked"]
    kappa = LinearKappa()
    gen = CTMCGenerator(space, kappa)
    x = src.sample(100)
    value = PosteriorValue(torch.full((100, 2, 3), 1 / 3, dtype=D), torch.ones(100, dtype=D))
    out = gen.posterior_step(value, x, torch.full((100,), 0.9, dtype=D), 0.1)
    assert bool((out != space.mask_token).float().mean() > 0.5)
    masked_probs = torch.tensor([0.5, 0.5, 0.0], dtype=D).expand(100, 2, 3)
    out = gen.posterior_step(
        PosteriorValue(masked_probs, torch.ones(100, dtype=D)),
        x,
        torch.full((100,), 0.9, dtype=D),
        0.1,
    )
    assert bool((out != space.mask_token).all())


def test_temperature_sharpens_the_posterior():
    space = DiscreteSpace(1, 2)
    probs = torch.tensor([[[0.7, 0.3]]], dtype=D).expand(20_000, 1, 2)
    value = PosteriorValue(probs, torch.ones(20_000, dtype=D))
    x = torch.zeros(20_000, 1, dtype=torch.long)
    t = torch.zeros(20_000, dtype=D)
    cold = CTMCGenerator(space, LinearKappa(), temperature=0.25).posterior_step(value, x, t, 1.0)
    share = float((cold == 0).double().mean())
    assert abs(share - 0.7**4 / (0.7**4 + 0.3**4)) < 0.01


def test_bad_input_raises():
    space = DiscreteSpace(2, 3)
    path = FactorizedMixturePath(space, CategoricalSource.uniform(space), LinearKappa())
    with pytest.raises(ValueError, match="outside"):
        path.sample(torch.tensor([[0, 3]]), torch.tensor([0.5]))
    with pytest.raises(TypeError, match="int64"):
        path.sample(torch.tensor([[0.0, 1.0]]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="negative rates"):
        jump_from_rates(
            -torch.ones(1, 2, 3), torch.zeros(1, 2, dtype=torch.long), 0.1, JumpMethod.EXPONENTIAL
        )
    with pytest.raises(ValueError, match="kappa"):
        CTMCGenerator(space)
    with pytest.raises(ValueError, match="masked source"):
        CategoricalSource.masked(space)
    with pytest.raises(ValueError, match="temperature"):
        CTMCGenerator(space, LinearKappa(), temperature=0.0)


@pytest.mark.parametrize("fit_pinned", [True, False])
def test_masked_loss_fits_pinned_positions_only_with_fit_pinned(fit_pinned):
    """The value stays pinned (``δ_{x_i}`` at unmasked tokens) either way; the loss is the
    cross-entropy ``−Σ_i log p^i(z_i)`` over every position with ``fit_pinned``, over the
    masked positions only without it."""
    space, src = SOURCES["masked"]
    kappa = LinearKappa()
    gen = CTMCGenerator(space, kappa, fit_pinned=fit_pinned)
    logits = torch.tensor([[[0.3, -1.0, 2.0], [1.0, 0.5, -0.2]]], dtype=D).expand(3, 2, 3)
    x_t = torch.tensor([[0, 2], [1, 1], [2, 2]])  # mask token 2: (unmasked, masked), ...
    z = torch.tensor([[0, 1], [1, 1], [0, 0]])
    value = gen.constrain({"logits": logits}, x_t, torch.full((3,), 0.5, dtype=D))
    assert torch.equal(value.probs[0, 0], torch.tensor([1.0, 0.0, 0.0], dtype=D))
    target = gen.conditional_target(
        FactorizedMixturePath(space, src, kappa),
        PathSample(x_t=x_t, t=torch.full((3,), 0.5, dtype=D), z=z, x_0=torch.full_like(z, 2)),
    )
    log_p = torch.log_softmax(logits[..., :2], -1).gather(-1, z[..., None])[..., 0]
    fitted = (x_t == 2) | fit_pinned
    expected = -(log_p * fitted).sum(1)
    assert torch.allclose(gen.divergence(target, value), expected, atol=1e-12)
