"""Product generators (GM §9.8): forward equation jointly, Thm 20, steps, oracle, conditionals."""

import dataclasses

import pytest
import torch

from genmatch import (
    AffineGaussianPath,
    CategoricalSource,
    CondOT,
    CTMCGenerator,
    DiscreteSpace,
    EuclideanSpace,
    FactorizedMixturePath,
    FlowGenerator,
    LinearKappa,
    ManifoldSpace,
    RiemannianFlowGenerator,
)
from genmatch.compose.product import ProductGenerator
from genmatch.generators import AbstractGenerator, CTMCHead
from genmatch.manifold_sources import UniformSource
from genmatch.manifolds import SO3, Hypersphere
from genmatch.paths import GeodesicPath
from genmatch.paths.product import ProductPath
from genmatch.spaces import ProductSpace
from genmatch.testing import DensityPoints, MovingPoints, check_forward_equation

F64 = torch.float64


def _tokens_model(length=2, vocab=3, mask=True, head=CTMCHead.POSTERIOR):
    space = DiscreteSpace(length, vocab, mask=mask)
    source = CategoricalSource.masked(space) if mask else CategoricalSource.uniform(space)
    path = FactorizedMixturePath(space, source, LinearKappa())
    gen = CTMCGenerator(space, LinearKappa(), head=head, source=source if mask else None)
    return space, path, gen


def _r_tokens(head=CTMCHead.POSTERIOR, mask=True):
    tokens, tpath, tgen = _tokens_model(head=head, mask=mask)
    space = ProductSpace({"r": EuclideanSpace(2), "tok": tokens})
    path = ProductPath(space, {"r": AffineGaussianPath(CondOT()), "tok": tpath})
    gen = ProductGenerator(space, {"r": FlowGenerator(), "tok": tgen})
    return space, path, gen


def _coupled(x):
    """A joint test function mixing every factor (not a sum of factor functions)."""
    tok = x["tok"].to(F64)
    r = x["r"]
    return torch.sin(r[:, 0] * (1 + tok[:, 0])) * torch.cos(r[:, 1] - 0.5 * tok[:, 1]) + r[
        :, 0
    ] ** 2 * tok.sum(1)


@pytest.mark.parametrize("head", [CTMCHead.POSTERIOR, CTMCHead.RATE], ids=lambda h: h.value)
@pytest.mark.parametrize("mask", [True, False], ids=["masked", "uniform"])
@pytest.mark.parametrize("t", [0.2, 0.5, 0.85])
def test_forward_equation_r_times_tokens(head, mask, t):
    space, path, gen = _r_tokens(head, mask)
    rng = torch.Generator().manual_seed(0)
    z = {"r": torch.tensor([[0.7, -0.4]], dtype=F64), "tok": torch.tensor([[1, 2]])}
    rule = {
        "r": MovingPoints(torch.randn(64, 2, dtype=F64, generator=rng)),
        "tok": DensityPoints(space.factors["tok"].enumerate()),
    }
    lhs, rhs = check_forward_equation(path, gen, _coupled, z, t, rule)
    assert abs(float(lhs)) > 1e-3  # not vacuous


def _s2_tokens():
    tokens, tpath, tgen = _tokens_model()
    sphere = ManifoldSpace(Hypersphere(3), (3,))
    space = ProductSpace({"s": sphere, "tok": tokens})
    path = ProductPath(space, {"s": GeodesicPath(sphere), "tok": tpath})
    gen = ProductGenerator(space, {"s": RiemannianFlowGenerator(sphere), "tok": tgen})
    return space, path, gen


@pytest.mark.parametrize("t", [0.3, 0.7])
def test_forward_equation_sphere_times_tokens(t):
    space, path, gen = _s2_tokens()
    rng = torch.Generator().manual_seed(1)
    sphere = space.factors["s"]
    z = {"s": torch.tensor([[0.0, 0.6, 0.8]], dtype=F64), "tok": torch.tensor([[0, 2]])}
    rule = {
        "s": MovingPoints(UniformSource(sphere).sample(48, generator=rng, dtype=F64)),
        "tok": DensityPoints(space.factors["tok"].enumerate()),
    }

    def f(x):
        s, tok = x["s"], x["tok"].to(F64)
        return torch.exp(s[:, 0] * (1 + tok[:, 0]) - s[:, 2] * tok[:, 1]) + s[:, 1] * tok.sum(1)

    lhs, _ = check_forward_equation(path, gen, f, z, t, rule)
    assert abs(float(lhs)) > 1e-3


@pytest.mark.parametrize("t", [0.25, 0.6])
def test_forward_equation_r3_times_so3(t):
    so3 = ManifoldSpace(SO3(), (3, 3))
    space = ProductSpace({"trans": EuclideanSpace(3), "rot": so3})
    path = ProductPath(space, {"trans": AffineGaussianPath(CondOT()), "rot": GeodesicPath(so3)})
    gen = ProductGenerator(
        space, {"trans": FlowGenerator(), "rot": RiemannianFlowGenerator(so3)}, {"rot": 2.0}
    )
    rng = torch.Generator().manual_seed(2)
    z = {
        "trans": torch.tensor([[0.3, -1.0, 0.5]], dtype=F64),
        "rot": UniformSource(so3).sample(1, generator=rng, dtype=F64),
    }
    rule = {
        "trans": MovingPoints(torch.randn(8, 3, dtype=F64, generator=rng)),
        "rot": MovingPoints(UniformSource(so3).sample(8, generator=rng, dtype=F64)),
    }

    def f(x):
        r, q = x["trans"], x["rot"].reshape(-1, 9)
        return torch.sin((r * q[:, 3:6]).sum(1)) + (q[:, 0] * r[:, 2]) ** 2 + q[:, 4]

    lhs, _ = check_forward_equation(path, gen, f, z, t, rule)
    assert abs(float(lhs)) > 1e-3


def test_forward_equation_check_fails_on_a_wrong_factor():
    """The same check rejects a product whose token rates or velocity are off."""
    space, path, gen = _r_tokens()
    rng = torch.Generator().manual_seed(0)
    z = {"r": torch.tensor([[0.7, -0.4]], dtype=F64), "tok": torch.tensor([[1, 2]])}
    rule = {
        "r": MovingPoints(torch.randn(64, 2, dtype=F64, generator=rng)),
        "tok": DensityPoints(space.factors["tok"].enumerate()),
    }
    fast = ProductGenerator(space, {"r": _ScaledFlow(), "tok": gen.generators["tok"]})
    with pytest.raises(AssertionError, match="forward equation violated"):
        check_forward_equation(path, fast, _coupled, z, 0.5, rule)
    slow_tokens = ProductGenerator(
        space, {"r": FlowGenerator(), "tok": _ScaledRates(gen.generators["tok"])}
    )
    with pytest.raises(AssertionError, match="forward equation violated"):
        check_forward_equation(path, slow_tokens, _coupled, z, 0.5, rule)


class _ScaledFlow(AbstractGenerator):
    """A flow whose velocity is 10 % too fast: wrong for its path."""

    parametrization = FlowGenerator().parametrization
    divergence = FlowGenerator().divergence

    def conditional_target(self, path, sample):
        return 1.1 * FlowGenerator().conditional_target(path, sample)

    def step(self, field, x, t, h, *, generator=None):
        return x + h * field(x, t)


class _ScaledRates(AbstractGenerator):
    """A CTMC whose posterior-head intensity is 10 % too low: wrong for its path."""

    def __init__(self, base):
        self.base, self.parametrization, self.divergence = (
            base,
            base.parametrization,
            base.divergence,
        )

    def conditional_target(self, path, sample):
        value = self.base.conditional_target(path, sample)
        return dataclasses.replace(value, intensity=0.9 * value.intensity)

    def step(self, field, x, t, h, *, generator=None):
        return self.base.step(field, x, t, h, generator=generator)
