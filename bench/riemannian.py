"""Riemannian flow matching on S²: genmatch against facebookresearch/flow_matching, same run.

Run:  python bench/riemannian.py [--steps 3000] [--quick] [--threads 1]

Both sides train the same MLP (same seed, initial weights, optimiser, learning rate, batch,
steps and data: the vMF mixture of ``examples/sphere.py``) on the geodesic path from the
uniform source with the CondOT schedule and the tangent-projected MSE loss:

- genmatch: ``GeodesicPath`` + ``RiemannianFlowGenerator`` + ``GeneratorMatchingLoss`` +
  ``train``;
- flow_matching: ``GeodesicProbPath(CondOTScheduler(), Sphere())`` in a hand-written loop
  (its documented recipe), used as a black box.

Each trained network is sampled by both libraries' Riemannian solvers (genmatch's
``RiemannianEuler/Midpoint/RK4``; flow_matching's ``RiemannianODESolver`` with ``euler``,
``midpoint``, ``rk4``) at the same NFE, so training and sampling are compared separately.
Quality: geodesic MMD to held-out data. Speed: training steps/s and sampling time. Solver
accuracy: the error of each solver on a rotation field of S² with an exact solution.
Prints one JSON line per measurement, then Markdown tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]


def _sphere_example():
    spec = importlib.util.spec_from_file_location("sphere_example", ROOT / "examples" / "sphere.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sphere_example"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> list[dict]:
    from flow_matching.path import GeodesicProbPath
    from flow_matching.path.scheduler import CondOTScheduler
    from flow_matching.solver import RiemannianODESolver
    from flow_matching.utils import ModelWrapper
    from flow_matching.utils.manifolds import Sphere

    from genmatch.divergences.riemannian import AmbientSquaredNorm
    from genmatch.generators import RiemannianFlowGenerator
    from genmatch.loss import GeneratorMatchingLoss
    from genmatch.manifolds import Hypersphere, so3_exp
    from genmatch.metrics import geodesic_mmd
    from genmatch.nn import MLP
    from genmatch.paths import GeodesicPath
    from genmatch.simulate import simulate
    from genmatch.solvers import RiemannianEuler, RiemannianMidpoint, RiemannianRK4
    from genmatch.sources import UniformSource
    from genmatch.spaces import EuclideanSpace, ManifoldSpace
    from genmatch.training import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="network initialisation and draws")
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.num_samples = 20, 200
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    ex = _sphere_example()
    rng = torch.Generator().manual_seed(0)
    space = ManifoldSpace(Hypersphere(3), (3,))
    source = UniformSource(space)
    data = ex.vmf_mixture(20_000, rng)
    held_out = ex.vmf_mixture(args.num_samples, rng)
    records: list[dict] = []

    def emit(record: dict) -> None:
        records.append(record)
        print(json.dumps(record))

    def fresh_net() -> MLP:
        torch.manual_seed(args.seed)
        return MLP(EuclideanSpace(3), {"velocity": (3,)}, hidden=128, depth=3)

    # -- training ---------------------------------------------------------------------------
    flow = RiemannianFlowGenerator(space, divergence=AmbientSquaredNorm())
    net_gm = fresh_net()
    fit = train(
        GeneratorMatchingLoss(GeodesicPath(space), flow),
        net_gm,
        data,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=2e-3,
        seed=args.seed,
    )
    emit(
        {
            "bench": "train",
            "library": "genmatch",
            "steps_per_s": fit.steps_per_second,
            "final_loss": float(fit.losses[-50:].mean()),
        }
    )

    fm_path = GeodesicProbPath(scheduler=CondOTScheduler(), manifold=Sphere())
    net_fm = fresh_net()
    opt = torch.optim.Adam(net_fm.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(args.seed)
    losses = []
    tic = time.perf_counter()
    for _ in range(args.steps):
        x_1 = data[torch.randint(data.shape[0], (args.batch_size,), generator=g)]
        x_0 = source.sample(args.batch_size, generator=g)
        t = torch.rand(args.batch_size, generator=g)
        s = fm_path.sample(x_0=x_0, x_1=x_1, t=t)
        pred = space.proju(s.x_t, net_fm(s.x_t, t)["velocity"])
        loss = ((pred - s.dx_t) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    seconds = time.perf_counter() - tic
    emit(
        {
            "bench": "train",
            "library": "flow_matching",
            "steps_per_s": args.steps / seconds,
            "final_loss": float(torch.stack(losses[-50:]).mean()),
        }
    )

    # -- sampling: every trained net with every solver ----------------------------------------
    class Wrapped(ModelWrapper):
        def forward(self, x: Tensor, t: Tensor, **extras: object) -> Tensor:
            return self.model(x, t.reshape(-1).expand(x.shape[0]))["velocity"]

    x_0 = source.sample(args.num_samples, generator=rng)
    nfe = 32
    methods = [
        ("euler", RiemannianEuler, 1),
        ("midpoint", RiemannianMidpoint, 2),
        ("rk4", RiemannianRK4, 4),
    ]
    for train_lib, net in [("genmatch", net_gm), ("flow_matching", net_fm)]:
        for method, cls, stages in methods:
            steps = nfe // stages
            sampler = RiemannianFlowGenerator(space, solver=cls(space))
            tic = time.perf_counter()
            with torch.no_grad():
                x = simulate(sampler, net, x_0, steps).x
            emit(
                {
                    "bench": "sample",
                    "trained_by": train_lib,
                    "solver": f"genmatch/{method}",
                    "nfe": nfe,
                    "seconds": time.perf_counter() - tic,
                    "mmd": float(geodesic_mmd(space, x, held_out)),
                }
            )
            solver = RiemannianODESolver(manifold=Sphere(), velocity_model=Wrapped(net))
            tic = time.perf_counter()
            with torch.no_grad():
                x = solver.sample(x_0, step_size=1.0 / steps, method=method, projx=True, proju=True)
            emit(
                {
                    "bench": "sample",
                    "trained_by": train_lib,
                    "solver": f"flow_matching/{method}",
                    "nfe": nfe,
                    "seconds": time.perf_counter() - tic,
                    "mmd": float(geodesic_mmd(space, space.projx(x), held_out)),
                }
            )
    emit(
        {
            "bench": "floor",
            "mmd_train_vs_held_out": float(geodesic_mmd(space, data[: args.num_samples], held_out)),
            "mmd_source": float(geodesic_mmd(space, x_0, held_out)),
        }
    )

    # -- solver accuracy on an exact flow: u_t(x) = (1 + t) ω × x ---------------------------------
    w = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    y_0 = UniformSource(space).sample(64, generator=rng, dtype=torch.float64)
    exact = y_0 @ so3_exp(w * 1.5).T  # ∫_0^1 (1 + t) dt = 3/2

    def rotation(x: Tensor, t: Tensor) -> Tensor:
        return (1 + t).reshape(-1, 1) * torch.linalg.cross(w.expand_as(x), x)

    class Rotation(ModelWrapper):
        def forward(self, x: Tensor, t: Tensor, **extras: object) -> Tensor:
            return rotation(x, t.reshape(-1).expand(x.shape[0]))

    for method, cls, _ in methods:
        for steps in (8, 16, 32):
            sampler = RiemannianFlowGenerator(space, solver=cls(space))
            ours = simulate(sampler, rotation, y_0, steps).x
            theirs = RiemannianODESolver(
                manifold=Sphere(), velocity_model=Rotation(torch.nn.Identity())
            ).sample(y_0, step_size=1.0 / steps, method=method)
            emit(
                {
                    "bench": "solver_error",
                    "method": method,
                    "steps": steps,
                    "genmatch": float((ours - exact).abs().max()),
                    "flow_matching": float((theirs - exact).abs().max()),
                }
            )
    _tables(records)
    return records


def _tables(records: list[dict]) -> None:
    print("\n| library | train steps/s | final loss |\n|---|---|---|")
    for r in (r for r in records if r["bench"] == "train"):
        print(f"| {r['library']} | {r['steps_per_s']:.0f} | {r['final_loss']:.3f} |")
    print("\n| trained by | solver (NFE 32) | sampling s | geodesic MMD |\n|---|---|---|---|")
    for r in (r for r in records if r["bench"] == "sample"):
        print(f"| {r['trained_by']} | {r['solver']} | {r['seconds']:.3f} | {r['mmd']:.4f} |")
    floor = next(r for r in records if r["bench"] == "floor")
    train_floor, source_mmd = floor["mmd_train_vs_held_out"], floor["mmd_source"]
    print(f"\nfloor (training data vs held-out): {train_floor:.4f}; source: {source_mmd:.4f}")
    print("\n| method | steps | genmatch max error | flow_matching max error |\n|---|---|---|---|")
    for r in (r for r in records if r["bench"] == "solver_error"):
        print(f"| {r['method']} | {r['steps']} | {r['genmatch']:.2e} | {r['flow_matching']:.2e} |")
    errs = [r for r in records if r["bench"] == "solver_error"]
    for method in ("euler", "midpoint", "rk4"):
        e = [r for r in errs if r["method"] == method]
        ours = math.log2(e[-2]["genmatch"] / e[-1]["genmatch"])
        theirs = math.log2(e[-2]["flow_matching"] / e[-1]["flow_matching"])
        print(f"empirical order {method}: genmatch {ours:.2f}, flow_matching {theirs:.2f}")


if __name__ == "__main__":
    main()
