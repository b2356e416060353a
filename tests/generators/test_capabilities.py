"""Generators dispatch on path capabilities, not on concrete classes: a new path written by a
user, implementing the capability, is accepted as is and its targets solve the KFE."""

from dataclasses import dataclass
from typing import final

import pytest
import torch

from genmatch import (
    AbstractDensityPath,
    AbstractFactorizedMixturePath,
    AbstractGaussianPath,
    AbstractMixturePath,
    AffineGaussianPath,
    CondOT,
    EuclideanSpace,
    FlowGenerator,
    GaussianSource,
    MixturePath,
    PathSample,
    ScheduleOutput,
    UnsupportedPathError,
)
from genmatch.generators import (
    BinnedJumpGenerator,
    Bins,
    CTMCGenerator,
    CTMCHead,
    DiffusionGenerator,
    JumpGenerator,
)
from genmatch.paths import AbstractKappaSchedule, CosineKappa, LinearKappa, PolynomialKappa
from genmatch.sources import CategoricalSource
from genmatch.spaces import DiscreteSpace
from genmatch.testing import check_rate_matrix, ctmc_generator_matrix, kolmogorov_forward_gap

D = torch.float64


@final
@dataclass(frozen=True)
class SigmaMinPath(AbstractGaussianPath):
    """``α_t = t``, ``σ_t = 1 − (1 − σ_min) t``: the OT path that ends in ``N(z, σ_min² I)``,
    written by hand (not an :class:`AffineGaussianPath`)."""

    sigma_min: float = 0.2

    def coefficients(self, t):
        one = torch.ones_like(t)
        return ScheduleOutput(t, 1 - (1 - self.sigma_min) * t, one, -(1 - self.sigma_min) * one)

    def sample(self, z, t, *, x_0=None, generator=None):
        if x_0 is None:
            x_0 = torch.randn(z.shape, generator=generator, dtype=z.dtype)
        s = self.coefficients(t)
        return PathSample(x_t=s.alpha_t[:, None] * z + s.sigma_t[:, None] * x_0, t=t, z=z, x_0=x_0)


def _f(x):
    return torch.sin(x[:, 0]) + torch.cos(0.7 * x[:, 1]) * x[:, 0]


def test_gaussian_path_defaults_match_the_affine_path_and_autodiff():
    """Density, its time derivative (closed form vs autodiff) and velocity from coefficients."""
    path, condot = SigmaMinPath(), AffineGaussianPath(CondOT())
    g = torch.Generator().manual_seed(0)
    x, z = torch.randn(16, 2, generator=g, dtype=D), torch.randn(16, 2, generator=g, dtype=D)
    t = 0.05 + 0.9 * torch.rand(16, generator=g, dtype=D)
    autodiff = AbstractDensityPath.d_log_prob_dt(path, x, t, z)
    torch.testing.assert_close(path.d_log_prob_dt(x, t, z), autodiff)
    # σ_min = 0 is CondOT: the defaults agree with the affine path's
    zero, s = SigmaMinPath(0.0), condot.sample(z, t, x_0=x)
    torch.testing.assert_close(zero.log_prob(x, t, z), condot.log_prob(x, t, z))
    torch.testing.assert_close(zero.d_log_prob_dt(x, t, z), condot.d_log_prob_dt(x, t, z))
    for sample in (s, PathSample(x_t=s.x_t, t=t, z=z)):
        expected = condot.conditional_velocity(sample)
        torch.testing.assert_close(zero.conditional_velocity(sample), expected)


@pytest.mark.parametrize("t", [0.3, 0.7])
def test_diffusion_and_flow_accept_a_new_gaussian_path(t):
    z = torch.tensor([0.6, -0.3], dtype=D)
    for gen in (DiffusionGenerator(), FlowGenerator()):
        lhs, rhs = kolmogorov_forward_gap(SigmaMinPath(), gen, _f, z, t, bounds=(-6.0, 6.0))
        assert abs(float(lhs)) > 1e-2
        assert abs(float(lhs - rhs)) < 1e-6 * max(1.0, abs(float(lhs)))


def test_binned_jumps_accept_a_new_gaussian_path():
    """Weak KFE to 1 % (bins and a kinked intensity, as for the affine paths), and the
    shared-time contraction of the exact marginal equals the pairwise average."""
    path, t = SigmaMinPath(), 0.6
    gen = BinnedJumpGenerator(Bins(-5.0, 5.0, 200), quadrature=2)
    z = torch.tensor([0.6, -0.3], dtype=D)
    lhs, rhs = kolmogorov_forward_gap(path, gen, _f, z, t, bounds=(-5.0, 5.0), points=101)
    assert abs(float(lhs - rhs)) < 1e-2 * abs(float(lhs))
    g = torch.Generator().manual_seed(1)
    x, data = torch.randn(5, 2, generator=g, dtype=D), torch.randn(3, 2, generator=g, dtype=D)
    posterior = torch.softmax(torch.randn(5, 3, generator=g, dtype=D), 1)
    shared = torch.tensor(t, dtype=D).expand(5)
    contracted = gen.marginal_target(path, x, shared, data, posterior)
    pairwise = gen.marginal_target(path, x, shared.clone(), data, posterior)
    torch.testing.assert_close(contracted, pairwise)


@final
@dataclass(frozen=True)
class PinnedMixturePath(AbstractMixturePath):
    """``κ_t δ_z + (1 − κ_t) δ_o``: the mixture path of a Dirac source at ``o``."""

    origin: torch.Tensor
    kappa: AbstractKappaSchedule

    def sample(self, z, t, *, x_0=None, generator=None):
        x_0 = self.origin.expand_as(z) if x_0 is None else x_0
        u = torch.rand(t.shape, generator=generator, dtype=t.dtype)
        x_t = torch.where((u < self.kappa.kappa(t))[:, None], z, x_0)
        return PathSample(x_t=x_t, t=t, z=z, x_0=x_0)


@pytest.mark.parametrize("kappa", [LinearKappa(), PolynomialKappa(3.0), CosineKappa()], ids=repr)
def test_whole_state_jumps_accept_a_new_mixture_path(kappa):
    """``d/dt E f(X_t) = κ̇ (f(z) − f(o)) = E[L f(X_t)]`` exactly (eq. 9.26)."""
    origin, z = torch.tensor([[-1.0, 0.5]], dtype=D), torch.tensor([[0.5, 1.5]], dtype=D)
    path, gen = PinnedMixturePath(origin[0], kappa), JumpGenerator(EuclideanSpace(2))
    for t in (0.1, 0.5, 0.9):
        tt = torch.full((2,), t, dtype=D)
        points = torch.cat([z, origin])
        value = gen.conditional_target(path, PathSample(x_t=points, t=tt, z=z.expand(2, 2)))
        lf = gen.apply(_f, points, value)
        k, dk = kappa.kappa(tt[:1]), kappa.d_kappa(tt[:1])
        rhs = k * lf[0] + (1 - k) * lf[1]
        torch.testing.assert_close(rhs, dk * (_f(z) - _f(origin)), rtol=1e-10, atol=1e-12)


@final
@dataclass(frozen=True, eq=False)
class ReversedDrawMixturePath(AbstractFactorizedMixturePath):
    """The factorized mixture path with a sampler of its own (source tokens drawn first, one
    uniform per sequence and position): the densities are the capability's defaults."""

    space: DiscreteSpace
    source: CategoricalSource
    kappa: AbstractKappaSchedule

    def sample(self, z, t, *, x_0=None, generator=None):
        x_0 = self.source.sample(z.shape[0], generator=generator) if x_0 is None else x_0
        u = torch.rand(z.shape, generator=generator, dtype=t.dtype)
        keep = u < self.kappa.kappa(t)[:, None]
        return PathSample(x_t=torch.where(keep, z, x_0), t=t, z=z, x_0=x_0)


@pytest.mark.parametrize("head", list(CTMCHead), ids=lambda h: h.value)
def test_ctmc_accepts_a_new_factorized_mixture_path(head):
    """``d/dt p_t(·|z) = p_t(·|z) Q_t(z)`` exactly on the enumerated space, float64."""
    space = DiscreteSpace(2, 2, mask=True)
    kappa = CosineKappa()
    path = ReversedDrawMixturePath(space, CategoricalSource.masked(space), kappa)
    gen = CTMCGenerator(space, kappa, head=head)
    points = space.enumerate()
    n = points.shape[0]
    z = points[[4]]
    for t in (0.1, 0.45, 0.8):
        sample = PathSample(x_t=points, t=torch.full((n,), t, dtype=D), z=z.expand(n, -1))
        q = ctmc_generator_matrix(space, gen.rates(gen.conditional_target(path, sample), points))
        check_rate_matrix(q)

        def p_of(s):  # a product over positions, no log: zero probabilities are fine
            per_position = path.probs(z.expand(n, -1), s.expand(n)).gather(2, points[..., None])
            return per_position[..., 0].prod(1)

        tt = torch.tensor([t], dtype=D)
        p, dp = torch.func.jvp(p_of, (tt,), (torch.ones_like(tt),))
        torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=D))
        torch.testing.assert_close(dp, p @ q, atol=1e-12, rtol=1e-10)
        # the default log-density is the log of the default probabilities
        log_p = path.log_prob(points, tt.expand(n), z.expand(n, -1))
        torch.testing.assert_close(log_p.exp(), p)


def test_unsupported_paths_name_the_missing_capability():
    space = EuclideanSpace(2)
    mixture = MixturePath(space, GaussianSource(space), LinearKappa())
    with pytest.raises(UnsupportedPathError, match="implementing AbstractGaussianPath"):
        DiffusionGenerator().conditional_target(mixture, None)
    with pytest.raises(UnsupportedPathError, match="implementing AbstractGaussianPath"):
        BinnedJumpGenerator().conditional_target(mixture, None)
    with pytest.raises(UnsupportedPathError, match="implementing AbstractMixturePath"):
        JumpGenerator(space).conditional_target(SigmaMinPath(), None)
    discrete = DiscreteSpace(2, 2)
    with pytest.raises(UnsupportedPathError, match="implementing AbstractFactorizedMixturePath"):
        CTMCGenerator(discrete, LinearKappa()).conditional_target(mixture, None)
