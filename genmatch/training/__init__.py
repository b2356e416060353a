"""Training: the loop, its checkpoints, EMA weights, schedules, precision and data parallelism.

:func:`train` minimises a generator-matching loss deterministically (seeded streams per step
and micro-batch), resumes exactly from atomic checkpoints, never applies a non-finite update,
keeps an optional :class:`EMA` of the weights, and runs data-parallel under ``torchrun``
(``DistributedDataParallel`` on gloo or nccl). See ``docs/training.md``.
"""

from genmatch.training.batches import DataSampler
from genmatch.training.checkpoint import (
    OVERRIDABLE,
    CheckpointError,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from genmatch.training.distributed import World, init_from_environment
from genmatch.training.ema import EMA
from genmatch.training.loop import train
from genmatch.training.nonfinite import NonFiniteTrainingError
from genmatch.training.precision import Precision
from genmatch.training.result import LogRecord, TrainResult
from genmatch.training.schedules import WarmupCosine

__all__ = [
    "EMA",
    "OVERRIDABLE",
    "CheckpointError",
    "DataSampler",
    "LogRecord",
    "NonFiniteTrainingError",
    "Precision",
    "TrainResult",
    "WarmupCosine",
    "World",
    "init_from_environment",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_checkpoint",
    "train",
]
