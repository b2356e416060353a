"""The abstract coupling, and the checks and plan helpers the OT couplings share."""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from genmatch._checks import check_like, check_nonempty
from genmatch.couplings.batch import CoupledBatch


class AbstractCoupling(abc.ABC):
    """A rule that pairs a source batch with a data batch of the same size."""

    @abc.abstractmethod
    def pair(
        self, x_0: Tensor, x_1: Tensor, *, generator: torch.Generator | None = None
    ) -> CoupledBatch:
        """Pair ``x_0`` with (a re-ordering or resampling of) ``x_1``."""


def check_points(x_0: Tensor, x_1: Tensor) -> None:
    """Raise unless ``x_0`` and ``x_1`` are non-empty tensor batches of one shape, dtype, device."""
    if not isinstance(x_0, Tensor) or not isinstance(x_1, Tensor):
        raise TypeError(
            "optimal-transport couplings need tensor points (squared Euclidean cost), got "
            f"{type(x_0).__name__} and {type(x_1).__name__}; pair structured states "
            "(products) with IndependentCoupling"
        )
    if x_0.shape != x_1.shape:
        raise ValueError(
            f"x_0 and x_1 must have the same shape, got {tuple(x_0.shape)} and {tuple(x_1.shape)}"
        )
    check_like(x_1, x_0, "x_1", "x_0")
    check_nonempty(x_0.shape[0] if x_0.dim() else 0, "x_0")


def host_cost(x_0: Tensor, x_1: Tensor) -> Tensor:
    """The checked squared Euclidean cost ``C_ij = ‖x_0[i] − x_1[j]‖²`` in float64 on the host.

    Shapes:
        x_0, x_1: ``(n, *event)``; returns ``(n, n)``.
    """
    check_points(x_0, x_1)
    a, b = x_0.detach().flatten(1).double().cpu(), x_1.detach().flatten(1).double().cpu()
    return torch.cdist(a, b) ** 2


def plan_pairing(
    plan: Tensor, x_0: Tensor, x_1: Tensor, generator: torch.Generator | None
) -> CoupledBatch:
    """Draw for each source point ``i`` a partner ``j ~ plan[i] / Σ_j plan[i, j]``.

    Shapes:
        plan: ``(n, n)`` on the host; x_0, x_1: ``(n, *event)``.
    """
    rows = plan / plan.sum(1, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny)
    j = torch.multinomial(rows, 1, generator=generator).squeeze(1)
    return CoupledBatch(x_0=x_0, x_1=x_1[j.to(x_1.device)])
