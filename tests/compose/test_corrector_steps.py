"""Predictor–corrector and Metropolis–Hastings generators, exactly (GM Prop. 3, §9.7).

Checks the mixture corrector's backward and divergence-free rates against the closed form
``ř^i(y|x) = κ̇ q_i(y) p^i(x_i|x) / (κ + (1 − κ) q_i(x_i))`` written out entry by entry; one
corrector step against the splitting it documents (the forward draw wins where both move);
a :class:`Corrected` step's times and step sizes; the Metropolis–Hastings rates
``rate/(L (S − 1)) · min(1, π(y)/π(x))`` and one step drawn from the same random numbers; and
the construction checks with their messages.
"""

import re

import pytest
import torch

from genmatch.compose import Corrected, MetropolisHastings, MixtureCorrector, constant_rate
from genmatch.divergences.generalized_kl import GeneralizedKL
from genmatch.generators import AbstractGenerator, CTMCGenerator, CTMCHead, PosteriorValue
from genmatch.generators.ctmc import JumpMethod, jump_from_rates
from genmatch.generators.ctmc_rate import RateParametrization
from genmatch.paths import FactorizedMixturePath, PolynomialKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

D = torch.float64
SPACE = DiscreteSpace(2, 3)
Q = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], dtype=D)
SOURCE = CategoricalSource(SPACE, Q)
KAPPA = PolynomialKappa(n=2.0)  # κ = t², κ̇ = 2t


def _value(b, seed=0):
    rng = torch.Generator().manual_seed(seed)
    probs = torch.rand(b, 2, 3, dtype=D, generator=rng) + 0.05
    probs = probs / probs.sum(-1, keepdim=True)
    return PosteriorValue(probs, torch.rand(b, dtype=D, generator=rng) + 0.5)


def _beta(t):
    return 3 * t * (1 - t) + 0.1


def test_backward_and_corrector_rates_are_the_closed_form():
    pc = MixtureCorrector(CTMCGenerator(SPACE, KAPPA, source=SOURCE), SOURCE, _beta)
    x = torch.tensor([[0, 1], [2, 0], [1, 2]])
    t = torch.tensor([0.2, 0.5, 0.9], dtype=D)
    value = _value(3)
    p, lam = value.probs, value.intensity
    bwd = torch.zeros(3, 2, 3, dtype=D)
    fwd = torch.zeros(3, 2, 3, dtype=D)
    for b in range(3):
        k, dk = t[b] ** 2, 2 * t[b]
        for i in range(2):
            here = x[b, i]
            for y in range(3):
                if y != here:
                    bwd[b, i, y] = dk * Q[i, y] * p[b, i, here] / (k + (1 - k) * Q[i, here])
                    fwd[b, i, y] = lam[b] * p[b, i, y]
    torch.testing.assert_close(pc.backward_rates(value, x, t), bwd, rtol=1e-14, atol=0)
    beta = _beta(t)[:, None, None]
    div_free = pc.divergence_free_rates(value, x, t)
    torch.testing.assert_close(div_free, beta * (fwd + bwd), rtol=1e-14, atol=0)
    torch.testing.assert_close(
        pc.rates(value, x, t), (1 + beta) * fwd + beta * bwd, rtol=1e-14, atol=1e-16
    )


def test_one_corrector_step_is_the_documented_splitting():
    base = CTMCGenerator(SPACE, KAPPA, source=SOURCE)
    pc = MixtureCorrector(base, SOURCE, _beta)
    n = 400
    x = torch.randint(0, 3, (n, 2), generator=torch.Generator().manual_seed(1))
    t = torch.full((n,), 0.5, dtype=D)
    value = _value(n, seed=2)
    calls = []

    def field(y, s):
        calls.append((y, s))
        return value

    out = pc.step(field, x, t, 0.3, generator=torch.Generator().manual_seed(7))
    assert len(calls) == 1 and calls[0][0] is x and calls[0][1] is t
    rng = torch.Generator().manual_seed(7)
    rates = pc.divergence_free_rates(value, x, t)
    corrected = jump_from_rates(rates, x, 0.3, JumpMethod.EXPONENTIAL, rng)
    moved = base.posterior_step(value, x, t, 0.3, generator=rng)
    assert torch.equal(out, torch.where(moved != x, moved, corrected))
    both = (moved != x) & (corrected != x) & (moved != corrected)
    only_corrected = (moved == x) & (corrected != x)
    assert bool(both.any()) and bool(only_corrected.any())  # each branch is exercised


def test_mixture_corrector_construction_and_training_are_the_base():
    base = CTMCGenerator(SPACE, KAPPA, source=SOURCE)
    grids = []

    def spy(t):
        grids.append(t)
        return torch.zeros_like(t)  # β = 0 is allowed

    pc = MixtureCorrector(base, SOURCE, spy)
    torch.testing.assert_close(grids[0], torch.linspace(0, 1, 21, dtype=D), rtol=0, atol=0)
    assert pc.parametrization is base.parametrization and pc.divergence is base.divergence
    path = FactorizedMixturePath(SPACE, SOURCE, KAPPA)
    z = torch.tensor([[0, 2], [1, 1]])
    s = path.sample(
        z, torch.tensor([0.3, 0.6], dtype=D), generator=torch.Generator().manual_seed(0)
    )
    target, expected = pc.conditional_target(path, s), base.conditional_target(path, s)
    torch.testing.assert_close(target.probs, expected.probs, rtol=0, atol=0)
    torch.testing.assert_close(target.intensity, expected.intensity, rtol=0, atol=0)
    message = "^MixtureCorrector needs a CTMCGenerator with the posterior head$"
    with pytest.raises(ValueError, match=message):
        MixtureCorrector(CTMCGenerator(SPACE, KAPPA, head=CTMCHead.RATE), SOURCE, _beta)
    bad_beta = "^" + re.escape("β_t must be finite and >= 0 on [0, 1]") + "$"
    with pytest.raises(ValueError, match=bad_beta):
        MixtureCorrector(base, SOURCE, lambda t: t - 0.5)
    with pytest.raises(ValueError, match=bad_beta):
        MixtureCorrector(base, SOURCE, lambda t: 1 / t)  # infinite at t = 0


class _Recorder(AbstractGenerator):
    """A generator that records its steps and adds ``h`` to every token (mod 3)."""

    def __init__(self, nfe, parametrization=None, divergence=None):
        self.nfe_per_step, self.calls = nfe, []
        self.parametrization, self.divergence = parametrization, divergence

    def conditional_target(self, path, sample):
        return ("target", path, sample)

    def step(self, field, x, t, h, *, generator=None):
        self.calls.append((field, x, t, h, generator))
        return (x + 1) % 3


def test_corrected_runs_the_corrector_at_the_end_of_the_base_step():
    base = _Recorder(2, RateParametrization(SPACE), GeneralizedKL())
    corrector = _Recorder(3)
    pc = Corrected(base, corrector)
    assert pc.nfe_per_step == 5
    assert pc.parametrization is base.parametrization and pc.divergence is base.divergence
    assert pc.conditional_target("path", "sample") == ("target", "path", "sample")
    x = torch.tensor([[0, 1], [2, 2]])
    t = torch.tensor([0.5, 0.9], dtype=D)
    rng = torch.Generator()

    def field(y, s):
        raise AssertionError("the recorders do not evaluate the field")

    out = pc.step(field, x, t, 0.25, generator=rng)
    assert torch.equal(out, (x + 2) % 3)
    ((b_field, b_x, b_t, b_h, b_rng),) = base.calls
    assert b_field is field and b_x is x and b_t is t and b_h == 0.25 and b_rng is rng
    ((c_field, c_x, c_t, c_h, c_rng),) = corrector.calls
    assert c_field is field and torch.equal(c_x, (x + 1) % 3) and c_h == 0.25 and c_rng is rng
    torch.testing.assert_close(c_t, torch.tensor([0.75, 1.0], dtype=D), rtol=0, atol=0)


def _log_pi(x, t):
    logits = torch.tensor([0.3, -1.2, 0.8, 0.0, 1.5, -0.4, 0.9, -2.0, 0.2], dtype=D)
    return logits[3 * x[:, 0] + x[:, 1]] * (1 + t)


def test_metropolis_hastings_rates_are_the_closed_form():
    mh = MetropolisHastings(SPACE, _log_pi, lambda t: 2 + t)
    assert mh.nfe_per_step == 0 and isinstance(mh.divergence, GeneralizedKL)
    assert isinstance(mh.parametrization, RateParametrization)
    assert mh.parametrization.space is SPACE
    x = torch.tensor([[0, 1], [2, 0], [1, 2]])
    t = torch.tensor([0.1, 0.5, 0.9], dtype=D)
    expected = torch.zeros(3, 2, 3, dtype=D)
    for b in range(3):
        here = _log_pi(x[b : b + 1], t[b : b + 1])
        for i in range(2):
            for y in range(3):
                if y != x[b, i]:
                    z = x[b : b + 1].clone()
                    z[0, i] = y
                    ratio = torch.exp(_log_pi(z, t[b : b + 1]) - here)
                    expected[b, i, y] = (2 + t[b]) / (2 * 2) * torch.clamp(ratio, max=1.0)[0]
    torch.testing.assert_close(mh.rates(x, t), expected, rtol=1e-14, atol=0)


def test_metropolis_hastings_step_uses_its_random_numbers_as_documented():
    n = 300
    mh = MetropolisHastings(SPACE, _log_pi, lambda t: 4 * t)
    x = torch.randint(0, 3, (n, 2), generator=torch.Generator().manual_seed(3))
    t = torch.linspace(0.05, 0.95, n, dtype=D)
    h = 0.5
    out = mh.step(None, x, t, h, generator=torch.Generator().manual_seed(11))
    rng = torch.Generator().manual_seed(11)
    u = torch.rand(n, 3, generator=rng, dtype=D)
    shift = 1 + torch.randint(0, 2, (n,), generator=rng)
    expected = x.clone()
    outcomes = set()
    for b in range(n):
        if not float(u[b, 0]) < 1 - torch.exp(-h * 4 * t[b]):
            outcomes.add("no proposal")
            continue
        pos = int(u[b, 1] * 2)
        y = x[b : b + 1].clone()
        y[0, pos] = (y[0, pos] + shift[b]) % 3
        log_ratio = _log_pi(y, t[b : b + 1]) - _log_pi(x[b : b + 1], t[b : b + 1])
        if float(torch.log(u[b, 2])) < float(log_ratio):
            expected[b] = y[0]
            outcomes.add(f"accepted at {pos} by {int(shift[b])}")
        else:
            outcomes.add("rejected")
    assert torch.equal(out, expected)
    assert len(outcomes) == 6  # every branch: no proposal, rejected, both positions and shifts
    # float32 times draw float32 numbers
    out32 = mh.step(None, x, t.float(), h, generator=torch.Generator().manual_seed(11))
    u32 = torch.rand(n, 3, generator=torch.Generator().manual_seed(11))
    assert not torch.equal(u32.double(), u)
    first_pos = (u32[:, 1] * 2).long()
    changed = (out32 != x).any(1)
    assert torch.equal((out32 != x)[changed].nonzero()[:, 1], first_pos[changed])


def test_metropolis_hastings_and_constant_rate_reject_bad_input():
    r = constant_rate(0.0)(torch.tensor([0.2, 0.7], dtype=D))
    torch.testing.assert_close(r, torch.zeros(2, dtype=D), rtol=0, atol=0)
    torch.testing.assert_close(constant_rate(2.5)(torch.zeros(3)), torch.full((3,), 2.5))
    with pytest.raises(ValueError, match=re.escape("rate must be >= 0, got -1.0")):
        constant_rate(-1.0)
    mh = MetropolisHastings(SPACE, _log_pi, constant_rate(1.0))
    with pytest.raises(
        TypeError, match="^MetropolisHastings has no parameters and is not trained$"
    ):
        mh.conditional_target(None, None)


def test_rates_do_not_depend_on_which_tokens_are_present():
    """Points that never hold the last token still get ``S`` columns of rates; a float32 rate
    is divided in the rates' float64."""
    space = DiscreteSpace(1, 4)
    mh = MetropolisHastings(
        space, lambda x, t: 0.5 * x[:, 0].to(D), lambda t: (0.7 + 0 * t).float()
    )
    x = torch.tensor([[0], [1]])
    rates = mh.rates(x, torch.zeros(2, dtype=D))
    rate = torch.tensor(0.7, dtype=torch.float32).to(D) / 3
    accept = torch.exp(torch.clamp(0.5 * (torch.arange(4.0, dtype=D) - x.to(D)), max=0.0))
    expected = rate * accept[:, None, :] * (torch.arange(4) != x)[:, None, :]
    torch.testing.assert_close(rates, expected, rtol=1e-15, atol=0)
    pc = MixtureCorrector(CTMCGenerator(SPACE, KAPPA, source=SOURCE), SOURCE, _beta)
    low = torch.tensor([[0, 1], [1, 0]])  # no token 2 anywhere
    value = _value(2)
    t = torch.tensor([0.3, 0.6], dtype=D)
    assert pc.backward_rates(value, low, t).shape == (2, 2, 3)
    assert bool((pc.backward_rates(value, low, t)[:, :, 2] > 0).all())


def test_integer_times_draw_in_the_default_dtype():
    mh = MetropolisHastings(SPACE, lambda x, t: _log_pi(x, t.to(D)), constant_rate(3.0))
    x = torch.randint(0, 3, (50, 2), generator=torch.Generator().manual_seed(0))
    t = torch.zeros(50, dtype=torch.long)
    out = mh.step(None, x, t, 0.5, generator=torch.Generator().manual_seed(1))
    rng = torch.Generator().manual_seed(1)
    u = torch.rand(50, 3, generator=rng)  # float32
    shift = 1 + torch.randint(0, 2, (50,), generator=rng)
    pos = (u[:, 1] * 2).long()
    y = x.clone()
    y[torch.arange(50), pos] = (x[torch.arange(50), pos] + shift) % 3
    propose = u[:, 0] < -torch.expm1(torch.tensor(-1.5))
    accept = propose & (torch.log(u[:, 2]).to(D) < _log_pi(y, t.to(D)) - _log_pi(x, t.to(D)))
    assert torch.equal(out, torch.where(accept[:, None], y, x))
    assert bool(accept.any()) and not bool(accept.all())


def test_backward_rates_have_the_values_dtype():
    """A float64 source does not promote float32 values: the rates stay float32."""
    pc = MixtureCorrector(CTMCGenerator(SPACE, KAPPA, source=SOURCE), SOURCE, _beta)
    x, t, value = torch.tensor([[0, 1], [2, 0]]), torch.tensor([0.3, 0.6]), _value(2)
    single = PosteriorValue(value.probs.float(), value.intensity.float())
    rates = pc.backward_rates(single, x, t)
    assert rates.dtype == torch.float32
    torch.testing.assert_close(rates, pc.backward_rates(value, x, t.to(D)).float())
