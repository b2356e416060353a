"""The abstract generator and linear parametrization: defaults, checks and error messages.

Checks :mod:`genmatch.generators.base`: the cached first field evaluation, the step-input
and velocity-shape checks, the default ``apply``/``scale``/``posterior_mean`` of a linear
parametrization, and the defaults of :class:`AbstractGenerator` (``move``, ``propose``,
``constrain`` with its messages for bad network outputs, ``field`` with and without a
condition, the exact marginal by posterior averaging, and the unsupported-path error).
"""

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, EuclideanSpace, FlowGenerator, PathSample
from genmatch.generators import JumpGenerator, RiemannianFlowGenerator
from genmatch.generators.base import (
    AbstractGenerator,
    AbstractLinearParametrization,
    UnsupportedPathError,
    check_step,
    reuse_first,
    same_shape_field,
)
from genmatch.generators.flow import VelocityParametrization
from genmatch.generators.jump import JumpHead
from genmatch.generators.jump_measures import AtomicJumpMeasure
from genmatch.manifolds import Hypersphere
from genmatch.paths.kappa import LinearKappa
from genmatch.spaces import ManifoldSpace
from genmatch.spaces.discrete import DiscreteSpace

D64 = torch.float64


def _t(v):
    return torch.tensor(v, dtype=D64)


class Doubling(AbstractLinearParametrization):
    """``L f(x) = 2 f'(x) · F``: only the abstract methods, the rest from the base class."""

    def head_shapes(self, space):
        return {"v": space.event_shape}

    def constrain(self, raw, x_t, t):
        return raw["v"]

    def test_operator(self, f, x_t):
        return 2 * VelocityParametrization().test_operator(f, x_t)

    def inner(self, a, b, x_t):
        return (a * b).reshape(a.shape[0], -1).sum(1)


class Shift(AbstractGenerator):
    """A generator with a deterministic step ``x + h F`` and the base-class defaults."""

    parametrization = Doubling()
    divergence = None

    def conditional_target(self, path, sample):
        if not isinstance(path, AffineGaussianPath):
            raise self.unsupported(path, "AffineGaussianPath")
        return sample.z - sample.x_t

    def step(self, field, x, t, h, *, generator=None):
        return x + h * field(x, t)


def test_reuse_first_returns_the_cached_value_only_at_the_same_objects():
    calls = []

    def field(y, s):
        calls.append(1)
        return y + s[:, None]

    x, t = torch.zeros(1, 2), torch.ones(1)
    first = torch.full((1, 2), 7.0)
    cached = reuse_first(field, x, t, first)
    assert cached(x, t) is first and calls == []
    assert cached(x.clone(), t).tolist() == [[1.0, 1.0]] and len(calls) == 1
    assert cached(x, t.clone()).tolist() == [[1.0, 1.0]] and len(calls) == 2


def test_check_step_and_same_shape_field():
    check_step(torch.zeros(1), torch.tensor([1.0]), 0.0)
    check_step(torch.zeros(1), 0.5, 0.1)  # a float time is not range-checked here
    with pytest.raises(
        ValueError, match=r"the step size h must be >= 0 \(forward in time\), got -1"
    ):
        check_step(torch.zeros(1), torch.zeros(1), -1.0)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]; got values such as \[1.5\]"):
        check_step(torch.zeros(1), torch.tensor([0.5, 1.5]), 0.1)
    field = same_shape_field(lambda y, s: y[:, :1])
    with pytest.raises(
        ValueError,
        match=r"returned a velocity of shape \(2, 1\) for points of shape \(2, 3\); it must have",
    ):
        field(torch.zeros(2, 3), torch.zeros(2))
    assert same_shape_field(lambda y, s: 2 * y)(torch.ones(1, 2), torch.zeros(1)).tolist() == [
        [2.0, 2.0]
    ]
    marker = object()
    assert same_shape_field(lambda y, s: marker)(torch.ones(1, 2), torch.zeros(1)) is marker


def test_linear_parametrization_defaults():
    param = Doubling()
    x = _t([[1.0, 2.0], [3.0, -1.0]])
    value = _t([[1.0, 0.0], [0.5, 2.0]])
    # L f = ⟨2 ∇f, F⟩ for f = Σ x²: 4 x · F
    assert param.apply(lambda y: (y**2).sum(1), x, value).tolist() == [4.0, 6.0 - 8.0]
    factor = _t([2.0, 0.5])
    assert param.scale(value, factor).tolist() == [[2.0, 0.0], [0.25, 1.0]]
    cube = torch.ones(2, 2, 3, dtype=D64)
    scaled = param.scale(cube, factor)
    assert scaled[0].unique().tolist() == [2.0] and scaled[1].unique().tolist() == [0.5]
    # two points, three latents each (point-major): weighted sums
    values = _t([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0], [0.0, 0.0], [0.0, 8.0]])
    weights = _t([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]])
    assert param.posterior_mean(values, weights).tolist() == [[1.0, 0.75], [1.0, 2.0]]
    events = torch.arange(8, dtype=D64).reshape(4, 2, 1)
    mean = param.posterior_mean(events, _t([[1.0, 0.0], [0.5, 0.5]]))
    assert mean.tolist() == [[[0.0], [1.0]], [[5.0], [6.0]]]


def test_generator_defaults_move_propose_heads_and_apply():
    gen = Shift()
    x, t = _t([[1.0, 2.0]]), _t([0.5])

    def field(y, s):
        return torch.ones_like(y)

    assert gen.nfe_per_step == 1
    assert gen.move(field, x, t, 0.5).tolist() == [[1.5, 2.5]]
    assert gen.propose(torch.ones_like(x), x, t, 0.5) is None
    assert gen.head_shapes(EuclideanSpace(2)) == {"v": (2,)}
    assert gen.apply(lambda y: y[:, 0] * y[:, 1], x, _t([[1.0, 1.0]])).tolist() == [6.0]


def test_constrain_explains_bad_network_outputs():
    gen = FlowGenerator()
    x, t = torch.zeros(1, 2), torch.zeros(1)
    raw = {"velocity": torch.ones(1, 2)}
    assert gen.constrain(raw, x, t) is raw["velocity"]
    with pytest.raises(
        TypeError,
        match=r"a network must return its raw heads as a dict \{name: tensor\}, got Tensor; "
        r"FlowGenerator needs the heads of head_shapes",
    ):
        gen.constrain(torch.ones(1, 2), x, t)
    with pytest.raises(
        ValueError,
        match=r"FlowGenerator needs the head 'velocity', but the network returned the heads "
        r"\['drift', 'speed'\]",
    ) as info:
        gen.constrain({"speed": torch.ones(1, 2), "drift": torch.ones(1, 2)}, x, t)
    assert info.value.__cause__ is None and info.value.__suppress_context__


class Raising(AbstractLinearParametrization):
    """A parametrization whose ``constrain`` raises a given ``KeyError``."""

    def __init__(self, error):
        self.error = error

    def head_shapes(self, space):
        return {}

    def constrain(self, raw, x_t, t):
        raise self.error

    def test_operator(self, f, x_t):
        return x_t

    def inner(self, a, b, x_t):
        return a


@pytest.mark.parametrize(
    "error",
    [KeyError(), KeyError(3), KeyError("present"), KeyError("not a head name")],
    ids=["no-args", "not-a-string", "a-returned-head", "a-sentence"],
)
def test_constrain_reraises_key_errors_that_are_not_missing_heads(error):
    gen = Shift()
    object.__setattr__(gen, "parametrization", Raising(error))
    with pytest.raises(KeyError) as info:
        gen.constrain({"present": torch.zeros(1)}, torch.zeros(1, 1), torch.zeros(1))
    assert info.value is error


def test_constrain_turns_a_missing_head_into_a_value_error():
    gen = Shift()
    object.__setattr__(gen, "parametrization", Raising(KeyError("velocity")))
    with pytest.raises(ValueError, match=r"Shift needs the head 'velocity', but .* \['present'\]"):
        gen.constrain({"present": torch.zeros(1)}, torch.zeros(1, 1), torch.zeros(1))


def test_field_calls_the_network_with_and_without_a_condition():
    gen = FlowGenerator()
    seen = []

    def net(x, t, *condition):
        seen.append(condition)
        return {"velocity": x * t[:, None] + (condition[0] if condition else 0.0)}

    x, t = _t([[1.0, 2.0]]), _t([0.5])
    assert gen.field(net)(x, t).tolist() == [[0.5, 1.0]] and seen == [()]
    assert gen.field(net, condition=10.0)(x, t).tolist() == [[10.5, 11.0]]
    assert seen[-1] == (10.0,)


def test_marginal_target_is_the_posterior_average_of_conditional_targets():
    gen = Shift()
    path = AffineGaussianPath(CondOT())
    x = _t([[0.0, 0.0], [1.0, 1.0]])
    data = _t([[2.0, 0.0], [0.0, 4.0]])
    posterior = _t([[0.5, 0.5], [0.25, 0.75]])
    value = gen.marginal_target(path, x, _t([0.5, 0.5]), data, posterior)
    # Σ_n w_n (z_n − x)
    assert value.tolist() == [[1.0, 2.0], [-0.5, 2.0]]
    sample = PathSample(x_t=x, t=_t([0.5, 0.5]), z=data)
    with pytest.raises(
        UnsupportedPathError,
        match="^Shift has no conditional target for object: it needs a path implementing Affine",
    ):
        gen.conditional_target(object(), sample)
    assert issubclass(UnsupportedPathError, TypeError)


def test_field_passes_points_and_times_to_constrain():
    """The tangent projection reads ``x``, the state-jump intensity ``κ̇/(1 − κ)`` reads ``t``."""
    sphere = ManifoldSpace(Hypersphere(3), (3,))
    gen = RiemannianFlowGenerator(sphere)
    x, t = _t([[1.0, 0.0, 0.0]]), _t([0.5])

    def net(y, s, *condition):
        return {"velocity": torch.ones_like(y) * (1 + len(condition))}

    for field, scale in ((gen.field(net), 1.0), (gen.field(net, condition="c"), 2.0)):
        value = field(x, t)
        assert value.x is x and value.v.tolist() == [[0.0, scale, scale]]
    space = DiscreteSpace(1, 2)
    jumps = JumpGenerator(space, LinearKappa(), head=JumpHead.STATES)

    def logits(y, s, *condition):
        return {"jump_logits": torch.zeros(y.shape[0], 2, dtype=D64)}

    tok = torch.tensor([[0]])
    for field in (jumps.field(logits), jumps.field(logits, condition="c")):
        value = field(tok, _t([0.75]))
        assert value.intensity.tolist() == [4.0] and value.weights.tolist() == [[0.5, 0.5]]


class Recording(Shift):
    """A generator whose step records the time and the random generator it is given."""

    def step(self, field, x, t, h, *, generator=None):
        self.seen = (t, generator)
        return x + h * field(x, t)


def test_move_passes_the_time_and_the_random_generator_to_step():
    gen = Recording()
    x, t, rng = _t([[1.0]]), _t([0.5]), torch.Generator()
    assert gen.move(lambda y, s: y * s[:, None], x, t, 0.5, generator=rng).tolist() == [[1.25]]
    assert gen.seen[0] is t and gen.seen[1] is rng


def test_jump_step_replays_its_random_draws_and_checks_times():
    space = EuclideanSpace(1)
    gen = JumpGenerator(space)
    # 32 points, two atoms each, a jump with probability 1 − e^{−1}: the draws of another
    # generator would give the same result with probability about 2^{-32}
    atoms = torch.arange(1.0, 65.0, dtype=D64)[:, None]
    q = AtomicJumpMeasure(
        torch.full((32,), 2.0, dtype=D64), atoms, torch.full((32, 2), 0.5, dtype=D64)
    )
    x, t = torch.zeros(32, 1, dtype=D64), torch.full((32,), 0.25, dtype=D64)
    out = gen.step(lambda y, s: q, x, t, 0.5, generator=torch.Generator().manual_seed(5))
    prop = gen.propose(q, x, t, 0.5, generator=torch.Generator().manual_seed(5))
    assert out.tolist() == prop.apply(x).tolist()
    assert 0 < int((out != 0).sum()) < 32
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\]; got values such as \[1.5\]$"):
        gen.step(lambda y, s: q, x, t.index_fill(0, torch.tensor([3]), 1.5), 0.5)
