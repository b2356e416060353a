"""One Langevin-corrected step, exactly: the base's step plus Euler–Maruyama (GM eq. 9.38).

``x_{t+h} = base step + ½ h β_t² ∇log p_t(x_t) + √h β_t ε`` with the score taken from the
base's value at the step's start (one shared field evaluation) and ``ε`` drawn from the step's
generator in the points' dtype; plus the construction checks on the interior grid of ``(0, 1)``.
"""

import re

import pytest
import torch

from genmatch import AffineGaussianPath, CondOT, FlowGenerator, Midpoint
from genmatch.compose import Langevin, constant_beta
from genmatch.generators import AbstractGenerator

D = torch.float64


def _field(calls):
    def field(y, s):
        calls.append((y, s))
        return -y + s[:, None, None]

    return field


def _score(seen):
    def score(x, t, value):
        seen.append((x, t, value))
        return -x * t[:, None, None] + 0.5 * value

    return score


@pytest.mark.parametrize("solver", [None, Midpoint()], ids=["euler", "midpoint"])
def test_step_is_the_base_step_plus_euler_maruyama(solver):
    base = FlowGenerator() if solver is None else FlowGenerator(solver=solver)
    seen = []
    model = Langevin(base, lambda t: 1 + t, _score(seen))
    assert model.nfe_per_step == base.nfe_per_step
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 2, dtype=D, generator=rng)
    t = torch.tensor([0.1, 0.5, 0.8], dtype=D)
    h = 0.25
    calls = []
    out = model.step(_field(calls), x, t, h, generator=torch.Generator().manual_seed(5))

    first = -x + t[:, None, None]
    if solver is None:
        x_base = x + h * first
    else:
        mid = x + (h / 2) * first
        x_base = x + h * (-mid + (t + h / 2)[:, None, None])
    beta = (1 + t)[:, None, None]
    noise = torch.randn(3, 2, 2, dtype=D, generator=torch.Generator().manual_seed(5))
    score = -x * t[:, None, None] + 0.5 * first
    expected = x_base + 0.5 * h * beta**2 * score + h**0.5 * beta * noise
    torch.testing.assert_close(out, expected, rtol=1e-13, atol=1e-13)
    assert len(calls) == base.nfe_per_step  # the base re-uses the first evaluation
    assert calls[0][0] is x and calls[0][1] is t
    ((s_x, s_t, s_value),) = seen
    assert s_x is x and s_t is t
    torch.testing.assert_close(s_value, first, rtol=0, atol=0)


class _Noisy(AbstractGenerator):
    """A stochastic base: records the generator of its step."""

    parametrization = FlowGenerator().parametrization
    divergence = FlowGenerator().divergence

    def __init__(self):
        self.generators = []

    def conditional_target(self, path, sample):
        return sample.x_t

    def step(self, field, x, t, h, *, generator=None):
        self.generators.append(generator)
        return x + h * field(x, t)


def test_the_base_step_draws_from_the_steps_generator():
    base = _Noisy()
    model = Langevin(base, constant_beta(0.0), lambda x, t, value: x)
    rng = torch.Generator()
    model.step(
        lambda y, s: y, torch.ones(2, 1, dtype=D), torch.zeros(2, dtype=D), 0.1, generator=rng
    )
    assert base.generators == [rng]


def test_zero_beta_is_the_base_step():
    model = Langevin(FlowGenerator(), constant_beta(0.0), lambda x, t, value: x + value)
    x = torch.tensor([[0.5, -1.0], [2.0, 0.3]], dtype=D)
    t = torch.tensor([0.2, 0.6], dtype=D)
    out = model.step(lambda y, s: 2 * y, x, t, 0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, 2 * x, rtol=0, atol=0)


def test_training_is_the_base_and_beta_is_checked_inside_the_interval():
    base = FlowGenerator()
    grids = []

    def spy(t):
        grids.append(t)
        return torch.ones_like(t)

    model = Langevin(base, spy, _score([]))
    torch.testing.assert_close(grids[0], torch.linspace(0, 1, 21, dtype=D)[1:-1], rtol=0, atol=0)
    assert model.parametrization is base.parametrization and model.divergence is base.divergence
    path = AffineGaussianPath(CondOT())
    s = path.sample(torch.ones(2, 2), torch.full((2,), 0.3), x_0=torch.zeros(2, 2))
    torch.testing.assert_close(model.conditional_target(path, s), base.conditional_target(path, s))
    Langevin(base, lambda t: 1 / t, _score([]))  # singular at the ends: allowed
    Langevin(base, lambda t: 1 / (1 - t), _score([]))
    message = "^" + re.escape("β_t must be finite and >= 0 on (0, 1)") + "$"
    for beta in (lambda t: 1 / (t - 0.5), lambda t: t - 0.07, lambda t: 0.93 - t):
        with pytest.raises(ValueError, match=message):
            Langevin(base, beta, _score([]))
    torch.testing.assert_close(constant_beta(0.0)(torch.ones(2, dtype=D)), torch.zeros(2, dtype=D))
    torch.testing.assert_close(
        constant_beta(1.5)(torch.ones(2, dtype=D)), torch.full((2,), 1.5, dtype=D)
    )
    with pytest.raises(ValueError, match=re.escape("β must be >= 0, got -1.0")):
        constant_beta(-1.0)
