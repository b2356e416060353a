"""The forward-equation checks (strong form, weak form by grid quadrature, weak form by moving
or density-weighted points): each holds for a correct conditional target and is violated by a
slightly wrong one."""

import dataclasses

import pytest
import torch

from genmatch import (
    AffineGaussianPath,
    CategoricalSource,
    CondOT,
    CTMCGenerator,
    DiscreteSpace,
    FactorizedMixturePath,
    FlowGenerator,
    VPLinear,
)
from genmatch.generators import AbstractGenerator
from genmatch.paths import LinearKappa
from genmatch.testing import (
    DensityPoints,
    MovingPoints,
    check_continuity_equation,
    check_forward_equation,
    continuity_residual,
    forward_equation_gap,
    kolmogorov_forward_gap,
)

F64 = torch.float64
FLOW = FlowGenerator()
PATH = AffineGaussianPath(CondOT())


class _Scaled(AbstractGenerator):
    """``base`` with its conditional target scaled by ``factor`` (wrong unless it is 1)."""

    def __init__(self, base, factor, field=None):
        self.base, self.factor, self.field = base, factor, field
        self.parametrization, self.divergence = base.parametrization, base.divergence

    def conditional_target(self, path, sample):
        value = self.base.conditional_target(path, sample)
        if self.field is None:
            return self.factor * value
        return dataclasses.replace(value, **{self.field: self.factor * getattr(value, self.field)})

    def step(self, field, x, t, h, *, generator=None):
        raise AssertionError("not used")


def _strong_form_points(seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(16, 2, dtype=F64, generator=g)
    x = 2 * torch.randn(16, 2, dtype=F64, generator=g)
    t = 0.05 + 0.9 * torch.rand(16, dtype=F64, generator=g)
    return x, t, z


@pytest.mark.parametrize("path", [PATH, AffineGaussianPath(VPLinear())], ids=["condot", "vp"])
def test_continuity_check_passes_on_the_flow_and_fails_on_a_faster_one(path):
    x, t, z = _strong_form_points()
    r = check_continuity_equation(path, FLOW, x, t, z, atol=1e-9)
    assert float(r.detach().abs().max()) < 1e-9
    assert float(continuity_residual(path, _Scaled(FLOW, 1.0), x, t, z).detach().abs().max()) < 1e-9
    with pytest.raises(AssertionError, match="continuity equation violated"):
        check_continuity_equation(path, _Scaled(FLOW, 1.001), x, t, z, atol=1e-9)


def test_grid_weak_form_separates_right_and_wrong_targets():
    z = torch.tensor([0.7, -0.4], dtype=F64)

    def f(x):
        return torch.sin(x[:, 0]) * torch.cos(0.5 * x[:, 1]) + x[:, 0] ** 2

    lhs, rhs = kolmogorov_forward_gap(PATH, FLOW, f, z, 0.5, bounds=(-6, 6), points=201)
    assert abs(float(lhs)) > 1e-2
    assert abs(float(lhs - rhs)) < 1e-8
    lhs, wrong = kolmogorov_forward_gap(
        PATH, _Scaled(FLOW, 1.01), f, z, 0.5, bounds=(-6, 6), points=201
    )
    torch.testing.assert_close(wrong, 1.01 * rhs)  # the right side scales with the target
    assert abs(float(lhs - wrong)) > 1e-4
    with pytest.raises(ValueError, match="d <= 2"):
        kolmogorov_forward_gap(PATH, FLOW, f, torch.zeros(3, dtype=F64), 0.5, bounds=(-1, 1))


def test_moving_points_weak_form_is_exact_for_the_flow_and_fails_for_a_wrong_one():
    g = torch.Generator().manual_seed(0)
    z = torch.tensor([[0.7, -0.4]], dtype=F64)
    rule = MovingPoints(torch.randn(12, 2, dtype=F64, generator=g))

    def f(x):
        return torch.exp(-(x**2).sum(1)) + x[:, 0] * x[:, 1]

    lhs, rhs = check_forward_equation(PATH, FLOW, f, z, 0.3, rule, rtol=1e-12, atol=1e-12)
    assert abs(float(lhs)) > 1e-2
    with pytest.raises(AssertionError, match="Kolmogorov forward equation violated at t=0.3"):
        check_forward_equation(PATH, _Scaled(FLOW, 1.0001), f, z, 0.3, rule)


def test_density_points_weak_form_on_tokens():
    space = DiscreteSpace(2, 3)
    path = FactorizedMixturePath(space, CategoricalSource.uniform(space), LinearKappa())
    gen = CTMCGenerator(space, LinearKappa())
    z = torch.tensor([[1, 2]])
    rule = DensityPoints(space.enumerate())

    def f(x):
        return (x[:, 0] * 3 + x[:, 1]).to(F64) ** 2

    lhs, rhs = check_forward_equation(path, gen, f, z, 0.6, rule, rtol=1e-12, atol=1e-12)
    assert abs(float(lhs)) > 1e-2
    lhs2, rhs2 = forward_equation_gap(path, _Scaled(gen, 1.01, "intensity"), f, z, 0.6, rule)
    torch.testing.assert_close(lhs2, lhs)
    torch.testing.assert_close(rhs2, 1.01 * rhs)
    with pytest.raises(AssertionError, match="forward equation violated"):
        check_forward_equation(path, _Scaled(gen, 1.01, "intensity"), f, z, 0.6, rule)


def test_misused_rules_raise_clearly():
    z = torch.tensor([[0.7, -0.4]], dtype=F64)
    with pytest.raises(ValueError, match="a rule per factor needs a ProductPath"):
        forward_equation_gap(PATH, FLOW, lambda x: x[:, 0], z, 0.5, {"r": MovingPoints(z)})

    class _NoDensity:
        def sample(self, z, t, *, x_0=None, generator=None):
            raise AssertionError("not used")

    with pytest.raises(TypeError, match="DensityPoints need a path with a density"):
        forward_equation_gap(_NoDensity(), FLOW, lambda x: x[:, 0], z, 0.5, DensityPoints(z))
