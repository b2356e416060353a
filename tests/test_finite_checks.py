"""check_finite_forward_equation: exact on finite spaces, and it fails on wrong generators."""

import dataclasses

import pytest
import torch

from genmatch import CategoricalSource, CTMCGenerator, DiscreteSpace, FactorizedMixturePath
from genmatch.generators import AbstractGenerator, CTMCHead
from genmatch.paths import LinearKappa, PolynomialKappa
from genmatch.sources import UniformFiniteSource
from genmatch.testing import check_finite_forward_equation

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
        path, CTMCGenerator(SPACE, kappa, head=head), SPACE, Z, t
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
    base = CTMCGenerator(SPACE, LinearKappa())
    check_finite_forward_equation(path, _Scaled(base, 1.0), SPACE, Z, 0.5)
    with pytest.raises(AssertionError, match="forward equation violated"):
        check_finite_forward_equation(path, _Scaled(base, 1.05), SPACE, Z, 0.5)
    with pytest.raises(AssertionError, match="NaN or infinite"):
        check_finite_forward_equation(path, _Scaled(base, float("nan")), SPACE, Z, 0.5)
    with pytest.raises(AssertionError, match="negative off-diagonal"):
        check_finite_forward_equation(path, _Scaled(base, -1.0), SPACE, Z, 0.5)


def test_uniform_finite_source():
    src = UniformFiniteSource(SPACE)
    x = src.sample(90_000, generator=torch.Generator().manual_seed(0))
    SPACE.check(x)
    freq = torch.bincount(SPACE.index(x), minlength=SPACE.num_points) / 90_000
    assert float((freq - 1 / 16).abs().max()) < 0.005
    assert torch.allclose(src.log_prob(x[:3]).exp(), torch.full((3,), 1 / 16, dtype=torch.float64))
    with pytest.raises(TypeError, match="AbstractFiniteSpace"):
        UniformFiniteSource(object())
