"""When does jump + flow pay? Flow vs jump vs their Markov superposition on 2-D data, at equal NFE.

Workloads: checkerboard, 8 Gaussians (``gaussians8``), two moons, all on the CondOT path.
Variants, the setting first:

- ``oracle/...``: the exact marginal fields of a finite data set (:class:`genmatch.ExactMarginal`,
  no network): what a perfect network would sample.
- ``trained/...``: one MLP per variant, every one with the same trunk (width, depth), optimiser
  (Adam, cosine schedule), steps, batch and seed; the superposition's network carries the
  velocity and jump heads on that trunk (one evaluation gives both), the flow's only the
  velocity head: equal training cost in steps and batch.

Generators: ``flow-euler`` / ``flow-midpoint`` (the flow alone); ``jump`` (per-coordinate binned
jumps, 64 bins on ``[−5, 5]``); ``jump+flow[w]`` with weights ``w`` on ``(flow, jump)``:
``const0.5`` (``α = (½, ½)``), ``linear`` (jumps only at ``t = 0``, flow only at ``t = 1``,
linear between), ``switch0.5`` (jumps on ``[0, ½)``, flow on ``[½, 1]``:
:class:`genmatch.compose.SwitchWeights`); a ``-midpoint`` suffix means the flow part takes
midpoint steps. NFE counts network (or oracle) evaluations: a superposition step evaluates the
shared field once (Euler flow part) or twice (midpoint), like the flow alone.

Metrics: ``energy`` (energy distance to fresh data) at NFE 4, 8, 16, 32 (``oracle/data-points``,
NFE null: the oracle's own data points against fresh data, the floor of the oracle rows, which
sample the empirical distribution of those points); for trained variants
also ``sample_s`` (seconds to draw the samples at that NFE, one process, CPU), for the
equal-wall-clock comparison.

Usage::

    python bench/peers_superposition.py --seeds 0 1 2 --out bench/results/superposition.jsonl
    python bench/peers_superposition.py --quick
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_cli  # noqa: E402

import genmatch as gm
from genmatch.compose import ConstantWeights, LinearWeights, Superposition, SwitchWeights
from genmatch.compose.superposition import WeightFn
from genmatch.data import checkerboard, eight_gaussians, two_moons
from genmatch.generators import BinnedJumpGenerator, Bins
from genmatch.metrics import energy_distance

PART = "superposition"
WORKLOADS: dict[str, Callable[..., Tensor]] = {
    "checkerboard": checkerboard,
    "gaussians8": eight_gaussians,
    "moons": two_moons,
}
NFES = (4, 8, 16, 32)
WEIGHTS: dict[str, WeightFn] = {
    "const0.5": ConstantWeights((0.5, 0.5)),
    "linear": LinearWeights((0.0, 1.0), (1.0, 0.0)),
    "switch0.5": SwitchWeights((0.0, 1.0), (1.0, 0.0), at=0.5),
}
ORACLE_VARIANTS = (
    "flow-euler",
    "flow-midpoint",
    "jump",
    "jump+flow[const0.5]",
    "jump+flow[linear]",
    "jump+flow[switch0.5]",
    "jump+flow[switch0.5]-midpoint",
)
#: trained networks: the flow's (velocity head) and the superposition's (velocity and jump
#: heads on one trunk), and the variants each is sampled as. The superposition's loss does not
#: involve ``α_t`` (each part matches its own target), so one network serves every weighting.
TRAINED_VARIANTS = {
    "flow-euler": ("flow-euler", "flow-midpoint"),
    "jump+flow[const0.5]": (
        "flow-euler[joint-net]",
        "jump[joint-net]",
        "jump+flow[const0.5]",
        "jump+flow[linear]",
        "jump+flow[switch0.5]",
        "jump+flow[switch0.5]-midpoint",
    ),
}
FULL = {
    "hidden": 256,
    "depth": 4,
    "steps": 2000,
    "batch": 4096,
    "lr": 2e-3,
    "samples": 2000,
    "oracle_points": 1000,
    "nfes": NFES,
}
QUICK = {
    "hidden": 16,
    "depth": 1,
    "steps": 3,
    "batch": 32,
    "lr": 2e-3,
    "samples": 64,
    "oracle_points": 16,
    "nfes": (4, 8),
}
PATH = gm.AffineGaussianPath(gm.CondOT())


def jump_loss_weight(t: Tensor) -> Tensor:
    """``(1 − t)³``: CondOT jump targets grow like ``(1 − t)^{-3}``."""
    return (1 - t) ** 3


def build(variant: str) -> tuple[gm.AbstractGenerator, Callable[[Tensor], Tensor] | None]:
    """The generator of a variant (without its setting prefix) and its training loss weight."""
    variant = variant.removesuffix("[joint-net]")
    midpoint = variant.endswith("-midpoint")
    flow = gm.FlowGenerator(solver=gm.Midpoint() if midpoint else gm.Euler())
    jump = BinnedJumpGenerator(Bins(-5.0, 5.0, 64))
    if variant.startswith("flow-"):
        return flow, None
    if variant == "jump":
        return jump, jump_loss_weight
    name = variant.removesuffix("-midpoint")
    if name.startswith("jump+flow[") and name.endswith("]") and name[10:-1] in WEIGHTS:
        weights = WEIGHTS[name[10:-1]]
        return Superposition([flow, jump], weights, loss_weights=(None, jump_loss_weight)), None
    raise ValueError(f"unknown variant {variant!r}")


def _sample(
    generator: gm.AbstractGenerator,
    field: gm.types.Field | torch.nn.Module,
    x_0: Tensor,
    nfe: int,
    seed: int,
) -> tuple[Tensor, float]:
    steps = nfe // generator.nfe_per_step
    tic = time.perf_counter()
    with torch.no_grad():
        out = gm.simulate(generator, field, x_0, steps, rng=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - tic
    if out.nfe != nfe:
        raise AssertionError(f"{out.nfe} evaluations, not {nfe}")
    return out.x, seconds


def _train(
    generator: gm.AbstractGenerator,
    weighting: Callable[[Tensor], Tensor] | None,
    data: Tensor,
    seed: int,
    cfg: dict,
) -> torch.nn.Module:
    space = gm.EuclideanSpace(2)
    torch.manual_seed(seed)
    net = gm.MLP(space, generator.head_shapes(space), hidden=cfg["hidden"], depth=cfg["depth"])
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["steps"])
    loss_fn = gm.GeneratorMatchingLoss(PATH, generator, weighting=weighting)
    gm.train(
        loss_fn,
        net,
        data,
        steps=cfg["steps"],
        batch_size=cfg["batch"],
        optimizer=opt,
        scheduler=sched,
        seed=seed,
    )
    return net.eval()


def run(
    seeds: Sequence[int],
    quick: bool = False,
    *,
    workloads: Sequence[str] = tuple(WORKLOADS),
    settings: Sequence[str] = ("floor", "oracle", "trained"),
    **options: object,
) -> Iterator[dict]:
    """One record per (workload, setting/variant, seed, NFE, metric).

    Args:
        seeds: seeds of data, source points, network initialisation, training and sampling.
        quick: tiny sizes for a smoke test.
        workloads: a subset of :data:`WORKLOADS`.
        settings: some of ``"floor"`` (the oracle's data points against fresh data, ``nfe``
            null), ``"oracle"`` and ``"trained"``.
        options: overrides of the size settings (:data:`FULL` keys, e.g. ``steps=500``).
    """
    cfg = {**(QUICK if quick else FULL), **options}
    unknown = set(cfg) - set(FULL)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; expected some of {sorted(FULL)}")
    for seed in seeds:
        for name in workloads:
            sample = WORKLOADS[name]
            rng = torch.Generator().manual_seed(seed)
            data = sample(50_000, generator=rng)
            fresh = sample(cfg["samples"], generator=rng)
            oracle_data = sample(cfg["oracle_points"], generator=rng)
            x_0 = torch.randn(cfg["samples"], 2, generator=rng)
            if "floor" in settings:
                # the oracle reproduces at best its own data points: their distance to fresh data
                floor = energy_distance(oracle_data, fresh)
                yield _record(name, "oracle/data-points", seed, None, "energy", floor)
            runs: list[tuple[str, gm.AbstractGenerator, gm.types.Field | torch.nn.Module]] = []
            if "oracle" in settings:
                for variant in ORACLE_VARIANTS:
                    generator, _ = build(variant)
                    field = gm.ExactMarginal(PATH, generator, oracle_data)
                    runs.append((f"oracle/{variant}", generator, field))
            for label, generator, field in runs:
                for nfe in cfg["nfes"]:
                    x, _ = _sample(generator, field, x_0, nfe, seed)
                    yield _record(name, label, seed, nfe, "energy", energy_distance(x, fresh))
            if "trained" not in settings:
                continue
            for trained, variants in TRAINED_VARIANTS.items():
                net = _train(*build(trained), data, seed, cfg)
                for variant in variants:
                    generator, _ = build(variant)
                    label = f"trained/{variant}"
                    for nfe in cfg["nfes"]:
                        x, seconds = _sample(generator, net, x_0, nfe, seed)
                        yield _record(name, label, seed, nfe, "energy", energy_distance(x, fresh))
                        yield _record(name, label, seed, nfe, "sample_s", seconds)


def _record(
    workload: str, variant: str, seed: int, nfe: int | None, metric: str, value: Tensor | float
) -> dict:
    return {
        "part": PART,
        "workload": workload,
        "library": "genmatch",
        "variant": variant,
        "seed": seed,
        "nfe": nfe,
        "metric": metric,
        "value": float(value),
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = peers_cli.parser(__doc__)
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=None)
    parser.add_argument(
        "--settings", nargs="+", choices=["floor", "oracle", "trained"], default=None
    )
    for key in ("steps", "batch", "hidden", "depth", "samples", "oracle_points"):
        flag = "--" + key.replace("_", "-")
        parser.add_argument(flag, type=int, default=None, help=f"override {key} ({FULL[key]})")
    args = parser.parse_args(argv)
    options = {
        key: getattr(args, key)
        for key in ("steps", "batch", "hidden", "depth", "samples", "oracle_points")
        if getattr(args, key) is not None
    }
    kwargs: dict[str, object] = {}
    if args.workloads:
        kwargs["workloads"] = tuple(args.workloads)
    if args.settings:
        kwargs["settings"] = tuple(args.settings)
    records = run(args.seeds, args.quick, **kwargs, **options)  # type: ignore[arg-type]
    return peers_cli.emit(records, args.out)


if __name__ == "__main__":
    main()
