"""The error a training run stops with when a loss or a gradient is not finite."""

from __future__ import annotations

from typing import final

import torch
from torch.utils import _pytree as pytree

from genmatch.types import State


@final
class NonFiniteTrainingError(FloatingPointError):
    """A step whose loss or gradients were not finite; the update it would have made was
    never applied.

    Attributes:
        step: the step (1-based, counting resumed steps) whose loss or gradient was not
            finite.
        batches: the data micro-batches of that step (redrawn from the step's seeded stream),
            the inputs to inspect.
        bad_rows: for each micro-batch, the indices of the points with a non-finite value
            (empty when every input was finite: the overflow happened inside the loss).
    """

    def __init__(self, step: int, batches: list[State], checkpoint: object = None) -> None:
        self.step = step
        self.batches = batches
        self.bad_rows = [_non_finite_rows(b) for b in batches]
        rows = "; ".join(
            f"micro-batch {i}: rows {r.tolist()[:10]}"
            for i, r in enumerate(self.bad_rows)
            if r.numel()
        )
        where = (
            f"non-finite input points ({rows})"
            if rows
            else "every input point is finite (the loss or its gradient overflowed)"
        )
        kept = f"; the checkpoint {checkpoint} holds the last good weights" if checkpoint else ""
        super().__init__(
            f"non-finite loss or gradient at step {step}: {where}; the update was not applied"
            f"{kept}. Lower the learning rate, clip gradients, or check the data and the loss "
            "weighting (the step's batches are in .batches)"
        )


def _non_finite_rows(batch: State) -> torch.Tensor:
    leaves = [a for a in pytree.tree_leaves(batch) if isinstance(a, torch.Tensor)]
    floats = [a for a in leaves if a.is_floating_point() and a.dim() >= 1]
    if not floats:
        return torch.empty(0, dtype=torch.long)
    bad = torch.zeros(floats[0].shape[0], dtype=torch.bool, device=floats[0].device)
    for a in floats:
        bad |= ~torch.isfinite(a.reshape(a.shape[0], -1)).all(dim=1)
    return bad.nonzero().flatten().cpu()
