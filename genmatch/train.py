"""A minimal, deterministic training loop with atomic checkpoints."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from genmatch.loss import GeneratorMatchingLoss
from genmatch.spaces.base import TENSORS, AbstractStateSpace
from genmatch.types import State

#: Draws a data batch: ``(batch_size, generator) ↦`` a batch of ``batch_size`` points.
DataSampler = Callable[[int, torch.Generator], State]


@final
@dataclass(frozen=True)
class TrainResult:
    """What a call to :func:`train` did.

    Attributes:
        losses: the loss at every step taken by this call, ``(steps,)``.
        seconds: wall-clock time of the loop.
        steps_per_second: steps taken per second.
        step: the global step reached (counts resumed steps too).
    """

    losses: Tensor
    seconds: float
    steps_per_second: float
    step: int


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically: a temporary file, then a rename.

    A crash mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def train(
    loss_fn: GeneratorMatchingLoss,
    net: nn.Module,
    data: DataSampler | State,
    *,
    steps: int,
    batch_size: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    check_every: int = 50,
    progress: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1000,
    conditions: State | None = None,
) -> TrainResult:
    """Minimise ``loss_fn`` over ``net`` for ``steps`` steps.

    The loop never synchronises with a device except every ``check_every`` steps, when it
    checks that all losses since the last check were finite (raising ``FloatingPointError``
    naming the step range otherwise) and updates the progress bar. All randomness (batches,
    times, noise) comes from one ``torch.Generator`` seeded with ``seed``, so a run is
    deterministic given the network's initial weights. With ``checkpoint`` set, the network,
    optimizer, generator state and losses are written atomically every ``checkpoint_every``
    steps and at the end; an existing checkpoint is resumed from, exactly.

    Args:
        loss_fn: the generator-matching loss.
        net: the network (its parameters are optimised).
        data: a data set of ``N`` points — a tensor ``(N, *event)``, or a dict of factor data
            sets on a product (batches drawn uniformly with replacement through the loss's
            ``space``) — or a sampler ``(batch_size, generator) ↦ batch``.
        steps: total number of optimisation steps (including resumed ones).
        batch_size: samples per step.
        optimizer: defaults to ``Adam(net.parameters(), lr)``.
        scheduler: an optional learning-rate scheduler, stepped once per step.
        lr: learning rate of the default optimizer.
        seed: seed of the run's random number generator.
        check_every: steps between finiteness checks.
        progress: show a tqdm progress bar.
        checkpoint: path of the checkpoint file.
        checkpoint_every: steps between checkpoints.
        conditions: the conditions of a data set (``N`` rows aligned with ``data``, e.g. labels
            ``(N,)``), drawn with the same indices as the data and passed to the loss as ``c``
            (which drops them with its ``p_uncond``); needs ``data`` to be a data set.
    """
    if steps < 1 or batch_size < 1 or check_every < 1:
        raise ValueError("steps, batch_size and check_every must be positive")
    params = list(net.parameters())
    if not params:
        raise ValueError("net has no parameters to train")
    device = params[0].device
    opt = optimizer if optimizer is not None else torch.optim.Adam(params, lr=lr)
    rng = torch.Generator(device=device).manual_seed(seed)
    space = TENSORS if loss_fn.space is None else loss_fn.space
    sample = _as_sampler(data, space)
    draw_conditions: DataSampler | None = None
    if conditions is not None:
        if callable(data) and not isinstance(data, Tensor):
            raise TypeError("conditions= needs data to be a data set, not a sampler")
        c_space = loss_fn.condition_space or TENSORS
        c_space.check(conditions, "conditions")
        if c_space.batch_size(conditions) != space.batch_size(data):
            raise ValueError(
                f"conditions has {c_space.batch_size(conditions)} rows, data "
                f"{space.batch_size(data)} points"
            )
        c_size, c_device = c_space.batch_size(conditions), c_space.reference(conditions).device

        def draw_conditions(n: int, rng: torch.Generator) -> State:
            idx = torch.randint(c_size, (n,), generator=rng, device=rng.device)
            return c_space.take(conditions, idx.to(c_device))

    losses: list[Tensor] = []
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["optimizer"])
        rng.set_state(state["rng"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        losses = list(state["losses"].unbind(0))
        start = int(state["step"])

    def save(step: int) -> None:
        if checkpoint is not None:
            save_checkpoint(
                checkpoint,
                {
                    "net": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "rng": rng.get_state(),
                    "losses": torch.stack(losses) if losses else torch.empty(0),
                    "step": step,
                },
            )

    bar = tqdm(total=steps, initial=start, disable=not progress, desc="train", leave=False)
    net.train()
    tic = time.perf_counter()
    last_check = start
    for step in range(start, steps):
        if draw_conditions is None:
            x_1 = sample(batch_size, rng)
            loss = loss_fn(net, x_1, generator=rng)
        else:  # the same indices for data and conditions: replay the draw
            before = rng.get_state()
            x_1 = sample(batch_size, rng)
            rng.set_state(before)
            c = draw_conditions(batch_size, rng)
            loss = loss_fn(net, x_1, c=c, generator=rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.detach())
        done = step + 1
        if done % check_every == 0 or done == steps:
            recent = torch.stack(losses[last_check:done])
            if not bool(torch.isfinite(recent).all()):
                raise FloatingPointError(
                    f"non-finite loss between steps {last_check + 1} and {done}; "
                    "lower the learning rate or check the data and the loss weighting"
                )
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{float(recent[-1]):.4f}")
            last_check = done
        if checkpoint is not None and (done % checkpoint_every == 0 or done == steps):
            save(done)
    seconds = time.perf_counter() - tic
    bar.close()
    taken = steps - start
    return TrainResult(
        losses=torch.stack(losses[start:]) if taken else torch.empty(0),
        seconds=seconds,
        steps_per_second=taken / seconds if seconds > 0 else float("inf"),
        step=steps,
    )


def _as_sampler(data: DataSampler | State, space: AbstractStateSpace) -> DataSampler:
    if callable(data) and not isinstance(data, Tensor):
        return data
    if isinstance(data, Tensor) and (data.dim() < 2 or data.shape[0] == 0):
        raise ValueError(f"data must be (N, *event) with N >= 1, got {tuple(data.shape)}")
    try:
        space.check(data, "data")
    except (TypeError, ValueError) as e:
        raise type(e)(f"data must be a data set of the loss's space or a sampler: {e}") from e
    size = space.batch_size(data)
    if size == 0:
        raise ValueError("data must be (N, *event) with N >= 1, got 0 points")
    device = space.reference(data).device

    def sample(n: int, rng: torch.Generator) -> State:
        idx = torch.randint(size, (n,), generator=rng, device=rng.device)
        return space.take(data, idx.to(device))

    return sample
