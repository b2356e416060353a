"""The arithmetic precision of the training step."""

from __future__ import annotations

import enum

import torch


class Precision(enum.Enum):
    """The precision the network's forward pass and the loss run in.

    ``FP32``: the parameters' own dtype, no autocast. ``BF16``: ``torch.autocast`` to
    bfloat16 (CPU and GPU; no loss scaling needed, bfloat16 has float32's range). ``FP16``:
    autocast to float16 with a ``torch.amp.GradScaler`` (dynamic loss scaling; steps whose
    scaled gradients overflow are skipped by the scaler, as in PyTorch's AMP recipe). The
    parameters, the optimizer state and the EMA stay in their own dtype throughout.
    """

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, ``None`` for full precision."""
        dtypes = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}
        return dtypes.get(self)
