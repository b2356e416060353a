"""Few-step continuous quality and the cost of OT couplings: genmatch against its peers.

Workload ``checkerboard``: a CondOT flow from ``N(0, I)`` to the 4×4 checkerboard
(``genmatch.data.checkerboard``), trained with Adam (lr 1e-3) by the same hand-written loop
for every library: the same seeded ``genmatch.MLP`` (``depth`` hidden layers of ``hidden``)
deep-copied, the same data batches ``x_1`` and source batches ``x_0`` drawn in the same
order. Each library supplies its own loss:

- ``flow_matching``: ``AffineProbPath(CondOTScheduler())``, squared error on ``dx_t``,
  sampled with its ``ODESolver`` (``euler``, ``midpoint``, fixed step);
- ``torchcfm``: ``ConditionalFlowMatcher(sigma=0)`` (sampled with :func:`genmatch.simulate`,
  torchcfm has no solver of its own);
- ``genmatch``: ``GeneratorMatchingLoss(AffineGaussianPath(CondOT()), FlowGenerator())``
  with ``IndependentCoupling`` (``independent``) or ``BlockOTCoupling`` (``block16``), each
  also sampled from EMAs of its weights (``-ema0.995``, ``-ema0.999``: the decay).

Records (``bench/peers.py`` format): ``energy`` (energy distance between 8 192 samples at
``nfe = 8`` and 8 192 fresh data points; Euler takes 8 steps, midpoint 4; ``euler-late2``
is Euler on the grid ``t_i = 1 − (1 − i/8)²``) for each trained network and sampler, and
``step_cost_ratio``: the time of one OT-coupled training step over that of one independent
step (batch 4 096, same process, interleaved repeats, medians):
genmatch's ``BlockOTCoupling`` and ``ExactOTCoupling``, and torchcfm's
``ExactOptimalTransportConditionalFlowMatcher`` (which solves ``ot.emd`` every step; at this
batch it costs seconds per step, so it is timed, not trained).

Usage::

    python bench/peers_continuous.py --out bench/results/continuous.jsonl
    python bench/peers_continuous.py --quick
    python bench/peers_continuous.py --seeds 1 --trainings genmatch-block16  # one run
    python bench/peers_continuous.py --no-costs --batch 1024 --steps 1000  # reduced size

At a size other than the full (or quick) one, the quality variants carry the suffix
``-batch{b}-steps{s}``.
"""

from __future__ import annotations

import copy
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers_cli  # noqa: E402
from throughput import Runner, _timed, interleaved  # noqa: E402

import genmatch  # noqa: E402
from genmatch import (  # noqa: E402
    EMA,
    MLP,
    AffineGaussianPath,
    BlockOTCoupling,
    CondOT,
    EuclideanSpace,
    ExactOTCoupling,
    FlowGenerator,
    GeneratorMatchingLoss,
    IndependentCoupling,
    Midpoint,
    TimeGrid,
)
from genmatch.couplings import AbstractCoupling  # noqa: E402
from genmatch.data import checkerboard  # noqa: E402
from genmatch.metrics import energy_distance  # noqa: E402

PART = "continuous"
WORKLOAD = "checkerboard"
LR = 1e-3
BLOCK = 16
FULL: dict[str, Any] = {
    "steps": 2000, "batch": 4096, "hidden": 256, "depth": 4, "eval_n": 8192, "nfe": 8,
    "ema_decays": (0.995, 0.999), "cost_steps": 10, "cost_repeats": 5, "exact_repeats": 2,
}  # fmt: skip
QUICK: dict[str, Any] = {
    "steps": 5, "batch": 64, "hidden": 16, "depth": 1, "eval_n": 256, "nfe": 8,
    "ema_decays": (0.9, 0.99), "cost_steps": 2, "cost_repeats": 2, "exact_repeats": 1,
}  # fmt: skip
TRAININGS = ("genmatch-block16", "flow_matching", "genmatch-independent", "torchcfm")
LossOf = Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor]


def _flow_matching_loss() -> LossOf:
    from flow_matching.path import AffineProbPath
    from flow_matching.path.scheduler import CondOTScheduler

    path = AffineProbPath(scheduler=CondOTScheduler())

    def loss(net: nn.Module, x_0: Tensor, x_1: Tensor, rng: torch.Generator) -> Tensor:
        s = path.sample(x_0=x_0, x_1=x_1, t=torch.rand(x_1.shape[0], generator=rng))
        return ((net(s.x_t, s.t)["velocity"] - s.dx_t) ** 2).sum(1).mean()

    return loss


def _torchcfm_loss(exact_ot: bool = False) -> LossOf:
    from torchcfm.conditional_flow_matching import (
        ConditionalFlowMatcher,
        ExactOptimalTransportConditionalFlowMatcher,
    )

    matcher = (ExactOptimalTransportConditionalFlowMatcher if exact_ot else ConditionalFlowMatcher)(
        sigma=0.0
    )

    def loss(net: nn.Module, x_0: Tensor, x_1: Tensor, rng: torch.Generator) -> Tensor:
        t = torch.rand(x_1.shape[0], generator=rng)
        t, x_t, u_t = matcher.sample_location_and_conditional_flow(x_0, x_1, t=t)
        return ((net(x_t, t)["velocity"] - u_t) ** 2).sum(1).mean()

    return loss


def _genmatch_loss(coupling: AbstractCoupling) -> LossOf:
    loss_fn = GeneratorMatchingLoss(
        AffineGaussianPath(CondOT()), FlowGenerator(), coupling=coupling
    )

    def loss(net: nn.Module, x_0: Tensor, x_1: Tensor, rng: torch.Generator) -> Tensor:
        return loss_fn(net, x_1, x_0=x_0, generator=rng)

    return loss


def _loop(
    net: nn.Module, data: Tensor, batch: int, seed: int, loss_of: LossOf, emas: Sequence[EMA] = ()
) -> Callable[[int], None]:
    """``n ↦`` n Adam steps on batches drawn from ``seed`` (the same for every library)."""
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    rng = torch.Generator().manual_seed(seed)

    def loop(n: int) -> None:
        for _ in range(n):
            x_1 = data[torch.randint(data.shape[0], (batch,), generator=rng)]
            x_0 = torch.randn(x_1.shape, generator=rng)
            loss = loss_of(net, x_0, x_1, rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for ema in emas:
                ema.update(net)

    return loop


def _record(variant: str, seed: int, nfe: int | None, metric: str, value: float) -> dict:
    library, _, variant = variant.partition(":")
    return {"part": PART, "workload": WORKLOAD, "library": library, "variant": variant,
            "seed": seed, "nfe": nfe, "metric": metric, "value": value}  # fmt: skip


def _samplers(cfg: dict) -> dict[str, Callable[[nn.Module, Tensor], Tensor]]:
    """``name ↦ (net, x_0) ↦ x_1`` at ``cfg['nfe']`` evaluations: genmatch's Euler and midpoint
    on the uniform grid, and Euler on the grid ``t_i = 1 − (1 − i/nfe)²`` (finer near data)."""
    nfe = cfg["nfe"]
    euler, midpoint = FlowGenerator(), FlowGenerator(solver=Midpoint())
    late = TimeGrid([1 - (1 - i / nfe) ** 2 for i in range(nfe + 1)])
    return {
        "euler": lambda net, x_0: genmatch.simulate(euler, net, x_0, TimeGrid.uniform(nfe)).x,
        "euler-late2": lambda net, x_0: genmatch.simulate(euler, net, x_0, late).x,
        "midpoint": lambda net, x_0: (
            genmatch.simulate(midpoint, net, x_0, TimeGrid.uniform(nfe // 2)).x
        ),
    }


def _fm_samplers(cfg: dict) -> dict[str, Callable[[nn.Module, Tensor], Tensor]]:
    """flow_matching's ``ODESolver`` with a fixed step, Euler and midpoint, at ``cfg['nfe']``."""
    from flow_matching.solver import ODESolver

    def sampler(method: str, steps: int) -> Callable[[nn.Module, Tensor], Tensor]:
        def sample(net: nn.Module, x_0: Tensor) -> Tensor:
            def v(x: Tensor, t: Tensor) -> Tensor:
                return net(x, t.expand(x.shape[0]) if t.dim() == 0 else t)["velocity"]

            with torch.no_grad():
                return ODESolver(velocity_model=v).sample(x_0, step_size=1.0 / steps, method=method)

        return sample

    return {"euler": sampler("euler", cfg["nfe"]), "midpoint": sampler("midpoint", cfg["nfe"] // 2)}


def _size(cfg: dict) -> str:
    """``""`` at the full training size, else ``"-batch{b}-steps{s}"`` (so no number is misread)."""
    if (cfg["batch"], cfg["steps"]) in (
        (FULL["batch"], FULL["steps"]),
        (QUICK["batch"], QUICK["steps"]),
    ):
        return ""
    return f"-batch{cfg['batch']}-steps{cfg['steps']}"


def _quality(
    name: str, nets: dict[str, nn.Module], cfg: dict, seed: int, fm: bool = False
) -> Iterator[dict]:
    """Energy distance at ``nfe`` of each network (``suffix ↦ net``) and sampler."""
    eval_rng = torch.Generator().manual_seed(10_000 + seed)
    x_0 = torch.randn(cfg["eval_n"], 2, generator=eval_rng)
    test = checkerboard(cfg["eval_n"], generator=eval_rng)
    samplers = _fm_samplers(cfg) if fm else _samplers(cfg)
    for suffix, net in nets.items():
        for method, sample in samplers.items():
            value = float(energy_distance(sample(net, x_0), test))
            yield _record(f"{name}{suffix}-{method}{_size(cfg)}", seed, cfg["nfe"], "energy", value)


def _training(name: str, cfg: dict, seed: int, base: nn.Module, data: Tensor) -> Iterator[dict]:
    """Train one library's variant for ``cfg['steps']`` steps; yield its quality records."""
    net = copy.deepcopy(base)
    decays = cfg["ema_decays"] if name.startswith("genmatch") else ()
    emas = {f"-ema{d:g}": EMA(net, decay=d) for d in decays}
    loss_of = {
        "flow_matching": _flow_matching_loss,
        "torchcfm": _torchcfm_loss,
        "genmatch-independent": lambda: _genmatch_loss(IndependentCoupling()),
        "genmatch-block16": lambda: _genmatch_loss(BlockOTCoupling(block_size=BLOCK)),
    }[name]()
    _loop(net, data, cfg["batch"], seed, loss_of, list(emas.values()))(cfg["steps"])
    library, _, kind = name.partition("-")
    nets = {"": net, **{suffix: ema.module for suffix, ema in emas.items()}}
    yield from _quality(
        f"{library}:{kind or 'independent'}", nets, cfg, seed, library == "flow_matching"
    )


def _step_costs(cfg: dict, seed: int, base: nn.Module, data: Tensor) -> Iterator[dict]:
    """``step_cost_ratio`` of each OT-coupled step against the independent genmatch step."""
    batch = cfg["batch"]

    def runner(loss_of: LossOf) -> Runner:
        loop = _loop(copy.deepcopy(base), data, batch, seed, loss_of)
        return lambda n: _timed(lambda: loop(n))

    independent = runner(_genmatch_loss(IndependentCoupling()))
    fast = {"independent": independent, "block": runner(_genmatch_loss(BlockOTCoupling(BLOCK)))}
    rates = interleaved(fast, cfg["cost_steps"], 1, cfg["cost_repeats"])
    ratio = statistics.median(rates["independent"]) / statistics.median(rates["block"])
    yield _record(f"genmatch:block16-batch{batch}", seed, None, "step_cost_ratio", ratio)
    slow = {
        "independent": independent,
        "genmatch:exact": runner(_genmatch_loss(ExactOTCoupling())),
        "torchcfm:exact-ot": runner(_torchcfm_loss(exact_ot=True)),
    }
    rates = interleaved(slow, 1, 1, cfg["exact_repeats"])
    for name in ("genmatch:exact", "torchcfm:exact-ot"):
        ratio = statistics.median(rates["independent"]) / statistics.median(rates[name])
        yield _record(f"{name}-batch{batch}", seed, None, "step_cost_ratio", ratio)


def run(
    seeds: Sequence[int],
    quick: bool = False,
    trainings: Sequence[str] = TRAININGS,
    costs: bool = True,
    **options: int,
) -> Iterator[dict]:
    """Yield the records of each seed (see the module docstring).

    Args:
        seeds: one run of everything per seed (data, weights and batches drawn from it).
        quick: tiny sizes, for a smoke test.
        trainings: which trained variants to run, in this order (a subset of ``TRAININGS``).
        costs: whether to measure ``step_cost_ratio``.
        options: overrides of the sizes in ``FULL`` / ``QUICK``.
    """
    unknown = set(trainings) - set(TRAININGS)
    if unknown:
        raise ValueError(f"unknown trainings {sorted(unknown)}; choose from {TRAININGS}")
    cfg = {**(QUICK if quick else FULL), **options}
    for seed in seeds:
        data = checkerboard(100_000, generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        base = MLP(EuclideanSpace(2), {"velocity": (2,)}, hidden=cfg["hidden"], depth=cfg["depth"])
        if costs:
            yield from _step_costs(cfg, seed, base, data)
        for name in trainings:
            yield from _training(name, cfg, seed, base, data)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = peers_cli.parser(__doc__)
    parser.add_argument("--trainings", nargs="+", choices=TRAININGS, default=list(TRAININGS))
    parser.add_argument("--no-costs", action="store_true", help="skip step_cost_ratio")
    parser.add_argument("--steps", type=int, help="override the number of training steps")
    parser.add_argument("--batch", type=int, help="override the batch size")
    args = parser.parse_args(argv)
    options = {k: v for k, v in (("steps", args.steps), ("batch", args.batch)) if v is not None}
    records = run(
        args.seeds, args.quick, trainings=args.trainings, costs=not args.no_costs, **options
    )
    return peers_cli.emit(records, args.out)


if __name__ == "__main__":
    main()
