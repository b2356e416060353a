"""``torch.distributed`` glue of the training loop (DDP on gloo or nccl, launched by torchrun)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import final

import torch
import torch.distributed as dist


@final
@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run.

    Attributes:
        rank: this process's rank in ``[0, size)``.
        size: the number of processes (``1`` without ``torch.distributed``).
    """

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints and logs (rank 0)."""
        return self.rank == 0

    @staticmethod
    def current() -> World:
        """The initialised default process group, or a single process."""
        if dist.is_available() and dist.is_initialized():
            return World(dist.get_rank(), dist.get_world_size())
        return World()


def init_from_environment() -> World:
    """Join the process group ``torchrun`` describes in the environment.

    Under ``torchrun`` (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` set) it
    initialises ``torch.distributed`` with ``nccl`` when CUDA is available (and selects the
    GPU ``LOCAL_RANK``), ``gloo`` otherwise; without them it does nothing. Returns the
    resulting :class:`World`.
    """
    if dist.is_available() and dist.is_initialized():
        return World.current()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl")
    else:
        dist.init_process_group(backend="gloo")
    return World.current()


def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
