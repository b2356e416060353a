"""Train an ε-prediction (diffusion) model on a 2-D set; sample it with the PF-ODE and SDEs.

Run:  python examples/diffusion_2d.py --steps 8000 --out outputs/diffusion_2d

The model is a diffusion model in the usual sense — a VP path (``VPLinear``, the DDPM/score-SDE
schedule) and a network predicting the noise ε trained with the denoising loss ``|ε̂ − ε|²``.
In genmatch that is a flow model: :class:`~genmatch.diffusion.VelocityFromPrediction` turns
the ε-head into a velocity, and the flow-matching loss weighted by
:func:`~genmatch.diffusion.mse_weight` equals the denoising loss exactly.

The one trained network is then sampled by

- the probability-flow ODE (Euler), i.e. flow + Langevin with ``β = 0``;
- flow + Langevin(β) for constant ``β ∈ {0.5, 1}`` and the reverse-SDE ``β_t`` (eq. 10.15),
  all Euler–Maruyama and all sharing the ODE's marginals in exact arithmetic;
- DDIM (``η = 0``) and DDPM ancestral sampling (``η = 1``),

at several NFE, reporting the energy distance to fresh data (and the data-vs-data floor),
writing ``metrics.json``, ``samples.png`` (samples per sampler at the largest NFE) and
``quality_vs_nfe.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import Tensor

import genmatch as gm
from genmatch.compose import Langevin, constant_beta
from genmatch.data import ALL_TOY_SETS
from genmatch.diffusion import (
    DDIM,
    Prediction,
    VelocityFromPrediction,
    mse_weight,
    reverse_sde_beta,
    score_from_velocity,
)
from genmatch.metrics import energy_distance

DATASETS = {fn.__name__: fn for fn in ALL_TOY_SETS}
NFES = (16, 64, 256)


def samplers(schedule: gm.AbstractSchedule) -> dict[str, gm.AbstractGenerator]:
    """Every sampler of one trained velocity field, by name."""
    flow = gm.FlowGenerator()
    score = score_from_velocity(schedule)
    return {
        "PF-ODE (β=0)": flow,
        "Langevin β=0.5": Langevin(flow, constant_beta(0.5), score),
        "Langevin β=1": Langevin(flow, constant_beta(1.0), score),
        "reverse SDE β_t": Langevin(flow, reverse_sde_beta(schedule), score),
        "DDIM (η=0)": DDIM(schedule, eta=0.0),
        "DDPM (η=1)": DDIM(schedule, eta=1.0),
    }


def run(
    data_name: str, *, steps: int, num_samples: int, nfes: tuple[int, ...], seed: int = 0
) -> tuple[dict, dict[str, Tensor], Tensor]:
    """Train, sample every way, score. Returns (metrics, samples at max NFE, fresh data)."""
    sample = DATASETS[data_name]
    rng = torch.Generator().manual_seed(seed)
    data = sample(50_000, generator=rng)
    fresh = sample(num_samples, generator=rng)
    floor = float(energy_distance(sample(num_samples, generator=rng), fresh))
    schedule = gm.VPLinear()
    space = gm.EuclideanSpace(2)
    torch.manual_seed(seed)
    eps_net = gm.MLP(space, {"epsilon": (2,)}, hidden=256, depth=3)
    net = VelocityFromPrediction(eps_net, "epsilon", Prediction.EPSILON, schedule)
    loss_fn = gm.GeneratorMatchingLoss(
        gm.AffineGaussianPath(schedule),
        gm.FlowGenerator(),
        weighting=mse_weight(Prediction.EPSILON, schedule),
    )
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    fit = gm.train(
        loss_fn, net, data, steps=steps, batch_size=512, optimizer=opt, scheduler=sched, seed=seed
    )
    print(
        f"{data_name}: {fit.steps_per_second:.0f} steps/s, "
        f"final denoising loss {float(fit.losses[-200:].mean()):.3f}"
    )
    net.eval()
    x_0 = torch.randn(num_samples, 2, generator=rng)
    metrics: dict = {"data_floor_energy_distance": floor, "samplers": {}}
    finals: dict[str, Tensor] = {}
    for name, generator in samplers(schedule).items():
        scores = {}
        for nfe in nfes:
            out = gm.simulate(generator, net, x_0, nfe, rng=torch.Generator().manual_seed(seed))
            scores[nfe] = float(energy_distance(out.x, fresh))
            finals[name] = out.x
        metrics["samplers"][name] = scores
    return metrics, finals, fresh


def plot(metrics: dict, finals: dict[str, Tensor], fresh: Tensor, out: Path) -> None:
    """``samples.png`` (one panel per sampler) and ``quality_vs_nfe.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"data": fresh, **finals}
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.8))
    for ax, (name, x) in zip(axes, panels.items(), strict=True):
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
        ax.set_title(name, fontsize=8)
        ax.set_xlim(-4.5, 4.5)
        ax.set_ylim(-4.5, 4.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "samples.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, scores in metrics["samplers"].items():
        nfe = sorted(scores)
        ax.plot(nfe, [scores[n] for n in nfe], "-o", label=name)
    ax.axhline(metrics["data_floor_energy_distance"], color="k", lw=0.8, label="data vs data")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("NFE")
    ax.set_ylabel("energy distance to fresh data")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "quality_vs_nfe.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATASETS), default="checkerboard")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--nfe", type=int, nargs="+", default=list(NFES))
    parser.add_argument("--out", default="outputs/diffusion_2d")
    args = parser.parse_args(argv)
    metrics, finals, fresh = run(
        args.data, steps=args.steps, num_samples=args.num_samples, nfes=tuple(args.nfe)
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot(metrics, finals, fresh, out)
    nfes = sorted(args.nfe)
    print(f"energy distance to fresh data (floor {metrics['data_floor_energy_distance']:+.4f})")
    print(f"{'sampler':<18}" + "".join(f"{'NFE ' + str(n):>11}" for n in nfes))
    for name, scores in metrics["samplers"].items():
        print(f"{name:<18}" + "".join(f"{scores[n]:>11.4f}" for n in nfes))
    print(f"wrote {out / 'samples.png'}, {out / 'quality_vs_nfe.png'}, {out / 'metrics.json'}")
    return metrics


if __name__ == "__main__":
    main()
