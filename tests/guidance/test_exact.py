"""Predictor guidance is exact with the exact oracle and the exact predictor (w = 1): the tilted
generator of ``p_t`` equals the oracle of ``p_t(x | c)`` and solves its forward equation."""

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, ExactMarginal, FlowGenerator, simulate
from genmatch.data import LabelledMixture
from genmatch.generators import CTMCGenerator, CTMCHead
from genmatch.guidance import PredictorGuidance
from genmatch.metrics import energy_distance
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace
from genmatch.testing import check_rate_matrix, finite_generator_matrix

D = torch.float64
SPACE = DiscreteSpace(2, 3, mask=True)
KAPPA = LinearKappa()
PATH = FactorizedMixturePath(SPACE, CategoricalSource.masked(SPACE), KAPPA)
#: the 9 unmasked sequences, each labelled by whether its two tokens agree
DATA = torch.cartesian_prod(torch.arange(3), torch.arange(3))
LABELS = (DATA[:, 0] == DATA[:, 1]).long()


def _ctmc(head):
    return CTMCGenerator(SPACE, KAPPA, head=head, source=PATH.source)


def _flow_problem(n=40):
    toy = LabelledMixture(num_modes=4, std=0.4)
    batch = toy.sample(n, generator=torch.Generator().manual_seed(0), dtype=D)
    path = AffineGaussianPath(CondOT())
    oracle = ExactMarginal(path, FlowGenerator(), batch["x"], conditions=batch["label"][:, 0])
    return path, oracle, batch


@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_tilted_flow_is_the_conditional_oracle(t):
    path, oracle, _ = _flow_problem()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=D) * 2
    tt = torch.full((64,), t, dtype=D)
    c = torch.arange(64) % 4
    exact = oracle.given(c)(x, tt)
    guided = PredictorGuidance(FlowGenerator(), path, oracle.log_likelihood).tilted(oracle, c)
    torch.testing.assert_close(guided(x, tt), exact, rtol=1e-9, atol=1e-9)
    half = PredictorGuidance(FlowGenerator(), path, oracle.log_likelihood, weight=0.5)
    assert (half.tilted(oracle, c)(x, tt) - exact).abs().max() > 1e-2  # the weight matters


@pytest.mark.parametrize("head", [CTMCHead.POSTERIOR, CTMCHead.RATE])
@pytest.mark.parametrize("t", [0.2, 0.6])
def test_tilted_ctmc_is_the_conditional_oracle_and_solves_its_forward_equation(head, t):
    gen = _ctmc(head)
    oracle = ExactMarginal(PATH, gen, DATA, t_max=1.0, conditions=LABELS)
    states = SPACE.enumerate()
    m = states.shape[0]
    tt = torch.full((m,), t, dtype=D)
    for label in (0, 1):
        c = torch.full((m,), label)
        guided = PredictorGuidance(gen, PATH, oracle.log_likelihood).tilted(oracle, c)
        value = guided(states, tt)
        # reachable states (p_t(c|x) > 0): the tilted rates are the conditional oracle's
        reachable = torch.isfinite(oracle.log_likelihood(states, tt, c))
        exact = gen.rates(oracle.given(c)(states, tt), states)
        torch.testing.assert_close(
            gen.rates(value, states)[reachable], exact[reachable], rtol=1e-10, atol=1e-10
        )
        # d/dt p_t(·|c) = p_t(·|c) Q_t^{guided}, exactly, on all 16 states
        sub = DATA[LABELS == label]

        def p_c(s, sub=sub):
            x_rep = states.repeat_interleave(sub.shape[0], 0)
            z_rep = sub.repeat(m, 1)
            s_rep = s.repeat_interleave(sub.shape[0], 0)
            per_position = PATH.probs(z_rep, s_rep).gather(2, x_rep[..., None])[..., 0]
            return per_position.prod(1).reshape(m, -1).mean(1)

        p, dp = torch.func.jvp(p_c, (tt,), (torch.ones_like(tt),))
        q = finite_generator_matrix(gen, value, SPACE)
        q = torch.where(reachable[:, None], q, 0.0)  # rows of unreachable states carry no mass
        check_rate_matrix(q)
        torch.testing.assert_close(p @ q, dp, rtol=0, atol=1e-10)


def test_predictor_guided_flow_samples_the_class_conditional():
    path, oracle, batch = _flow_problem(n=64)
    n = 600
    c = torch.full((n,), 2)
    gen = torch.Generator().manual_seed(3)
    guided = PredictorGuidance(FlowGenerator(), path, oracle.log_likelihood).tilted(oracle, c)
    x = simulate(FlowGenerator(), guided, torch.randn(n, 2, generator=gen, dtype=D), 100).x
    members = batch["x"][batch["label"][:, 0] == 2]
    # the conditional oracle's own samples: the reference at the same discretisation
    ref = simulate(
        FlowGenerator(), oracle.given(c), torch.randn(n, 2, generator=gen, dtype=D), 100
    ).x
    nearest = torch.cdist(x, members).min(1).values
    assert float((nearest < 0.1).double().mean()) > 0.97  # on class-2 data points
    other = batch["x"][batch["label"][:, 0] != 2]
    assert float((torch.cdist(x, other).min(1).values < 0.1).double().mean()) < 0.02
    floor = energy_distance(ref, members[torch.randint(len(members), (n,), generator=gen)])
    assert energy_distance(x, ref) < 2 * floor + 0.01


def test_predictor_guided_ctmc_samples_the_exact_conditional():
    gen = _ctmc(CTMCHead.POSTERIOR)
    oracle = ExactMarginal(PATH, gen, DATA, t_max=1.0, conditions=LABELS)
    n = 6000
    c = torch.ones(n, dtype=torch.long)  # sequences with equal tokens: 3 of the 9
    guided = PredictorGuidance(gen, PATH, oracle.log_likelihood).tilted(oracle, c)
    x_0 = torch.full((n, 2), SPACE.mask_token)
    x = simulate(gen, guided, x_0, 64, rng=torch.Generator().manual_seed(0)).x
    index = SPACE.index(x)
    freq = torch.bincount(index, minlength=SPACE.num_points).double() / n
    target = torch.zeros(SPACE.num_points, dtype=D)
    target[SPACE.index(DATA[LABELS == 1])] = 1 / 3
    tv = 0.5 * float((freq - target).abs().sum())
    assert tv < 0.025  # the sampling floor of 6000 draws is ~0.01; the oracle given c: 0.0095
