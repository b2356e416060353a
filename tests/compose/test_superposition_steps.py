"""Markov superposition, exactly: one step, the parametrization's maps, the summed divergence.

A superposition step (GM §9.7) evaluates the field once at ``(x_t, t)``; the parts move in
turn, each from the previous part's result, on their own field scaled by ``α^i`` at the
stage's own time (re-using the first evaluation); then the jump parts propose from ``x_t`` with
their value scaled by ``α^i_t`` and override the moved coordinates where they jump. The tests
below check each of these facts on hand-written parts with closed-form fields, in float64, and
the construction checks with their messages.
"""

import re

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, EuclideanSpace, FlowGenerator, Midpoint
from genmatch.compose import (
    ConstantWeights,
    LinearWeights,
    SumDivergence,
    SuperposedValue,
    Superposition,
)
from genmatch.divergences.squared_euclidean import SquaredEuclidean
from genmatch.generators import AbstractGenerator, BinnedJumpGenerator, Bins
from genmatch.generators.base import AbstractLinearParametrization
from genmatch.generators.flow import VelocityParametrization
from genmatch.generators.jump_base import JumpProposal
from genmatch.guidance.base import AbstractGuidableParametrization

D = torch.float64
PATH = AffineGaussianPath(CondOT())
WEIGHTS = LinearWeights((0.5, 0.3, 0.2), (0.1, 0.2, 0.7))
WEIGHTS_2 = LinearWeights((0.9, 0.1), (0.3, 0.7))


class _Jumper(AbstractGenerator):
    """A jump part that records what it is given: no move, a deterministic proposal."""

    parametrization = VelocityParametrization()
    divergence = SquaredEuclidean()

    def __init__(self):
        self.moves, self.proposals = [], []

    def conditional_target(self, path, sample):
        return sample.x_t

    def step(self, field, x, t, h, *, generator=None):
        raise AssertionError("a superposition does not call its parts' step")

    def move(self, field, x, t, h, *, generator=None):
        self.moves.append((x, t, h, generator))
        return x

    def propose(self, value, x, t, h, *, generator=None):
        self.proposals.append((value, x, t, h, generator))
        mask = (x[:, :1] > 0).expand_as(x)
        return JumpProposal(mask=mask, destination=10 + h * value + t[:, None])


def _v0(y, s):
    return -y + s[:, None]


def _j1(y, s):
    return 2 * y - s[:, None]


def _v2(y, s):
    return y * s[:, None] + 1


def _recording_field(calls):
    def field(y, s):
        calls.append((y, s))
        return SuperposedValue((_v0(y, s), _j1(y, s), _v2(y, s)), WEIGHTS(s))

    return field


def test_one_step_is_the_parts_moves_in_turn_then_the_jumps_from_the_start():
    jumper = _Jumper()
    model = Superposition([FlowGenerator(), jumper, FlowGenerator(solver=Midpoint())], WEIGHTS)
    assert model.nfe_per_step == 2
    x = torch.tensor([[0.5, -1.0], [-0.3, 0.2], [1.5, 0.7]], dtype=D)
    t = torch.tensor([0.1, 0.4, 0.8], dtype=D)
    h = 0.125
    calls = []
    rng = torch.Generator().manual_seed(0)
    out = model.step(_recording_field(calls), x, t, h, generator=rng)

    a = WEIGHTS(t)
    x1 = x + h * a[:, :1] * _v0(x, t)  # the Euler part re-uses the first evaluation
    k1 = a[:, 2:] * _v2(x1, t)  # the midpoint part starts from the Euler part's result
    tm = t + h / 2
    mid = x1 + (h / 2) * k1
    x2 = x1 + h * (WEIGHTS(tm)[:, 2:] * _v2(mid, tm))  # α at the stage's own time
    value = a[:, 1:2] * _j1(x, t)  # the jump value: α¹_t F¹_t(x_t)
    jumped = (x[:, :1] > 0).expand_as(x)
    expected = torch.where(jumped, 10 + h * value + t[:, None], x2)
    torch.testing.assert_close(out, expected, rtol=1e-13, atol=1e-13)
    assert bool(jumped.any()) and not bool(jumped.all())

    assert len(calls) == 3  # the first evaluation, then the midpoint part's two stages less one
    assert calls[0][0] is x and calls[0][1] is t
    torch.testing.assert_close(calls[1][0], x1, rtol=0, atol=0)
    assert calls[1][1] is t
    torch.testing.assert_close(calls[2][1], tm, rtol=0, atol=1e-15)

    ((moved_x, moved_t, moved_h, moved_rng),) = jumper.moves
    torch.testing.assert_close(moved_x, x1, rtol=0, atol=0)
    assert moved_t is t and moved_h == h and moved_rng is rng
    ((p_value, p_x, p_t, p_h, p_rng),) = jumper.proposals
    torch.testing.assert_close(p_value, value, rtol=0, atol=0)
    assert p_x is x and p_t is t and p_h == h and p_rng is rng


def test_a_part_that_proposes_nothing_keeps_the_moved_point():
    """Flows propose no jumps: two Euler parts give the sequential Euler updates only."""
    weights = ConstantWeights((0.25, 0.75))
    model = Superposition([FlowGenerator(), FlowGenerator()], weights)
    x = torch.tensor([[0.5, -1.0], [-0.3, 0.2]], dtype=D)
    t = torch.tensor([0.2, 0.6], dtype=D)

    def field(y, s):
        return SuperposedValue((_v0(y, s), _v2(y, s)), weights(s))

    out = model.step(field, x, t, 0.5)
    x1 = x + 0.5 * 0.25 * _v0(x, t)
    torch.testing.assert_close(out, x1 + 0.5 * 0.75 * _v2(x1, t), rtol=1e-14, atol=1e-14)


def _parts():
    flow = FlowGenerator()
    jump = BinnedJumpGenerator(Bins(-1.0, 1.0, 4))
    return flow, jump


def _jump_value(b, seed):
    return torch.rand(b, 2, 4, dtype=D, generator=torch.Generator().manual_seed(seed)) + 0.1


def test_apply_is_the_weighted_sum_of_the_parts_generators():
    flow, jump = _parts()
    model = Superposition([flow, jump], ConstantWeights((0.5, 0.5)))
    x = torch.tensor([[0.3, -0.2], [0.6, 0.1], [-0.5, 0.4]], dtype=D)
    v = torch.tensor([[1.0, 2.0], [-0.5, 0.3], [0.2, -0.7]], dtype=D)
    q = _jump_value(3, 0)
    alpha = torch.tensor([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]], dtype=D)
    value = SuperposedValue((v, q), alpha)

    def f(y):
        return torch.sin(y[:, 0]) * y[:, 1] + y[:, 0] ** 2

    expected = alpha[:, 0] * flow.apply(f, x, v) + alpha[:, 1] * jump.apply(f, x, q)
    torch.testing.assert_close(model.apply(f, x, value), expected, rtol=1e-13, atol=1e-13)
    grad = torch.stack([torch.cos(x[:, 0]) * x[:, 1] + 2 * x[:, 0], torch.sin(x[:, 0])], 1)
    torch.testing.assert_close(flow.apply(f, x, v), (grad * v).sum(1), rtol=1e-13, atol=1e-13)


def test_constrain_scale_guide_and_posterior_mean_map_each_part():
    flow, jump = _parts()
    model = Superposition([flow, jump], WEIGHTS_2)
    par = model.parametrization
    x = torch.tensor([[0.3, -0.2], [0.6, 0.1]], dtype=D)
    t = torch.tensor([0.25, 0.75], dtype=D)
    raw = {
        "velocity": torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=D),
        "jump_intensity": torch.tensor([[0.1, -0.2], [0.3, 0.4]], dtype=D),
        "jump_logits": torch.randn(2, 2, 4, dtype=D, generator=torch.Generator().manual_seed(1)),
    }
    value = par.constrain(raw, x, t)
    torch.testing.assert_close(value.parts[0], raw["velocity"], rtol=0, atol=0)
    torch.testing.assert_close(value.parts[1], jump.constrain(raw, x, t), rtol=0, atol=0)
    torch.testing.assert_close(value.weights, WEIGHTS_2(t), rtol=0, atol=0)
    assert value.loss_weights is None

    scaled = par.scale(value, torch.tensor([2.0, 0.5], dtype=D))
    assert scaled.parts is value.parts
    torch.testing.assert_close(
        scaled.weights, value.weights * torch.tensor([[2.0], [0.5]], dtype=D)
    )

    uncond = SuperposedValue((raw["velocity"] - 1, _jump_value(2, 2)), value.weights.flip(1))
    w = torch.tensor([0.5, 2.0], dtype=D)
    guided = par.guide(value, uncond, w, x)
    flow_par, jump_par = flow.parametrization, jump.parametrization
    torch.testing.assert_close(
        guided.parts[0], flow_par.guide(value.parts[0], uncond.parts[0], w, x)
    )
    torch.testing.assert_close(
        guided.parts[1], jump_par.guide(value.parts[1], uncond.parts[1], w, x)
    )
    torch.testing.assert_close(guided.weights, value.weights, rtol=0, atol=0)

    # per-(point, latent) values, point-major: 2 points × 3 latents
    v = torch.arange(12, dtype=D).reshape(6, 2)
    q = _jump_value(6, 3)
    alphas = torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.5, 0.5], [0.6, 0.4]])
    post = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.4, 0.0]], dtype=D)
    mean = par.posterior_mean(SuperposedValue((v, q), alphas.to(D)), post)
    torch.testing.assert_close(mean.parts[0], flow_par.posterior_mean(v, post))
    torch.testing.assert_close(mean.parts[1], jump_par.posterior_mean(q, post))
    torch.testing.assert_close(mean.weights, alphas[[0, 3]].to(D), rtol=0, atol=0)


class _PlainParametrization(AbstractLinearParametrization):
    """A parametrization without a guidance rule."""

    def head_shapes(self, space):
        return {"plain": (2,)}

    def constrain(self, raw, x_t, t):
        return raw["plain"]

    def test_operator(self, f, x_t):
        return f(x_t)

    def inner(self, a, b, x_t):
        return a * b.sum(1) * (1 + x_t[:, 0] ** 2)  # depends on the point


class _Plain(AbstractGenerator):
    parametrization = _PlainParametrization()
    divergence = SquaredEuclidean()

    def conditional_target(self, path, sample):
        return sample.x_t

    def step(self, field, x, t, h, *, generator=None):
        return x


def test_apply_uses_each_parts_inner_product_at_the_points():
    model = Superposition([FlowGenerator(), _Plain()], ConstantWeights((0.5, 0.5)))
    x = torch.tensor([[0.3, -0.2], [0.6, 0.1]], dtype=D)
    v, b = torch.tensor([[1.0, 2.0], [-0.5, 0.3]], dtype=D), torch.tensor([[0.5, 1.0], [2.0, 0.0]])
    mixed = SuperposedValue((v, b.to(D)), torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=D))

    def f(y):
        return y[:, 0] ** 2 + y[:, 1]

    by_hand = torch.tensor([0.25, 0.5], dtype=D) * ((2 * x[:, 0]) * v[:, 0] + v[:, 1])
    by_hand = by_hand + torch.tensor([0.75, 0.5], dtype=D) * f(x) * b.sum(1) * (1 + x[:, 0] ** 2)
    torch.testing.assert_close(model.apply(f, x, mixed), by_hand, rtol=1e-14, atol=1e-14)


def test_head_shapes_and_guide_errors_name_the_part():
    flow, jump = _parts()
    model = Superposition([flow, _Plain()], ConstantWeights((0.5, 0.5)))
    assert model.head_shapes(EuclideanSpace(2)) == {"velocity": (2,), "plain": (2,)}
    value = SuperposedValue((torch.zeros(1, 2), torch.zeros(1, 2)), torch.full((1, 2), 0.5))
    with pytest.raises(TypeError, match=re.escape("_PlainParametrization (a superposed part) has")):
        model.parametrization.guide(value, value, torch.ones(1), torch.zeros(1, 2))
    twice = Superposition([flow, FlowGenerator()], ConstantWeights((0.5, 0.5)))
    with pytest.raises(
        ValueError, match="two parts of the superposition both need a head named 'velocity'"
    ):
        twice.head_shapes(EuclideanSpace(2))


def test_sum_divergence_is_the_weighted_sum_of_the_parts():
    flow, jump = _parts()
    div = Superposition([flow, jump], ConstantWeights((0.5, 0.5))).divergence
    assert isinstance(div, SumDivergence)
    d0, d1 = flow.divergence, jump.divergence
    a = SuperposedValue(
        (torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=D), _jump_value(2, 4)),
        torch.full((2, 2), 0.5, dtype=D),
    )
    b = SuperposedValue(
        (torch.tensor([[0.0, 1.5], [1.0, 1.0]], dtype=D), _jump_value(2, 5)), a.weights
    )
    plain = d0(a.parts[0], b.parts[0]) + d1(a.parts[1], b.parts[1])
    torch.testing.assert_close(div(a, b), plain, rtol=1e-14, atol=0)
    lw = torch.tensor([[2.0, 0.5], [0.0, 3.0]], dtype=D)
    weighted = SuperposedValue(a.parts, a.weights, lw)
    expected = 2.0 * d0(a.parts[0], b.parts[0]) + 0.5 * d1(a.parts[1], b.parts[1])
    torch.testing.assert_close(div(weighted, b)[0], expected[0], rtol=1e-14, atol=0)
    torch.testing.assert_close(div(weighted, b)[1], 3.0 * d1(a.parts[1], b.parts[1])[1])
    torch.testing.assert_close(
        div.phi(a), d0.phi(a.parts[0]) + d1.phi(a.parts[1]), rtol=1e-14, atol=0
    )
    generic = d0.generic(a.parts[0], b.parts[0]) + d1.generic(a.parts[1], b.parts[1])
    torch.testing.assert_close(div.generic(a, b), generic, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(div.generic(a, b), plain, rtol=1e-10, atol=1e-12)


def test_targets_carry_the_weights_and_the_per_part_loss_weights():
    flow, jump = _parts()
    model = Superposition([flow, jump], WEIGHTS_2, loss_weights=[None, lambda t: (1 - t) ** 3])
    assert model.loss_weights[0] is None and len(model.loss_weights) == 2
    rng = torch.Generator().manual_seed(0)
    t = torch.tensor([0.1, 0.5, 0.8], dtype=D)
    s = PATH.sample(torch.randn(3, 2, dtype=D, generator=rng), t, generator=rng)
    target = model.conditional_target(PATH, s)
    torch.testing.assert_close(target.parts[0], flow.conditional_target(PATH, s), rtol=0, atol=0)
    torch.testing.assert_close(target.parts[1], jump.conditional_target(PATH, s), rtol=0, atol=0)
    torch.testing.assert_close(target.weights, WEIGHTS_2(t), rtol=0, atol=0)
    expected = torch.stack([torch.ones(3, dtype=D), (1 - t) ** 3], 1)
    torch.testing.assert_close(target.loss_weights, expected, rtol=0, atol=0)
    unweighted = Superposition([flow, jump], WEIGHTS_2)
    assert unweighted.loss_weights is None
    assert unweighted.conditional_target(PATH, s).loss_weights is None

    data = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=D)
    posterior = torch.tensor([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]], dtype=D)
    marginal = model.marginal_target(PATH, s.x_t, t, data, posterior)
    flow_m = flow.marginal_target(PATH, s.x_t, t, data, posterior)
    jump_m = jump.marginal_target(PATH, s.x_t, t, data, posterior)
    torch.testing.assert_close(marginal.parts[0], flow_m, rtol=0, atol=0)
    torch.testing.assert_close(marginal.parts[1], jump_m, rtol=0, atol=0)
    torch.testing.assert_close(marginal.weights, WEIGHTS_2(t), rtol=0, atol=0)
    assert marginal.loss_weights is None


def _const(row):
    return lambda t: torch.tensor(row, dtype=t.dtype).expand(t.shape[0], len(row))


def test_construction_checks_the_weights_on_a_grid_with_their_messages():
    flow, jump = _parts()
    assert Superposition([flow, jump], ConstantWeights((0.0, 1.0))).generators == (flow, jump)
    # rounding in the sum is tolerated (atol 1e-6 + rtol 1e-5), a visible error is not
    Superposition([flow, jump], _const([0.5, 0.5 + 1.05e-5]))
    bad = "^superposition weights must be >= 0 and sum to 1 at every t$"
    for row in ([0.5, 0.51], [-0.5, 1.5], [0.5, 0.5 + 1e-4]):
        with pytest.raises(ValueError, match=bad):
            Superposition([flow, jump], _const(row))
    with pytest.raises(
        ValueError, match="^" + re.escape("a superposition needs at least two generators") + "$"
    ):
        Superposition([flow], ConstantWeights((1.0,)))
    with pytest.raises(
        ValueError, match=re.escape("weights(t) must have shape (batch, 2), got (11, 3)")
    ):
        Superposition([flow, jump], ConstantWeights((0.2, 0.3, 0.5)))
    with pytest.raises(
        ValueError, match=re.escape("loss_weights needs one entry per generator (2)")
    ):
        Superposition([flow, jump], ConstantWeights((0.5, 0.5)), loss_weights=[None])
    grids = []

    def spy(t):
        grids.append(t)
        return ConstantWeights((0.5, 0.5))(t)

    Superposition([flow, jump], spy)
    torch.testing.assert_close(grids[0], torch.linspace(0, 1, 11, dtype=D), rtol=0, atol=0)


class _LocalParametrization(AbstractLinearParametrization, AbstractGuidableParametrization):
    def head_shapes(self, space):
        return {"local": (2,)}

    def constrain(self, raw, x_t, t):
        return raw["local"] * t[:, None] + x_t

    def test_operator(self, f, x_t):
        return f(x_t)

    def inner(self, a, b, x_t):
        return a * b.sum(1)

    def guide(self, conditional, unconditional, weight, x_t):
        return conditional + weight[:, None] * (conditional - unconditional) * x_t


class _Local(_Plain):
    parametrization = _LocalParametrization()


def test_parts_see_the_points_and_times_and_mismatched_values_are_rejected():
    flow = FlowGenerator()
    par = Superposition([flow, _Local()], ConstantWeights((0.5, 0.5))).parametrization
    x = torch.tensor([[0.3, -0.2], [0.6, 0.1]], dtype=D)
    t = torch.tensor([0.25, 0.5], dtype=D)
    raw = {"velocity": torch.ones(2, 2, dtype=D), "local": torch.tensor([[1.0, 2.0], [3.0, 4.0]])}
    value = par.constrain(raw, x, t)
    torch.testing.assert_close(value.parts[1], raw["local"].to(D) * t[:, None] + x)
    other = SuperposedValue((raw["velocity"], torch.zeros(2, 2, dtype=D)), value.weights)
    guided = par.guide(value, other, torch.tensor([2.0, 1.0], dtype=D), x)
    expected = value.parts[1] + torch.tensor([[2.0], [1.0]], dtype=D) * value.parts[1] * x
    torch.testing.assert_close(guided.parts[1], expected, rtol=1e-15, atol=0)
    short = SuperposedValue((raw["velocity"],), value.weights)
    zip_error = r"^zip\(\) argument 2 is shorter than argument 1$"
    with pytest.raises(ValueError, match=zip_error):
        par.guide(short, short, torch.ones(2), x)
    with pytest.raises(ValueError, match=zip_error):
        par.posterior_mean(short, torch.ones(2, 1, dtype=D))
    div = Superposition([flow, FlowGenerator()], ConstantWeights((0.5, 0.5))).divergence
    with pytest.raises(ValueError, match=zip_error):
        div.phi(short)
    with pytest.raises(ValueError, match=zip_error):
        div(short, short)
    with pytest.raises(ValueError, match=zip_error):
        div.generic(short, short)
