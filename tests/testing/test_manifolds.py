"""check_geodesic_path and manifold_continuity_residual: pass on GeodesicPath, fail on
broken velocities, endpoints and off-manifold points."""

import pytest
import torch

from genmatch.manifolds import Hypersphere
from genmatch.paths import GeodesicPath, PolynomialKappa
from genmatch.sources import UniformSource
from genmatch.spaces import ManifoldSpace
from genmatch.testing import check_geodesic_path, manifold_continuity_residual

F64 = torch.float64
SPACE = ManifoldSpace(Hypersphere(3), (3,))
PATH = GeodesicPath(SPACE)


def _points(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = UniformSource(SPACE)
    x_0, x_1 = src.sample(n, generator=g, dtype=F64), src.sample(n, generator=g, dtype=F64)
    t = 0.1 + 0.8 * torch.rand(n, generator=g, dtype=F64)
    return x_0, x_1, t


class _Perturbed:
    """``GeodesicPath`` with a perturbed velocity and/or interpolant (not a geodesic path)."""

    def __init__(self, path, *, speed=1.0, normal=0.0, end=None):
        self.path, self.space, self.speed, self.normal, self.end = (
            path,
            path.space,
            speed,
            normal,
            end,
        )
        self.autodiff_velocity, self.log_prob = path.autodiff_velocity, path.log_prob
        self.d_log_prob_dt = path.d_log_prob_dt

    def interpolate(self, x_0, x_1, t):
        if self.end is not None:
            t = t * self.end
        return self.path.interpolate(x_0, x_1, t)

    def sample(self, z, t, *, x_0=None, generator=None):
        return self.path.sample(z, t, x_0=x_0, generator=generator)

    def conditional_velocity(self, sample):
        u = self.speed * self.path.conditional_velocity(sample)
        return u + self.normal * sample.x_t  # a component along x: normal to the sphere


def test_passes_on_geodesic_paths():
    x_0, x_1, t = _points()
    for path in (PATH, GeodesicPath(SPACE, kappa=PolynomialKappa(2.0))):
        u = check_geodesic_path(path, x_0, x_1, t, atol=1e-9)
        assert float(u.norm(dim=1).min()) > 1e-2  # not a trivially zero velocity


def test_fails_on_a_wrong_velocity():
    x_0, x_1, t = _points()
    check_geodesic_path(_Perturbed(PATH), x_0, x_1, t, atol=1e-9)
    with pytest.raises(AssertionError, match="closed-form velocity .* = jvp velocity violated"):
        check_geodesic_path(_Perturbed(PATH, speed=1.001), x_0, x_1, t, atol=1e-9)


def test_fails_on_a_non_tangent_velocity():
    x_0, x_1, t = _points()
    with pytest.raises(ValueError, match="tangent"):
        check_geodesic_path(_Perturbed(PATH, normal=1e-3), x_0, x_1, t, atol=1e-9)


def test_fails_on_a_wrong_endpoint():
    x_0, x_1, t = _points()
    with pytest.raises(AssertionError, match="X_1 = x_1 violated"):
        check_geodesic_path(_Perturbed(PATH, end=0.99), x_0, x_1, t, atol=1e-9)


def test_continuity_residual_vanishes_only_for_the_right_velocity():
    _, z, t = _points(32, seed=1)
    x = PATH.sample(z, t, generator=torch.Generator().manual_seed(2)).x_t
    assert float(manifold_continuity_residual(PATH, x, t, z).abs().max()) < 1e-9
    wrong = manifold_continuity_residual(_Perturbed(PATH, speed=1.01), x, t, z)
    assert float(wrong.abs().max()) > 1e-3
