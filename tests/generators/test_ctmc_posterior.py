"""The posterior head of the factorized CTMC and the generator's set-up, exactly (float64).

Checks :class:`PosteriorParametrization` (masking, pinning, ``fit``, inner product, scaling,
posterior mean, guidance, tilt) and :class:`CTMCGenerator`'s checks, defaults, conditional
targets and rates, with hand-computed values and the error messages.
"""

import math

import pytest
import torch

from genmatch.divergences import GeneralizedKL
from genmatch.generators import CTMCGenerator, CTMCHead, JumpMethod, PosteriorValue
from genmatch.generators.ctmc import PosteriorParametrization
from genmatch.generators.ctmc_rate import RateParametrization
from genmatch.generators.ctmc_values import PosteriorKL
from genmatch.paths import FactorizedMixturePath, LinearKappa, PolynomialKappa
from genmatch.paths.base import PathSample
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

D = torch.float64
PLAIN = DiscreteSpace(2, 3)
MASKED = DiscreteSpace(2, 2, mask=True)  # tokens 0, 1; mask 2


def _t(values):
    return torch.tensor(values, dtype=D)


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


# ---- PosteriorParametrization ----------------------------------------------------------------


def test_head_shapes_are_logits_over_every_state():
    param = PosteriorParametrization(MASKED, LinearKappa())
    assert param.head_shapes(PLAIN) == {"logits": (2, 3)}


def test_constrain_softmaxes_and_takes_the_intensity_of_the_schedule():
    param = PosteriorParametrization(PLAIN, PolynomialKappa(2.0))
    logits = _t([[[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]])
    value = param.constrain({"logits": logits}, torch.tensor([[0, 1]]), _t([0.5]))
    torch.testing.assert_close(value.probs[0, 0], _t(_softmax([0.0, 1.0, 2.0])), rtol=1e-14,
                               atol=0.0)  # fmt: skip
    torch.testing.assert_close(value.probs[0, 1], _t([1 / 3] * 3), rtol=1e-14, atol=0.0)
    # κ = t²: κ̇/(1 − κ) = 2t/(1 − t²) = 4/3 at t = 1/2
    torch.testing.assert_close(value.intensity, _t([4 / 3]), rtol=1e-14, atol=0.0)
    assert value.speed is None and value.fit is None


def test_constrain_gives_the_mask_probability_zero_and_pins_unmasked_tokens():
    source = CategoricalSource.masked(MASKED)
    logits = _t([[[0.0, 1.0, 5.0], [2.0, 0.0, 5.0]]])
    x = torch.tensor([[2, 1]])  # masked, unmasked
    t = _t([0.5])
    free = _t([_softmax([0.0, 1.0]) + [0.0], _softmax([2.0, 0.0]) + [0.0]])
    value = PosteriorParametrization(MASKED, LinearKappa(), source).constrain(
        {"logits": logits}, x, t
    )
    torch.testing.assert_close(value.probs[0, 0], free[0], rtol=1e-14, atol=0.0)
    assert torch.equal(value.probs[0, 1], _t([0.0, 1.0, 0.0]))
    assert value.fit is None
    fitted = PosteriorParametrization(MASKED, LinearKappa(), source, fit_pinned=True).constrain(
        {"logits": logits}, x, t
    )
    torch.testing.assert_close(fitted.fit[0], free, rtol=1e-14, atol=0.0)
    assert torch.equal(fitted.probs, value.probs)
    # without a source nothing is pinned and nothing is kept to fit, even with fit_pinned
    unpinned = PosteriorParametrization(MASKED, LinearKappa(), None, True).constrain(
        {"logits": logits}, x, t
    )
    torch.testing.assert_close(unpinned.probs[0], free, rtol=1e-14, atol=0.0)
    assert unpinned.fit is None


def test_apply_is_the_intensity_times_the_probability_weighted_differences():
    """``L f(x) = λ_t Σ_i Σ_{y≠x_i} p^i(y) (f(x^{i→y}) − f(x))``, ``f(x) = x_0 + 10 x_1``."""

    def f(x):
        return (x[:, 0] + 10 * x[:, 1]).to(D)

    param = PosteriorParametrization(PLAIN, LinearKappa())
    x = torch.tensor([[1, 2]])
    value = PosteriorValue(_t([[[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]]), _t([2.0]))
    # 2 · (0.5·(−1) + 0.25·1 + 0.25·(−20) + 0.5·(−10)) = −20.5
    assert torch.equal(param.apply(f, x, value), _t([-20.5]))


def test_scale_multiplies_the_rates_and_keeps_speed_and_fit():
    param = PosteriorParametrization(PLAIN, LinearKappa())
    probs, fit = _t([[[0.5, 0.25, 0.25]]]), _t([[[0.2, 0.3, 0.5]]])
    value = PosteriorValue(probs, _t([2.0]), speed=_t([[3.0]]), fit=fit)
    out = param.scale(value, _t([0.25]))
    assert out.probs is probs and out.fit is fit
    assert torch.equal(out.intensity, _t([0.5]))
    assert torch.equal(out.speed, _t([[3.0]]))
    x = torch.tensor([[0]])
    assert torch.equal(
        param.apply(lambda y: y[:, 0].to(D), x, out),
        0.25 * param.apply(lambda y: y[:, 0].to(D), x, value),
    )


def test_posterior_mean_averages_the_probabilities():
    param = PosteriorParametrization(PLAIN, LinearKappa())
    probs = _t([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
    values = PosteriorValue(probs, _t([2.0, 2.0, 5.0, 5.0]))
    out = param.posterior_mean(values, _t([[0.25, 0.75], [0.5, 0.5]]))
    assert torch.equal(out.probs, _t([[[0.25, 0.75, 0.0]], [[0.0, 0.5, 0.5]]]))
    assert torch.equal(out.intensity, _t([2.0, 5.0]))


def test_guide_is_the_geometric_mean_of_the_rates_in_posterior_form():
    """Row 0 (``w = 1``): rates ``λ p_c² / p_u`` off ``x``; row 1: ``w = 0`` gives the
    conditional value, row 2: ``w = −1`` the unconditional one, speed 1 for both."""
    param = PosteriorParametrization(PLAIN, LinearKappa())
    x = torch.zeros(3, 1, dtype=torch.long)
    cond = PosteriorValue(_t([[[0.2, 0.4, 0.4]]] * 3), _t([2.0, 3.0, 4.0]))
    uncond = PosteriorValue(_t([[[0.6, 0.1, 0.3]]] * 3), _t([7.0, 7.0, 7.0]))
    out = param.guide(cond, uncond, _t([1.0, 0.0, -1.0]), x)
    rel = [0.0, 0.4**2 / 0.1, 0.4**2 / 0.3]
    total = sum(rel)
    torch.testing.assert_close(out.probs[0, 0], _t([r / total for r in rel]), rtol=1e-14, atol=0)
    torch.testing.assert_close(out.speed[0], _t([total]), rtol=1e-14, atol=0.0)
    assert torch.equal(out.probs[1:], _t([[[0.2, 0.4, 0.4]], [[0.6, 0.1, 0.3]]]))
    assert torch.equal(out.speed[1:], _t([[1.0], [1.0]]))
    assert torch.equal(out.intensity, _t([2.0, 3.0, 7.0]))


def test_tilt_reweighs_the_relative_rates_by_the_likelihood_ratio():
    """``log p(c|x) = x_0``, weight 1: rates ``λ p(y) e^{y − x_0}`` off ``x``."""
    param = PosteriorParametrization(PLAIN, LinearKappa())
    x = torch.tensor([[1]])
    value = PosteriorValue(_t([[[0.5, 0.25, 0.25]]]), _t([2.0]))
    out = param.tilt(value, x, _t([0.5]), lambda y: y[:, 0].to(D), _t([1.0]), None)
    rel = [0.5 * math.exp(-1), 0.0, 0.25 * math.exp(1)]
    total = sum(rel)
    torch.testing.assert_close(out.probs[0, 0], _t([r / total for r in rel]), rtol=1e-14, atol=0)
    torch.testing.assert_close(out.speed, _t([[total]]), rtol=1e-14, atol=0.0)
    assert torch.equal(out.intensity, _t([2.0]))


# ---- CTMCGenerator: checks and defaults -------------------------------------------------------


def test_generator_defaults_per_head():
    post = CTMCGenerator(PLAIN, LinearKappa())
    assert post.head is CTMCHead.POSTERIOR and post.method is JumpMethod.EXPONENTIAL
    assert post.source is None and post.fit_pinned and post.pin and post.temperature == 1.0
    assert isinstance(post.parametrization, PosteriorParametrization)
    assert isinstance(post.divergence, PosteriorKL)
    assert post.parametrization.kappa == LinearKappa() and post.parametrization.source is None
    assert post.parametrization.fit_pinned is True
    rate = CTMCGenerator(PLAIN, head=CTMCHead.RATE)
    assert rate.kappa is None and rate.source is None
    assert isinstance(rate.parametrization, RateParametrization)
    assert rate.parametrization.space == PLAIN
    assert isinstance(rate.divergence, GeneralizedKL)
    custom = GeneralizedKL()
    assert CTMCGenerator(PLAIN, LinearKappa(), divergence=custom).divergence is custom


def test_masked_space_defaults_to_the_masked_source_and_pin_passes_it_on():
    gen = CTMCGenerator(MASKED, LinearKappa(), fit_pinned=False)
    assert torch.equal(gen.source.probs, CategoricalSource.masked(MASKED).probs)
    assert gen.parametrization.source is gen.source
    assert gen.parametrization.fit_pinned is False
    free = CTMCGenerator(MASKED, LinearKappa(), pin=False)
    assert free.source is not None and free.parametrization.source is None
    uniform = CategoricalSource.uniform(MASKED)
    assert CTMCGenerator(MASKED, LinearKappa(), source=uniform).source is uniform
    # the rate head keeps no source
    assert CTMCGenerator(MASKED, head=CTMCHead.RATE).source is None
    assert CTMCGenerator(MASKED, LinearKappa(), method=JumpMethod.CONFIDENCE).source is not None


def test_generator_checks_its_arguments():
    with pytest.raises(TypeError, match="space must be a DiscreteSpace"):
        CTMCGenerator("space", LinearKappa())
    with pytest.raises(TypeError, match="kappa must be a AbstractKappaSchedule"):
        CTMCGenerator(PLAIN, 0.5)
    with pytest.raises(TypeError, match=r"head must be a CTMCHead \(CTMCHead.RATE"):
        CTMCGenerator(PLAIN, LinearKappa(), head="rate")
    with pytest.raises(TypeError, match=r"method must be a JumpMethod \(JumpMethod.EXPONENTIAL"):
        CTMCGenerator(PLAIN, LinearKappa(), method="exponential")
    with pytest.raises(ValueError, match=r"^temperature must be > 0, got -1.0$"):
        CTMCGenerator(PLAIN, LinearKappa(), temperature=-1.0)
    with pytest.raises(ValueError, match=r"^temperature must be > 0, got nan$"):
        CTMCGenerator(PLAIN, LinearKappa(), temperature=float("nan"))
    with pytest.raises(ValueError, match=r"^the posterior head needs the mixture path's kappa"):
        CTMCGenerator(PLAIN)
    with pytest.raises(ValueError, match=r"^the source lives on a different space than the"):
        CTMCGenerator(PLAIN, LinearKappa(), source=CategoricalSource.masked(MASKED))
    with pytest.raises(ValueError, match=r"^JumpMethod.CONFIDENCE needs the posterior head on a"):
        CTMCGenerator(MASKED, LinearKappa(), head=CTMCHead.RATE, method=JumpMethod.CONFIDENCE)
    with pytest.raises(ValueError, match=r"^JumpMethod.CONFIDENCE needs the posterior head on a"):
        CTMCGenerator(PLAIN, LinearKappa(), method=JumpMethod.CONFIDENCE)
    assert CTMCGenerator(PLAIN, LinearKappa(), temperature=1e-3).temperature == 1e-3


# ---- conditional targets and rates -------------------------------------------------------------


def _sample(t):
    x = torch.tensor([[0, 2], [1, 1]])
    z = torch.tensor([[1, 2], [1, 0]])
    return PathSample(x_t=x, t=_t(t), z=z)


def test_conditional_targets_of_both_heads():
    """Posterior head: ``δ_z`` with ``λ_t``; rate head: ``λ_t δ_z`` off the current token."""
    path = FactorizedMixturePath(PLAIN, CategoricalSource.uniform(PLAIN), LinearKappa())
    sample = _sample([0.5, 0.75])
    post = CTMCGenerator(PLAIN, LinearKappa()).conditional_target(path, sample)
    one_hot = _t([[[0, 1, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0]]])
    assert torch.equal(post.probs, one_hot)
    assert torch.equal(post.intensity, _t([2.0, 4.0]))
    assert post.speed is None and post.fit is None
    rate = CTMCGenerator(PLAIN, head=CTMCHead.RATE).conditional_target(path, sample)
    expected = _t([[[0, 2, 0], [0, 0, 0]], [[0, 0, 0], [4, 0, 0]]])
    assert torch.equal(rate, expected)
    gen = CTMCGenerator(PLAIN, LinearKappa())
    assert torch.equal(gen.rates(post, sample.x_t), expected)
    assert gen.rates(rate, sample.x_t) is rate


def test_conditional_target_checks_the_path():
    path = FactorizedMixturePath(PLAIN, CategoricalSource.uniform(PLAIN), LinearKappa())
    with pytest.raises(ValueError, match=r"the path's kappa LinearKappa\(\) differs from"):
        CTMCGenerator(PLAIN, PolynomialKappa(2.0)).conditional_target(path, _sample([0.5, 0.5]))
    # the rate head needs no kappa and accepts any schedule
    rate = CTMCGenerator(PLAIN, head=CTMCHead.RATE)
    assert rate.conditional_target(path, _sample([0.5, 0.5])).shape == (2, 2, 3)
    other = CategoricalSource(PLAIN, _t([0.5, 0.25, 0.25]))
    with pytest.raises(ValueError, match="^the path's source differs from the generator's"):
        CTMCGenerator(PLAIN, LinearKappa(), source=other).conditional_target(
            path, _sample([0.5, 0.5])
        )
    with pytest.raises(
        ValueError,
        match=r"^the rate head's target λ_t = κ̇_t/\(1 − κ_t\) diverges at t = 1: evaluate it at "
        r"t < 1 \(the posterior head has a finite target there\)$",
    ):
        rate.conditional_target(path, _sample([0.5, 1.0]))
    # the posterior head has a finite target at t = 1 (an infinite intensity)
    post = CTMCGenerator(PLAIN, LinearKappa()).conditional_target(path, _sample([0.5, 1.0]))
    assert float(post.intensity[1]) == math.inf
    with pytest.raises(
        TypeError,
        match="^CTMCGenerator has no conditional target for object: it needs a path implementing "
        "AbstractFactorizedMixturePath$",
    ):
        CTMCGenerator(PLAIN, LinearKappa()).conditional_target(object(), _sample([0.5, 0.5]))
