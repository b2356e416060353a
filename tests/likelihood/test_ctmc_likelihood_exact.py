"""Exact CTMC log-likelihoods pinned to their documented algorithm, and the ELBO's inputs.

:func:`exact_log_prob` is checked against a hand-written RK4 on the grid
``t_k = T (1 − (1 − k/N)²)`` for a rate-head model on one position with three tokens, with its
end time ``T`` (``t_max``, ``1 − 1e-3`` by default); for the posterior head against the exact
last transition: a posterior that ignores ``x`` gives ``p_1(y) = Π_i p^i_T(y_i)`` at
``T = 1 − 1/N²``, whatever the path before. :func:`elbo`'s stratified times, their clipping
and its error messages are read off the times at which it evaluates the model.
"""

import pytest
import torch

from genmatch.generators import CTMCGenerator, CTMCHead, PosteriorValue
from genmatch.likelihood import elbo, exact_log_prob
from genmatch.paths import FactorizedMixturePath, LinearKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace

F64 = torch.float64
SPACE = DiscreteSpace(1, 3)
KAPPA = LinearKappa()
PATH = FactorizedMixturePath(SPACE, CategoricalSource.uniform(SPACE), KAPPA)
RATE = CTMCGenerator(SPACE, KAPPA, head=CTMCHead.RATE)
POSTERIOR = CTMCGenerator(SPACE, KAPPA)
BASE = torch.tensor([[0.0, 1.3, 0.4], [0.7, 0.0, 2.1], [0.2, 0.9, 0.0]], dtype=F64)
X = torch.tensor([[0], [1], [2]])


def rate_field(x, t):
    """Rates ``(1 + 3t + 5t²) BASE[x]`` ``(batch, 1, 3)``: a forward equation RK4 does not
    solve exactly."""
    scale = 1 + 3 * t + 5 * t * t
    return (BASE.to(t.dtype)[SPACE.index(x)] * scale[:, None])[:, None, :]


def hand_rk4(steps, end):
    """``p_T`` of ``dp/dt = p Q_t`` from the uniform source, RK4 on the quadratic grid."""
    grid = [end * (1 - (1 - k / steps) ** 2) for k in range(steps + 1)]
    points = SPACE.enumerate()

    def q(t):
        rates = rate_field(points, torch.full((3,), t, dtype=torch.get_default_dtype()))
        off = rates[:, 0, :].to(F64)  # BASE has a zero diagonal
        return off - torch.diag(off.sum(1))

    p = torch.full((3,), 1 / 3, dtype=F64)
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        h = t_next - t
        k1 = p @ q(t)
        k2 = (p + 0.5 * h * k1) @ q(t + 0.5 * h)
        k3 = (p + 0.5 * h * k2) @ q(t + 0.5 * h)
        k4 = (p + h * k3) @ q(t + h)
        p = p + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return p


@pytest.fixture
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    yield
    torch.set_default_dtype(previous)


@pytest.mark.usefixtures("float64_default")
def test_rate_head_is_rk4_on_the_quadratic_grid_up_to_t_max():
    got = exact_log_prob(rate_field, RATE, PATH, X, steps=5, t_max=0.8)
    torch.testing.assert_close(got, hand_rk4(5, 0.8).log(), atol=1e-14, rtol=0)
    assert got.dtype == F64
    # another grid differs by the discretization error, far above the tolerance
    assert float((got - hand_rk4(6, 0.8).log()).abs().max()) > 1e-6


@pytest.mark.usefixtures("float64_default")
def test_rate_head_default_end_time_is_one_minus_one_thousandth():
    got = exact_log_prob(rate_field, RATE, PATH, X, steps=7)
    torch.testing.assert_close(got, hand_rk4(7, 1 - 1e-3).log(), atol=1e-14, rtol=0)


def test_rate_head_under_a_float32_default():
    """The model is evaluated in float32 (the default dtype) at the grid's float64 times cast
    to it; the distribution is integrated in float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        got = exact_log_prob(rate_field, RATE, PATH, X, steps=5, t_max=0.7)
        expected = hand_rk4(5, 0.7).log()
    finally:
        torch.set_default_dtype(previous)
    assert got.dtype == F64
    torch.testing.assert_close(got, expected, atol=1e-13, rtol=0)


def _x_blind_posterior(seen=None):
    """``p(·|x, t) = softmax(W + 4 t V)`` for every ``x``: ``(batch, 1, 3)``."""
    w = torch.tensor([0.3, -0.8, 0.5], dtype=F64)
    v = torch.tensor([1.0, -0.5, 0.2], dtype=F64)

    def field(x, t):
        if seen is not None:
            seen.append(float(t.max()))
        logits = w + 4 * t[:, None].to(F64) * v
        probs = logits.softmax(-1)[:, None, :].to(t.dtype).expand(x.shape[0], 1, 3)
        return PosteriorValue(probs, KAPPA.intensity(t))

    def log_p(end):
        return (w + 4 * end * v).log_softmax(-1)

    return field, log_p


@pytest.mark.usefixtures("float64_default")
@pytest.mark.parametrize("steps", [4, None], ids=["steps_4", "default_200"])
def test_posterior_head_ends_with_the_exact_transition_at_one_minus_one_over_steps_squared(
    steps,
):
    seen = []
    field, log_p = _x_blind_posterior(seen)
    kwargs = {} if steps is None else {"steps": steps}
    got = exact_log_prob(field, POSTERIOR, PATH, X, **kwargs)
    n = 200 if steps is None else steps
    end = 1 - n**-2
    torch.testing.assert_close(got, log_p(end), atol=1e-13, rtol=0)
    assert abs(max(seen) - end) < 1e-15
    assert len(seen) == 4 * n + 1  # RK4 stages, then the last transition


@pytest.mark.usefixtures("float64_default")
def test_posterior_head_with_t_max_stops_there_without_the_last_transition():
    """With ``t_max`` the result is ``log p_{t_max}`` of the forward equation: an
    ``x``-blind posterior's rates ``λ_t p(y)`` keep the uniform source's tokens moving, so
    ``p_{t_max}`` is not ``p_1``."""
    seen = []
    field, log_p = _x_blind_posterior(seen)
    got = exact_log_prob(field, POSTERIOR, PATH, X, steps=3, t_max=0.5)
    assert abs(max(seen) - 0.5) < 1e-15 and len(seen) == 12
    assert float((got - log_p(0.5)).abs().max()) > 1e-3
    torch.testing.assert_close(got.exp().sum(), torch.tensor(1.0, dtype=F64), atol=1e-12, rtol=0)


@pytest.mark.usefixtures("float64_default")
def test_posterior_head_needs_posterior_values_for_the_last_transition():
    with pytest.raises(
        TypeError,
        match=r"^the posterior head's field must return PosteriorValue for the exact last step, "
        r"got Tensor \(a second copy of genmatch's modules\?\)$",
    ):
        exact_log_prob(rate_field, POSTERIOR, PATH, X, steps=2)


@pytest.mark.parametrize("fn", [elbo, exact_log_prob], ids=["elbo", "exact_log_prob"])
def test_model_checks_name_their_argument(fn):
    with pytest.raises(TypeError, match="^generator must be a CTMCGenerator, got NoneType$"):
        fn(rate_field, None, PATH, X)
    with pytest.raises(
        TypeError, match="^path must be a AbstractFactorizedMixturePath, got NoneType$"
    ):
        fn(rate_field, RATE, None, X)


def test_argument_messages():
    with pytest.raises(ValueError, match="^steps must be an integer >= 1, got 0$"):
        exact_log_prob(rate_field, RATE, PATH, X, steps=0)
    with pytest.raises(ValueError, match=r"^t_max must be in \(0, 1\], got 1.5$"):
        exact_log_prob(rate_field, RATE, PATH, X, t_max=1.5)
    with pytest.raises(ValueError, match="^num_times must be an integer >= 1, got 0$"):
        elbo(rate_field, RATE, PATH, X, num_times=0)
    with pytest.raises(ValueError, match=r"^t_max must be in \(0, 1\], got 1.5$"):
        elbo(rate_field, RATE, PATH, X, t_max=1.5)


@pytest.mark.usefixtures("float64_default")
def test_elbo_times_are_stratified_and_clipped_at_t_max():
    seen = []

    def field(x, t):
        seen.append(t)
        return rate_field(x, t)

    k, b = 5, X.shape[0]
    elbo(field, RATE, PATH, X, num_times=k, t_max=0.5, rng=torch.Generator().manual_seed(2))
    u = torch.rand(k, b, generator=torch.Generator().manual_seed(2), dtype=F64)
    expected = ((torch.arange(k, dtype=F64)[:, None] + u) / k).clamp(max=0.5).reshape(-1)
    assert torch.equal(seen[0], expected) and seen[0].dtype == F64
    assert float(expected.max()) == 0.5 and float(expected.min()) < 0.2


@pytest.mark.usefixtures("float64_default")
def test_elbo_default_clip_is_one_minus_1e4():
    """With 20 000 strata the last two, ``[0.9999, 1)``, are always clipped."""
    seen = []

    def field(x, t):
        seen.append(t)
        return rate_field(x, t)

    elbo(field, RATE, PATH, X[:1], num_times=20_000, rng=torch.Generator().manual_seed(0))
    assert float(seen[0].max()) == 1 - 1e-4
    assert int((seen[0] == 1 - 1e-4).sum()) == 2


class _RateNet(torch.nn.Module):
    """Raw rate heads ``{"rate": ...}`` from a per-point table and a time slope."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.table = torch.nn.Parameter(torch.randn(3, 1, 3, generator=g, dtype=F64))
        self.slope = torch.nn.Parameter(torch.randn(1, 3, generator=g, dtype=F64))

    def forward(self, x, t):
        return {"rate": self.table[SPACE.index(x)] + t[:, None, None] * self.slope}


@pytest.mark.usefixtures("float64_default")
def test_a_network_is_wrapped_by_the_generator():
    net = _RateNet()
    got = exact_log_prob(net, RATE, PATH, X, steps=3, t_max=0.6)
    assert torch.equal(got, exact_log_prob(RATE.field(net), RATE, PATH, X, steps=3, t_max=0.6))
    assert bool(torch.isfinite(got).all())
    with pytest.raises(ValueError, match=r"^x has tokens outside \[0, 3\): found"):
        exact_log_prob(net, RATE, PATH, torch.tensor([[3]]), steps=3)


def test_posterior_head_under_a_float32_default():
    """float32 posterior probabilities: the last transition is taken in float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        field, log_p = _x_blind_posterior()
        got = exact_log_prob(field, POSTERIOR, PATH, X, steps=4)
    finally:
        torch.set_default_dtype(previous)
    assert got.dtype == F64
    torch.testing.assert_close(got, log_p(1 - 4**-2), atol=1e-6, rtol=0)
