"""The mixture path ``κ_t δ_z + (1 − κ_t) p`` (GM eq. 9.25) on a finite space: its density
and its samples."""

import itertools
import math
import re

import pytest
import torch

from genmatch import DiscreteSpace, MixturePath, PolynomialKappa
from genmatch.sources import AbstractSource, UniformFiniteSource

F64 = torch.float64
SPACE = DiscreteSpace(2, 3)
KAPPA = PolynomialKappa(2.0)
PATH = MixturePath(SPACE, UniformFiniteSource(SPACE), KAPPA)


def test_log_prob_is_the_mixture_density_with_respect_to_counting():
    points = torch.tensor(list(itertools.product(range(3), repeat=2)))
    x = points.repeat_interleave(9, 0)
    z = points.repeat(9, 1)
    t = torch.full((81,), 0.6, dtype=F64)
    kappa = 0.36
    same = (x == z).all(1).to(F64)
    expected = torch.log(kappa * same + (1 - kappa) / 9)
    torch.testing.assert_close(PATH.log_prob(x, t, z), expected, atol=1e-14, rtol=0)
    total = PATH.log_prob(points, t[:9], z[:1].expand(9, 2)).exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-14)


def test_samples_are_z_with_probability_kappa_and_the_source_sample_otherwise():
    n = 20000
    z = torch.zeros(n, 2, dtype=torch.long)
    x_0 = torch.full((n, 2), 2)
    g = torch.Generator().manual_seed(0)
    for t, kappa in ((0.0, 0.0), (0.5, 0.25), (0.8, 0.64), (1.0, 1.0)):
        out = PATH.sample(z, torch.full((n,), t, dtype=F64), x_0=x_0, generator=g)
        is_z = (out.x_t == z).all(1)
        assert bool((is_z | (out.x_t == x_0).all(1)).all())  # whole points, z or x_0
        sd = math.sqrt(kappa * (1 - kappa) / n)
        assert abs(float(is_z.double().mean()) - kappa) <= 4 * sd + 1e-12, t
        assert out.x_0 is x_0 and out.z is z


def test_sampling_draws_the_source_with_the_generator():
    z = torch.zeros(50, 2, dtype=torch.long)
    t = torch.full((50,), 0.3, dtype=F64)
    a = PATH.sample(z, t, generator=torch.Generator().manual_seed(1))
    b = PATH.sample(z, t, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.x_t, b.x_t) and torch.equal(a.x_0, b.x_0)
    assert a.x_0.shape == (50, 2)
    assert not torch.equal(a.x_0, PATH.sample(z, t, generator=torch.Generator().manual_seed(2)).x_0)


def test_bad_input_is_rejected_clearly():
    z = torch.zeros(4, 2, dtype=torch.long)
    t = torch.full((4,), 0.3, dtype=F64)
    with pytest.raises(ValueError, match=r"^x_0 has 3 points but z has 4$"):
        PATH.sample(z, t, x_0=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises((TypeError, ValueError), match="^x_0"):
        PATH.sample(z, t, x_0=torch.full((4, 2), 5))
    with pytest.raises((TypeError, ValueError), match="^z"):
        PATH.sample(torch.full((4, 2), 5), t)


def test_sample_carries_its_times():
    z = torch.zeros(4, 2, dtype=torch.long)
    t = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    assert torch.equal(PATH.sample(z, t).t, t)


def test_time_derivative_of_the_log_density():
    """``∂_t log p = κ̇ (1[x = z] − p(x)) / (κ 1[x = z] + (1 − κ) p(x))`` (the autodiff
    default of density paths)."""
    x = torch.tensor([[0, 0], [1, 2], [0, 0]])
    z = torch.tensor([[0, 0], [0, 0], [2, 1]])
    t = torch.tensor([0.2, 0.5, 0.7], dtype=F64)
    kappa, d_kappa = KAPPA.kappa(t), KAPPA.d_kappa(t)
    same = (x == z).all(1).to(F64)
    expected = d_kappa * (same - 1 / 9) / (kappa * same + (1 - kappa) / 9)
    torch.testing.assert_close(PATH.d_log_prob_dt(x, t, z), expected, atol=1e-14, rtol=0)


def test_the_density_needs_a_finite_space_and_a_source_with_a_log_prob():
    from genmatch import EuclideanSpace, GaussianSource

    flat = MixturePath(EuclideanSpace(2), GaussianSource(EuclideanSpace(2)), KAPPA)
    message = (
        "the mixture path has a density only on a finite space (AbstractFiniteSpace), "
        "got EuclideanSpace"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        flat.log_prob(torch.zeros(1, 2), torch.zeros(1), torch.zeros(1, 2))

    class NoDensity(AbstractSource):
        def sample(self, n, *, generator=None, dtype=torch.float32, device=None):
            return torch.zeros(n, 2, dtype=torch.long)

    no_density = MixturePath(SPACE, NoDensity(), KAPPA)
    z = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(TypeError, match="^the source NoDensity has no log_prob$"):
        no_density.log_prob(z, torch.zeros(1, dtype=F64), z)


def test_on_a_continuous_space_the_source_is_drawn_in_the_dtype_of_t():
    from genmatch import EuclideanSpace, GaussianSource

    path = MixturePath(EuclideanSpace(2), GaussianSource(EuclideanSpace(2)), KAPPA)
    z = torch.ones(500, 2, dtype=F64)
    s = path.sample(
        z, torch.full((500,), 0.5, dtype=F64), generator=torch.Generator().manual_seed(0)
    )
    assert s.x_0.dtype == F64 and s.x_t.dtype == F64
    assert bool(((s.x_t == z).all(1) | (s.x_t == s.x_0).all(1)).all())


def test_time_derivative_for_a_single_point():
    x = z = torch.tensor([[1, 2]])
    t = torch.tensor([0.5], dtype=F64)
    kappa, d_kappa = KAPPA.kappa(t), KAPPA.d_kappa(t)
    expected = d_kappa * (1 - 1 / 9) / (kappa + (1 - kappa) / 9)
    torch.testing.assert_close(PATH.d_log_prob_dt(x, t, z), expected, atol=1e-14, rtol=0)
