"""Random streams of the training loop: one seeded generator per step and micro-batch."""

from __future__ import annotations

import numpy as np
import torch

#: Stream kinds: the data, times and noise of a micro-batch; the network's own randomness.
DATA, NETWORK = 0, 1


def stream_seed(seed: int, step: int, micro_batch: int, kind: int) -> int:
    """A 63-bit seed for the stream ``(seed, step, micro_batch, kind)``.

    Mixed by NumPy's ``SeedSequence`` (a hash designed for this), so neighbouring steps and
    micro-batches get unrelated streams. A pure function: any rank at any step can recreate
    any stream, which makes resuming exact without storing generator states and keeps the
    batches independent of the number of processes.
    """
    entropy = [seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, step, micro_batch, kind]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def stream(seed: int, step: int, micro_batch: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded for the data stream of a micro-batch."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, step, micro_batch, DATA))


def seed_network(value: int, device: torch.device) -> None:
    """Seed the global generators that a network's own randomness (dropout) draws from.

    Only the CPU generator and, for a CUDA ``device``, the current CUDA device's:
    ``torch.manual_seed`` would also queue a seeding of every lazy accelerator backend, with
    a stack trace each, a few milliseconds per call, on every step.
    """
    if device.type == "cuda":
        torch.cuda.manual_seed(value)
    elif device.type != "cpu":
        torch.manual_seed(value)
    torch.default_generator.manual_seed(value)
