"""The maths on the factorized CTMC's values, against hand-computed results (float64).

Checks :class:`PosteriorValue` (``fitted``, ``relative_rates``, ``from_relative_rates``), the
neighbour differences ``K f``, ``off_current``, ``pin_posterior``, the conversions between
posterior and rates, ``select_rows``, the guidance likelihood ratios and :class:`PosteriorKL`.
"""

import math

import pytest
import torch

from genmatch.generators.ctmc_values import (
    PosteriorKL,
    PosteriorValue,
    likelihood_ratio,
    neighbour_differences,
    off_current,
    pin_posterior,
    posterior_to_rates,
    rates_to_posterior,
    select_rows,
)
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

D = torch.float64


def _t(values, dtype=D):
    return torch.tensor(values, dtype=dtype)


def test_fitted_is_fit_when_set_else_probs():
    probs, fit = _t([[[1.0, 0.0]]]), _t([[[0.25, 0.75]]])
    assert PosteriorValue(probs, _t([1.0])).fitted is probs
    assert PosteriorValue(probs, _t([1.0]), fit=fit).fitted is fit


def test_relative_rates_are_zero_at_the_current_token_and_carry_the_speed():
    probs = _t([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]])
    x = torch.tensor([[1, 2]])
    value = PosteriorValue(probs, _t([2.0]))
    expected = _t([[[0.5, 0.0, 0.2], [0.1, 0.6, 0.0]]])
    assert torch.equal(value.relative_rates(x), expected)
    fast = PosteriorValue(probs, _t([2.0]), speed=_t([[2.0, 0.5]]))
    assert torch.equal(fast.relative_rates(x), _t([[[1.0, 0.0, 0.4], [0.05, 0.3, 0.0]]]))


def test_from_relative_rates_normalizes_and_keeps_the_total_as_speed():
    rel = _t([[[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]]])
    x = torch.tensor([[0, 1]])
    intensity = _t([1.5])
    value = PosteriorValue.from_relative_rates(rel, x, intensity)
    assert torch.equal(value.probs, _t([[[0.0, 0.25, 0.75], [0.0, 1.0, 0.0]]]))
    assert torch.equal(value.speed, _t([[4.0, 0.0]]))
    assert value.intensity is intensity
    assert value.fit is None
    # the rates come back: λ s p = λ rel
    assert torch.equal(posterior_to_rates(value, x), intensity * rel)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_from_relative_rates_normalizes_subnormal_totals(dtype):
    """Rates so small that their total is subnormal still give probabilities summing to 1
    (dividing by the total itself, not by a floor on it)."""
    tiny = torch.finfo(dtype).tiny
    rel = torch.tensor([[[0.0, tiny / 4, tiny / 4], [tiny / 8, 0.0, 3 * tiny / 8]]], dtype=dtype)
    x = torch.tensor([[0, 1]])
    value = PosteriorValue.from_relative_rates(rel, x, torch.ones(1, dtype=dtype))
    expected = torch.tensor([[[0.0, 0.5, 0.5], [0.25, 0.0, 0.75]]], dtype=dtype)
    assert torch.equal(value.probs, expected)
    assert bool(torch.isfinite(value.probs).all())
    assert torch.equal(value.speed, rel.sum(-1))


def test_neighbour_differences_are_every_single_site_change():
    """``f(x) = Σ_i (i + 1) x_i²`` on ``L = 2``, ``S = 3``: ``K f = (i + 1)(y² − x_i²)``."""

    def f(x):
        return (x.to(D) ** 2 * _t([1.0, 2.0])).sum(1)

    x = torch.tensor([[2, 0], [1, 1]])
    out = neighbour_differences(f, x, 3)
    expected = _t(
        [
            [[-4.0, -3.0, 0.0], [0.0, 2.0, 8.0]],
            [[-1.0, 0.0, 3.0], [-2.0, 0.0, 6.0]],
        ]
    )
    assert out.shape == (2, 2, 3)
    assert torch.equal(out, expected)


def test_neighbour_differences_see_the_order_of_positions():
    """A test function that is not symmetric in the positions: ``f(x) = 10 x_0 + x_1 x_2``."""

    def f(x):
        return (10 * x[:, 0] + x[:, 1] * x[:, 2]).to(D)

    x = torch.tensor([[1, 2, 0]])
    out = neighbour_differences(f, x, 2)
    expected = _t([[[-10.0, 0.0], [0.0, 0.0], [0.0, 2.0]]])
    assert torch.equal(out, expected)


def test_off_current_is_one_off_the_current_token_in_the_dtype_of_like():
    out = off_current(torch.tensor([[0, 2]]), 3, torch.zeros(1, dtype=torch.float16))
    assert out.dtype == torch.float16
    assert torch.equal(out, torch.tensor([[[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]], dtype=torch.float16))


def test_pin_posterior_pins_tokens_the_source_never_draws():
    space = DiscreteSpace(3, 3)
    source = CategoricalSource(space, _t([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.2, 0.3, 0.5]]))
    probs = torch.full((2, 3, 3), 1 / 3, dtype=torch.float32)
    x = torch.tensor([[2, 0, 1], [1, 1, 2]])
    out = pin_posterior(probs, x, source)
    third = 1 / 3
    expected = torch.tensor(
        [
            [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [third, third, third]],
            [[third, third, third], [third, third, third], [third, third, third]],
        ]
    )
    assert out.dtype == torch.float32
    assert torch.equal(out, expected)
    assert pin_posterior(probs, x, None) is probs
    # tokens below the last state only: the one-hot keeps the width of probs
    low = pin_posterior(probs, torch.tensor([[0, 0, 0]]), source)
    assert torch.equal(low[0, 1], torch.tensor([1.0, 0.0, 0.0]))


def test_posterior_to_rates_scales_by_intensity_and_speed():
    value = PosteriorValue(_t([[[0.5, 0.25, 0.25]], [[0.2, 0.2, 0.6]]]), _t([2.0, 4.0]))
    x = torch.tensor([[1], [2]])
    assert torch.equal(posterior_to_rates(value, x), _t([[[1.0, 0.0, 0.5]], [[0.8, 0.8, 0.0]]]))
    fast = PosteriorValue(value.probs, value.intensity, speed=_t([[3.0], [0.5]]))
    assert torch.equal(posterior_to_rates(fast, x), _t([[[3.0, 0.0, 1.5]], [[0.4, 0.4, 0.0]]]))


def test_rates_to_posterior_puts_the_remaining_mass_on_the_current_token():
    rates = _t([[[0.0, 1.0, 0.5], [2.0, 0.0, 0.25]]])
    x = torch.tensor([[0, 1]])
    value = rates_to_posterior(rates, x, _t([4.0]))
    assert torch.equal(value.probs, _t([[[0.625, 0.25, 0.125], [0.5, 0.4375, 0.0625]]]))
    assert torch.equal(value.intensity, _t([4.0]))
    assert value.speed is None
    # a rate at the current token is ignored
    with_diag = rates_to_posterior(rates + _t([[[7.0, 0.0, 0.0], [0.0, 9.0, 0.0]]]), x, _t([4.0]))
    assert torch.equal(with_diag.probs, value.probs)


def test_rates_to_posterior_tolerates_rounding_and_rejects_excess_rates():
    x = torch.tensor([[0]])
    # Σ u = λ (1 + 5e-7): within the 1e-6 tolerance, the stay mass is clamped to 0
    value = rates_to_posterior(_t([[[0.0, 0.5, 0.5 + 1e-6]]]), x, _t([1.0 + 1e-12]))
    assert float(value.probs[0, 0, 0]) == 0.0
    assert float(value.probs[0, 0, 2]) == pytest.approx(0.5 + 1e-6, rel=1e-9)
    with pytest.raises(ValueError, match=r"^rates exceed the intensity λ_t: no posterior gives"):
        rates_to_posterior(_t([[[0.0, 0.5, 0.5 + 2e-6]]]), x, _t([1.0]))


def test_select_rows_picks_whole_values_and_defaults_speeds_to_one():
    a = PosteriorValue(_t([[[1.0, 0.0]], [[0.5, 0.5]]]), _t([1.0, 2.0]))
    b = PosteriorValue(_t([[[0.0, 1.0]], [[0.25, 0.75]]]), _t([3.0, 4.0]))
    rows = torch.tensor([True, False])
    out = select_rows(rows, a, b)
    assert torch.equal(out.probs, _t([[[1.0, 0.0]], [[0.25, 0.75]]]))
    assert torch.equal(out.intensity, _t([1.0, 4.0]))
    assert out.speed is None
    fast_b = PosteriorValue(b.probs, b.intensity, speed=_t([[5.0], [6.0]]))
    out = select_rows(rows, a, fast_b)
    assert torch.equal(out.speed, _t([[1.0], [6.0]]))
    fast_a = PosteriorValue(a.probs, a.intensity, speed=_t([[7.0], [8.0]]))
    out = select_rows(torch.tensor([False, True]), fast_a, b)
    assert torch.equal(out.speed, _t([[1.0], [8.0]]))


def test_likelihood_ratio_powers_the_neighbour_ratios_and_handles_zeros():
    """``log p(c|x) = −x_0`` on one position with 3 tokens, except ``log p(c|x=2) = −inf``."""

    def log_likelihood(x):
        out = -x[:, 0].to(D)
        return torch.where(x[:, 0] == 2, -math.inf, out)

    x = torch.tensor([[1], [2]])
    ratio = likelihood_ratio(log_likelihood, x, 3, _t([2.0, 0.5]))
    # from x = 1: (e^{+1})^2, 1, 0; from x = 2 (ruled out): e^{50·0.5} to the possible ones,
    # and 1 (NaN difference −inf − (−inf) taken as 0) to itself
    expected = _t([[[math.exp(2.0), 1.0, 0.0]], [[math.exp(25.0), math.exp(25.0), 1.0]]])
    torch.testing.assert_close(ratio, expected, rtol=1e-14, atol=0.0)
    assert ratio.dtype == D


def test_likelihood_ratio_has_the_dtype_of_the_likelihood():
    """A float64 weight does not promote the ratios of a float32 predictor."""
    ratio = likelihood_ratio(lambda y: y[:, 0].float(), torch.tensor([[0]]), 2, _t([1.0]))
    assert ratio.dtype == torch.float32
    torch.testing.assert_close(ratio, torch.tensor([[[1.0, math.e]]]))


def test_posterior_kl_compares_the_fitted_probabilities():
    probs = _t([[[1.0, 0.0]]])
    a = PosteriorValue(_t([[[0.0, 1.0]]]), _t([1.0]), fit=_t([[[0.5, 0.5]]]))
    b = PosteriorValue(probs, _t([1.0]), fit=_t([[[0.25, 0.75]]]))
    kl = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    div = PosteriorKL()
    torch.testing.assert_close(div(a, b), _t([kl]), rtol=1e-14, atol=0.0)
    torch.testing.assert_close(div.generic(a, b), _t([kl]), rtol=1e-12, atol=1e-15)
    phi = 0.25 * math.log(0.25) + 0.75 * math.log(0.75)
    torch.testing.assert_close(div.phi(b), _t([phi]), rtol=1e-14, atol=0.0)
    assert float(div.phi(PosteriorValue(probs, _t([1.0])))) == 0.0
    # without fits the probabilities themselves are compared
    plain = div(PosteriorValue(a.fit, _t([1.0])), PosteriorValue(b.fit, _t([1.0])))
    torch.testing.assert_close(plain, _t([kl]), rtol=1e-14, atol=0.0)
