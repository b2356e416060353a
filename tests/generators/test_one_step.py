"""One sampler step against its exact transition probabilities.

Each test draws one step for a large seeded batch of identical states and compares the
empirical frequency of every outcome with the exact probability, within ``Z`` standard errors
``sqrt(p (1 − p) / n)`` of a binomial frequency (a false alarm has probability ~ 1e-6 per
cell). Where a plausible bug would give nearby probabilities, the test also checks that the
wrong probabilities lie outside that band, so it can fail.
"""

import math

import pytest
import torch

from genmatch.compose import Corrected, MetropolisHastings, constant_rate
from genmatch.generators import (
    AtomicJumpMeasure,
    CTMCGenerator,
    CTMCHead,
    JumpGenerator,
    JumpMethod,
    PosteriorValue,
)
from genmatch.paths import LinearKappa, PolynomialKappa
from genmatch.spaces import DiscreteSpace, EuclideanSpace

F64 = torch.float64
Z = 5.0
N = 400_000


def _band(p, n=N):
    return Z * torch.sqrt(p * (1 - p) / n) + 1e-12


def _assert_frequencies(freq, exact, n=N):
    err = (freq - exact).abs()
    band = _band(exact, n)
    assert bool((err <= band).all()), f"frequencies {freq} vs exact {exact} (band {band})"


def _frequencies(out, num_states):
    """``(L, S)`` frequencies of each token at each position over the batch."""
    one_hot = torch.nn.functional.one_hot(out, num_states).to(F64)
    return one_hot.mean(0)


# ---- factorized CTMC steps -------------------------------------------------------------------

#: rates ``u^i(y)`` of three positions over four tokens, current tokens ``x = (0, 2, 3)``
#: (zero rate at the current token); ``h u`` of order 1 so several clocks fire in one step.
RATES = torch.tensor([[0.0, 1.5, 0.4, 2.0], [0.7, 0.0, 0.0, 3.0], [5.0, 0.0, 0.0, 0.0]], dtype=F64)
X = torch.tensor([0, 2, 3])
H = 0.5


def _exact_tau_leaping(rates, x, h):
    """Per-position outcome probabilities of one tau-leaping step: position ``i`` moves to
    ``y`` iff clock ``y`` fires at least once and every other clock stays silent;
    otherwise (no clock or several distinct clocks fired) it keeps ``x_i``."""
    silent = torch.exp(-h * rates)  # P(clock y does not fire)
    all_silent = silent.prod(-1, keepdim=True)
    move = (1 - silent) * all_silent / silent
    stay = 1 - move.sum(-1)
    return move.scatter_add(-1, x[:, None], stay[:, None])


def _exact_exponential(rates, x, h):
    total = rates.sum(-1, keepdim=True)
    move = -torch.expm1(-h * total) * rates / total
    return move.scatter_add(-1, x[:, None], torch.exp(-h * total))


def _rate_field(rates):
    def field(x, t):
        return rates.expand(x.shape[0], *rates.shape)

    return field


@pytest.mark.parametrize(
    "method", [JumpMethod.EXPONENTIAL, JumpMethod.TAU_LEAPING], ids=lambda m: m.value
)
def test_rate_head_step_has_exact_one_step_probabilities(method):
    space = DiscreteSpace(3, 4)
    gen = CTMCGenerator(space, head=CTMCHead.RATE, method=method)
    x = X.expand(N, 3)
    t = torch.full((N,), 0.3, dtype=F64)
    out = gen.step(_rate_field(RATES), x, t, H, generator=torch.Generator().manual_seed(0))
    exact = {JumpMethod.TAU_LEAPING: _exact_tau_leaping, JumpMethod.EXPONENTIAL: _exact_exponential}
    _assert_frequencies(_frequencies(out, 4), exact[method](RATES, X, H))


def test_tau_leaping_differs_from_the_exponential_step_and_counts_repeated_firings():
    """The two methods' probabilities are far apart at these rates (the test above can tell
    them apart), and a single clock firing twice still moves its position (position 3 has one
    clock of rate 5: it moves with probability 1 − e^{−2.5}, not 2.5 e^{−2.5})."""
    tau, expo = _exact_tau_leaping(RATES, X, H), _exact_exponential(RATES, X, H)
    assert bool(((tau - expo).abs() > 3 * _band(tau)).any())
    assert float(tau[2, 0]) == pytest.approx(1 - math.exp(-2.5), rel=1e-12)
    assert abs(float(tau[2, 0]) - 2.5 * math.exp(-2.5)) > 10 * float(_band(tau[2, 0]))


def test_posterior_head_tau_leaping_integrates_the_mixture_intensity():
    """Posterior head, tau-leaping: position ``i``'s clock ``y ≠ x_i`` fires with mean
    ``p^i(y) ∫_t^{t+h} λ`` where ``∫ λ = −log((1 − κ_{t+h})/(1 − κ_t))``."""
    space = DiscreteSpace(3, 4)
    kappa = PolynomialKappa(2.0)
    gen = CTMCGenerator(space, kappa, method=JumpMethod.TAU_LEAPING)
    probs = torch.tensor(
        [[0.1, 0.5, 0.2, 0.2], [0.25, 0.25, 0.25, 0.25], [0.6, 0.0, 0.1, 0.3]], dtype=F64
    )
    t, h = 0.3, 0.5
    integrated = -math.log((1 - (t + h) ** 2) / (1 - t**2))
    rates = probs * integrated
    rates[torch.arange(3), X] = 0.0
    x = X.expand(N, 3)
    tt = torch.full((N,), t, dtype=F64)

    def field(y, s):
        return PosteriorValue(probs.expand(y.shape[0], 3, 4), None)

    out = gen.step(field, x, tt, h, generator=torch.Generator().manual_seed(1))
    _assert_frequencies(_frequencies(out, 4), _exact_tau_leaping(rates, X, 1.0))


# ---- whole-state jumps with an intensity factor c ≠ 1 -------------------------------------


@pytest.mark.parametrize("kappa", [LinearKappa(), PolynomialKappa(2.0)], ids=repr)
@pytest.mark.parametrize("c", [0.5, 3.0])
@pytest.mark.parametrize(("t", "h"), [(0.2, 0.3), (0.7, 0.3)])
def test_jump_generator_step_with_an_intensity_factor(kappa, c, t, h):
    """Intensity ``λ = c κ̇_t/(1 − κ_t)`` with ``c`` frozen over the step: the exact jump
    probability is ``1 − ((1 − κ_{t+h})/(1 − κ_t))^c`` (``= 1`` when ``t + h = 1``), and the
    destination is atom ``j`` with probability ``w_j``."""
    space = EuclideanSpace(1)
    gen = JumpGenerator(space, kappa=kappa)
    weights = torch.tensor([0.3, 0.7], dtype=F64)
    atoms = torch.tensor([[5.0], [-5.0]], dtype=F64)
    tt = torch.full((N,), t, dtype=F64)
    k = kappa.kappa(tt[:1])
    intensity = c * kappa.d_kappa(tt) / (1 - kappa.kappa(tt))

    def field(x, s):
        return AtomicJumpMeasure(
            intensity=intensity, atoms=atoms.repeat(x.shape[0], 1), weights=weights.expand(N, 2)
        )

    x = torch.zeros(N, 1, dtype=F64)
    out = gen.step(field, x, tt, h, generator=torch.Generator().manual_seed(2))
    survival = float((1 - kappa.kappa(torch.tensor([t + h], dtype=F64))) / (1 - k))
    p_jump = 1 - survival**c
    exact = torch.tensor([(1 - p_jump), p_jump * 0.3, p_jump * 0.7], dtype=F64)
    freq = torch.stack([(out == v).to(F64).mean() for v in (0.0, 5.0, -5.0)])
    _assert_frequencies(freq, exact)
    if t + h == 1.0:
        assert p_jump == 1.0
    # the c = 1 probability and the first-order one are outside the band
    for wrong in (1 - survival, -math.expm1(-h * float(intensity[0]))):
        assert abs(wrong - p_jump) > float(_band(torch.tensor(p_jump))) or p_jump == 1.0


def test_jump_generator_without_kappa_uses_the_first_order_probability():
    space = EuclideanSpace(1)
    gen = JumpGenerator(space)
    tt = torch.full((N,), 0.4, dtype=F64)
    intensity = torch.full((N,), 1.7, dtype=F64)

    def field(x, s):
        return AtomicJumpMeasure(
            intensity=intensity, atoms=torch.full((N, 1), 2.0, dtype=F64), weights=torch.ones(N, 1)
        )

    out = gen.step(
        field, torch.zeros(N, 1, dtype=F64), tt, 0.25, generator=torch.Generator().manual_seed(3)
    )
    p = torch.tensor([-math.expm1(-0.25 * 1.7)], dtype=F64)
    _assert_frequencies((out == 2.0).to(F64).mean().reshape(1), p)


# ---- the time a Corrected step passes to its corrector -------------------------------------


class _Recording:
    """A generator that records the times it is stepped at and leaves ``x`` unchanged."""

    nfe_per_step = 0

    def __init__(self):
        self.times = []

    def step(self, field, x, t, h, *, generator=None):
        self.times.append(t.clone())
        return x


@pytest.mark.parametrize(
    ("t", "h", "expected"), [(0.2, 0.25, 0.45), (0.9, 0.1, 1.0), (0.95, 0.1, 1.0)]
)
def test_corrected_runs_its_corrector_at_the_end_of_the_step(t, h, expected):
    base, corrector = _Recording(), _Recording()
    base.parametrization = base.divergence = None
    pc = Corrected(base, corrector)
    x = torch.zeros(3, 1)
    tt = torch.full((3,), t, dtype=F64)
    pc.step(None, x, tt, h)
    torch.testing.assert_close(base.times[0], tt)
    torch.testing.assert_close(corrector.times[0], torch.full((3,), expected, dtype=F64))


def test_corrected_one_step_is_the_product_of_the_two_kernels():
    """A 2-state rate CTMC followed by Metropolis–Hastings for a time-dependent ``π_s``: the
    one-step kernel from ``x = 0`` is ``P_base(t) P_MH(t + h)``. ``P_MH`` at ``t`` instead of
    ``t + h`` gives probabilities outside the band."""
    space = DiscreteSpace(1, 2)
    t, h, rate_mh = 0.2, 0.4, 3.0
    base = CTMCGenerator(space, head=CTMCHead.RATE)

    def log_pi(x, s):  # π_s(1)/π_s(0) = exp(6 s − 3): favours 0 at s = 0.2, 1 at s = 0.6
        return (6 * s - 3) * x[:, 0].to(F64)

    pc = Corrected(base, MetropolisHastings(space, log_pi, constant_rate(rate_mh)))
    rates = torch.tensor([[0.0, 1.2]], dtype=F64)
    x = torch.zeros(N, 1, dtype=torch.long)
    out = pc.step(
        _rate_field(rates),
        x,
        torch.full((N,), t, dtype=F64),
        h,
        generator=torch.Generator().manual_seed(4),
    )

    def kernel_mh(s):
        propose = 1 - math.exp(-h * rate_mh)
        up = propose * min(1.0, math.exp(6 * s - 3))
        down = propose * min(1.0, math.exp(3 - 6 * s))
        return torch.tensor([[1 - up, up], [down, 1 - down]], dtype=F64)

    move = 1 - math.exp(-h * 1.2)
    p_base = torch.tensor([1 - move, move], dtype=F64)
    exact = p_base @ kernel_mh(t + h)
    freq = _frequencies(out, 2)[0]
    _assert_frequencies(freq, exact)
    stale = p_base @ kernel_mh(t)
    assert bool(((stale - exact).abs() > _band(exact)).all())


# ---- masked models: exact unmasking, pinned tokens, confidence order --------------------------

MASKED = DiscreteSpace(3, 3, mask=True)  # tokens 0..2, mask 3
#: the network's posterior at every position; position 0 (unmasked) gets mass off its token,
#: which the pinning must ignore
PROBS = torch.tensor([[0.1, 0.3, 0.6, 0.0], [0.5, 0.2, 0.3, 0.0], [0.0, 0.9, 0.1, 0.0]], dtype=F64)
X_MASKED = torch.tensor([1, 3, 3])


def _posterior_field(probs):
    def field(x, t):
        return PosteriorValue(probs.expand(x.shape[0], *probs.shape), torch.ones_like(t))

    return field


@pytest.mark.parametrize(("t", "h"), [(0.2, 0.3), (0.75, 0.25)])
@pytest.mark.parametrize("kappa", [LinearKappa(), PolynomialKappa(2.0)], ids=repr)
def test_masked_step_unmasks_at_the_exact_probability_and_pins_unmasked_tokens(kappa, t, h):
    """A masked position becomes ``y`` with probability ``(κ_{t+h} − κ_t)/(1 − κ_t) p(y)``
    (all of them at the last step); an unmasked token never changes."""
    gen = CTMCGenerator(MASKED, kappa)  # the masked source by default on a mask space
    x = X_MASKED.expand(N, 3)
    tt = torch.full((N,), t, dtype=F64)
    out = gen.step(_posterior_field(PROBS), x, tt, h, generator=torch.Generator().manual_seed(3))
    k_t, k_s = (float(kappa.kappa(torch.tensor(s, dtype=F64))) for s in (t, t + h))
    p_unmask = (k_s - k_t) / (1 - k_t)
    exact = p_unmask * PROBS
    exact[:, 3] = 1 - p_unmask
    exact[0] = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=F64)
    _assert_frequencies(_frequencies(out, 4), exact)
    wrong = -math.expm1(-h / (1 - t))  # Euler's 1 − exp(−h λ_t) differs at these steps
    assert abs(wrong - p_unmask) > 3 * float(_band(torch.tensor(p_unmask)))


def test_masked_generators_default_to_the_masked_source_and_check_the_path():
    from genmatch.paths import FactorizedMixturePath
    from genmatch.sources import CategoricalSource

    gen = CTMCGenerator(MASKED, LinearKappa())
    assert gen.source is not None and torch.equal(
        gen.source.probs, CategoricalSource.masked(MASKED).probs
    )
    path = FactorizedMixturePath(MASKED, CategoricalSource.uniform(MASKED), LinearKappa())
    sample = path.sample(torch.zeros(2, 3, dtype=torch.long), torch.full((2,), 0.5))
    with pytest.raises(ValueError, match="source differs"):
        gen.conditional_target(path, sample)
    with pytest.raises(ValueError, match="CONFIDENCE"):
        CTMCGenerator(DiscreteSpace(3, 3), LinearKappa(), method=JumpMethod.CONFIDENCE)


def test_confidence_step_unmasks_a_binomial_count_in_confidence_order():
    """``k ~ Binomial(#masked, (κ_{t+h} − κ_t)/(1 − κ_t))`` positions are unmasked: those
    whose drawn tokens are the most probable (the confidence ``p^i(draw_i)``)."""
    space = DiscreteSpace(4, 3, mask=True)
    gen = CTMCGenerator(space, LinearKappa(), method=JumpMethod.CONFIDENCE)
    probs = torch.zeros(4, 4, dtype=F64)
    probs[0, 1], probs[0, 2] = 0.7, 0.3
    probs[1, 0] = probs[2, 2] = 1.0
    probs[3, 0], probs[3, 1] = 0.4, 0.6
    x = torch.tensor([3, 0, 3, 3]).expand(N, 4)
    t, h = 0.4, 0.3
    out = gen.step(_posterior_field(probs), x, torch.full((N,), t, dtype=F64), h,
                   generator=torch.Generator().manual_seed(4))  # fmt: skip
    assert bool((out[:, 1] == 0).all())  # the unmasked token stays
    count = (out != 3).sum(1) - 1
    p = h / (1 - t)
    binomial = torch.tensor([math.comb(3, k) * p**k * (1 - p) ** (3 - k) for k in range(4)])
    _assert_frequencies(torch.bincount(count, minlength=4).to(F64) / N, binomial.to(F64))
    assert bool((out[count >= 1, 2] == 2).all())  # the most confident position comes first
    # k = 2: position 0 (confidence 0.7 if it drew 1, else 0.3) against position 3 (0.6 or
    # 0.4): position 0 is filled, with token 1, iff it drew 1 (probability 0.7)
    two = out[count == 2]
    exact = torch.tensor([[0.0, 0.7, 0.0, 0.3], [0.3 * 0.4, 0.3 * 0.6, 0.0, 0.7]], dtype=F64)
    _assert_frequencies(_frequencies(two[:, [0, 3]], 4), exact, n=two.shape[0])
    last = gen.step(_posterior_field(probs), x[:10], torch.full((10,), 0.8, dtype=F64), 0.2)
    assert bool((last != 3).all())  # the last step fills every mask
