"""Couplings ``π(x_0, x_1)`` of source and data (GM §9.1).

A coupling takes a batch of source samples and a batch of data samples and returns them
paired. The independent coupling keeps the pairing it is given; the optimal-transport
couplings re-pair a mini-batch by solving a discrete OT problem with POT (exactly, or
entropically with Sinkhorn) for the squared Euclidean cost, then draw for each source point a
partner from its row of the plan. OT solvers run on the host (POT), so they synchronise with
an accelerator once per batch.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import final

import ot
import torch
from torch import Tensor

from genmatch._checks import check_like, check_nonempty


@final
@dataclass(frozen=True)
class CoupledBatch:
    """Paired samples: ``(x_0[i], x_1[i])`` is one draw of the coupling.

    Shapes:
        x_0: ``(batch, *event)``; x_1: ``(batch, *event)``.
    """

    x_0: Tensor
    x_1: Tensor


class AbstractCoupling(abc.ABC):
    """A rule that pairs a source batch with a data batch of the same size."""

    @abc.abstractmethod
    def pair(
        self, x_0: Tensor, x_1: Tensor, *, generator: torch.Generator | None = None
    ) -> CoupledBatch:
        """Pair ``x_0`` with (a re-ordering or resampling of) ``x_1``."""


@final
@dataclass(frozen=True)
class IndependentCoupling(AbstractCoupling):
    """``π = p ⊗ q``: the batches are paired as given (any states, products included)."""

    def pair(
        self, x_0: Tensor, x_1: Tensor, *, generator: torch.Generator | None = None
    ) -> CoupledBatch:
        return CoupledBatch(x_0=x_0, x_1=x_1)


def _plan_pairing(
    plan: Tensor, x_0: Tensor, x_1: Tensor, generator: torch.Generator | None
) -> CoupledBatch:
    rows = plan / plan.sum(1, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny)
    j = torch.multinomial(rows, 1, generator=generator).squeeze(1)
    return CoupledBatch(x_0=x_0, x_1=x_1[j.to(x_1.device)])


def _cost(x_0: Tensor, x_1: Tensor) -> Tensor:
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
    a, b = x_0.detach().flatten(1).double().cpu(), x_1.detach().flatten(1).double().cpu()
    return torch.cdist(a, b) ** 2


@final
@dataclass(frozen=True)
class ExactOTCoupling(AbstractCoupling):
    """Mini-batch exact optimal transport (squared Euclidean cost), solved by ``ot.emd``.

    With equal uniform weights the plan is a permutation, so each data point is used once.

    Example:
        >>> import torch
        >>> x_0 = torch.tensor([[0.0], [10.0]])
        >>> x_1 = torch.tensor([[11.0], [1.0]])
        >>> ExactOTCoupling().pair(x_0, x_1).x_1
        tensor([[ 1.],
                [11.]])
    """

    def pair(
        self, x_0: Tensor, x_1: Tensor, *, generator: torch.Generator | None = None
    ) -> CoupledBatch:
        cost = _cost(x_0, x_1)
        n = cost.shape[0]
        w = torch.full((n,), 1.0 / n, dtype=cost.dtype)
        plan = ot.emd(w, w, cost)
        return _plan_pairing(plan, x_0, x_1, generator)


@final
@dataclass(frozen=True)
class SinkhornOTCoupling(AbstractCoupling):
    """Mini-batch entropic optimal transport, solved by ``ot.sinkhorn``.

    The cost is normalised by its maximum before solving, so ``reg`` is relative to the
    largest pairwise squared distance in the batch. Each source point draws its partner from
    its row of the plan (with replacement across rows).

    Args:
        reg: entropic regularisation ``ε > 0`` (on the normalised cost).
        num_iters: maximum Sinkhorn iterations.
    """

    reg: float = 0.05
    num_iters: int = 1000

    def __post_init__(self) -> None:
        if not self.reg > 0:
            raise ValueError(f"reg must be > 0, got {self.reg}")

    def pair(
        self, x_0: Tensor, x_1: Tensor, *, generator: torch.Generator | None = None
    ) -> CoupledBatch:
        cost = _cost(x_0, x_1)
        cost = cost / cost.max().clamp_min(torch.finfo(cost.dtype).tiny)
        n = cost.shape[0]
        w = torch.full((n,), 1.0 / n, dtype=cost.dtype)
        plan = ot.sinkhorn(w, w, cost, self.reg, numItermax=self.num_iters, method="sinkhorn_log")
        if not bool(torch.isfinite(plan).all()):
            raise FloatingPointError("Sinkhorn returned a non-finite plan; increase reg")
        return _plan_pairing(plan, x_0, x_1, generator)
