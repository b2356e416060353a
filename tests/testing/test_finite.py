"""The finite-space checks: check_finite_forward_equation, check_rate_matrix and the generator
matrices they build, each exact on a correct input and failing on a perturbed one."""

import dataclasses

import pytest
import torch

from genmatch import CategoricalSource, CTMCGenerator, DiscreteSpace, FactorizedMixturePath
from genmatch.generators import AbstractGenerator, CTMCHead
from genmatch.paths import LinearKappa, PolynomialKappa
from genmatch.testing import (
    check_finite_forward_equation,
    check_rate_matrix,
    ctmc_generator_matrix,
    finite_generator_matrix,
)

SPACE = DiscreteSpace(2, 3, mask=True)
Z = torch.tensor([[1, 2]])


@pytest.mark.parametrize("source", ["masked", "uniform"])
@pytest.mark.parametrize("head", list(CTMCHead), ids=lambda h: h.value)
@pytest.mark.parametrize("kappa", [LinearKappa(), PolynomialKappa(2.0)], ids=repr)
@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_ctmc_solves_its_forward_equation_exactly(source, head, kappa, t):
    src = getattr(CategoricalSource, source)(SPACE)
    path = FactorizedMixturePath(SPACE, src, kappa)
    dp, flow = check_finite_forward_equation(
        path, CTMCGenerator(SPACE, kappa, head=head, source=src), SPACE, Z, t
    )
    assert float(dp.abs().max()) > 1e-2  # not vacuous


class _Scaled(AbstractGenerator):
    """A CTMC whose rates are scaled by ``factor``: wrong for its path unless factor = 1."""

    def __init__(self, base, factor):
        self.base, self.factor = base, factor
        self.parametrization, self.divergence = base.parametrization, base.divergence

    def conditional_target(self, path, sample):
        value = self.base.conditional_target(path, sample)
        return dataclasses.replace(value, intensity=self.factor * value.intensity)

    def step(self, field, x, t, h, *, generator=None):
        raise AssertionError("not used")


def test_it_fails_on_wrong_rates_and_on_nan():
    path = FactorizedMixturePath(SPACE, CategoricalSource.uniform(SPACE), LinearKappa())
    base = CTMCGenerator(SPACE, LinearKappa(), source=path.source)
    check_finite_forward_equation(path, _Scaled(base, 1.0), SPACE, Z, 0.5)
    with pytest.raises(AssertionError, match="forward equation violated"):
        check_finite_forward_equation(path, _Scaled(base, 1.05), SPACE, Z, 0.5)
    with pytest.raises(AssertionError, match="NaN or infinite"):
        check_finite_forward_equation(path, _Scaled(base, float("nan")), SPACE, Z, 0.5)
    with pytest.raises(AssertionError, match="negative off-diagonal"):
        check_finite_forward_equation(path, _Scaled(base, -1.0), SPACE, Z, 0.5)


Q = torch.tensor([[-1.0, 0.25, 0.75], [0.5, -0.5, 0.0], [2.0, 1.0, -3.0]], dtype=torch.float64)


def test_rate_matrix_check_passes_on_a_generator_matrix():
    check_rate_matrix(Q)
    check_rate_matrix(torch.zeros(3, 3, dtype=torch.float64))


@pytest.mark.parametrize(
    ("perturb", "message"),
    [
        (lambda q: q + 1e-6 * torch.eye(3, dtype=q.dtype), "rows of the generator must sum to 0"),
        (
            lambda q: q.index_put(
                (torch.tensor([1]), torch.tensor([2])), torch.tensor(1e-3, dtype=q.dtype)
            ),
            "rows of the generator must sum to 0",
        ),
        (
            lambda q: q + torch.tensor([[0, -0.5, 0.5], [0, 0, 0], [0, 0, 0]], dtype=q.dtype),
            "negative off-diagonal rate -0.25",
        ),
        (
            lambda q: q.index_put(
                (torch.tensor([0]), torch.tensor([0])), torch.tensor(float("inf"), dtype=q.dtype)
            ),
            "NaN or infinite",
        ),
    ],
    ids=["diagonal", "off-diagonal", "negative", "inf"],
)
def test_rate_matrix_check_fails_on_a_perturbed_matrix(perturb, message):
    with pytest.raises(AssertionError, match=message):
        check_rate_matrix(perturb(Q))


def test_ctmc_generator_matrix_by_hand():
    """Two positions, two tokens: points 00, 01, 10, 11 in ``space.enumerate()`` order."""
    space = DiscreteSpace(2, 2)
    points = space.enumerate()
    assert points.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    rates = torch.zeros(4, 2, 2, dtype=torch.float64)
    rates[0, 0, 1], rates[0, 1, 1] = 2.0, 3.0  # 00 -> 10 at 2, 00 -> 01 at 3
    rates[3, 1, 0] = 5.0  # 11 -> 10 at 5
    rates[1, 1, 1] = 7.0  # a rate to the current token: not a jump, ignored
    expected = torch.zeros(4, 4, dtype=torch.float64)
    expected[0, 2], expected[0, 1], expected[0, 0] = 2.0, 3.0, -5.0
    expected[3, 2], expected[3, 3] = 5.0, -5.0
    q = ctmc_generator_matrix(space, rates)
    torch.testing.assert_close(q, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="need rates at all 4 points, got 3"):
        ctmc_generator_matrix(space, rates[:3])


def test_finite_generator_matrix_equals_the_factorized_matrix():
    """The generic matrix (indicators through ``apply``) agrees with the factorized one, and
    a 5 % faster generator gives a different matrix."""
    space = DiscreteSpace(2, 3)
    gen = CTMCGenerator(space, LinearKappa())
    path = FactorizedMixturePath(space, CategoricalSource.uniform(space), LinearKappa())
    points = space.enumerate()
    m = points.shape[0]
    sample = path.sample(Z.expand(m, 2), torch.full((m,), 0.4, dtype=torch.float64))
    sample = dataclasses.replace(sample, x_t=points)
    value = gen.conditional_target(path, sample)
    generic = finite_generator_matrix(gen, value, space)
    torch.testing.assert_close(generic, ctmc_generator_matrix(space, gen.rates(value, points)))
    check_rate_matrix(generic)
    fast = finite_generator_matrix(
        gen, dataclasses.replace(value, intensity=1.05 * value.intensity), space
    )
    assert float((fast - generic).abs().max()) > 1e-3
