"""Run a :class:`~genmatch.training.config.TrainConfig`: build its objects, train, sample.

The objects come from explicit constructors, one per choice of the config's enums (no name
registry, no ``eval``). Outputs go to ``log.out``: ``checkpoint.pt`` (with the config in its
``metadata``), ``log.csv``, TensorBoard events (``log.tensorboard``), and at the end
``samples.pt`` and ``metrics.json``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import final

import torch
from torch import Tensor, nn

from genmatch.data import checkerboard, eight_gaussians, spirals, two_moons
from genmatch.generators.flow import FlowGenerator
from genmatch.loss import GeneratorMatchingLoss
from genmatch.metrics.euclidean import energy_distance
from genmatch.nn.mlp import MLP
from genmatch.paths.affine import AffineGaussianPath
from genmatch.paths.schedules import AbstractSchedule, CondOT, Cosine
from genmatch.simulate import simulate
from genmatch.solvers.base import AbstractODESolver
from genmatch.solvers.euler import Euler
from genmatch.solvers.heun import Heun
from genmatch.solvers.midpoint import Midpoint
from genmatch.solvers.rk4 import RK4
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.time import TimeGrid
from genmatch.training.checkpoint import load_checkpoint
from genmatch.training.config import (
    ConfigError,
    DataSet,
    ScheduleName,
    SolverName,
    TrainConfig,
    parse_config,
)
from genmatch.training.distributed import World, default_device, init_from_environment
from genmatch.training.ema import EMA
from genmatch.training.loop import train
from genmatch.training.result import LogRecord
from genmatch.training.schedules import WarmupCosine

SPACE = EuclideanSpace(2)

_DATA: dict[DataSet, Callable[..., Tensor]] = {
    DataSet.CHECKERBOARD: checkerboard,
    DataSet.EIGHT_GAUSSIANS: eight_gaussians,
    DataSet.TWO_MOONS: two_moons,
    DataSet.SPIRALS: spirals,
}
_SCHEDULES: dict[ScheduleName, Callable[[], AbstractSchedule]] = {
    ScheduleName.COND_OT: CondOT,
    ScheduleName.COSINE: Cosine,
}
_SOLVERS: dict[SolverName, Callable[[], AbstractODESolver]] = {
    SolverName.EULER: Euler,
    SolverName.MIDPOINT: Midpoint,
    SolverName.HEUN: Heun,
    SolverName.RK4: RK4,
}


@final
@dataclass(frozen=True)
class Built:
    """The objects of a configuration.

    Attributes:
        flow: the flow generator (with the sampling solver).
        loss_fn: the generator-matching loss.
        net: the velocity network (fresh, seeded by ``run.seed``).
        device: where training runs.
    """

    flow: FlowGenerator
    loss_fn: GeneratorMatchingLoss
    net: nn.Module
    device: torch.device


def build(config: TrainConfig) -> Built:
    """Construct the path, generator, network and device of ``config``."""
    device = _device(config.run.device)
    path = AffineGaussianPath(_SCHEDULES[config.model.schedule]())
    flow = FlowGenerator(solver=_SOLVERS[config.sample.solver]())
    torch.manual_seed(config.run.seed)
    net = MLP(SPACE, flow.head_shapes(SPACE), hidden=config.model.hidden, depth=config.model.depth)
    return Built(flow, GeneratorMatchingLoss(path, flow, space=SPACE), net.to(device), device)


def data_set(config: TrainConfig, n: int, seed_offset: int = 0) -> Tensor:
    """``n`` points of the configured data set (seeded by ``run.seed`` + ``seed_offset``)."""
    rng = torch.Generator().manual_seed(config.run.seed + seed_offset)
    return _DATA[config.data.name](n, generator=rng)


def run_training(config: TrainConfig) -> dict[str, float]:
    """Train ``config`` (resuming ``log.out/checkpoint.pt`` if present), then sample and
    score it; its metrics (rank 0 writes them; every rank returns them).

    Under ``torchrun`` this joins the process group first (:func:`init_from_environment`).
    """
    world = init_from_environment()
    built = build(config)
    out = Path(config.log.out)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
    ema = (
        EMA(built.net, decay=config.ema.decay, warmup=config.ema.warmup)
        if (config.ema.enabled)
        else None
    )
    opt = config.optim
    schedule = None
    if opt.warmup_steps or opt.cosine:
        total = config.run.steps if opt.cosine else 0
        if total and total <= opt.warmup_steps:
            raise ConfigError(
                f"optim.warmup_steps ({opt.warmup_steps}) must be below run.steps "
                f"({config.run.steps}) with optim.cosine = true"
            )
        schedule = WarmupCosine(opt.warmup_steps, total, opt.final_lr_ratio)
    logger = _Logger(out, config.log.tensorboard) if world.is_main else None
    try:
        result = train(
            built.loss_fn,
            built.net,
            data_set(config, config.data.size).to(built.device),
            steps=config.run.steps,
            batch_size=config.run.batch_size,
            lr=opt.lr,
            seed=config.run.seed,
            check_every=config.run.check_every,
            progress=config.log.progress,
            checkpoint=out / "checkpoint.pt",
            checkpoint_every=config.run.checkpoint_every,
            ema=ema,
            lr_schedule=schedule,
            clip_grad_norm=opt.clip_grad_norm or None,
            micro_batches=config.run.micro_batches,
            precision=config.run.precision,
            compile=config.run.compile,
            log=logger,
            metadata={"config": config.to_dict()},
        )
    finally:
        if logger is not None:
            logger.close()
    metrics = _sample_and_score(config, built.flow, result.model, built.device, out, world)
    metrics.update(
        train_steps=result.step,
        train_steps_per_second=result.steps_per_second,
        final_loss=float(result.losses[-1]) if result.losses.numel() else float("nan"),
    )
    if world.is_main:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def run_sampling(
    checkpoint: str | os.PathLike[str],
    *,
    num_samples: int | None = None,
    steps: int | None = None,
    raw: bool = False,
    out: str | os.PathLike[str] | None = None,
) -> dict[str, float | str]:
    """Rebuild the model of a checkpoint written by :func:`run_training`, sample and score it.

    Args:
        checkpoint: the ``checkpoint.pt`` file.
        num_samples: points to simulate (default: the config's ``sample.num_samples``).
        steps: solver steps (default: the config's ``sample.steps``).
        raw: sample the raw weights instead of the EMA.
        out: the folder for ``samples.pt`` and ``metrics.json`` (default: the checkpoint's).
    """
    state = load_checkpoint(checkpoint, map_location="cpu")
    meta = state.get("metadata") or {}
    if "config" not in meta:
        raise ConfigError(
            f"checkpoint {checkpoint} has no config in its metadata; it was not written by "
            "`genmatch train`"
        )
    overrides = []
    if num_samples is not None:
        overrides.append(f"sample.num_samples={num_samples}")
    if steps is not None:
        overrides.append(f"sample.steps={steps}")
    config = parse_config(meta["config"], overrides)
    built = build(config)
    if raw or state["ema"] is None:
        built.net.load_state_dict(state["net"])
    else:
        built.net.load_state_dict(state["ema"]["module"])
    folder = Path(out) if out is not None else Path(checkpoint).parent
    folder.mkdir(parents=True, exist_ok=True)
    scores = _sample_and_score(config, built.flow, built.net, built.device, folder, World())
    metrics: dict[str, float | str] = {
        **scores,
        "weights": "raw" if raw or state["ema"] is None else "ema",
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _sample_and_score(
    config: TrainConfig,
    flow: FlowGenerator,
    net: nn.Module,
    device: torch.device,
    out: Path,
    world: World,
) -> dict[str, float]:
    n = config.sample.num_samples
    rng = torch.Generator().manual_seed(config.run.seed + 1)
    x_0 = torch.randn(n, 2, generator=rng).to(device)
    net.eval()
    with torch.no_grad():
        x_1 = simulate(flow, net, x_0, TimeGrid.uniform(config.sample.steps)).x.cpu()
    fresh = data_set(config, n, seed_offset=2)
    floor = data_set(config, n, seed_offset=3)
    if world.is_main:
        torch.save(x_1, out / "samples.pt")
    return {
        "energy_distance": float(energy_distance(x_1, fresh)),
        "energy_distance_data_floor": float(energy_distance(floor, fresh)),
        "num_samples": n,
        "sample_steps": config.sample.steps,
    }


def _device(name: str) -> torch.device:
    if name == "auto":
        return default_device()
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"run.device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device = 'cuda' but CUDA is not available")
    return default_device() if name == "cuda" else torch.device("cpu")


class _Logger:
    """Writes each :class:`LogRecord` to ``log.csv`` (and TensorBoard)."""

    def __init__(self, out: Path, tensorboard: bool) -> None:
        path = out / "log.csv"
        fresh = not path.exists()
        self._file = path.open("a", newline="")
        self._csv = csv.writer(self._file)
        if fresh:
            self._csv.writerow(["step", "loss", "lr", "steps_per_second"])
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                self._file.close()
                raise ConfigError(
                    "log.tensorboard = true needs the tensorboard package: "
                    "pip install 'genmatch[tensorboard]'"
                ) from e
            self._tb = SummaryWriter(str(out / "tensorboard"))

    def __call__(self, record: LogRecord) -> None:
        self._csv.writerow([record.step, record.loss, record.lr, record.steps_per_second])
        self._file.flush()
        if self._tb is not None:
            self._tb.add_scalar("loss", record.loss, record.step)
            self._tb.add_scalar("lr", record.lr, record.step)
            self._tb.add_scalar("steps_per_second", record.steps_per_second, record.step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
