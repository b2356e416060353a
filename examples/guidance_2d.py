"""Classifier-free guidance on 8 labelled Gaussians: accuracy against diversity as w grows.

Run:  python examples/guidance_2d.py --steps 3000 --out outputs/guidance_2d

The data are eight overlapping Gaussians on a circle with their labels
(:class:`genmatch.data.LabelledMixture`: ``p(x | k)`` and ``p(k | x)`` exact; the Bayes
classifier's accuracy is the ceiling for a sample of ``p(x | k)``). One conditional MLP
(``LabelEmbedding``, condition dropout 0.2) is trained with a CondOT flow, then sampled with
``ClassifierFreeGuidance`` at each weight. For every ``w`` the script reports the class
accuracy (the Bayes label of a sample equals its condition), the energy distance of each
class's samples to exact samples of ``p(x | k)`` (mean over classes, next to the floor of two
exact sample sets), and the spread (mean distance of samples to their class mean) as a
diversity measure. The exact oracle of 2 000 labelled points, guided the same way, and
exact predictor guidance (``PredictorGuidance`` with the oracle's ``log p_t(c|x)``, which
generates ``p(x | k)``) are scored next to it. Writes ``metrics.json`` and ``guidance.png``
(samples per weight, accuracy and diversity against ``w``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import genmatch as gm
from genmatch.data import LabelledMixture
from genmatch.guidance import ClassifierFreeGuidance, PredictorGuidance
from genmatch.metrics import energy_distance
from genmatch.types import Field


def scores(toy: LabelledMixture, x: torch.Tensor, c: torch.Tensor, seed: int) -> dict[str, float]:
    """Accuracy, per-class energy distance to ``p(x | k)`` (with its floor) and spread."""
    g = torch.Generator().manual_seed(seed)
    acc = float((toy.posterior(x.double()).argmax(1) == c).double().mean())
    energies, floors, spreads = [], [], []
    for k in range(toy.num_modes):
        xs = x[c == k].double()
        n = xs.shape[0]
        ref = toy.sample_x(torch.full((n,), k), generator=g, dtype=torch.float64)
        ref2 = toy.sample_x(torch.full((n,), k), generator=g, dtype=torch.float64)
        energies.append(float(energy_distance(xs, ref)))
        floors.append(float(energy_distance(ref2, ref)))
        spreads.append(float((xs - xs.mean(0)).norm(dim=1).mean()))
    mean = sum(energies) / len(energies)
    return {
        "accuracy": acc,
        "energy": mean,
        "energy_floor": sum(floors) / len(floors),
        "spread": sum(spreads) / len(spreads),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--p-uncond", type=float, default=0.2)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 3.0])
    parser.add_argument("--num-samples", type=int, default=4000)
    parser.add_argument("--sample-steps", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/guidance_2d"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    toy = LabelledMixture()
    data = toy.sample(20_000, generator=torch.Generator().manual_seed(args.seed))
    space = gm.EuclideanSpace(2)
    path, flow = gm.AffineGaussianPath(gm.CondOT()), gm.FlowGenerator()
    torch.manual_seed(args.seed)
    net = gm.MLP(space, flow.head_shapes(space), hidden=128, condition=gm.nn.LabelEmbedding(8, 32))
    loss = gm.GeneratorMatchingLoss(path, flow, p_uncond=args.p_uncond)
    result = gm.train(
        loss, net, data["x"], conditions=data["label"][:, 0], steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed,
    )  # fmt: skip

    n = args.num_samples
    c = torch.arange(n) % toy.num_modes
    x_0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(args.seed + 1))
    small = toy.sample(2000, generator=torch.Generator().manual_seed(args.seed + 2))
    oracle = gm.ExactMarginal(path, flow, small["x"], conditions=small["label"][:, 0])
    metrics: dict[str, object] = {"train_steps_per_second": result.steps_per_second}
    samples: dict[float, torch.Tensor] = {}
    net.eval()
    for w in args.weights:
        cfg = ClassifierFreeGuidance(flow, w)
        x = gm.simulate(cfg, net, x_0, args.sample_steps, condition=c).x
        guided_oracle: Field = cfg.combine(oracle.given(c), oracle)
        x_oracle = gm.simulate(cfg, guided_oracle, x_0, args.sample_steps).x
        samples[w] = x
        metrics[f"w={w:g}"] = {
            "model": scores(toy, x, c, args.seed),
            "oracle": scores(toy, x_oracle, c, args.seed),
        }
    exact = PredictorGuidance(flow, path, oracle.log_likelihood).tilted(oracle, c)
    x_exact = gm.simulate(flow, exact, x_0, args.sample_steps).x
    metrics["predictor_guidance_oracle"] = scores(toy, x_exact, c, args.seed)
    metrics["bayes_rate"] = toy.bayes_rate(generator=torch.Generator().manual_seed(0))
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _plot(args.out / "guidance.png", samples, c, metrics, args.weights)
    return metrics


def _plot(
    file: Path,
    samples: dict[float, torch.Tensor],
    c: torch.Tensor,
    metrics: dict[str, object],
    weights: list[float],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(weights) + 1, figsize=(4 * (len(weights) + 1), 4))
    for ax, w in zip(axes, weights, strict=False):
        x = samples[w]
        ax.scatter(x[:, 0], x[:, 1], c=c, s=2, cmap="tab10")
        ax.set_title(f"w = {w:g}")
        ax.set_aspect("equal")
    acc = [metrics[f"w={w:g}"]["model"]["accuracy"] for w in weights]  # type: ignore[index]
    spread = [metrics[f"w={w:g}"]["model"]["spread"] for w in weights]  # type: ignore[index]
    ax = axes[-1]
    ax.plot(weights, acc, "o-", label="class accuracy")
    ax.plot(weights, spread, "s-", label="spread (diversity)")
    ax.set_xlabel("guidance weight w")
    ax.legend()
    fig.tight_layout()
    fig.savefig(file, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
