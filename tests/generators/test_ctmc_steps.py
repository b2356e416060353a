"""Steps of the factorized CTMC: ``jump_from_rates``, the inverse-CDF draw and the posterior
head's step, in cases with exact outcomes (jump probabilities 0 or 1, one possible token) and
against exact one-step probabilities within 5 binomial standard errors (small batches).
"""

import math

import pytest
import torch

from genmatch.generators import CTMCGenerator, CTMCHead, JumpMethod, PosteriorValue
from genmatch.generators.ctmc import _categorical, jump_from_rates
from genmatch.paths import LinearKappa
from genmatch.spaces import DiscreteSpace

D = torch.float64
N = 20_000
METHODS = [JumpMethod.EXPONENTIAL, JumpMethod.TAU_LEAPING]


def _assert_share(share, p, n=N):
    assert abs(share - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-12, (share, p)


def _rng(seed=0):
    return torch.Generator().manual_seed(seed)


# ---- the inverse-CDF draw ----------------------------------------------------------------------


def test_categorical_draws_only_tokens_of_positive_weight_in_proportion():
    weights = torch.tensor([0.0, 3.0, 0.0, 1.0], dtype=D).expand(N, 4)
    idx = _categorical(weights, _rng())
    assert set(idx.unique().tolist()) == {1, 3}
    _assert_share(float((idx == 1).double().mean()), 0.75)


def test_categorical_of_a_zero_row_is_the_last_token():
    assert torch.equal(_categorical(torch.zeros(2, 3, 5, dtype=D), _rng()), torch.full((2, 3), 4))


# ---- jump_from_rates --------------------------------------------------------------------------


def test_negative_rates_are_refused_with_their_minimum():
    rates = torch.tensor([[[0.0, -2.5, 1.0]]])
    with pytest.raises(ValueError, match=r"^negative rates \(minimum -2.5\): rates must be >= 0$"):
        jump_from_rates(rates, torch.zeros(1, 1, dtype=torch.long), 0.1, JumpMethod.EXPONENTIAL)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.value)
def test_zero_rates_or_zero_steps_never_jump(method):
    x = torch.tensor([[0, 1], [2, 0]])
    still = jump_from_rates(torch.zeros(2, 2, 3), x, 0.5, method, _rng())
    assert torch.equal(still, x)
    rates = torch.full((2, 2, 3), 1e6) * (1 - torch.nn.functional.one_hot(x, 3))
    assert torch.equal(jump_from_rates(rates, x, 0.0, method, _rng()), x)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.value)
def test_one_huge_rate_always_jumps_to_its_token_and_h_is_per_row(method):
    x = torch.tensor([[0, 1], [0, 1]])
    rates = torch.zeros(2, 2, 3, dtype=D)
    rates[:, 0, 2] = rates[:, 1, 0] = 1e3
    out = jump_from_rates(rates, x, 1.0, method, _rng())
    assert torch.equal(out, torch.tensor([[2, 0], [2, 0]]))
    h = torch.tensor([0.0, 0.5], dtype=D)  # the first row does not move
    assert torch.equal(jump_from_rates(rates, x, h, method, _rng()), torch.tensor([[0, 1], [2, 0]]))


def test_tau_leaping_keeps_the_token_where_several_clocks_fire():
    x = torch.tensor([[0, 0]])
    rates = torch.tensor([[[0.0, 1e3, 1e3], [0.0, 0.0, 1e3]]], dtype=D)
    out = jump_from_rates(rates, x, 1.0, JumpMethod.TAU_LEAPING, _rng())
    assert torch.equal(out, torch.tensor([[0, 2]]))
    expo = jump_from_rates(rates, x, 1.0, JumpMethod.EXPONENTIAL, _rng())
    assert int(expo[0, 0]) in (1, 2) and int(expo[0, 1]) == 2


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.value)
def test_one_clock_jumps_with_the_exact_probability(method):
    """One possible token of rate 1.2, per-row ``h = 0.5``: both methods jump with probability
    ``1 − e^{−0.6}`` (tau-leaping moves on any number of firings of the one clock)."""
    x = torch.zeros(N, 1, dtype=torch.long)
    rates = torch.tensor([0.0, 1.2, 0.0], dtype=D).expand(N, 1, 3)
    out = jump_from_rates(rates, x, torch.full((N,), 0.5, dtype=D), method, _rng(3))
    assert set(out.unique().tolist()) <= {0, 1}
    _assert_share(float((out == 1).double().mean()), 1 - math.exp(-0.6))


# ---- CTMCGenerator.step -----------------------------------------------------------------------


def test_step_checks_the_shape_of_the_field_value():
    gen = CTMCGenerator(DiscreteSpace(2, 3), head=CTMCHead.RATE)
    x = torch.zeros(4, 2, dtype=torch.long)
    t = torch.full((4,), 0.5)
    msg = r"^the field must return rates or probabilities of shape \(4, 2, 3\) for tokens \(4, 2\)"
    with pytest.raises(ValueError, match=msg + r", got \(4, 2, 4\)$"):
        gen.step(lambda y, s: torch.zeros(4, 2, 4), x, t, 0.1)
    with pytest.raises(ValueError, match=msg + r", got \(4, 2, 4\)$"):
        gen.step(lambda y, s: PosteriorValue(torch.zeros(4, 2, 4), t), x, t, 0.1)
    with pytest.raises(ValueError, match=msg + ", got list$"):
        gen.step(lambda y, s: [0.0], x, t, 0.1)
    with pytest.raises(ValueError, match="h must be"):
        gen.step(lambda y, s: torch.zeros(4, 2, 3), x, t, -0.1)


def test_rate_step_uses_the_generators_method():
    """Two huge rates at one position: the exponential step moves, tau-leaping does not."""
    space = DiscreteSpace(1, 3)
    x = torch.zeros(8, 1, dtype=torch.long)
    rates = torch.tensor([[0.0, 1e3, 1e3]], dtype=D).expand(8, 1, 3)
    t = torch.zeros(8, dtype=D)
    for method, moved in ((JumpMethod.EXPONENTIAL, True), (JumpMethod.TAU_LEAPING, False)):
        gen = CTMCGenerator(space, head=CTMCHead.RATE, method=method)
        out = gen.step(lambda y, s: rates, x, t, 1.0, generator=_rng())
        assert bool((out != 0).all()) is moved


# ---- the posterior head's step -----------------------------------------------------------------


def _value(probs, n, speed=None):
    probs = torch.tensor(probs, dtype=D)
    return PosteriorValue(probs.expand(n, *probs.shape), torch.ones(n, dtype=D), speed=speed)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.value)
def test_the_last_step_draws_every_position_and_a_zero_step_none(method):
    space = DiscreteSpace(2, 3)
    gen = CTMCGenerator(space, LinearKappa(), method=method)
    x = torch.zeros(6, 2, dtype=torch.long)
    value = _value([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], 6)
    last = gen.step(lambda y, s: value, x, torch.full((6,), 0.75, dtype=D), 0.25, generator=_rng())
    assert torch.equal(last, torch.tensor([[2, 1]]).expand(6, 2))
    # a step past t = 1 is clamped to it
    over = gen.posterior_step(value, x, torch.full((6,), 0.9, dtype=D), 0.3, generator=_rng())
    assert torch.equal(over, last)
    none = gen.posterior_step(value, x, torch.full((6,), 0.5, dtype=D), 0.0, generator=_rng())
    assert torch.equal(none, x)


def test_tau_leaping_posterior_step_with_a_tiny_survival():
    """``∫ λ = −log(1e-12)``: the one possible token's clock fires, two such clocks both fire
    and the position stays (an exponential step moves there)."""
    space = DiscreteSpace(2, 3)
    x = torch.zeros(50, 2, dtype=torch.long)
    value = _value([[0.0, 0.0, 1.0], [0.0, 0.5, 0.5]], 50)
    t = torch.zeros(50, dtype=D)
    tau = CTMCGenerator(space, LinearKappa(), method=JumpMethod.TAU_LEAPING)
    out = tau.posterior_step(value, x, t, 1 - 1e-12, generator=_rng())
    assert torch.equal(out, torch.tensor([[2, 0]]).expand(50, 2))
    expo = CTMCGenerator(space, LinearKappa()).posterior_step(value, x, t, 1 - 1e-12)
    assert bool((expo[:, 0] == 2).all()) and bool((expo[:, 1] != 0).all())


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.value)
def test_speed_powers_the_survival(method):
    """Rates ``s λ p``: a position of speed 0 never moves, even at the last step; speed 2 at
    ``t = 0.5``, ``h = 0.25`` jumps with probability ``1 − (1/2)²``; a speed also survives a
    step past ``t = 1`` (clamped)."""
    space = DiscreteSpace(2, 2)
    gen = CTMCGenerator(space, LinearKappa(), method=method)
    x = torch.zeros(N, 2, dtype=torch.long)
    speed = torch.tensor([0.0, 2.0], dtype=D).expand(N, 2)
    value = _value([[0.0, 1.0], [0.0, 1.0]], N, speed=speed)
    few = _value([[0.0, 1.0], [0.0, 1.0]], 4, speed=speed[:4])
    last = gen.posterior_step(few, x[:4], torch.full((4,), 0.75, dtype=D), 0.25)
    assert torch.equal(last, torch.tensor([[0, 1]]).expand(4, 2))
    over = gen.posterior_step(few, x[:4], torch.full((4,), 0.9, dtype=D), 0.2)
    assert torch.equal(over, last)
    out = gen.posterior_step(value, x, torch.full((N,), 0.5, dtype=D), 0.25, generator=_rng(5))
    assert bool((out[:, 0] == 0).all())
    _assert_share(float((out[:, 1] == 1).double().mean()), 0.75)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_powers_the_posterior(temperature):
    """At the last step every position is drawn from ``p ∝ p^{1/T}``."""
    gen = CTMCGenerator(DiscreteSpace(1, 2), LinearKappa(), temperature=temperature)
    x = torch.zeros(N, 1, dtype=torch.long)
    out = gen.posterior_step(_value([[0.7, 0.3]], N), x, torch.full((N,), 0.5, dtype=D), 0.5,
                             generator=_rng(6))  # fmt: skip
    a, b = 0.7 ** (1 / temperature), 0.3 ** (1 / temperature)
    _assert_share(float((out == 0).double().mean()), a / (a + b))


@pytest.mark.parametrize("method", [*METHODS, JumpMethod.CONFIDENCE], ids=lambda m: m.value)
def test_pin_keeps_unmasked_tokens_and_pin_false_redraws_them(method):
    space = DiscreteSpace(2, 2, mask=True)
    x = torch.tensor([[0, 2]]).expand(8, 2)
    value = _value([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], 8)
    t = torch.full((8,), 0.5, dtype=D)
    pinned = CTMCGenerator(space, LinearKappa(), method=method)
    assert torch.equal(pinned.posterior_step(value, x, t, 0.5), torch.tensor([[0, 0]]).expand(8, 2))
    if method is not JumpMethod.CONFIDENCE:  # confidence order only fills masks
        free = CTMCGenerator(space, LinearKappa(), method=method, pin=False)
        assert torch.equal(
            free.posterior_step(value, x, t, 0.5), torch.tensor([[1, 0]]).expand(8, 2)
        )


def test_confidence_step_fills_masks_at_the_exact_rate():
    """One masked position, ``t = 0.5``, ``h = 0.25``: unmasked with probability 1/2."""
    space = DiscreteSpace(1, 2, mask=True)
    gen = CTMCGenerator(space, LinearKappa(), method=JumpMethod.CONFIDENCE)
    x = torch.full((N, 1), 2)
    out = gen.posterior_step(_value([[0.0, 1.0, 0.0]], N), x, torch.full((N,), 0.5, dtype=D), 0.25,
                             generator=_rng(7))  # fmt: skip
    assert set(out.unique().tolist()) == {1, 2}
    _assert_share(float((out == 1).double().mean()), 0.5)


def test_posterior_exponential_step_jumps_with_the_exact_survival():
    """``t = 0.2``, ``h = 0.4`` on the linear schedule: jump probability ``0.4/0.8``."""
    gen = CTMCGenerator(DiscreteSpace(1, 3), LinearKappa())
    x = torch.zeros(N, 1, dtype=torch.long)
    value = _value([[0.5, 0.25, 0.25]], N)
    out = gen.step(lambda y, s: value, x, torch.full((N,), 0.2, dtype=D), 0.4, generator=_rng(8))
    _assert_share(float((out == 1).double().mean()), 0.5 * 0.25)
    _assert_share(float((out == 0).double().mean()), 0.5 + 0.5 * 0.5)


def test_tau_leaping_with_temperature_uses_normalized_tempered_probabilities():
    """``T = 1/2``: ``p ∝ p²`` = (0, 9/13, 4/13); ``t = 0``, ``h = 1/2``: ``∫ λ = log 2``, and
    the position moves to 1 iff clock 1 fires and clock 2 does not."""
    n = 2_000
    gen = CTMCGenerator(
        DiscreteSpace(1, 3), LinearKappa(), method=JumpMethod.TAU_LEAPING, temperature=0.5
    )
    x = torch.zeros(n, 1, dtype=torch.long)
    out = gen.posterior_step(_value([[0.0, 0.6, 0.4]], n), x, torch.zeros(n, dtype=D), 0.5,
                             generator=_rng(9))  # fmt: skip
    r1, r2 = 9 / 13 * math.log(2), 4 / 13 * math.log(2)
    _assert_share(float((out == 1).double().mean()), -math.expm1(-r1) * math.exp(-r2), n)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.value)
def test_seeded_jumps_are_reproducible(method):
    x = torch.zeros(500, 3, dtype=torch.long)
    rates = torch.tensor([0.0, 0.7, 0.7], dtype=D).expand(500, 3, 3)
    a, b = (jump_from_rates(rates, x, 1.0, method, _rng(11)) for _ in "ab")
    assert torch.equal(a, b) and not torch.equal(a, x)


@pytest.mark.parametrize("head", list(CTMCHead), ids=lambda h: h.value)
@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.value)
def test_seeded_steps_are_reproducible(head, method):
    space = DiscreteSpace(3, 3)
    gen = CTMCGenerator(space, LinearKappa(), head=head, method=method)
    x = torch.zeros(400, 3, dtype=torch.long)
    probs = torch.tensor([0.2, 0.4, 0.4], dtype=D).expand(400, 3, 3)
    value = probs if head is CTMCHead.RATE else PosteriorValue(probs, torch.ones(400, dtype=D))
    t = torch.full((400,), 0.3, dtype=D)
    a, b = (gen.step(lambda y, s: value, x, t, 0.4, generator=_rng(12)) for _ in "ab")
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_seeded_confidence_steps_are_reproducible():
    space = DiscreteSpace(3, 2, mask=True)
    gen = CTMCGenerator(space, LinearKappa(), method=JumpMethod.CONFIDENCE)
    x = torch.full((400, 3), 2)
    value = _value([[0.5, 0.5, 0.0]] * 3, 400)
    t = torch.full((400,), 0.3, dtype=D)
    a, b = (gen.posterior_step(value, x, t, 0.4, generator=_rng(13)) for _ in "ab")
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_step_checks_the_times():
    gen = CTMCGenerator(DiscreteSpace(1, 2), head=CTMCHead.RATE)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gen.step(lambda y, s: torch.zeros(1, 1, 2), torch.zeros(1, 1, dtype=torch.long),
                 torch.tensor([1.5]), 0.1)  # fmt: skip
