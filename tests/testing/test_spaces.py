"""check_state_space and check_manifold_space pass on correct spaces and fail on spaces with
one broken method."""

import pytest
import torch

from genmatch import EuclideanSpace
from genmatch.manifolds import Hypersphere
from genmatch.sources import UniformSource
from genmatch.spaces import ManifoldSpace
from genmatch.testing import check_manifold_space, check_state_space

F64 = torch.float64
EUCLID = EuclideanSpace(2)
VALID = torch.randn(6, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
INVALID = [torch.randn(6, 3, dtype=F64), torch.full((6, 2), float("nan"), dtype=F64)]
SPHERE = ManifoldSpace(Hypersphere(3), (3,))


class _Broken:
    """A space that delegates to ``base`` except for the methods given as overrides."""

    def __init__(self, base, **overrides):
        self._base = base
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._base, name)


def _sphere_points(seed):
    src = UniformSource(SPHERE)
    return src.sample(16, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_state_space_check_passes_on_a_correct_space():
    check_state_space(EUCLID, VALID, INVALID)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"take": lambda x, index: x}, r"take\(repeated\) returned 6 points, expected 12"),
        ({"take": lambda x, index: x[index.sort().values]}, r"take ignores the order"),
        ({"cat": lambda parts: parts[0]}, r"cat returned 6 points, expected 12"),
        ({"where": lambda mask, a, b: b}, r"where\(all true, a, b\) differs from a"),
        ({"reference": lambda x: x.tolist()}, "reference must return a tensor"),
        ({"batch_size": lambda x: float(x.shape[0])}, "batch_size must be an int"),
        ({"check": lambda x, name="x": None}, "accepted invalid batch #0"),
    ],
    ids=["take-ignores-index", "take-sorts", "cat", "where", "reference", "batch_size", "check"],
)
def test_state_space_check_fails_on_one_broken_method(overrides, message):
    with pytest.raises(AssertionError, match=message):
        check_state_space(_Broken(EUCLID, **overrides), VALID, INVALID)


def test_state_space_check_reports_the_broken_space_batch():
    nan_take = _Broken(EUCLID, take=lambda x, index: x[index] * float("nan"))
    with pytest.raises(AssertionError, match=r"take\(reversed\) returned an invalid batch"):
        check_state_space(nan_take, VALID, INVALID)


def test_manifold_check_passes_on_the_sphere():
    x, y = _sphere_points(0), _sphere_points(1)
    w = check_manifold_space(SPHERE, x, y, atol=1e-10)
    assert float(w.norm(dim=1).min()) > 1e-2


def _retraction(x, v):
    """``projx(x + v)``: a first-order retraction, not the exponential map."""
    return SPHERE.projx(x + v)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"expmap": _retraction}, r"exp_x\(log_x\(y\)\) = y violated"),
        ({"logmap": lambda x, y: 1.01 * SPHERE.logmap(x, y)}, r"exp_x\(log_x\(y\)\) = y"),
        ({"dist": lambda x, y: 1.01 * SPHERE.dist(x, y)}, r"d\(x, y\) = \|log_x\(y\)\|_g"),
        ({"projx": lambda x: 1.001 * x}, r"projx\(x\) = x on M violated"),
        ({"proju": lambda x, v: 0.5 * SPHERE.proju(x, v)}, "proju idempotent violated"),
    ],
    ids=["expmap", "logmap", "dist", "projx", "proju"],
)
def test_manifold_check_fails_on_one_broken_method(overrides, message):
    x, y = _sphere_points(0), _sphere_points(1)
    with pytest.raises(AssertionError, match=message):
        check_manifold_space(_Broken(SPHERE, **overrides), x, y, atol=1e-8)


def test_manifold_check_rejects_points_off_the_manifold():
    x, y = _sphere_points(0), _sphere_points(1)
    with pytest.raises(ValueError, match="sphere|manifold|norm"):
        check_manifold_space(SPHERE, 2 * x, y, atol=1e-8)
