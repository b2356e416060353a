"""Whole-state jump measures: normalisation, parametrizations, guidance, targets and steps.

Checks :mod:`genmatch.generators.jump_measures`, :mod:`genmatch.generators.jump_base` and
:mod:`genmatch.generators.jump` on small hand-computed examples: weights that sum to 1 even
for subnormal total masses, ``⟨K f, Q⟩``, posterior means, the Doob tilt and the geometric
guidance of state jumps, the mixture path's targets and the exact jump probability.
"""

import math

import pytest
import torch

from genmatch import EuclideanSpace, GaussianSource, GeneralizedKL
from genmatch.generators import JumpGenerator
from genmatch.generators.jump import JumpHead
from genmatch.generators.jump_base import (
    JumpProposal,
    check_intensity,
    jump_probability,
    normalize,
)
from genmatch.generators.jump_measures import (
    AtomicJumpMeasure,
    AtomicJumpParametrization,
    JumpKL,
    StateJumpParametrization,
)
from genmatch.guidance.bound import BoundLikelihood
from genmatch.paths.base import PathSample
from genmatch.paths.kappa import LinearKappa, PolynomialKappa
from genmatch.paths.mixture import MixturePath
from genmatch.spaces.discrete import DiscreteSpace

D64 = torch.float64


def test_normalize_sums_to_one_even_for_subnormal_masses():
    out = normalize(torch.tensor([[1.0, 3.0], [0.0, 0.0], [1e-310, 3e-310]], dtype=D64))
    torch.testing.assert_close(out[:2], torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=D64))
    torch.testing.assert_close(out[2], torch.tensor([0.25, 0.75], dtype=D64), rtol=1e-9, atol=0)
    assert normalize(torch.zeros(1, 4)).tolist() == [[0.25] * 4]
    assert normalize(torch.tensor([[2.0, 0.0, 2.0]])).tolist() == [[0.5, 0.0, 0.5]]


def _t(v):
    return torch.tensor(v, dtype=D64)


def _atomic(intensity, atoms, weights):
    return AtomicJumpMeasure(
        torch.tensor(intensity, dtype=D64),
        torch.tensor(atoms, dtype=D64),
        torch.tensor(weights, dtype=D64),
    )


def test_atomic_inner_product_and_scale():
    param = AtomicJumpParametrization()
    x = torch.tensor([[1.0], [2.0]], dtype=D64)
    q = _atomic([2.0, 4.0], [[3.0], [0.0], [5.0], [2.0]], [[0.5, 0.5], [1.0, 0.0]])

    def f(y):
        return y[:, 0] ** 2

    # λ Σ_j w_j (f(a_j) − f(x)): 2 (0.5·8 + 0.5·(−1)) = 7, 4 (1·21 + 0) = 84
    assert param.apply(f, x, q).tolist() == [7.0, 84.0]
    scaled = param.scale(q, torch.tensor([0.5, 3.0], dtype=D64))
    assert scaled.intensity.tolist() == [1.0, 12.0]
    assert scaled.atoms is q.atoms and scaled.weights is q.weights


def test_atomic_posterior_mean_weights_atoms_by_mass():
    param = AtomicJumpParametrization()
    # three points, two latents each, one atom per latent (the mixture path's jump to z)
    values = _atomic([1.0, 3.0, 2.0, 0.0, 0.0, 0.0], [[i] for i in range(6)], [[1.0]] * 6)
    posterior = torch.tensor([[0.5, 0.5], [0.25, 0.75], [0.5, 0.5]], dtype=D64)
    mean = param.posterior_mean(values, posterior)
    assert mean.intensity.tolist() == [2.0, 0.5, 0.0]
    assert mean.weights.tolist() == [[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]]
    assert mean.atoms is values.atoms
    # total masses below 1e-300: the weights still sum to 1
    tiny = _atomic([1e-160, 3e-160], [[0.0], [1.0]], [[1.0], [1.0]])
    mean = param.posterior_mean(tiny, torch.tensor([[1e-160, 1e-160]], dtype=D64))
    torch.testing.assert_close(
        mean.weights, torch.tensor([[0.25, 0.75]], dtype=D64), rtol=1e-9, atol=0
    )
    assert 0 < float(mean.intensity[0]) < 1e-300


def test_atomic_values_come_from_targets_only():
    param = AtomicJumpParametrization()
    with pytest.raises(TypeError, match=r"no network head; use JumpGenerator\(space, kappa, head="):
        param.head_shapes(DiscreteSpace(2, 2))
    with pytest.raises(TypeError, match="no network head; use BinnedJumpGenerator on R"):
        param.head_shapes(EuclideanSpace(2))
    with pytest.raises(TypeError, match="values come from targets and oracles, not networks"):
        param.constrain({}, torch.zeros(1, 1), torch.zeros(1))


def _likelihood(x_scale=1.0):
    """``log p_s(c | y) = s · y_0``: ``at_data`` reads ``y_0``, the points' time scales it."""
    return lambda y, s: s * y[:, 0] * x_scale


def test_atomic_tilt_is_the_doob_transform_on_the_atoms():
    param = AtomicJumpParametrization()
    q = _atomic([2.0], [[0.0], [1.0]], [[0.5, 0.5]])
    x, t = torch.tensor([[0.5]], dtype=D64), torch.tensor([0.5], dtype=D64)
    bound = BoundLikelihood(_likelihood(), t)
    out = param.tilt(q, x, t, bound, torch.tensor([1.0], dtype=D64), None)
    # r_j = exp(log p(c|a_j) − log p_t(c|x)) = exp([0, 1] − 0.25)
    r = torch.exp(torch.tensor([-0.25, 0.75], dtype=D64))
    torch.testing.assert_close(out.intensity, 2.0 * 0.5 * r.sum()[None])
    torch.testing.assert_close(out.weights, (r / r.sum())[None])
    half = param.tilt(q, x, t, bound, torch.tensor([0.5], dtype=D64), None)
    torch.testing.assert_close(half.weights, (r.sqrt() / r.sqrt().sum())[None])
    # an atom ruled out (log p = −inf) gets 0; leaving a ruled-out point gets e^50; NaN → 1
    ruled = BoundLikelihood(lambda y, s: torch.log(y[:, 0]) if s[0] == 1 else 0 * y[:, 0], t)
    out = param.tilt(q, x, t, ruled, torch.tensor([1.0], dtype=D64), None)
    assert out.weights.tolist() == [[0.0, 1.0]] and out.intensity.tolist() == [1.0]
    leave = BoundLikelihood(lambda y, s: y[:, 0] * 0 if s[0] == 1 else -math.inf * y[:, 0] ** 0, t)
    out = param.tilt(q, x, t, leave, torch.tensor([1.0], dtype=D64), None)
    torch.testing.assert_close(out.intensity, torch.tensor([2.0 * math.exp(50.0)], dtype=D64))
    nan = BoundLikelihood(lambda y, s: y[:, 0] * math.nan, t)
    out = param.tilt(q, x, t, nan, torch.tensor([1.0], dtype=D64), None)
    assert out.intensity.tolist() == [2.0] and out.weights.tolist() == [[0.5, 0.5]]


SPACE = DiscreteSpace(1, 3)


def test_state_parametrization_heads_states_and_measure():
    param = StateJumpParametrization(SPACE, LinearKappa())
    assert param.head_shapes(SPACE) == {"jump_logits": (3,)}
    assert param.states(2).tolist() == [[0], [1], [2], [0], [1], [2]]
    raw = {"jump_logits": torch.log(torch.tensor([[1.0, 2.0, 1.0]], dtype=D64))}
    q = param.constrain(raw, torch.tensor([[0]]), torch.tensor([0.75], dtype=D64))
    torch.testing.assert_close(q.intensity, torch.tensor([4.0], dtype=D64))
    torch.testing.assert_close(q.weights, torch.tensor([[0.25, 0.5, 0.25]], dtype=D64))
    assert q.atoms.tolist() == [[0], [1], [2]]
    # ⟨K f, Q⟩ = λ Σ_y J(y) (f(y) − f(x)) with f(y) = y
    assert param.apply(lambda y: y[:, 0].double(), torch.tensor([[1]]), q).tolist() == [0.0]
    assert param.apply(lambda y: y[:, 0].double(), torch.tensor([[0]]), q).tolist() == [4.0]
    scaled = param.scale(q, torch.tensor([0.5], dtype=D64))
    assert scaled.intensity.tolist() == [2.0] and scaled.weights is q.weights


def test_state_posterior_mean_averages_the_distributions():
    param = StateJumpParametrization(SPACE, LinearKappa())
    probs = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0], [0, 1.0, 0]], dtype=D64)
    values = param.measure(probs, torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=D64))
    mean = param.posterior_mean(values, torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=D64))
    assert mean.intensity.tolist() == [2.0, 1.0]
    assert mean.weights.tolist() == [[0.25, 0.0, 0.75], [0.0, 1.0, 0.0]]
    assert mean.atoms.tolist() == param.states(2).tolist()


def test_state_guidance_is_geometric_off_the_current_state():
    param = StateJumpParametrization(SPACE, LinearKappa())
    cond = AtomicJumpMeasure(
        torch.tensor([2.0], dtype=D64),
        param.states(1),
        torch.tensor([[0.5, 0.25, 0.25]], dtype=D64),
    )
    unc = AtomicJumpMeasure(
        torch.tensor([2.0], dtype=D64),
        param.states(1),
        torch.tensor([[0.25, 0.5, 0.25]], dtype=D64),
    )
    x = torch.tensor([[0]])
    out = param.guide(cond, unc, torch.tensor([1.0], dtype=D64), x)
    # rates (1, .5, .5) and (.5, 1, .5): a²/b = (2, .25, .5), the current state dropped
    torch.testing.assert_close(out.intensity, torch.tensor([0.75], dtype=D64))
    torch.testing.assert_close(out.weights, torch.tensor([[0.0, 1 / 3, 2 / 3]], dtype=D64))
    assert out.atoms is cond.atoms
    same = param.guide(cond, unc, torch.tensor([0.0], dtype=D64), x)
    assert same.intensity.tolist() == [2.0] and same.weights.tolist() == [[0.5, 0.25, 0.25]]
    back = param.guide(cond, unc, torch.tensor([-1.0], dtype=D64), x)
    assert back.intensity.tolist() == [2.0] and back.weights.tolist() == [[0.25, 0.5, 0.25]]
    stay = AtomicJumpMeasure(cond.intensity, cond.atoms, torch.tensor([[1.0, 0, 0]], dtype=D64))
    out = param.guide(stay, unc, torch.tensor([1.0], dtype=D64), x)
    assert out.intensity.tolist() == [0.0] and out.weights.tolist() == [[1 / 3] * 3]


def test_state_tilt_uses_every_state_as_an_atom():
    param = StateJumpParametrization(SPACE, LinearKappa())
    q = param.measure(torch.tensor([[0.5, 0.25, 0.25]], dtype=D64), torch.tensor([0.5], dtype=D64))
    t = torch.tensor([0.5], dtype=D64)
    bound = BoundLikelihood(lambda y, s: s * y[:, 0].double(), t)
    out = param.tilt(q, torch.tensor([[2]]), t, bound, torch.tensor([1.0], dtype=D64), None)
    r = torch.tensor([0.5, 0.25, 0.25], dtype=D64) * torch.exp(
        torch.tensor([-1.0, 0.0, 1.0], dtype=D64)
    )
    torch.testing.assert_close(out.intensity, 2.0 * r.sum()[None])
    torch.testing.assert_close(out.weights, (r / r.sum())[None])


def test_jump_kl_is_the_kl_of_the_distributions():
    a = _atomic([1.0], [[0.0], [1.0]], [[0.5, 0.5]])
    b = _atomic([7.0], [[0.0], [1.0]], [[0.25, 0.75]])
    kl = 0.5 * math.log(2.0) + 0.5 * math.log(2 / 3)
    assert JumpKL()(a, b).tolist() == pytest.approx([kl], abs=1e-15)
    assert JumpKL().generic(a, b).tolist() == pytest.approx([kl], abs=1e-12)
    assert JumpKL().phi(a).tolist() == pytest.approx([math.log(0.5)], abs=1e-15)


def test_jump_generator_construction():
    space = EuclideanSpace(1)
    gen = JumpGenerator(space)
    assert isinstance(gen.parametrization, AtomicJumpParametrization)
    assert gen.parametrization.space is space and gen.divergence == GeneralizedKL()
    states = JumpGenerator(SPACE, LinearKappa(), head=JumpHead.STATES)
    assert isinstance(states.parametrization, StateJumpParametrization)
    assert states.parametrization.space is SPACE and states.parametrization.kappa == LinearKappa()
    assert states.divergence == JumpKL()
    assert JumpGenerator(space, divergence=JumpKL()).divergence == JumpKL()
    with pytest.raises(TypeError, match="space must be an AbstractStateSpace instance, got 3"):
        JumpGenerator(3)
    with pytest.raises(TypeError, match="head must be a JumpHead, got 'states'"):
        JumpGenerator(SPACE, LinearKappa(), head="states")
    with pytest.raises(TypeError, match=r"needs a finite space \(AbstractFiniteSpace\), got Eucl"):
        JumpGenerator(space, LinearKappa(), head=JumpHead.STATES)
    with pytest.raises(ValueError, match="JumpHead.STATES needs the mixture path's kappa"):
        JumpGenerator(SPACE, head=JumpHead.STATES)


def test_jump_generator_targets():
    space = EuclideanSpace(1)
    path = MixturePath(space, GaussianSource(space), PolynomialKappa(2.0))
    t = torch.tensor([0.5, 0.0], dtype=D64)
    z = torch.tensor([[3.0], [4.0]], dtype=D64)
    q = JumpGenerator(space).conditional_target(path, PathSample(x_t=z, t=t, z=z))
    assert q.intensity.tolist() == [1 / 0.75, 0.0]  # κ̇/(1 − κ), κ = t²
    assert q.atoms is z and q.weights.tolist() == [[1.0], [1.0]] and q.weights.dtype == D64
    with pytest.raises(ValueError, match=r"kappa PolynomialKappa\(n=2.0\) differs from LinearK"):
        JumpGenerator(space, LinearKappa()).conditional_target(path, PathSample(z, t, z))
    same = JumpGenerator(space, PolynomialKappa(2.0)).conditional_target(path, PathSample(z, t, z))
    assert same.intensity.tolist() == q.intensity.tolist()
    kappa = LinearKappa()
    gen = JumpGenerator(SPACE, kappa, head=JumpHead.STATES)
    path = MixturePath(SPACE, GaussianSource(EuclideanSpace(1)), kappa)
    tok = torch.tensor([[2], [0]])
    q = gen.conditional_target(path, PathSample(x_t=tok, t=t, z=tok))
    assert q.intensity.tolist() == [2.0, 1.0]
    assert q.weights.tolist() == [[0, 0, 1.0], [1.0, 0, 0]] and q.weights.dtype == D64
    posterior = torch.tensor([[0.25, 0.75], [1.0, 0.0]], dtype=D64)
    data = torch.tensor([[1], [2]])
    m = gen.marginal_target(path, tok, t, data, posterior)
    assert m.intensity.tolist() == [2.0, 1.0]
    assert m.weights.tolist() == [[0.0, 0.25, 0.75], [0.0, 1.0, 0.0]]
    with pytest.raises(TypeError, match="it needs a path implementing AbstractMixturePath"):
        gen.marginal_target(object(), tok, t, data, posterior)


def test_exact_jump_probability_with_the_time_factor():
    gen = JumpGenerator(EuclideanSpace(1), PolynomialKappa(2.0))
    t = torch.tensor([0.5, 0.5, 0.0, 0.9], dtype=D64)
    lam = torch.tensor([2 / 0.75, 0.0, 1.5, 1.0], dtype=D64)  # c = 2 and 0 at t = 0.5
    p = gen._jump_probability(lam, t, 0.25)
    survive = (1 - 0.75**2) / 0.75
    expected = [1 - survive**2, 0.0, 1 - math.exp(-0.25 * 1.5), 1.0]  # κ̇_0 = 0: first order
    assert p.tolist() == pytest.approx(expected, abs=1e-15)
    plain = JumpGenerator(EuclideanSpace(1))._jump_probability(lam, t, 0.25)
    assert plain.tolist() == pytest.approx((1 - torch.exp(-0.25 * lam)).tolist(), abs=1e-15)
    with pytest.raises(ValueError, match=r"jump intensities must be >= 0, got \[-1.0\]"):
        gen._jump_probability(torch.tensor([1.0, -1.0]), t[:2], 0.1)


def test_propose_draws_atoms_by_weight_and_jumps_at_the_probability():
    space = EuclideanSpace(1)
    gen = JumpGenerator(space)
    rng = torch.Generator().manual_seed(0)
    n = 20_000
    atoms = torch.tensor([[10.0], [20.0]], dtype=D64).repeat(n, 1)
    weights = torch.tensor([[0.25, 0.75]], dtype=D64).expand(n, 2)
    q = AtomicJumpMeasure(torch.full((n,), math.log(2.0), dtype=D64), atoms, weights)
    x = torch.zeros(n, 1, dtype=D64)
    prop = gen.propose(q, x, torch.zeros(n, dtype=D64), 1.0, generator=rng)
    assert prop.space is space
    assert float(prop.mask.double().mean()) == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / n))
    assert float((prop.destination == 20.0).double().mean()) == pytest.approx(0.75, abs=0.013)
    moved = prop.apply(x)
    assert bool((moved[prop.mask] == prop.destination[prop.mask]).all())
    assert bool((moved[~prop.mask] == 0).all())
    certain = AtomicJumpMeasure(torch.full((n,), math.inf, dtype=D64), atoms, weights)
    assert bool(gen.step(lambda y, s: certain, x, torch.zeros(n, dtype=D64), 0.1).ne(0).all())
    assert gen.move(lambda y, s: certain, x, torch.zeros(n, dtype=D64), 0.1) is x
    with pytest.raises(ValueError, match="the step size h must be >= 0"):
        gen.step(lambda y, s: certain, x, torch.zeros(n, dtype=D64), -0.1)


def test_jump_proposal_and_probability_helpers():
    mask = torch.tensor([[True, False], [False, True]])
    prop = JumpProposal(mask, torch.ones(2, 2))
    assert prop.apply(torch.zeros(2, 2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert jump_probability(torch.tensor([0.0, math.log(4.0), math.inf]), 1.0).tolist() == [
        0.0,
        0.75,
        1.0,
    ]
    check_intensity(torch.tensor([0.0, math.inf]))
    with pytest.raises(ValueError, match=r"must be >= 0, got \[nan\]"):
        jump_probability(torch.tensor([math.nan, 1.0]), 1.0)


def test_propose_is_exact_for_given_random_draws():
    space = EuclideanSpace(1)
    gen = JumpGenerator(space)
    atoms = _t([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    weights = _t([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    q = AtomicJumpMeasure(_t([0.5, 2.0, 1.0]), atoms, weights)
    x, t = torch.zeros(3, 1, dtype=D64), _t([0.1, 0.2, 0.3])
    prop = gen.propose(q, x, t, 0.5, generator=torch.Generator().manual_seed(5))
    again = gen.propose(q, x, t, 0.5, generator=torch.Generator().manual_seed(5))
    assert prop.mask.tolist() == again.mask.tolist()
    assert prop.destination.tolist() == again.destination.tolist()
    rng = torch.Generator().manual_seed(5)
    u = torch.rand(3, generator=rng, dtype=D64)
    j = torch.multinomial(weights, 1, generator=rng)[:, 0]
    assert prop.mask.tolist() == (u < 1 - torch.exp(-0.5 * q.intensity)).tolist()
    assert prop.destination[:, 0].tolist() == (1.0 + 2 * torch.arange(3) + j).tolist()


def _repeating(y, s):
    """``s · y_0`` with the points' times repeated to the atoms (the contract of ``evaluate``)."""
    return s.repeat_interleave(y.shape[0] // s.shape[0]) * y[:, 0]


def test_atomic_values_over_two_points_and_two_atoms_per_latent():
    param = AtomicJumpParametrization()
    with pytest.raises(
        TypeError,
        match=r"^AtomicJumpParametrization values come from targets and oracles, not networks$",
    ):
        param.constrain({}, torch.zeros(1, 1), torch.zeros(1))
    values = _atomic([1.0, 2.0], [[0.0], [1.0], [2.0], [3.0]], [[0.25, 0.75], [0.5, 0.5]])
    mean = param.posterior_mean(values, _t([[0.5, 0.5]]))
    assert mean.intensity.tolist() == [1.5]
    torch.testing.assert_close(
        mean.weights, _t([[1 / 12, 1 / 4, 1 / 3, 1 / 3]]), atol=1e-15, rtol=0
    )
    q = _atomic([2.0, 1.0], [[0.0], [1.0], [0.0], [1.0]], [[0.5, 0.5], [0.25, 0.75]])
    t = _t([0.5, 0.5])
    out = param.tilt(q, _t([[0.5], [0.0]]), t, BoundLikelihood(_repeating, t), _t([1.0, 1.0]), None)
    r = torch.exp(_t([[-0.25, 0.75], [0.0, 1.0]])) * q.weights
    torch.testing.assert_close(out.intensity, q.intensity * r.sum(1), atol=1e-14, rtol=0)
    torch.testing.assert_close(out.weights, r / r.sum(1, keepdim=True), atol=1e-15, rtol=0)
    scaled = StateJumpParametrization(SPACE, LinearKappa()).scale(q, _t([2.0, 0.5]))
    assert scaled.intensity.tolist() == [4.0, 0.5] and scaled.atoms is q.atoms


def test_intensity_messages_and_the_atomic_marginal():
    with pytest.raises(
        ValueError, match=r"^jump intensities must be >= 0, got \[-1.0, -2.0, -3.0\]$"
    ):
        check_intensity(_t([-1.0, 0.0, 2.0, -2.0, -3.0, -4.0]))
    with pytest.raises(
        ValueError, match=r"^JumpHead.STATES needs the mixture path's kappa schedule$"
    ):
        JumpGenerator(SPACE, head=JumpHead.STATES)
    space = EuclideanSpace(1)
    path = MixturePath(space, GaussianSource(space), LinearKappa())
    x, t = _t([[0.0], [5.0]]), _t([0.5, 0.75])
    data, posterior = _t([[1.0], [2.0]]), _t([[0.25, 0.75], [0.5, 0.5]])
    m = JumpGenerator(space).marginal_target(path, x, t, data, posterior)
    assert m.intensity.tolist() == [2.0, 4.0]  # κ̇/(1 − κ), whatever the posterior
    assert m.weights.tolist() == posterior.tolist()
    assert m.atoms.tolist() == [[1.0], [2.0], [1.0], [2.0]]


def test_atomic_tilt_keeps_the_dtype_of_float32_measures():
    f32 = torch.float32
    q = AtomicJumpMeasure(
        torch.tensor([2.0], dtype=f32),
        torch.tensor([[0.0], [1.0]], dtype=f32),
        torch.tensor([[0.5, 0.5]], dtype=f32),
    )
    t = torch.tensor([0.5], dtype=f32)
    out = AtomicJumpParametrization().tilt(
        q, torch.tensor([[0.5]], dtype=f32), t, BoundLikelihood(_likelihood(), t), _t([1.0]), None
    )
    assert out.weights.dtype == f32 and out.intensity.dtype == f32
