"""Micro-batches of the training loop: uniform draws from a data set, or a sampler's batches."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils import _pytree as pytree

from genmatch.loss import GeneratorMatchingLoss
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.types import State

#: Draws a data batch: ``(batch_size, rng) ↦`` a batch of ``batch_size`` points; it must draw
#: all its randomness from ``rng`` (the loop seeds ``rng`` per step, which makes runs exact).
DataSampler = Callable[[int, torch.Generator], State]

#: ``(n, rng) ↦ (x_1, c, finite)``: a micro-batch, its conditions, and (for a sampler) an
#: on-device flag that its floating-point values are finite.
Drawer = Callable[[int, torch.Generator], tuple[State, State | None, Tensor | None]]


def batch_drawer(
    data: DataSampler | State,
    conditions: State | None,
    loss_fn: GeneratorMatchingLoss,
    space: AbstractStateSpace,
) -> Drawer:
    """``(n, rng) ↦ (x_1, c, finite)``: a micro-batch, its conditions, and (for a sampler) an
    on-device flag that its floating-point values are finite."""
    if callable(data) and not isinstance(data, Tensor):
        if conditions is not None:
            raise TypeError("conditions= needs data to be a data set, not a sampler")
        sampler = data
        checked = False

        def from_sampler(n: int, rng: torch.Generator) -> tuple[State, None, Tensor | None]:
            nonlocal checked
            x_1 = sampler(n, rng)
            if not checked:
                try:
                    space.check(x_1, "a batch of the sampler")
                except (TypeError, ValueError) as e:
                    raise type(e)(f"data: the sampler's batches are not valid points: {e}") from e
                checked = True
            floats = [a for a in pytree.tree_leaves(x_1) if a.is_floating_point()]
            finite = (
                torch.stack([torch.isfinite(a).all() for a in floats]).all() if floats else None
            )
            return x_1, None, finite

        return from_sampler
    sample = _data_set(data, space)
    if conditions is None:
        return lambda n, rng: (sample(n, rng), None, None)
    c_space = loss_fn.condition_space or TENSORS
    c_space.check(conditions, "conditions")
    if c_space.batch_size(conditions) != space.batch_size(data):
        raise ValueError(
            f"conditions has {c_space.batch_size(conditions)} rows, data "
            f"{space.batch_size(data)} points"
        )
    draw_c = _data_set(conditions, c_space, "conditions")

    def with_conditions(n: int, rng: torch.Generator) -> tuple[State, State, None]:
        before = rng.get_state()  # the same indices for data and conditions: replay the draw
        x_1 = sample(n, rng)
        rng.set_state(before)
        return x_1, draw_c(n, rng), None

    return with_conditions


def _data_set(data: State, space: AbstractStateSpace, name: str = "data") -> DataSampler:
    """Uniform draws with replacement from a data set (``name = "conditions"``: its labels or
    features, rows aligned with the data, any shape ``(N, ...)``)."""
    if name == "data" and isinstance(data, Tensor) and (data.dim() < 2 or data.shape[0] == 0):
        raise ValueError(f"data must be (N, *event) with N >= 1, got {tuple(data.shape)}")
    if name == "data":
        try:
            space.check(data, "data")
        except (TypeError, ValueError) as e:
            raise type(e)(f"data must be a data set of the loss's space or a sampler: {e}") from e
    size = space.batch_size(data)
    if size == 0:
        raise ValueError(f"{name} must have N >= 1 rows, got 0")
    for i, a in enumerate(pytree.tree_leaves(data)):
        if isinstance(a, Tensor) and a.is_floating_point() and not bool(torch.isfinite(a).all()):
            rows = (~torch.isfinite(a.reshape(a.shape[0], -1)).all(1)).nonzero().flatten()
            raise ValueError(
                f"{name} has non-finite values (tensor {i}, rows {rows.tolist()[:10]}); "
                "clean or drop them before training"
            )
    device = space.reference(data).device

    def sample(n: int, rng: torch.Generator) -> State:
        idx = torch.randint(size, (n,), generator=rng, device=rng.device)
        return space.take(data, idx.to(device))

    return sample
