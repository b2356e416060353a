"""Discrete predictor–corrector and Metropolis–Hastings leave p_t invariant, exactly."""

import pytest
import torch

from genmatch import ExactMarginal, simulate
from genmatch.compose import Corrected, MetropolisHastings, MixtureCorrector, constant_rate
from genmatch.generators import CTMCGenerator, CTMCHead
from genmatch.paths import CosineKappa, FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace
from genmatch.testing import check_rate_matrix, ctmc_generator_matrix

D = torch.float64
UNIFORM = DiscreteSpace(2, 3)
MASKED = DiscreteSpace(2, 2, mask=True)
SETUPS = {
    "uniform": (UNIFORM, CategoricalSource.uniform(UNIFORM)),
    "masked": (MASKED, CategoricalSource.masked(MASKED)),
    "product": (
        UNIFORM,
        CategoricalSource(UNIFORM, torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], dtype=D)),
    ),
}


def _marginal(path, points, data, t):
    n = points.shape[0]
    t = torch.as_tensor(t, dtype=D).reshape(1)
    per = [
        path.probs(z.expand(n, -1), t.expand(n)).gather(2, points[..., None])[..., 0].prod(1)
        for z in data
    ]
    return torch.stack(per).mean(0)


@pytest.mark.parametrize("setup", list(SETUPS))
def test_mixture_corrector_is_divergence_free_and_pc_generates_the_path(setup):
    space, source = SETUPS[setup]
    kappa = LinearKappa()
    path = FactorizedMixturePath(space, source, kappa)
    gen = CTMCGenerator(space, kappa)
    points = space.enumerate()
    data = points[[1, 3, 3, 5, 7]]
    oracle = ExactMarginal(path, gen, data, t_max=1.0)
    pc = MixtureCorrector(gen, source, constant_rate(0.7))
    n = points.shape[0]
    for t in (0.25, 0.5, 0.8):
        tt = torch.full((n,), t, dtype=D)
        value = oracle(points, tt)
        p = _marginal(path, points, data, t)
        q_div = ctmc_generator_matrix(space, pc.divergence_free_rates(value, points, tt))
        check_rate_matrix(q_div)
        torch.testing.assert_close(p @ q_div, torch.zeros_like(p), atol=1e-12, rtol=0)
        # the backward rates alone generate p_t in reverse time: p Ř = −dp/dt
        s = torch.tensor([t], dtype=D)
        _, dp = torch.func.jvp(
            lambda s: _marginal(path, points, data, s), (s,), (torch.ones_like(s),)
        )
        q_bwd = ctmc_generator_matrix(space, pc.backward_rates(value, points, tt))
        torch.testing.assert_close(p @ q_bwd, -dp, atol=1e-12, rtol=1e-9)
        q_pc = ctmc_generator_matrix(space, pc.rates(value, points, tt))
        torch.testing.assert_close(p @ q_pc, dp, atol=1e-12, rtol=1e-9)


@pytest.mark.parametrize("setup", ["uniform", "masked"])
def test_pc_sampling_with_the_oracle_reproduces_the_data(setup):
    space, source = SETUPS[setup]
    kappa = CosineKappa()
    path = FactorizedMixturePath(space, source, kappa)
    gen = CTMCGenerator(space, kappa)
    points = space.enumerate()
    data = points[[1, 3, 3, 5, 7]]
    oracle = ExactMarginal(path, gen, data, t_max=1.0)
    # β vanishing at both ends: the backward rates grow like κ̇/κ as t → 0
    pc = MixtureCorrector(gen, source, lambda t: 2.0 * t * (1 - t))
    n = 20_000
    out = simulate(
        pc,
        oracle,
        source.sample(n, generator=torch.Generator().manual_seed(0)),
        200,
        rng=torch.Generator().manual_seed(1),
    )
    truth = torch.bincount(space.index(data), minlength=points.shape[0]).to(D) / data.shape[0]
    freq = torch.bincount(space.index(out.x), minlength=points.shape[0]).to(D) / n
    assert 0.5 * float((freq - truth).abs().sum()) < 0.03


def _target(space):
    logits = torch.randn(
        space.num_states**space.length, dtype=D, generator=torch.Generator().manual_seed(3)
    )
    return logits, (lambda x, t: logits[space.index(x)])


def test_metropolis_hastings_has_detailed_balance():
    space = DiscreteSpace(2, 3)
    logits, log_prob = _target(space)
    mh = MetropolisHastings(space, log_prob, constant_rate(2.0))
    points = space.enumerate()
    q = ctmc_generator_matrix(space, mh.rates(points, torch.zeros(points.shape[0], dtype=D)))
    check_rate_matrix(q)
    pi = logits.softmax(0)
    flow = pi[:, None] * q
    off = ~torch.eye(q.shape[0], dtype=torch.bool)
    torch.testing.assert_close(flow[off], flow.T[off], atol=1e-14, rtol=0)
    torch.testing.assert_close(pi @ q, torch.zeros_like(pi), atol=1e-14, rtol=0)


def test_metropolis_hastings_samples_its_target_and_corrects_a_predictor():
    space = DiscreteSpace(2, 3)
    logits, log_prob = _target(space)
    mh = MetropolisHastings(space, log_prob, constant_rate(200.0))
    n = 20_000
    x_0 = torch.zeros(n, 2, dtype=torch.long)
    out = simulate(mh, None, x_0, 100, rng=torch.Generator().manual_seed(0))
    assert out.nfe == 0
    freq = torch.bincount(space.index(out.x), minlength=9).to(D) / n
    assert 0.5 * float((freq - logits.softmax(0)).abs().sum()) < 0.03


def test_metropolis_hastings_corrects_a_ctmc_predictor():
    """PC with MH targeting the exact marginal ``p_t``: samples still reach the data."""
    space, source = SETUPS["uniform"]
    kappa = CosineKappa()
    path = FactorizedMixturePath(space, source, kappa)
    points = space.enumerate()
    data = points[[1, 3, 3, 5, 7]]

    def log_p_t(x, t):
        n = x.shape[0]
        per = [path.probs(z.expand(n, -1), t).gather(2, x[..., None])[..., 0].prod(1) for z in data]
        return torch.log(torch.stack(per).mean(0))

    gen = CTMCGenerator(space, kappa)
    pc = Corrected(gen, MetropolisHastings(space, log_p_t, constant_rate(20.0)))
    oracle = ExactMarginal(path, gen, data, t_max=1.0)
    n = 20_000
    x_0 = source.sample(n, generator=torch.Generator().manual_seed(0)).to(torch.long)
    out = simulate(pc, oracle, x_0, 100, rng=torch.Generator().manual_seed(1))
    assert out.nfe == 100
    truth = torch.bincount(space.index(data), minlength=points.shape[0]).to(D) / data.shape[0]
    freq = torch.bincount(space.index(out.x), minlength=points.shape[0]).to(D) / n
    assert 0.5 * float((freq - truth).abs().sum()) < 0.03


def test_bad_input_raises():
    space, source = SETUPS["uniform"]
    with pytest.raises(ValueError, match="posterior head"):
        MixtureCorrector(
            CTMCGenerator(space, head=CTMCHead.RATE),
            source,
            constant_rate(1.0),
        )
    with pytest.raises(ValueError, match="rate must be >= 0"):
        constant_rate(-1.0)
    with pytest.raises(TypeError, match="not trained"):
        MetropolisHastings(
            space, lambda x, t: x.sum(1).double(), constant_rate(1.0)
        ).conditional_target(None, None)
