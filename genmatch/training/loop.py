"""The training loop: deterministic, resumable, data-parallel, with guarded updates."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from genmatch._checks import check_enum, check_instance, check_positive_int
from genmatch.loss import GeneratorMatchingLoss
from genmatch.spaces.base import TENSORS
from genmatch.training.batches import DataSampler, batch_drawer
from genmatch.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    OVERRIDABLE,
    CheckpointError,
    check_same_run,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from genmatch.training.distributed import World
from genmatch.training.ema import EMA
from genmatch.training.nonfinite import NonFiniteTrainingError
from genmatch.training.precision import Precision
from genmatch.training.result import LogRecord, TrainResult
from genmatch.training.schedules import WarmupCosine
from genmatch.training.streams import DATA, NETWORK, seed_network, stream_seed
from genmatch.types import State


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
    ema: EMA | None = None,
    lr_schedule: WarmupCosine | None = None,
    clip_grad_norm: float | None = None,
    micro_batches: int = 1,
    precision: Precision = Precision.FP32,
    compile: bool = False,
    resume_overrides: Collection[str] = (),
    log: Callable[[LogRecord], None] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Minimise ``loss_fn`` over ``net`` for ``steps`` steps, on one or many processes.

    **Randomness.** Every draw of step ``s`` and micro-batch ``m`` (data indices, times,
    noise, condition dropout) comes from a ``torch.Generator`` seeded with a hash of
    ``(seed, s, m)``, and the network's own randomness (dropout) from torch's global
    generator seeded the same way before each forward pass (the caller's global RNG state is
    restored afterwards). Runs are deterministic given the initial weights, resuming is exact
    without storing generator states, and the batches do not depend on the number of
    processes.

    **Global batch.** Each step averages the loss over ``batch_size`` points split into
    ``micro_batches`` micro-batches of ``batch_size / micro_batches`` points, whose gradients
    are accumulated before one optimizer step (gradient accumulation). Under
    ``torch.distributed`` (e.g. launched by ``torchrun``) the network is wrapped in
    ``DistributedDataParallel``, rank ``r`` of ``W`` computes micro-batches
    ``r, r + W, ...`` and DDP all-reduces the gradients: the step equals the single-process
    step over the same global batch (to float rounding), on any ``W`` dividing
    ``micro_batches``. Rank 0 alone writes checkpoints, logs and the progress bar.

    **Guarded updates.** After the backward pass the loop forms one on-device flag: the loss
    (all-reduced over ranks), the gradient norm and (for a sampler) the batch are finite. A
    non-finite step is never applied. With an optimizer that accepts PyTorch's ``found_inf``
    protocol (the default ``Adam(fused=True)``, and fused ``AdamW``/``SGD``/``Adagrad``) the
    flag is handed to the fused kernel, which skips that update and every later one on the
    device, without a host synchronisation; the flag is read every ``check_every`` steps and
    before every checkpoint, so no checkpoint ever holds weights from a bad step. Any other
    optimizer, and ``Precision.FP16`` (whose ``GradScaler`` reads its own overflow flag each
    step), read the flag every step before ``optimizer.step()``: one scalar
    synchronisation. Either way the run raises :class:`NonFiniteTrainingError` naming the
    step and carrying its batches; the network holds the weights of the last good step.

    **Checkpoints.** With ``checkpoint`` set, the network, optimizer, scheduler, EMA, loss
    scaler, losses and the run's settings are written atomically (rank 0) every
    ``checkpoint_every`` steps and at the end, and an existing checkpoint is resumed from,
    exactly. Temporary files of interrupted writes are removed at start. Resuming with other
    settings than the checkpoint's (seed, learning rates, batch size, micro-batches, LR
    schedule, clipping, precision, EMA decay and warm-up, optimizer class, parameter shapes)
    is a :class:`~genmatch.training.CheckpointError` listing them, unless each changed name
    is in ``resume_overrides`` (:data:`OVERRIDABLE`; parameter shapes, optimizer and EMA
    cannot be overridden).

    Args:
        loss_fn: the generator-matching loss.
        net: the network (its parameters are optimised).
        data: a data set of ``N`` points — a tensor ``(N, *event)``, or a dict of factor data
            sets on a product (batches drawn uniformly with replacement through the loss's
            ``space``, validated once by the space's ``check``: shapes, finite values, tokens
            in range) — or a sampler ``(batch_size, rng) ↦ batch`` (its first batch is
            checked by the space, every batch's finiteness enters the step's flag).
        steps: total number of optimisation steps (including resumed ones).
        batch_size: points per optimizer step (over all micro-batches and ranks).
        optimizer: defaults to ``Adam(net.parameters(), lr, fused=True)`` where the device
            supports it, else ``Adam(net.parameters(), lr)``.
        scheduler: an optional stateful learning-rate scheduler, stepped once per step
            (saved in checkpoints); exclusive with ``lr_schedule``.
        lr: learning rate of the default optimizer.
        seed: seed of the run's random streams, an integer ``>= 0``.
        check_every: steps between reads of the finiteness flag, progress and log updates.
        progress: show a tqdm progress bar (loss, steps/s).
        checkpoint: path of the checkpoint file.
        checkpoint_every: steps between checkpoints.
        conditions: the conditions of a data set (``N`` rows aligned with ``data``, e.g. labels
            ``(N,)``), drawn with the same indices as the data and passed to the loss as ``c``
            (which drops them with its ``p_uncond``); needs ``data`` to be a data set.
        ema: an exponential moving average of ``net``'s weights, updated after every step
            and saved in checkpoints; returned as :attr:`TrainResult.ema`.
        lr_schedule: a stateless factor on every parameter group's learning rate,
            ``lr_s = lr · f(s)`` (e.g. :class:`WarmupCosine`).
        clip_grad_norm: clip the global gradient norm to this value.
        micro_batches: micro-batches per step (gradient accumulation; divides
            ``batch_size``, and is a multiple of the number of processes).
        precision: the forward pass's precision (:class:`Precision`).
        compile: run the network through ``torch.compile``.
        resume_overrides: settings allowed to differ from the checkpoint's.
        log: called on rank 0 with a :class:`LogRecord` at every check.
        metadata: plain values (numbers, strings, lists, dicts) stored in the checkpoint
            under ``"metadata"`` (``genmatch train`` stores its config there).

    Returns:
        A :class:`TrainResult`; its :attr:`~TrainResult.model` is the EMA when there is one.
    """
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_every = check_positive_int(check_every, "check_every")
    checkpoint_every = _positive(
        checkpoint_every, "checkpoint_every", "pass checkpoint_every=steps to write only at the end"
    )
    micro_batches = check_positive_int(micro_batches, "micro_batches")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if (
        isinstance(lr, bool)
        or not isinstance(lr, (int, float))
        or not (math.isfinite(lr) and lr > 0)
    ):
        raise ValueError(f"lr must be a finite float > 0, got {lr!r}")
    if clip_grad_norm is not None and not (
        isinstance(clip_grad_norm, (int, float)) and clip_grad_norm > 0
    ):
        raise ValueError(f"clip_grad_norm must be a float > 0 or None, got {clip_grad_norm!r}")
    check_enum(precision, Precision, "precision")
    check_instance(ema, EMA, "ema", optional=True)
    check_instance(lr_schedule, WarmupCosine, "lr_schedule", optional=True)
    if lr_schedule is not None and scheduler is not None:
        raise ValueError("pass either scheduler= (stateful) or lr_schedule= (stateless), not both")
    unknown = set(resume_overrides) - OVERRIDABLE
    if unknown:
        raise ValueError(
            f"resume_overrides has unknown names {sorted(unknown)}; allowed: {sorted(OVERRIDABLE)}"
        )
    if batch_size % micro_batches:
        raise ValueError(f"micro_batches ({micro_batches}) must divide batch_size ({batch_size})")
    world = World.current()
    if micro_batches % world.size:
        raise ValueError(
            f"micro_batches ({micro_batches}) must be a multiple of the number of processes "
            f"({world.size}); each process computes micro_batches / processes of them"
        )
    params = list(net.parameters())
    if not params:
        raise ValueError("net has no parameters to train")
    device = params[0].device
    opt = optimizer if optimizer is not None else _default_optimizer(params, lr)
    base_lrs = [float(g["lr"]) for g in opt.param_groups]
    scaler = torch.amp.GradScaler(device.type) if precision is Precision.FP16 else None
    space = TENSORS if loss_fn.space is None else loss_fn.space
    draw = batch_drawer(data, conditions, loss_fn, space)
    micro = batch_size // micro_batches
    mine = list(range(world.rank, micro_batches, world.size))

    run = {
        "seed": seed,
        "lr": base_lrs,
        "batch_size": batch_size,
        "micro_batches": micro_batches,
        "lr_schedule": None if lr_schedule is None else repr(lr_schedule),
        "clip_grad_norm": clip_grad_norm,
        "precision": precision.value,
        "optimizer": type(opt).__name__,
        "ema": None if ema is None else [ema.decay, ema.warmup],
        "parameters": {k: list(v.shape) for k, v in net.state_dict().items()},
    }
    losses: list[Tensor] = []
    start = 0
    if checkpoint is not None and world.is_main:
        remove_stale_temporaries(checkpoint)
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device)
        check_same_run(checkpoint, state["run"], run, set(resume_overrides))
        start = int(state["step"])
        if start > steps:
            raise CheckpointError(
                f"checkpoint {checkpoint} is at step {start}, beyond steps={steps}; pass "
                f"steps >= {start} to continue it, or another checkpoint path"
            )
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["optimizer"])
        if scheduler is not None:  # its rates are in the optimizer's state
            scheduler.load_state_dict(state["scheduler"])
        else:  # the (possibly overridden) base rate; lr_schedule acts from it
            for g, base in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = base
        if ema is not None:
            ema.load_state_dict(state["ema"])
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        losses = list(state["losses"].to(device).unbind(0))

    def save(step: int) -> None:
        if checkpoint is not None and world.is_main:
            save_checkpoint(
                checkpoint,
                {
                    "format": CHECKPOINT_FORMAT,
                    "version": CHECKPOINT_VERSION,
                    "step": step,
                    "run": run,
                    "net": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "ema": ema.state_dict() if ema is not None else None,
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "losses": torch.stack(losses).cpu() if losses else torch.empty(0),
                    "metadata": dict(metadata) if metadata is not None else None,
                },
            )

    # the fused kernels skip an update on device given found_inf (PyTorch's AMP protocol)
    deferred = (
        bool(getattr(opt, "_step_supports_amp_scaling", False))
        and all(g.get("fused", False) for g in opt.param_groups)
        and precision is not Precision.FP16
    )
    model: nn.Module = net
    if world.size > 1 and not isinstance(net, DistributedDataParallel):
        model = DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    if compile:
        model = torch.compile(model)  # type: ignore[assignment]
    autocast = precision.autocast_dtype
    rng = torch.Generator(device=device)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    alive = torch.ones((), dtype=torch.bool, device=device)
    nan = torch.full((), float("nan"), device=device)
    zero = torch.zeros((), device=device)
    max_norm = float("inf") if clip_grad_norm is None else float(clip_grad_norm)

    def draw_step(step: int) -> list[State]:
        return [draw(micro, _seeded(rng, seed, step, m))[0] for m in mine]

    bar = tqdm(
        total=steps,
        initial=start,
        disable=not (progress and world.is_main),
        desc="train",
        leave=False,
    )
    net.train()
    tic = last_tic = time.perf_counter()
    last_check = start
    with _forked_global_rng(device), _found_inf_cleared(opt):
        for step in range(start, steps):
            if lr_schedule is not None:
                factor = lr_schedule(step)
                for g, base in zip(opt.param_groups, base_lrs, strict=True):
                    g["lr"] = base * factor
            opt.zero_grad(set_to_none=True)
            local = zero
            for j, m in enumerate(mine):
                x_1, c, finite = draw(micro, _seeded(rng, seed, step, m))
                seed_network(stream_seed(seed, step, m, NETWORK), device)  # dropout
                sync = contextlib.nullcontext()
                if j < len(mine) - 1 and isinstance(model, DistributedDataParallel):
                    sync = model.no_sync()  # type: ignore[assignment]
                with sync:
                    with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                        loss = loss_fn(model, x_1, c=c, generator=rng)
                    if autocast is not None:
                        loss = loss.float()
                    share = loss * (world.size / micro_batches)
                    (scaler.scale(share) if scaler is not None else share).backward()
                local = local + share.detach() / world.size
                if finite is not None:
                    local = local + torch.where(finite, zero, nan)
            if world.size > 1:
                torch.distributed.all_reduce(local)
            if scaler is not None:
                scaler.unscale_(opt)
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            ok = torch.isfinite(local)
            if scaler is None:
                ok = ok & torch.isfinite(norm)
            if deferred:
                first_bad = torch.where(alive & ~ok, step, first_bad)
                alive = alive & ok
                opt.found_inf = (~alive).float()  # type: ignore[attr-defined]
                opt.step()
            else:
                if not bool(ok):  # one scalar synchronisation: see the docstring
                    raise NonFiniteTrainingError(step + 1, draw_step(step), checkpoint)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
            if scheduler is not None:
                scheduler.step()
            if ema is not None:
                ema.update(net)
            losses.append(local.detach())
            done = step + 1
            write = checkpoint is not None and (done % checkpoint_every == 0 or done == steps)
            if done % check_every == 0 or done == steps or write:
                bad = int(first_bad)
                if bad >= 0:
                    raise NonFiniteTrainingError(bad + 1, draw_step(bad), checkpoint)
                now = time.perf_counter()
                if world.is_main:
                    mean = float(torch.stack(losses[last_check:done]).mean())
                    rate = (done - last_check) / max(now - last_tic, 1e-12)
                    bar.update(done - bar.n)
                    bar.set_postfix(loss=f"{mean:.4f}", steps_per_s=f"{rate:.1f}")
                    if log is not None:
                        log(LogRecord(done, mean, float(opt.param_groups[0]["lr"]), rate))
                last_check, last_tic = done, now
            if write:
                save(done)
    seconds = time.perf_counter() - tic
    bar.close()
    if world.size > 1:
        torch.distributed.barrier()  # the last checkpoint is on disk for every rank
    taken = steps - start
    return TrainResult(
        losses=torch.stack(losses[start:]) if taken else torch.empty(0),
        seconds=seconds,
        steps_per_second=taken / seconds if seconds > 0 else float("inf"),
        step=steps,
        net=net,
        ema=None if ema is None else ema.module,
    )


def _positive(value: object, name: str, hint: str) -> int:
    try:
        return check_positive_int(value, name)
    except ValueError as e:
        raise ValueError(f"{e}; {hint}") from None


def _default_optimizer(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
        return torch.optim.Adam(params, lr=lr)


def _seeded(rng: torch.Generator, seed: int, step: int, micro_batch: int) -> torch.Generator:
    return rng.manual_seed(stream_seed(seed, step, micro_batch, DATA))


@contextlib.contextmanager
def _forked_global_rng(device: torch.device) -> Iterator[None]:
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield


@contextlib.contextmanager
def _found_inf_cleared(opt: torch.optim.Optimizer) -> Iterator[None]:
    """Remove the loop's ``found_inf`` from the optimizer on the way out, error or not."""
    try:
        yield
    finally:
        if hasattr(opt, "found_inf"):
            del opt.found_inf
