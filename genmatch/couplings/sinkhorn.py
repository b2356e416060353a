"""Mini-batch entropic optimal transport through POT's log-domain Sinkhorn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

import ot
import torch
from torch import Tensor

from genmatch.couplings.base import AbstractCoupling, host_cost, plan_pairing
from genmatch.couplings.batch import CoupledBatch


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
        cost = host_cost(x_0, x_1)
        cost = cost / cost.max().clamp_min(torch.finfo(cost.dtype).tiny)
        n = cost.shape[0]
        w = torch.full((n,), 1.0 / n, dtype=cost.dtype)
        plan = ot.sinkhorn(w, w, cost, self.reg, numItermax=self.num_iters, method="sinkhorn_log")
        if not bool(torch.isfinite(plan).all()):
            raise FloatingPointError("Sinkhorn returned a non-finite plan; increase reg")
        return plan_pairing(plan, x_0, x_1, generator)
