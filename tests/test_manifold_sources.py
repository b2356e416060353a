"""Manifold sources: uniform on compact manifolds, wrapped normal otherwise."""

import math

import geoopt
import pytest
import torch

from genmatch.manifold_sources import UniformSource, WrappedNormalSource
from genmatch.manifolds import SO3, FlatTorus, Hypersphere, so3_log
from genmatch.spaces import ManifoldSpace

F64 = torch.float64


@pytest.mark.parametrize(
    "manifold,shape,volume",
    [
        (Hypersphere(3), (3,), 4 * math.pi),
        (Hypersphere(2), (2,), 2 * math.pi),
        (FlatTorus(2), (2,), 4 * math.pi**2),
        (SO3(), (3, 3), 16 * math.sqrt(2) * math.pi**2),
    ],
)
def test_uniform_log_prob_is_minus_log_volume(manifold, shape, volume):
    src = UniformSource(ManifoldSpace(manifold, shape))
    x = src.sample(7, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert torch.allclose(src.log_prob(x), torch.full((7,), -math.log(volume), dtype=F64))


def test_haar_rotation_angle_law():
    # under Haar measure the rotation angle ω has density (1 − cos ω)/π: E[ω] = π/2 + 2/π
    src = UniformSource(ManifoldSpace(SO3(), (3, 3)))
    r = src.sample(100_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    omega = so3_log(r).norm(dim=1)
    assert float(omega.mean()) == pytest.approx(math.pi / 2 + 2 / math.pi, abs=0.01)


def test_sphere_uniform_height_law():
    # Archimedes: the height z of a uniform point on S² is uniform on [−1, 1]
    src = UniformSource(ManifoldSpace(Hypersphere(3), (3,)))
    z = src.sample(100_000, generator=torch.Generator().manual_seed(0), dtype=F64)[:, 2]
    assert float((z < -0.5).double().mean()) == pytest.approx(0.25, abs=0.01)


def test_wrapped_normal_is_centred_and_on_manifold():
    space = ManifoldSpace(geoopt.Lorentz().to(F64), (3,))
    src = WrappedNormalSource(space, torch.tensor([1.0, 0.0, 0.0], dtype=F64), 0.3)
    x = src.sample(20_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    space.check(x)
    mu = torch.tensor([[1.0, 0.0, 0.0]], dtype=F64).expand_as(x)
    w = space.logmap(mu, x)
    assert w[:, 1:].mean(0).abs().max() < 0.01
    assert w[:, 1:].std(0).sub(0.3).abs().max() < 0.01


def test_errors():
    with pytest.raises(TypeError, match="WrappedNormalSource"):
        UniformSource(ManifoldSpace(geoopt.PoincareBall(), (2,)))
    space = ManifoldSpace(Hypersphere(3), (3,))
    with pytest.raises(ValueError, match="not on Hypersphere"):
        WrappedNormalSource(space, torch.tensor([0.0, 0.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="std"):
        WrappedNormalSource(space, torch.tensor([0.0, 0.0, 1.0]), 0.0)
    with pytest.raises(ValueError, match="n must"):
        UniformSource(space).sample(0)
