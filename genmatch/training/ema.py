"""An exponential moving average of a network's weights."""

from __future__ import annotations

import copy
import math
from typing import Any, final

import torch
from torch import nn


@final
class EMA:
    """An exponential moving average of the parameters of ``net``, with warm-up.

    After the ``n``-th update (``n = 1, 2, ...``) with the network's parameters ``θ_n``,

    ``θ̄_n = β_n θ̄_{n-1} + (1 - β_n) θ_n``,   ``β_n = min(decay, n / (n + warmup))``,

    starting from ``θ̄_0 = θ_0`` (the weights when the EMA is made). With ``warmup = 0``
    ``β_n = decay`` throughout; with ``warmup = 1``, ``β_n = n / (n + 1)`` and ``θ̄_n`` is the
    plain mean of ``θ_0, θ_1, ..., θ_n`` until ``β_n`` reaches ``decay``, so early averages are not
    dragged towards the random initialisation. Buffers (e.g. normalisation statistics) are
    copied, not averaged.

    The average lives in :attr:`module`, a frozen deep copy of ``net`` in evaluation mode,
    ready for :func:`~genmatch.simulate`; ``net`` keeps the raw weights.

    Args:
        net: the trained network.
        decay: the asymptotic decay ``β`` in ``[0, 1)``.
        warmup: the warm-up constant ``w >= 0`` (``0`` switches warm-up off).

    Example:
        >>> net = nn.Linear(2, 1)
        >>> ema = EMA(net, decay=0.5, warmup=0.0)
        >>> with torch.no_grad():
        ...     _ = net.weight.add_(1.0)
        >>> ema.update(net)
        >>> torch.allclose(ema.module.weight, net.weight - 0.5)
        True
    """

    def __init__(self, net: nn.Module, *, decay: float = 0.999, warmup: float = 1.0) -> None:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)):
            raise TypeError(f"decay must be a float in [0, 1), got {decay!r}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if isinstance(warmup, bool) or not isinstance(warmup, (int, float)):
            raise TypeError(f"warmup must be a float >= 0, got {warmup!r}")
        if not (warmup >= 0.0 and math.isfinite(warmup)):
            raise ValueError(f"warmup must be a finite float >= 0, got {warmup}")
        self.decay = float(decay)
        self.warmup = float(warmup)
        self.updates = 0
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self._shadow: list[torch.Tensor] = list(self.module.parameters())
        self._buffers: list[torch.Tensor] = list(self.module.buffers())

    def beta(self, n: int) -> float:
        """The decay ``β_n`` of the ``n``-th update."""
        return min(self.decay, n / (n + self.warmup)) if self.warmup > 0 else self.decay

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """Move the average towards the current parameters of ``net`` (one update).

        ``net`` must have the architecture the EMA was made from (checked by count).
        """
        params = [p.detach() for p in net.parameters()]
        if len(params) != len(self._shadow):
            raise ValueError(
                f"net has {len(params)} parameters, the EMA {len(self._shadow)}; update the "
                "EMA with the network it was made from"
            )
        self.updates += 1
        weight = 1.0 - self.beta(self.updates)
        if self._shadow:
            torch._foreach_lerp_(self._shadow, params, weight)
        for b_ema, b in zip(self._buffers, net.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        """The average's weights and update count (what checkpoints store)."""
        return {
            "module": self.module.state_dict(),
            "updates": self.updates,
            "decay": self.decay,
            "warmup": self.warmup,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the decay and warm-up are this EMA's own)."""
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
