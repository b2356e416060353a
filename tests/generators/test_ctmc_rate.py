"""The rate head of the factorized CTMC (:class:`RateParametrization`), exactly in float64.

Checks the head shapes, that constraining is ``softplus`` off the current token, the test
operator and inner product (``L f`` by hand), the geometric guidance and the likelihood tilt.
"""

import math

import torch

from genmatch.generators.ctmc_rate import RateParametrization
from genmatch.spaces import DiscreteSpace

D = torch.float64
SPACE = DiscreteSpace(2, 3)


def _t(values):
    return torch.tensor(values, dtype=D)


def _inverse_softplus(v):
    return torch.log(torch.expm1(v))


def test_head_shapes_are_length_by_states_of_its_own_space():
    param = RateParametrization(DiscreteSpace(4, 5, mask=True))
    assert param.head_shapes(SPACE) == {"rate": (4, 6)}


def test_constrain_is_softplus_off_the_current_token():
    rates = _t([[[0.5, 2.0, 3.0], [1.5, 0.25, 4.0]]])
    x = torch.tensor([[1, 2]])
    out = RateParametrization(SPACE).constrain(
        {"rate": _inverse_softplus(rates)}, x, torch.zeros(1)
    )
    expected = _t([[[0.5, 0.0, 3.0], [1.5, 0.25, 0.0]]])
    torch.testing.assert_close(out, expected, rtol=1e-14, atol=1e-15)
    assert float(out[0, 0, 1]) == 0.0 and float(out[0, 1, 2]) == 0.0
    # raw 0 gives log 2
    zero = RateParametrization(SPACE).constrain({"rate": torch.zeros(1, 2, 3, dtype=D)}, x, None)
    torch.testing.assert_close(zero[0, 0, 0], torch.tensor(math.log(2.0), dtype=D))


def test_apply_is_the_rate_weighted_sum_of_neighbour_differences():
    """``L f(x) = Σ_i Σ_y u^i(y) (f(x^{i→y}) − f(x))`` with ``f(x) = x_0 + 10 x_1``."""

    def f(x):
        return (x[:, 0] + 10 * x[:, 1]).to(D)

    param = RateParametrization(SPACE)
    x = torch.tensor([[1, 2], [0, 0]])
    rates = _t([[[0.5, 0.0, 3.0], [1.5, 0.25, 0.0]], [[0.0, 1.0, 2.0], [0.5, 0.0, 0.0]]])
    ops = param.test_operator(f, x)
    assert torch.equal(ops[0], _t([[-1.0, 0.0, 1.0], [-20.0, -10.0, 0.0]]))
    # 0.5·(−1) + 3·1 + 1.5·(−20) + 0.25·(−10) = −30;  1·1 + 2·2 + 0.5·0 = 5
    assert torch.equal(param.inner(ops, rates, x), _t([-30.0, 5.0]))
    assert torch.equal(param.apply(f, x, rates), _t([-30.0, 5.0]))


def test_guide_is_the_geometric_mean_of_the_rates():
    param = RateParametrization(SPACE)
    cond = _t([[[0.0, 4.0, 1.0]], [[0.0, 4.0, 1.0]], [[0.0, 4.0, 1.0]]])
    uncond = _t([[[0.0, 1.0, 2.0]], [[0.0, 1.0, 2.0]], [[0.0, 1.0, 2.0]]])
    w = _t([1.0, 0.0, -1.0])
    out = param.guide(cond, uncond, w, torch.zeros(3, 1, dtype=torch.long))
    expected = _t([[[0.0, 16.0, 0.5]], [[0.0, 4.0, 1.0]], [[0.0, 1.0, 2.0]]])
    torch.testing.assert_close(out, expected, rtol=1e-14, atol=0.0)


def test_tilt_multiplies_by_the_powered_likelihood_ratio():
    """``log p(c|x) = x_0 − x_1`` with weight 2: ``u^i(y) e^{2 (Δ log p)}``."""

    def log_likelihood(y):
        return (y[:, 0] - y[:, 1]).to(D)

    param = RateParametrization(SPACE)
    x = torch.tensor([[1, 1]])
    rates = _t([[[1.0, 0.0, 1.0], [2.0, 0.0, 3.0]]])
    out = param.tilt(rates, x, torch.zeros(1, dtype=D), log_likelihood, _t([2.0]), None)
    expected = _t([[[math.exp(-2), 0.0, math.exp(2)], [2 * math.exp(2), 0.0, 3 * math.exp(-2)]]])
    torch.testing.assert_close(out, expected, rtol=1e-14, atol=0.0)
