"""Guidance of whole-state jump generators: predictor tilts (exact with the exact oracle and
predictor, w = 1) and classifier-free guidance of the states head (valid rates, exact ends)."""

import pytest
import torch

from genmatch import EuclideanSpace, ExactMarginal, JumpGenerator, JumpHead, simulate
from genmatch.generators.jump_measures import AtomicJumpMeasure, AtomicJumpParametrization
from genmatch.guidance import ClassifierFreeGuidance, PredictorGuidance
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths import LinearKappa, MixturePath
from genmatch.sources import UniformFiniteSource
from genmatch.spaces import DiscreteSpace
from genmatch.testing import check_rate_matrix, finite_generator_matrix

D = torch.float64
SPACE = DiscreteSpace(2, 3)
KAPPA = LinearKappa()
PATH = MixturePath(SPACE, UniformFiniteSource(SPACE), KAPPA)
#: six of the nine states, labelled by whether the first token is 0
DATA = torch.tensor([[0, 0], [0, 1], [0, 2], [1, 1], [2, 0], [2, 2]])
LABELS = (DATA[:, 0] == 0).long()
STATES = SPACE.enumerate()
M = STATES.shape[0]


def _rates(gen, value):
    q = finite_generator_matrix(gen, value, SPACE)
    return q - torch.diag(q.diagonal())  # off-diagonal rates


def _conditional_density(label):
    """``t ↦ p_t(x | c)`` on the nine states, ``(M,)`` per time, for the jvp."""
    sub = SPACE.index(DATA[LABELS == label])
    delta = torch.zeros(M, dtype=D)
    delta[sub] = 1.0 / sub.shape[0]

    def p(t):
        k = KAPPA.kappa(t)
        return k[:, None] * delta + (1 - k[:, None]) / M

    return p


@pytest.mark.parametrize("head", list(JumpHead), ids=lambda h: h.value)
@pytest.mark.parametrize("t", [0.2, 0.7])
def test_tilted_jump_oracle_is_the_conditional_oracle_and_solves_its_forward_equation(head, t):
    gen = JumpGenerator(SPACE, KAPPA, head=head)
    oracle = ExactMarginal(PATH, gen, DATA, t_max=1.0, conditions=LABELS)
    tt = torch.full((M,), t, dtype=D)
    for label in (0, 1):
        c = torch.full((M,), label)
        guided = PredictorGuidance(gen, PATH, oracle.log_likelihood).tilted(oracle, c)
        value = guided(STATES, tt)
        q = finite_generator_matrix(gen, value, SPACE)
        check_rate_matrix(q)
        torch.testing.assert_close(
            _rates(gen, value), _rates(gen, oracle.given(c)(STATES, tt)), rtol=1e-10, atol=1e-12
        )
        p = _conditional_density(label)
        _, dp = torch.func.jvp(lambda s, p=p: p(s)[0], (tt[:1],), (torch.ones(1, dtype=D),))
        torch.testing.assert_close(p(tt[:1])[0] @ q, dp, rtol=0, atol=1e-10)
        assert float(dp.abs().max()) > 0.1  # the equation is not trivially 0 = 0
        half = PredictorGuidance(gen, PATH, oracle.log_likelihood, weight=0.5)
        assert (
            _rates(gen, half.tilted(oracle, c)(STATES, tt)) - _rates(gen, value)
        ).abs().max() > 1e-2


def test_predictor_guided_jumps_sample_the_exact_conditional():
    gen = JumpGenerator(SPACE, KAPPA, head=JumpHead.STATES)
    oracle = ExactMarginal(PATH, gen, DATA, t_max=1.0, conditions=LABELS)
    n = 6000
    rng = torch.Generator().manual_seed(0)
    c = torch.ones(n, dtype=torch.long)
    guided = PredictorGuidance(gen, PATH, oracle.log_likelihood).tilted(oracle, c)
    x = simulate(gen, guided, UniformFiniteSource(SPACE).sample(n, generator=rng), 32, rng=rng).x
    freq = torch.bincount(SPACE.index(x), minlength=M).double() / n
    target = torch.zeros(M, dtype=D)
    target[SPACE.index(DATA[LABELS == 1])] = 1 / 3
    # the sampling floor of 6000 draws on 3 states is ~0.008; the unguided oracle gives 0.5
    assert 0.5 * float((freq - target).abs().sum()) < 0.025


def test_atomic_tilt_formula_reads_the_atoms_as_clean_data():
    """Masses ``λ w_j`` times ``(p_1(c|a_j) / p_t(c|x))^w``: the atoms' likelihood at ``t = 1``,
    the current point's at its own time."""
    space = EuclideanSpace(1)
    atoms = torch.tensor([[0.0], [1.0], [2.0], [5.0], [6.0], [7.0]], dtype=D)  # 3 per point
    value = AtomicJumpMeasure(
        torch.tensor([2.0, 0.5], dtype=D),
        atoms,
        torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=D),
    )
    x = torch.tensor([[0.5], [5.5]], dtype=D)
    t = torch.tensor([0.25, 0.5], dtype=D)

    def evaluate(y, s):  # log p_s(c | y) = -s y² (any function of the time and the point)
        s = s.repeat_interleave(y.shape[0] // 2)
        return -s * y[:, 0] ** 2

    bound = BoundLikelihood(evaluate, t)
    w = torch.tensor([1.0, 2.0], dtype=D)
    out = AtomicJumpParametrization(space).tilt(value, x, t, bound, w, None)
    log_x = -t * x[:, 0] ** 2
    ratio = torch.exp(w[:, None] * (-(atoms.reshape(2, 3) ** 2) - log_x[:, None]))
    mass = value.intensity[:, None] * value.weights * ratio
    torch.testing.assert_close(out.intensity[:, None] * out.weights, mass, rtol=1e-12, atol=0)
    torch.testing.assert_close(out.weights.sum(1), torch.ones(2, dtype=D))


def _random_measure(gen, seed):
    logits = torch.randn(M, M, generator=torch.Generator().manual_seed(seed), dtype=D)
    return gen.parametrization.constrain(
        {"jump_logits": logits}, STATES, torch.full((M,), 0.3, dtype=D)
    )


@pytest.mark.parametrize("w", [-1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
def test_guided_state_jumps_are_valid_rates_and_exact_at_the_ends(w):
    gen = JumpGenerator(SPACE, KAPPA, head=JumpHead.STATES)
    a, b = _random_measure(gen, 0), _random_measure(gen, 1)
    weight = torch.full((M,), w, dtype=D)
    guided = gen.parametrization.guide(a, b, weight, STATES)
    q = finite_generator_matrix(gen, guided, SPACE)
    check_rate_matrix(q)
    ra, rb, rg = _rates(gen, a), _rates(gen, b), _rates(gen, guided)
    off = ~torch.eye(M, dtype=torch.bool)
    expected = torch.where(off, ra.clamp_min(1e-300) ** (1 + w) * rb.clamp_min(1e-300) ** (-w), 0.0)
    torch.testing.assert_close(rg, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(guided.weights.sum(1), torch.ones(M, dtype=D))
    if w == 0:
        torch.testing.assert_close(rg, ra, rtol=0, atol=1e-15)
    if w == -1:
        torch.testing.assert_close(rg, rb, rtol=0, atol=1e-15)


def test_cfg_on_the_jump_oracle_raises_class_accuracy():
    gen = JumpGenerator(SPACE, KAPPA, head=JumpHead.STATES)
    oracle = ExactMarginal(PATH, gen, DATA, t_max=1.0, conditions=LABELS)
    n = 4000
    c = torch.ones(n, dtype=torch.long)
    accuracy = []
    for w in (0.0, 2.0):
        cfg = ClassifierFreeGuidance(gen, w)
        rng = torch.Generator().manual_seed(0)
        x_0 = UniformFiniteSource(SPACE).sample(n, generator=rng)
        x = simulate(cfg, cfg.combine(oracle.given(c), oracle), x_0, 16, rng=rng).x
        accuracy.append(float((x[:, 0] == 0).double().mean()))
    assert accuracy[0] > 0.9  # w = 0 is the conditional oracle: (almost) all on class 1
    assert accuracy[1] >= accuracy[0]


def test_ctmc_tilt_is_exact_only_on_the_masked_path():
    """On a uniform source the neighbour ratio ``p_t(c|y)/p_t(c|x)`` is not the exact
    ``p(c|x, z_i = y)/p_t(c|x)`` (documented as an approximation); on the masked path it is."""
    from genmatch.generators import CTMCGenerator
    from genmatch.paths import FactorizedMixturePath
    from genmatch.sources import CategoricalSource

    space = DiscreteSpace(2, 3)
    source = CategoricalSource.uniform(space)
    path = FactorizedMixturePath(space, source, KAPPA)
    gen = CTMCGenerator(space, KAPPA, source=source)
    data = torch.cartesian_prod(torch.arange(3), torch.arange(3))
    labels = (data[:, 0] == data[:, 1]).long()
    oracle = ExactMarginal(path, gen, data, t_max=1.0, conditions=labels)
    states = space.enumerate()
    t = torch.full((states.shape[0],), 0.5, dtype=D)
    c = torch.ones(states.shape[0], dtype=torch.long)
    tilted = PredictorGuidance(gen, path, oracle.log_likelihood).tilted(oracle, c)(states, t)
    gap = gen.rates(tilted, states) - gen.rates(oracle.given(c)(states, t), states)
    assert float(gap.abs().max()) > 0.1
