"""The demo: a flow trained on the checkerboard, compared with the exact-marginal oracle."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import final

import torch

from genmatch.data import checkerboard
from genmatch.generators.flow import FlowGenerator
from genmatch.loss import GeneratorMatchingLoss
from genmatch.marginal.exact import ExactMarginal
from genmatch.metrics.euclidean import energy_distance, sliced_wasserstein
from genmatch.nn.mlp import MLP
from genmatch.paths.affine import AffineGaussianPath
from genmatch.paths.schedules import CondOT
from genmatch.simulate import SimulationResult, simulate
from genmatch.solvers.rk4 import RK4
from genmatch.spaces.euclidean import EuclideanSpace
from genmatch.time import TimeGrid
from genmatch.training import train


@final
@dataclass(frozen=True)
class DemoConfig:
    """Settings of :func:`run_demo` (defaults finish in about two minutes on 2 CPU cores)."""

    steps: int = 20000
    batch_size: int = 512
    hidden: int = 256
    depth: int = 3
    lr: float = 2e-3
    sample_steps: int = 25
    num_samples: int = 4000
    oracle_points: int = 2000
    seed: int = 0
    out: str = "outputs/demo"
    progress: bool = True


def run_demo(config: DemoConfig = DemoConfig()) -> dict[str, object]:
    """Train a CondOT flow on the checkerboard and write ``samples.png`` and ``metrics.json``.

    The trained model and the exact marginal of a finite data set (the oracle) are both
    sampled with RK4 on the same grid (the same NFE); each is scored by energy distance and
    sliced Wasserstein-2 against fresh data, next to the floor of a data sample of the same
    size against the same fresh data.

    Returns:
        The metrics written to ``metrics.json``.
    """
    torch.manual_seed(config.seed)
    rng = torch.Generator().manual_seed(config.seed)
    space = EuclideanSpace(2)
    path = AffineGaussianPath(CondOT())
    flow = FlowGenerator(solver=RK4())
    data = checkerboard(100_000, generator=rng)
    net = MLP(space, flow.head_shapes(space), hidden=config.hidden, depth=config.depth)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
    loss_fn = GeneratorMatchingLoss(path, flow)
    result = train(
        loss_fn,
        net,
        data,
        steps=config.steps,
        batch_size=config.batch_size,
        optimizer=optimizer,
        scheduler=scheduler,
        seed=config.seed,
        progress=config.progress,
    )
    net.eval()
    grid = TimeGrid.uniform(config.sample_steps)
    fresh = checkerboard(config.num_samples, generator=rng)
    reference = checkerboard(config.num_samples, generator=rng)
    x_0 = torch.randn(config.num_samples, 2, generator=rng)
    tic = time.perf_counter()
    model_out = simulate(flow, net, x_0, grid, return_trajectory=True)
    sample_seconds = time.perf_counter() - tic
    oracle = ExactMarginal(path, flow, checkerboard(config.oracle_points, generator=rng))
    oracle_out = simulate(flow, oracle, x_0, grid)
    proj = torch.Generator().manual_seed(config.seed + 1)
    metrics = {
        "energy_distance_model": float(energy_distance(model_out.x, fresh)),
        "energy_distance_oracle": float(energy_distance(oracle_out.x, fresh)),
        "energy_distance_data_floor": float(energy_distance(reference, fresh)),
        "sliced_w2_model": float(sliced_wasserstein(model_out.x, fresh, generator=proj)),
        "sliced_w2_oracle": float(sliced_wasserstein(oracle_out.x, fresh, generator=proj)),
        "sliced_w2_data_floor": float(sliced_wasserstein(reference, fresh, generator=proj)),
        "nfe": model_out.nfe,
        "solver": "RK4",
        "train_seconds": result.seconds,
        "train_steps": result.step,
        "train_steps_per_second": result.steps_per_second,
        "final_loss_mean_last_100": float(result.losses[-100:].mean()),
        "sample_seconds": sample_seconds,
        "num_samples": config.num_samples,
        "threads": torch.get_num_threads(),
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"config": asdict(config), **metrics}, indent=2))
    _plot(out / "samples.png", fresh, model_out, oracle_out.x, metrics)
    return metrics


def _plot(
    path: Path,
    data: torch.Tensor,
    model_out: SimulationResult,
    oracle_x: torch.Tensor,
    metrics: dict[str, object],
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - exercised only without the plots extra
        raise ImportError(
            "the demo's figure needs matplotlib: pip install 'genmatch[plots]'"
        ) from err
    assert model_out.trajectory is not None
    traj = torch.stack(model_out.trajectory)  # (steps + 1, batch, 2)
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6))
    lim = (-4.5, 4.5)
    panels = [
        (data, "data (fresh)"),
        (
            model_out.x,
            f"trained flow, NFE {metrics['nfe']}\nED {metrics['energy_distance_model']:.4f}",
        ),
        (
            oracle_x,
            f"exact-marginal oracle, NFE {metrics['nfe']}\n"
            f"ED {metrics['energy_distance_oracle']:.4f}",
        ),
    ]
    for ax, (pts, title) in zip(axes, panels, strict=False):
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5)
        ax.set_title(title, fontsize=10)
    ax = axes[3]
    for i in range(0, min(traj.shape[1], 300)):
        ax.plot(traj[:, i, 0], traj[:, i, 1], lw=0.4, alpha=0.5, color="tab:gray")
    ax.scatter(traj[0, :300, 0], traj[0, :300, 1], s=3, color="tab:blue", label="t = 0")
    ax.scatter(traj[-1, :300, 0], traj[-1, :300, 1], s=3, color="tab:red", label="t = 1")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("trajectories of the trained flow", fontsize=10)
    for ax in axes:
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
