"""ProductSpace: dict batches, batch operations through the factors, per-factor times."""

from dataclasses import dataclass

import pytest
import torch

from genmatch.manifolds import SO3
from genmatch.sources import UniformSource
from genmatch.spaces import (
    AbstractStateSpace,
    DiscreteSpace,
    EuclideanSpace,
    ManifoldSpace,
    ProductSpace,
)
from genmatch.testing import check_state_space

TOKENS = DiscreteSpace(3, 4, mask=True)
FRAMES = ManifoldSpace(SO3(), (2, 3, 3))


def _batch(n=5, seed=0):
    rng = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(n, 2, generator=rng, dtype=torch.float64),
        "seq": torch.randint(5, (n, 3), generator=rng),
        "frames": UniformSource(FRAMES).sample(n, generator=rng, dtype=torch.float64),
    }


SPACE = ProductSpace({"x": EuclideanSpace(2), "seq": TOKENS, "frames": FRAMES})


def test_contract_on_a_product_and_a_nested_product():
    good = _batch()
    bad_token = {**good, "seq": good["seq"] + 9}
    off_manifold = {**good, "frames": 2 * good["frames"]}
    short = {**good, "x": good["x"][:4]}
    check_state_space(SPACE, good, [bad_token, off_manifold, short, good["x"], {"x": good["x"]}])
    nested = ProductSpace({"outer": SPACE, "y": EuclideanSpace(1)})
    point = {"outer": good, "y": torch.zeros(5, 1, dtype=torch.float64)}
    check_state_space(nested, point, [{"outer": bad_token, "y": point["y"]}])


def test_batch_operations_go_through_every_factor():
    a, b = _batch(seed=0), _batch(seed=1)
    mask = torch.tensor([True, False, True, False, False])
    mixed = SPACE.where(mask, a, b)
    for k in SPACE:
        assert torch.equal(mixed[k][mask], a[k][mask]) and torch.equal(mixed[k][~mask], b[k][~mask])
    taken = SPACE.take(a, torch.tensor([4, 0]))
    assert all(torch.equal(taken[k], a[k][[4, 0]]) for k in SPACE)
    joined = SPACE.cat([a, b])
    assert SPACE.batch_size(joined) == 10 and torch.equal(joined["seq"][5:], b["seq"])
    assert SPACE.reference(a) is a["x"]  # the first floating factor fixes device and time dtype


def test_times_are_per_factor_tied_or_given():
    ref = torch.zeros(5, dtype=torch.float64)
    tied = SPACE.times(0.25, 5, ref)
    assert set(tied) == {"x", "seq", "frames"} and all(
        v.dtype == torch.float64 for v in tied.values()
    )
    assert all(torch.equal(v, torch.full((5,), 0.25, dtype=torch.float64)) for v in tied.values())
    per = {"x": 0.1, "seq": torch.ones(5, dtype=torch.float64), "frames": 0.0}
    got = SPACE.times(per, 5, ref)
    assert float(got["x"][0]) == 0.1 and bool((got["seq"] == 1).all())
    with pytest.raises(ValueError, match=r"t\['seq'\] must lie in \[0, 1\]"):
        SPACE.times({**per, "seq": 2.0}, 5, ref)
    with pytest.raises(ValueError, match="the times has factors"):
        SPACE.times({"x": 0.1}, 5, ref)


@dataclass(frozen=True)
class Cloud:
    """A user's batch container that is not a pytree: points (B, N, 3) and their mask."""

    points: torch.Tensor
    mask: torch.Tensor


class CloudSpace(AbstractStateSpace):
    """A user's space with structured points: overrides the documented batch operations."""

    def check(self, x, name="x"):
        if not isinstance(x, Cloud) or x.points.shape[:2] != x.mask.shape:
            raise TypeError(f"{name} must be a Cloud with matching points and mask")

    def batch_size(self, x):
        return x.points.shape[0]

    def take(self, x, index):
        return Cloud(x.points[index], x.mask[index])

    def where(self, mask, a, b):
        return Cloud(
            torch.where(mask[:, None, None], a.points, b.points),
            torch.where(mask[:, None], a.mask, b.mask),
        )

    def cat(self, parts):
        return Cloud(torch.cat([p.points for p in parts]), torch.cat([p.mask for p in parts]))

    def reference(self, x):
        return x.points


def test_a_users_structured_space_passes_the_contract_and_joins_a_product():
    cloud = Cloud(torch.randn(4, 6, 3), torch.ones(4, 6, dtype=torch.bool))
    check_state_space(CloudSpace(), cloud, [Cloud(cloud.points, cloud.mask[:, :2]), cloud.points])
    space = ProductSpace({"cloud": CloudSpace(), "label": DiscreteSpace(1, 3)})
    batch = {"cloud": cloud, "label": torch.zeros(4, 1, dtype=torch.long)}
    check_state_space(space, batch, [{"cloud": cloud, "label": batch["label"][:2]}])
    assert space.take(batch, torch.tensor([1]))["cloud"].points.shape == (1, 6, 3)


class _BrokenTake(CloudSpace):
    def take(self, x, index):  # ignores the index
        return x


def test_check_state_space_fails_on_a_broken_space():
    cloud = Cloud(torch.randn(4, 6, 3), torch.ones(4, 6, dtype=torch.bool))
    with pytest.raises(AssertionError, match=r"take\(repeated\) returned 4 points, expected 8"):
        check_state_space(_BrokenTake(), cloud, [])
    with pytest.raises(AssertionError, match="accepted invalid batch #0"):
        check_state_space(CloudSpace(), cloud, [cloud])
