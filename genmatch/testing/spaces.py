"""Contract checks for state spaces and manifolds."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch.spaces.base import AbstractStateSpace
from genmatch.spaces.manifold import ManifoldSpace
from genmatch.types import State


def check_state_space(space: AbstractStateSpace, valid: State, invalid: Sequence[State]) -> None:
    """``space.check`` accepts ``valid`` and raises ``TypeError``/``ValueError`` on each invalid
    batch, and the batch operations the glue relies on are consistent on ``valid``.

    The operations checked (:class:`~genmatch.spaces.AbstractStateSpace`): ``batch_size``;
    ``take`` (reversed and repeated indices give valid batches of the right size, reversing
    twice gives back the same points, and the first point of the reversed batch is the last
    point); ``cat``; ``where`` with
    an alternating mask; ``reference`` is a tensor on the batch's device; ``times`` broadcasts
    a float to ``(batch,)`` (per factor on a product).

    Args:
        space: the space under test.
        valid: a batch of at least two valid points.
        invalid: batches ``check`` must reject.
    """
    name = type(space).__name__

    def fail(what: str) -> AssertionError:
        return AssertionError(f"{name}: {what}")

    space.check(valid)
    n = space.batch_size(valid)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise fail(f"batch_size must be an int >= 2 for the test batch, got {n!r}")
    ref = space.reference(valid)
    if not isinstance(ref, Tensor):
        raise fail(f"reference must return a tensor, got {type(ref).__name__}")
    index = torch.arange(n - 1, -1, -1, device=ref.device)
    results = {
        "take(reversed)": (space.take(valid, index), n),
        "take(repeated)": (space.take(valid, index.repeat(2)), 2 * n),
        "cat": (space.cat([valid, valid]), 2 * n),
        "where": (space.where(torch.arange(n, device=ref.device) % 2 == 0, valid, valid), n),
    }
    for what, (batch, size) in results.items():
        try:
            space.check(batch, what)
        except (TypeError, ValueError) as e:
            raise fail(f"{what} returned an invalid batch: {e}") from e
        if space.batch_size(batch) != size:
            raise fail(f"{what} returned {space.batch_size(batch)} points, expected {size}")
    twice = space.take(space.take(valid, index), index)
    if not _same_points(space, twice, valid):
        raise fail("take(take(x, reversed), reversed) differs from x")
    first, last = index[:1] * 0, index[:1]  # [0] and [n - 1]
    head = space.take(space.take(valid, index), first)
    if not _same_points(space, head, space.take(valid, last)):
        raise fail("take(x, reversed)[0] differs from x[n - 1] (take ignores the order)")
    mixed = space.where(torch.arange(n, device=ref.device) < n, valid, space.take(valid, index))
    if not _same_points(space, mixed, valid):
        raise fail("where(all true, a, b) differs from a")
    space.times(0.5, n, ref)
    for i, bad in enumerate(invalid):
        try:
            space.check(bad)
        except (TypeError, ValueError):
            continue
        raise AssertionError(f"{name}.check accepted invalid batch #{i}")


def _same_points(space: AbstractStateSpace, a: State, b: State) -> bool:
    """Equal tensor leaves, for pytree batches; spaces with other containers are compared by
    their ``cat`` with themselves (a weak check) when their leaves are not tensors."""
    leaves_a, leaves_b = pytree.tree_leaves(a), pytree.tree_leaves(b)
    if all(isinstance(v, Tensor) for v in leaves_a + leaves_b) and len(leaves_a) == len(leaves_b):
        return all(torch.equal(u, v) for u, v in zip(leaves_a, leaves_b, strict=True))
    return space.batch_size(a) == space.batch_size(b)


def check_manifold_space(space: ManifoldSpace, x: Tensor, y: Tensor, *, atol: float) -> Tensor:
    """The identities every manifold keeps, checked at the point batches ``x`` and ``y``.

    Points are on the manifold and ``projx`` fixes them; ``proju`` is idempotent and lands in
    the tangent space; ``exp_x(log_x(y)) = y``; ``log_x(exp_x(v)) = v`` for a tangent ``v``
    of metric norm 0.1; ``d(x, y) = |log_x(y)|_g``. Pairs ``(x, y)`` must avoid each other's
    cut locus.

    Args:
        space: the manifold space under test.
        x, y: two batches of points, ``(batch, *event)``.
        atol: absolute tolerance of every identity.

    Returns:
        ``log_x(y)``, ``(batch, *event)``.
    """
    name = type(space.manifold).__name__

    def close(a: Tensor, b: Tensor, what: str) -> None:
        err = (a - b).abs().max()
        if not bool(err <= atol):
            raise AssertionError(f"{name}: {what} violated (max error {float(err):.3e})")

    space.check(x)
    space.check(y)
    close(space.projx(x), x, "projx(x) = x on M")
    noise = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(7919))
    v = space.proju(x, noise)
    space.check_tangent(x, v)
    close(space.proju(x, v), v, "proju idempotent")
    w = space.logmap(x, y)
    space.check_tangent(x, w)
    close(space.expmap(x, w), y, "exp_x(log_x(y)) = y")
    short = 0.1 * v / space.inner(x, v).sqrt().reshape(-1, *[1] * (v.dim() - 1))  # |v|_g = 0.1
    close(space.logmap(x, space.expmap(x, short)), short, "log_x(exp_x(v)) = v")
    dist = space.dist(x, y)
    norm = space.inner(x, w).clamp_min(0).sqrt()
    close(dist, norm, "d(x, y) = |log_x(y)|_g")
    return w
