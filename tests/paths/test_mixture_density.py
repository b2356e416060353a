"""MixturePath in the dtype of its times: the density of float32 times is float32 (the
float64 source density is cast first), and draws are reproducible from the generator: the
source sample first, then one uniform coin per point in the times' dtype."""

import pytest
import torch

from genmatch import DiscreteSpace, MixturePath, PolynomialKappa
from genmatch.sources import UniformFiniteSource

SPACE = DiscreteSpace(2, 3)
KAPPA = PolynomialKappa(2.0)
SOURCE = UniformFiniteSource(SPACE)
PATH = MixturePath(SPACE, SOURCE, KAPPA)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_density_is_computed_in_the_dtype_of_the_times(dtype):
    x = torch.tensor([[0, 1], [2, 2], [1, 0]])
    z = torch.tensor([[0, 1], [2, 1], [1, 0]])
    t = torch.tensor([0.3, 0.5, 0.9], dtype=dtype)
    kappa = t**2
    same = torch.tensor([1.0, 0.0, 1.0], dtype=dtype)
    expected = torch.log(kappa * same + (1 - kappa) * torch.full((3,), 1 / 9, dtype=dtype))
    lp = PATH.log_prob(x, t, z)
    assert lp.dtype == dtype
    atol = 1e-6 if dtype == torch.float32 else 1e-15
    torch.testing.assert_close(lp, expected, atol=atol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_coins_are_uniforms_in_the_dtype_of_the_times(dtype):
    n = 64
    z = torch.zeros(n, 2, dtype=torch.long)
    x_0 = torch.full((n, 2), 2)
    t = torch.full((n,), 0.7, dtype=dtype)
    s = PATH.sample(z, t, x_0=x_0, generator=torch.Generator().manual_seed(7))
    u = torch.rand(n, generator=torch.Generator().manual_seed(7), dtype=dtype)
    expected = torch.where((u < t**2)[:, None], z, x_0)
    assert torch.equal(s.x_t, expected)


def test_drawn_source_sample_comes_before_the_coins():
    n = 64
    z = torch.zeros(n, 2, dtype=torch.long)
    t = torch.full((n,), 0.5, dtype=torch.float64)
    s = PATH.sample(z, t, generator=torch.Generator().manual_seed(11))
    g = torch.Generator().manual_seed(11)
    x_0 = SOURCE.sample(n, generator=g, dtype=torch.float64)
    u = torch.rand(n, generator=g, dtype=torch.float64)
    assert torch.equal(s.x_0, x_0)
    assert torch.equal(s.x_t, torch.where((u < 0.25)[:, None], z, x_0))
