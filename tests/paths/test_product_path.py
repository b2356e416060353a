"""ProductPath (GM §9.8) against closed forms: the density and its time derivative are sums of
the factors' (Gaussian CondOT and a uniform-source token mixture, both by hand), per-factor
and shared times, factor draws in order from one generator, ``factor_sample``, and the exact
error messages."""

import math
import re

import pytest
import torch

from genmatch.paths import (
    AffineGaussianPath,
    CondOT,
    FactorizedMixturePath,
    LinearKappa,
    PathSample,
)
from genmatch.paths.base import AbstractConditionalPath
from genmatch.paths.product import ProductPath, factor_sample
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace, EuclideanSpace, ProductSpace

F64 = torch.float64
TOKENS = DiscreteSpace(2, 3)
SPACE = ProductSpace({"x": EuclideanSpace(2), "tok": TOKENS})
GAUSS = AffineGaussianPath(CondOT())
MIX = FactorizedMixturePath(TOKENS, CategoricalSource.uniform(TOKENS), LinearKappa())
PATH = ProductPath(SPACE, {"tok": MIX, "x": GAUSS})  # given out of order on purpose


def _points():
    x = {
        "x": torch.tensor([[0.5, -1.0], [2.0, 0.0], [0.0, 0.3]], dtype=F64),
        "tok": torch.tensor([[0, 1], [2, 2], [1, 0]]),
    }
    z = {
        "x": torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.5]], dtype=F64),
        "tok": torch.tensor([[0, 2], [2, 2], [0, 1]]),
    }
    return x, z


def _gauss(x, z, t):
    """``log N(x; t z, (1 − t)² I)`` and its ``∂_t`` (d = 2), row by row."""
    out, deriv = [], []
    for xi, zi, ti in zip(x.tolist(), z.tolist(), t.tolist(), strict=True):
        s = 1 - ti
        sq = sum((a - ti * b) ** 2 for a, b in zip(xi, zi, strict=True))
        proj = sum((a - ti * b) * b for a, b in zip(xi, zi, strict=True))
        out.append(-0.5 * sq / s**2 - 2 * math.log(s) - math.log(2 * math.pi))
        deriv.append(2 / s - sq / s**3 + proj / s**2)
    return torch.tensor(out, dtype=F64), torch.tensor(deriv, dtype=F64)


def _mixture(x, z, t):
    """``Σ_i log(κ 1[x_i = z_i] + (1 − κ)/3)``, ``κ = t``, and its ``∂_t``."""
    out, deriv = [], []
    for xi, zi, k in zip(x.tolist(), z.tolist(), t.tolist(), strict=True):
        ps = [k * (a == b) + (1 - k) / 3 for a, b in zip(xi, zi, strict=True)]
        out.append(sum(math.log(p) for p in ps))
        deriv.append(sum(((a == b) - 1 / 3) / p for a, b, p in zip(xi, zi, ps, strict=True)))
    return torch.tensor(out, dtype=F64), torch.tensor(deriv, dtype=F64)


def test_factors_are_kept_in_the_order_of_the_space():
    assert PATH.names == ("x", "tok")
    assert list(PATH.paths) == ["x", "tok"]
    assert PATH.paths["x"] is GAUSS and PATH.paths["tok"] is MIX and PATH.space is SPACE


def test_density_with_per_factor_times_is_the_sum_of_the_factors():
    x, z = _points()
    t = {
        "x": torch.tensor([0.2, 0.5, 0.7], dtype=F64),
        "tok": torch.tensor([0.6, 0.1, 0.9], dtype=F64),
    }
    g, dg = _gauss(x["x"], z["x"], t["x"])
    m, dm = _mixture(x["tok"], z["tok"], t["tok"])
    torch.testing.assert_close(PATH.log_prob(x, t, z), g + m, atol=1e-12, rtol=0)
    torch.testing.assert_close(PATH.d_log_prob_dt(x, t, z), dg + dm, atol=1e-11, rtol=0)


def test_density_with_a_shared_time():
    x, z = _points()
    t = torch.tensor([0.3, 0.4, 0.8], dtype=F64)
    g, dg = _gauss(x["x"], z["x"], t)
    m, dm = _mixture(x["tok"], z["tok"], t)
    torch.testing.assert_close(PATH.log_prob(x, t, z), g + m, atol=1e-12, rtol=0)
    torch.testing.assert_close(PATH.d_log_prob_dt(x, t, z), dg + dm, atol=1e-11, rtol=0)


def test_sample_draws_every_factor_in_order_from_one_generator():
    _, z = _points()
    t = {
        "x": torch.tensor([0.2, 0.5, 0.7], dtype=F64),
        "tok": torch.tensor([0.6, 0.1, 0.9], dtype=F64),
    }
    s = PATH.sample(z, t, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    sx = GAUSS.sample(z["x"], t["x"], generator=g)
    stok = MIX.sample(z["tok"], t["tok"], generator=g)
    assert list(s.x_t) == ["x", "tok"] and list(s.x_0) == ["x", "tok"]
    assert torch.equal(s.x_t["x"], sx.x_t) and torch.equal(s.x_0["x"], sx.x_0)
    assert torch.equal(s.x_t["tok"], stok.x_t) and torch.equal(s.x_0["tok"], stok.x_0)
    assert s.t["x"] is t["x"] and s.t["tok"] is t["tok"]
    assert s.z["x"] is z["x"] and s.z["tok"] is z["tok"]


def test_sample_uses_the_given_source_points_and_a_shared_time():
    _, z = _points()
    x_0 = {"tok": torch.tensor([[1, 1], [0, 0], [2, 1]]), "x": torch.zeros(3, 2, dtype=F64)}
    t = torch.tensor([0.0, 0.25, 1.0], dtype=F64)
    s = PATH.sample(z, t, x_0=x_0)
    assert s.x_0["x"] is x_0["x"] and s.x_0["tok"] is x_0["tok"]
    assert torch.equal(s.t["x"], t) and torch.equal(s.t["tok"], t)
    torch.testing.assert_close(s.x_t["x"], t[:, None] * z["x"], atol=1e-15, rtol=0)
    assert torch.equal(s.x_t["tok"][0], x_0["tok"][0]) and torch.equal(s.x_t["tok"][2], z["tok"][2])


def test_factor_sample_picks_one_factor():
    _, z = _points()
    t = {
        "x": torch.tensor([0.2, 0.5, 0.7], dtype=F64),
        "tok": torch.tensor([0.6, 0.1, 0.9], dtype=F64),
    }
    s = PATH.sample(z, t, generator=torch.Generator().manual_seed(0))
    part = factor_sample(s, "tok")
    assert part.x_t is s.x_t["tok"] and part.z is z["tok"] and part.x_0 is s.x_0["tok"]
    assert part.t is t["tok"]
    shared = PathSample(x_t=s.x_t, t=t["x"], z=s.z)
    part = factor_sample(shared, "x")
    assert part.t is t["x"] and part.x_t is s.x_t["x"] and part.x_0 is None


class _NoDensity(AbstractConditionalPath):
    def sample(self, z, t, *, x_0=None, generator=None):
        return PathSample(x_t=z, t=t, z=z, x_0=x_0)


def test_errors_have_exact_messages():
    x, z = _points()
    t = torch.full((3,), 0.5, dtype=F64)
    no_density = ProductPath(SPACE, {"x": GAUSS, "tok": _NoDensity()})
    message = "the factor paths ['tok'] have no density, so the product path has none"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        no_density.log_prob(x, t, z)
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        no_density.d_log_prob_dt(x, t, z)
    with pytest.raises(
        TypeError, match=r"^paths must be a mapping name -> AbstractConditionalPath"
    ):
        ProductPath(SPACE, [GAUSS, MIX])
    with pytest.raises(ValueError, match=r"^paths has factors \['x'\], but the product has"):
        ProductPath(SPACE, {"x": GAUSS})
    with pytest.raises(TypeError, match=r"^paths\['tok'\] must be a AbstractConditionalPath"):
        ProductPath(SPACE, {"x": GAUSS, "tok": MIX.source})
    with pytest.raises(TypeError, match="^z must be a dict mapping factor names"):
        PATH.sample(z["x"], t)
    with pytest.raises(ValueError, match=r"^x_0 has factors \['x'\], but the product has"):
        PATH.sample(z, t, x_0={"x": z["x"]})
    with pytest.raises(ValueError, match=r"^the times has factors \['x'\], but the product has"):
        PATH.log_prob(x, {"x": t}, z)
    with pytest.raises(ValueError, match=r"^the times has factors \['x'\], but the product has"):
        PATH.d_log_prob_dt(x, {"x": t}, z)
    with pytest.raises(ValueError, match=r"^the times has factors \['x'\], but the product has"):
        PATH.sample(z, {"x": t})
