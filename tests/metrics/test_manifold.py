"""Geodesic MMD."""

import pytest
import torch

from genmatch.manifolds import SO3, FlatTorus, Hypersphere, so3_exp
from genmatch.metrics import geodesic_distances, geodesic_mmd
from genmatch.sources import UniformSource
from genmatch.spaces import ManifoldSpace

F64 = torch.float64


def test_distances_match_pairwise_dist():
    space = ManifoldSpace(FlatTorus(2), (2,))
    g = torch.Generator().manual_seed(0)
    x, y = (UniformSource(space).sample(n, generator=g, dtype=F64) for n in (5, 7))
    d = geodesic_distances(space, x, y, block=2)
    assert d.shape == (5, 7)
    assert torch.allclose(d[3, 4], space.dist(x[3:4], y[4:5])[0])


def test_same_law_small_different_law_large_and_isometry_invariant():
    space = ManifoldSpace(Hypersphere(3), (3,))
    g = torch.Generator().manual_seed(0)
    a, b = (UniformSource(space).sample(400, generator=g, dtype=F64) for _ in range(2))
    pole = torch.tensor([[0.0, 0.0, 1.0]], dtype=F64).expand(400, 3)
    cap = space.expmap(pole, 0.4 * space.proju(pole, torch.randn(400, 3, generator=g, dtype=F64)))
    same, diff = geodesic_mmd(space, a, b), geodesic_mmd(space, a, cap)
    assert abs(float(same)) < 0.02 and float(diff) > 0.3
    r = so3_exp(torch.tensor([0.3, -1.0, 2.0], dtype=F64))
    assert torch.allclose(geodesic_mmd(space, a @ r.T, cap @ r.T), diff, atol=1e-10)


def test_errors():
    space = ManifoldSpace(Hypersphere(3), (3,))
    x = UniformSource(space).sample(4, dtype=F64)
    with pytest.raises(ValueError, match="at least 2"):
        geodesic_mmd(space, x[:1], x)
    with pytest.raises(ValueError, match="not on Hypersphere"):
        geodesic_mmd(space, 2 * x, x)
    with pytest.raises(ValueError, match="bandwidths"):
        geodesic_mmd(space, x, x, bandwidths=(0.0,))
    with pytest.raises(TypeError, match="dtype"):
        geodesic_mmd(space, x, x.float())


def test_default_bandwidths_scale_with_the_power():
    # on SO(3)^16 distances are ~4× those of SO(3): the default kernel still separates laws
    space = ManifoldSpace(SO3(), (16, 3, 3))
    g = torch.Generator().manual_seed(0)
    uniform = UniformSource(space).sample(200, generator=g, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(200, 16, 3, 3)
    near = space.expmap(
        eye, 0.3 * space.proju(eye, torch.randn(200, 16, 3, 3, generator=g, dtype=torch.float64))
    )
    assert float(geodesic_mmd(space, uniform, near)) > 0.3
    fixed = geodesic_mmd(space, uniform, near, bandwidths=(0.1, 0.2, 0.5, 1.0))
    assert float(fixed) < 0.05  # the unscaled kernel barely sees the difference
