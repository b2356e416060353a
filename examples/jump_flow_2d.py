"""Flow, jump and jump + flow models on 2-D toy data, against the exact-marginal oracle.

Run:  python examples/jump_flow_2d.py --data checkerboard --steps 3000 --out outputs/jump_flow_2d

Three models with the same network (an MLP with every head the model needs), the same
optimiser, steps, batch and seed, all on the CondOT path:

- ``flow``: a flow (velocity head, squared-Euclidean loss), Euler sampling;
- ``jump``: per-coordinate jumps with a binned jump distribution (intensity + 64-bin logits
  per coordinate, generalized-KL loss on the jump measure weighted by ``(1 − t)³``);
- ``jump+flow``: their Markov superposition with ``α = (½, ½)``, trained jointly (losses
  summed) and sampled by the piecewise-deterministic scheme. Constant weights do not beat the
  flow; jumps early and flow late (``SwitchWeights``) beat an Euler flow at equal NFE, not a
  midpoint flow (``bench/peers_superposition.py``, docs/concepts.md "When superposition pays").

Each is sampled at NFE 4, 8, 16, 32, 64 and scored by energy distance and sliced
Wasserstein-2 against fresh data; the exact marginal of each model kind on 1000 data points is
sampled on the same grids (what a perfect network would do). Writes ``metrics.json`` and
``quality_vs_nfe.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

import genmatch as gm
from genmatch.compose import ConstantWeights, Superposition
from genmatch.data import checkerboard, eight_gaussians, two_moons
from genmatch.generators import BinnedJumpGenerator, Bins
from genmatch.metrics import energy_distance, sliced_wasserstein

DATASETS: dict[str, Callable[..., Tensor]] = {
    "checkerboard": checkerboard,
    "eight_gaussians": eight_gaussians,
    "two_moons": two_moons,
}
KINDS = ("flow", "jump", "jump+flow")
NFES = (4, 8, 16, 32, 64)


def jump_weight(t: Tensor) -> Tensor:
    """``(1 − t)³``: CondOT jump targets grow like ``(1 − t)^{-3}``."""
    return (1 - t) ** 3


def build(kind: str) -> tuple[gm.AbstractGenerator, Callable[[Tensor], Tensor] | None]:
    """The generator of a model kind and the loss weighting it trains with."""
    flow = gm.FlowGenerator()
    jump = BinnedJumpGenerator(Bins(-5.0, 5.0, 64))
    if kind == "flow":
        return flow, None
    if kind == "jump":
        return jump, jump_weight
    if kind == "jump+flow":
        return Superposition(
            [flow, jump], ConstantWeights((0.5, 0.5)), loss_weights=(None, jump_weight)
        ), None
    raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")


def evaluate(
    generator: gm.AbstractGenerator,
    field: gm.types.Field | torch.nn.Module,
    x_0: Tensor,
    fresh: Tensor,
    nfes: tuple[int, ...],
    seed: int,
) -> dict[int, dict[str, float]]:
    """Energy distance and sliced W2 to ``fresh`` at each NFE (uniform grids)."""
    scores = {}
    for nfe in nfes:
        steps = max(1, nfe // generator.nfe_per_step)
        out = gm.simulate(generator, field, x_0, steps, rng=torch.Generator().manual_seed(seed))
        proj = torch.Generator().manual_seed(seed + 1)
        scores[out.nfe] = {
            "energy_distance": float(energy_distance(out.x, fresh)),
            "sliced_w2": float(sliced_wasserstein(out.x, fresh, generator=proj)),
        }
    return scores


def run_dataset(
    name: str,
    *,
    steps: int,
    batch_size: int = 512,
    hidden: int = 256,
    num_samples: int = 2000,
    oracle_points: int = 1000,
    nfes: tuple[int, ...] = NFES,
    seed: int = 0,
    kinds: tuple[str, ...] = KINDS,
) -> dict[str, dict]:
    """Train every model kind on one data set and score it and its oracle at every NFE."""
    sample = DATASETS[name]
    rng = torch.Generator().manual_seed(seed)
    data = sample(50_000, generator=rng)
    fresh = sample(num_samples, generator=rng)
    oracle_data = sample(oracle_points, generator=rng)
    x_0 = torch.randn(num_samples, 2, generator=rng)
    path = gm.AffineGaussianPath(gm.CondOT())
    space = gm.EuclideanSpace(2)
    results: dict[str, dict] = {
        "data_floor": {
            "energy_distance": float(energy_distance(sample(num_samples, generator=rng), fresh)),
            "sliced_w2": float(
                sliced_wasserstein(
                    sample(num_samples, generator=rng),
                    fresh,
                    generator=torch.Generator().manual_seed(seed + 1),
                )
            ),
        }
    }
    for kind in kinds:
        generator, weighting = build(kind)
        torch.manual_seed(seed)
        net = gm.MLP(space, generator.head_shapes(space), hidden=hidden, depth=3)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        loss_fn = gm.GeneratorMatchingLoss(path, generator, weighting=weighting)
        fit = gm.train(
            loss_fn,
            net,
            data,
            steps=steps,
            batch_size=batch_size,
            optimizer=opt,
            scheduler=sched,
            seed=seed,
        )
        net.eval()
        tic = time.perf_counter()
        model_scores = evaluate(generator, net, x_0, fresh, nfes, seed)
        sample_seconds = time.perf_counter() - tic
        oracle = gm.ExactMarginal(path, generator, oracle_data)
        results[kind] = {
            "train_steps_per_second": fit.steps_per_second,
            "final_loss": float(fit.losses[-100:].mean()),
            "sample_seconds_all_nfe": sample_seconds,
            "model": model_scores,
            "oracle": evaluate(generator, oracle, x_0, fresh, nfes, seed),
        }
    return results


def plot(results: dict[str, dict[str, dict]], path: Path) -> None:
    """Quality (energy distance) vs NFE, one panel per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    colors = {"flow": "tab:blue", "jump": "tab:orange", "jump+flow": "tab:green"}
    for ax, (name, res) in zip(axes[0], results.items(), strict=True):
        for kind in KINDS:
            if kind not in res:
                continue
            for source, style in (("model", "-o"), ("oracle", ":x")):
                nfe = sorted(res[kind][source])
                ed = [res[kind][source][n]["energy_distance"] for n in nfe]
                ax.plot(nfe, ed, style, color=colors[kind], label=f"{kind} ({source})")
        ax.axhline(res["data_floor"]["energy_distance"], color="k", lw=0.8, label="data vs data")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("NFE")
        ax.set_ylabel("energy distance to fresh data")
        ax.set_title(name)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, dict[str, dict]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATASETS), nargs="+", default=["checkerboard"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--nfe", type=int, nargs="+", default=list(NFES))
    parser.add_argument("--out", default="outputs/jump_flow_2d")
    args = parser.parse_args(argv)
    results = {
        name: run_dataset(
            name, steps=args.steps, num_samples=args.num_samples, nfes=tuple(args.nfe)
        )
        for name in args.data
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "quality_vs_nfe.png")
    for name, res in results.items():
        print(f"== {name} (data floor ED {res['data_floor']['energy_distance']:.4f})")
        for kind in KINDS:
            if kind in res:
                row = "  ".join(
                    f"{n}:{res[kind]['model'][n]['energy_distance']:.4f}/{res[kind]['oracle'][n]['energy_distance']:.4f}"
                    for n in sorted(res[kind]["model"])
                )
                print(f"{kind:10s} NFE:model/oracle ED  {row}")
    return results


if __name__ == "__main__":
    main()
