"""What a training run returns, and what it logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from torch import Tensor, nn


@final
@dataclass(frozen=True)
class TrainResult:
    """What a call to :func:`~genmatch.training.train` did.

    Attributes:
        losses: the loss at every step taken by this call, ``(steps,)`` (the mean over the
            global batch, all ranks).
        seconds: wall-clock time of the loop.
        steps_per_second: steps taken per second.
        step: the global step reached (counts resumed steps too).
        net: the trained network with its raw weights.
        ema: the network with the exponential moving average of the weights (a frozen copy
            in evaluation mode), ``None`` when the run kept no EMA.
    """

    losses: Tensor
    seconds: float
    steps_per_second: float
    step: int
    net: nn.Module
    ema: nn.Module | None = None

    @property
    def model(self) -> nn.Module:
        """The network to sample and evaluate with: the EMA when there is one, else
        :attr:`net`."""
        return self.ema if self.ema is not None else self.net


@final
@dataclass(frozen=True)
class LogRecord:
    """One entry of the training log, written at every check (``check_every`` steps).

    Attributes:
        step: the global step reached.
        loss: the mean loss over the steps since the previous record.
        lr: the learning rate of the first parameter group at the last step.
        steps_per_second: steps per second since the previous record.
    """

    step: int
    loss: float
    lr: float
    steps_per_second: float
